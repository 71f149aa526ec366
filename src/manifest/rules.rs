//! The semantic rules of docs/manifest.md: identifiers, hosts, paths, wildcard
//! opt-ins, quotas, compat, builder and operator metadata. Every violation
//! is collected with its field path.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::model::*;
use crate::paths::normalize_path;

/// One broken rule: where (a dotted field path) and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

pub(super) fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "token", "password", "api_key", "client_key"].iter().any(|needle| name.contains(needle))
}

/// `a-z 0-9 . _ - :` after trimming, non-empty.
pub fn is_identifier(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_:".contains(&b))
}

/// An identifier without `:` whose `.`-separated segments are all non-empty.
pub fn is_skill_id(value: &str) -> bool {
    is_identifier(value) && !value.contains(':') && value.trim().split('.').all(|s| !s.is_empty())
}

fn is_label(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The host rule for `http_egress_allowlist` (without the wildcard opt-in).
pub fn normalize_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && !host.contains("..")
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then_some(host)
}

#[derive(Default)]
pub(super) struct Validator {
    pub(super) violations: Vec<Violation>,
}

impl Validator {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation { path: path.into(), message: message.into() });
    }

    fn non_empty(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(path, "must not be empty");
        }
    }

    fn semver(&mut self, path: &str, value: &str) -> Option<Version> {
        let parsed = Version::parse(value);
        if parsed.is_none() {
            self.fail(
                path,
                format!("`{value}` is not a plain version: use `major.minor.patch` such as `1.0.0`"),
            );
        }
        parsed
    }

    fn identifier_or_wildcard(&mut self, path: &str, value: &str, opt_in: bool, flag: &str) {
        if value.contains('*') {
            if !opt_in {
                self.fail(path, format!("`{value}` uses a wildcard without `wildcard_opt_in.{flag} = true`"));
            }
        } else if !is_identifier(value) {
            self.fail(path, format!("`{value}` is not an identifier: use only `a-z 0-9 . _ - :`"));
        }
    }

    fn artifact_path(&mut self, path: &str, value: &str) {
        if normalize_path(value).is_err() {
            self.fail(
                path,
                format!(
                    "`{value}` is not a valid relative path: no leading `/`, no `..` or `.` segments, no `:`"
                ),
            );
        }
    }

    pub(super) fn check(&mut self, m: &Manifest) {
        if !matches!(m.manifest_version, LEGACY_MANIFEST_VERSION | CURRENT_MANIFEST_VERSION) {
            self.fail(
                "manifest_version",
                format!("{} is not supported: use 2 (or 1, legacy)", m.manifest_version),
            );
        }
        let publisher_ok = is_identifier(&m.publisher);
        if !publisher_ok {
            self.fail(
                "publisher",
                format!("`{}` is not an identifier: use only `a-z 0-9 . _ - :`", m.publisher),
            );
        }
        if !is_skill_id(&m.skill_id) {
            self.fail(
                "skill_id",
                format!("`{}` is not a skill id: dot-separated non-empty segments of `a-z 0-9 _ -` (e.g. `acme.echo`)", m.skill_id),
            );
        }
        self.non_empty("name", &m.name);
        self.semver("version", &m.version);
        self.check_tools(m, publisher_ok);
        self.check_capabilities(&m.capabilities);
        self.check_compat(&m.compat);
        if let Some(builder) = &m.builder {
            self.check_builder(builder);
        }
        self.check_operator(m, publisher_ok);
    }

    fn check_tools(&mut self, m: &Manifest, publisher_ok: bool) {
        if m.entrypoints.tools.is_empty() {
            self.fail(
                "entrypoints.tools",
                "at least one tool is required: add a `[[entrypoints.tools]]` table",
            );
        }
        let prefix = format!("{}.", m.publisher.trim());
        let mut seen = BTreeSet::new();
        for (i, tool) in m.entrypoints.tools.iter().enumerate() {
            let at = |field: &str| format!("entrypoints.tools[{i}].{field}");
            if !is_identifier(&tool.id) {
                self.fail(
                    at("id"),
                    format!("`{}` is not an identifier: use only `a-z 0-9 . _ - :`", tool.id),
                );
            } else if publisher_ok && !tool.id.trim().starts_with(&prefix) {
                self.fail(at("id"), format!("`{}` must start with the publisher: `{prefix}...`", tool.id));
            } else if !seen.insert(tool.id.trim().to_owned()) {
                self.fail(at("id"), format!("`{}` is declared twice: tool ids must be unique", tool.id));
            }
            self.non_empty(&at("name"), &tool.name);
            self.non_empty(&at("description"), &tool.description);
            if !tool.input_schema.is_object() {
                self.fail(at("input_schema"), "must be a JSON Schema object (a TOML table)");
            }
            if !tool.output_schema.is_object() {
                self.fail(at("output_schema"), "must be a JSON Schema object (a TOML table)");
            }
        }
    }

    fn check_capabilities(&mut self, c: &Capabilities) {
        let wild = &c.wildcard_opt_in;
        for (field, roots) in
            [("read_roots", &c.filesystem.read_roots), ("write_roots", &c.filesystem.write_roots)]
        {
            for (i, root) in roots.iter().enumerate() {
                let path = format!("capabilities.filesystem.{field}[{i}]");
                if root.contains('*') && !wild.filesystem {
                    self.fail(
                        path,
                        format!("`{root}` uses a wildcard without `wildcard_opt_in.filesystem = true`"),
                    );
                } else {
                    self.artifact_path(&path, root);
                }
            }
        }
        for (i, host) in c.http_egress_allowlist.iter().enumerate() {
            let path = format!("capabilities.http_egress_allowlist[{i}]");
            if host.contains('*') {
                if !wild.http_egress {
                    self.fail(
                        path,
                        format!("`{host}` uses a wildcard without `wildcard_opt_in.http_egress = true`"),
                    );
                }
            } else if normalize_host(host).is_none() {
                self.fail(
                    path,
                    format!("`{host}` is not a host name: use `a-z 0-9 . -`, no `..`, not starting or ending with `.` or `-`"),
                );
            }
        }
        for (i, secret) in c.secrets.iter().enumerate() {
            let scope = secret.scope.trim();
            let scope_ok = scope == "global"
                || ["principal:", "channel:", "skill:"]
                    .iter()
                    .any(|prefix| scope.strip_prefix(prefix).is_some_and(is_identifier));
            if !scope_ok {
                self.fail(
                    format!("capabilities.secrets[{i}].scope"),
                    format!(
                        "`{}` is not a scope: use `global`, `principal:<id>`, `channel:<id>` or `skill:<id>`",
                        secret.scope
                    ),
                );
            }
            if secret.key_names.is_empty() {
                self.fail(format!("capabilities.secrets[{i}].key_names"), "must list at least one key name");
            }
            for (k, key) in secret.key_names.iter().enumerate() {
                self.identifier_or_wildcard(
                    &format!("capabilities.secrets[{i}].key_names[{k}]"),
                    key,
                    wild.secrets,
                    "secrets",
                );
            }
        }
        for (i, cap) in c.device_capabilities.iter().enumerate() {
            self.identifier_or_wildcard(
                &format!("capabilities.device_capabilities[{i}]"),
                cap,
                wild.device,
                "device",
            );
        }
        for (i, cap) in c.node_capabilities.iter().enumerate() {
            self.identifier_or_wildcard(
                &format!("capabilities.node_capabilities[{i}]"),
                cap,
                wild.node,
                "node",
            );
        }
        if c.quotas.wall_clock_timeout_ms == 0 {
            self.fail("capabilities.quotas.wall_clock_timeout_ms", "must be greater than 0");
        }
        if c.quotas.fuel_budget == 0 {
            self.fail("capabilities.quotas.fuel_budget", "must be greater than 0");
        }
        if c.quotas.max_memory_bytes < 65_536 {
            self.fail(
                "capabilities.quotas.max_memory_bytes",
                format!("{} is below one WebAssembly page: use at least 65536", c.quotas.max_memory_bytes),
            );
        }
    }

    fn check_compat(&mut self, compat: &Compat) {
        let min = self.semver("compat.min_palyra_version", &compat.min_palyra_version);
        if let Some(max_raw) = &compat.max_palyra_version {
            let max = self.semver("compat.max_palyra_version", max_raw);
            if let (Some(min), Some(max)) = (min, max)
                && max < min
            {
                self.fail("compat.max_palyra_version", format!("{max} is below `min_palyra_version` {min}"));
            }
        }
    }

    fn check_builder(&mut self, b: &Builder) {
        if !b.experimental {
            self.fail("builder.experimental", "must be true for generated skills under review");
        }
        self.non_empty("builder.source_kind", &b.source_kind);
        self.non_empty("builder.source_ref", &b.source_ref);
        self.non_empty("builder.rollout_flag", &b.rollout_flag);
        for (field, value) in [
            ("capability_declaration_path", &b.checklist.capability_declaration_path),
            ("provenance_path", &b.checklist.provenance_path),
            ("test_harness_path", &b.checklist.test_harness_path),
        ] {
            self.artifact_path(&format!("builder.checklist.{field}"), value);
        }
    }

    fn check_operator(&mut self, m: &Manifest, publisher_ok: bool) {
        let op = &m.operator;
        if op.is_empty() {
            return;
        }
        if m.manifest_version == LEGACY_MANIFEST_VERSION {
            self.fail("operator", "`[operator]` requires `manifest_version = 2`");
        }
        for (field, value) in
            [("display_name", &op.display_name), ("summary", &op.summary), ("description", &op.description)]
        {
            if let Some(value) = value {
                self.non_empty(&format!("operator.{field}"), value);
            }
        }
        for (field, labels) in [("categories", &op.categories), ("tags", &op.tags)] {
            for (i, label) in labels.iter().enumerate() {
                if !is_label(label) {
                    self.fail(
                        format!("operator.{field}[{i}]"),
                        format!("`{label}` may use only `a-z 0-9 . _ -`"),
                    );
                }
            }
        }
        if let Some(url) = &op.docs_url {
            let url = url.trim();
            if !url.starts_with("https://") || url.contains(' ') || url.contains('#') {
                self.fail(
                    "operator.docs_url",
                    format!("`{url}` must be an `https://` URL without spaces or `#`"),
                );
            }
        }
        let plugin = &op.plugin;
        if let Some(tool_id) = &plugin.default_tool_id {
            let prefix = format!("{}.", m.publisher.trim());
            if !is_identifier(tool_id) || !m.entrypoints.tools.iter().any(|t| t.id == tool_id.trim()) {
                self.fail(
                    "operator.plugin.default_tool_id",
                    format!("`{tool_id}` is not a declared tool id"),
                );
            } else if publisher_ok && !tool_id.trim().starts_with(&prefix) {
                self.fail(
                    "operator.plugin.default_tool_id",
                    format!("`{tool_id}` must start with `{prefix}`"),
                );
            }
        }
        if let Some(module) = &plugin.default_module_path
            && (!module.starts_with("modules/")
                || !module.ends_with(".wasm")
                || module.contains("..")
                || normalize_path(module).is_err())
        {
            self.fail(
                "operator.plugin.default_module_path",
                format!("`{module}` must name a `modules/*.wasm` entry"),
            );
        }
        if let Some(entry) = &plugin.default_entrypoint {
            let entry = entry.trim();
            if entry.is_empty()
                || !entry
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                self.fail(
                    "operator.plugin.default_entrypoint",
                    format!("`{entry}` may use only `a-z 0-9 _ -`"),
                );
            }
        }
        let mut kinds = BTreeSet::new();
        for (i, contract) in plugin.contracts.iter().enumerate() {
            let at = format!("operator.plugin.contracts[{i}]");
            if !CONTRACT_KINDS.contains(&contract.kind.as_str()) {
                self.fail(
                    format!("{at}.kind"),
                    format!(
                        "`{}` is not a contract kind: use one of {}",
                        contract.kind,
                        CONTRACT_KINDS.join(", ")
                    ),
                );
            } else if !kinds.insert(contract.kind.as_str()) {
                self.fail(format!("{at}.kind"), format!("`{}` is declared twice", contract.kind));
            }
            if contract.version != 1 {
                self.fail(
                    format!("{at}.version"),
                    format!("{} is not supported: the runtime speaks version 1", contract.version),
                );
            }
        }
        if let Some(config) = &op.config {
            self.check_config(config);
        }
    }

    fn check_config(&mut self, config: &ConfigContract) {
        if config.schema_version == 0 {
            self.fail("operator.config.schema_version", "must be greater than 0");
        }
        for (i, required) in config.required.iter().enumerate() {
            if !config.properties.contains_key(required) {
                self.fail(
                    format!("operator.config.required[{i}]"),
                    format!("`{required}` is not a declared property"),
                );
            }
        }
        for (name, p) in &config.properties {
            let at = format!("operator.config.properties.{name}");
            if !is_label(name) {
                self.fail(&at, format!("property name `{name}` may use only `a-z 0-9 . _ -`"));
            }
            for (field, value) in [("title", &p.title), ("description", &p.description)] {
                if let Some(value) = value {
                    self.non_empty(&format!("{at}.{field}"), value);
                }
            }
            if !p.enum_values.is_empty() {
                if p.value_type != ConfigValueType::String {
                    self.fail(format!("{at}.enum_values"), "only allowed with `type = \"string\"`");
                }
                let unique: BTreeSet<&str> = p.enum_values.iter().map(|v| v.trim()).collect();
                if unique.contains("") {
                    self.fail(format!("{at}.enum_values"), "must not contain empty strings");
                } else if unique.len() != p.enum_values.len() {
                    self.fail(format!("{at}.enum_values"), "values must be unique");
                }
            }
            if let Some(default) = &p.default {
                let type_ok = match p.value_type {
                    ConfigValueType::String => default.is_string(),
                    ConfigValueType::Integer => default.is_i64() || default.is_u64(),
                    ConfigValueType::Number => default.is_number(),
                    ConfigValueType::Boolean => default.is_boolean(),
                    ConfigValueType::StringList => {
                        default.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                    }
                };
                if !type_ok {
                    self.fail(
                        format!("{at}.default"),
                        format!("{default} does not match `type = \"{}\"`", p.value_type.as_str()),
                    );
                } else if !p.enum_values.is_empty()
                    && !p.enum_values.iter().any(|v| Some(v.as_str()) == default.as_str())
                {
                    self.fail(format!("{at}.default"), format!("{default} is not one of `enum_values`"));
                }
            }
        }
    }
}
