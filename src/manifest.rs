//! `skill.toml`: the consumer's manifest schema, strict parsing, every
//! validation rule of MANIFEST.md, and the consumer's non-fatal warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifact::normalize_path;

/// The manifest version `new` writes and the consumer recommends.
pub const CURRENT_MANIFEST_VERSION: u32 = 2;
/// The legacy manifest version the consumer still accepts (with a warning).
pub const LEGACY_MANIFEST_VERSION: u32 = 1;
/// The consumer runtime's protocol major (ARTIFACT.md, verification step 10).
pub const RUNTIME_PROTOCOL_MAJOR: u32 = 1;
/// The consumer runtime's version (ARTIFACT.md, verification step 10).
pub const RUNTIME_VERSION: Version = Version(0, 1, 0);

/// Operator plugin contract kinds the consumer knows (MANIFEST.md `[operator]`).
pub const CONTRACT_KINDS: &[&str] = &[
    "memory_provider",
    "context_engine",
    "routing_strategy",
    "run_lifecycle_hook",
    "compaction_provider",
    "diagnostics_provider",
    "policy_signal_provider",
    "channel_binding_provider",
    "delivery_adapter",
    "scheduler_task_provider",
    "model_auth_provider",
    "connector_adapter",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default = "default_manifest_version")]
    pub manifest_version: u32,
    pub skill_id: String,
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub entrypoints: Entrypoints,
    #[serde(default)]
    pub capabilities: Capabilities,
    pub compat: Compat,
    #[serde(default, skip_serializing_if = "Integrity::is_empty")]
    pub integrity: Integrity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
    #[serde(default, skip_serializing_if = "Operator::is_empty")]
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entrypoints {
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub id: String,
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
    #[serde(default)]
    pub risk: Risk,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    #[serde(default)]
    pub default_sensitive: bool,
    #[serde(default)]
    pub requires_approval: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default)]
    pub filesystem: Filesystem,
    #[serde(default)]
    pub http_egress_allowlist: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretScope>,
    #[serde(default)]
    pub device_capabilities: Vec<String>,
    #[serde(default)]
    pub node_capabilities: Vec<String>,
    #[serde(default)]
    pub quotas: Quotas,
    #[serde(default)]
    pub wildcard_opt_in: WildcardOptIn,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    #[serde(default)]
    pub read_roots: Vec<String>,
    #[serde(default)]
    pub write_roots: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretScope {
    pub scope: String,
    #[serde(default)]
    pub key_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    #[serde(default = "default_timeout_ms")]
    pub wall_clock_timeout_ms: u64,
    #[serde(default = "default_fuel_budget")]
    pub fuel_budget: u64,
    #[serde(default = "default_max_memory")]
    pub max_memory_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            wall_clock_timeout_ms: default_timeout_ms(),
            fuel_budget: default_fuel_budget(),
            max_memory_bytes: default_max_memory(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WildcardOptIn {
    #[serde(default)]
    pub filesystem: bool,
    #[serde(default)]
    pub http_egress: bool,
    #[serde(default)]
    pub secrets: bool,
    #[serde(default)]
    pub device: bool,
    #[serde(default)]
    pub node: bool,
}

impl WildcardOptIn {
    pub fn any(&self) -> bool {
        self.filesystem || self.http_egress || self.secrets || self.device || self.node
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compat {
    #[serde(alias = "min_protocol_major")]
    pub required_protocol_major: u32,
    #[serde(alias = "min_runtime_version")]
    pub min_palyra_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_palyra_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrity {
    #[serde(default)]
    pub files: Vec<IntegrityFile>,
}

impl Integrity {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    pub experimental: bool,
    pub source_kind: String,
    pub source_ref: String,
    pub rollout_flag: String,
    #[serde(default)]
    pub review_status: String,
    pub checklist: BuilderChecklist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderChecklist {
    pub capability_declaration_path: String,
    pub provenance_path: String,
    pub test_harness_path: String,
    #[serde(default)]
    pub review_notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    #[serde(default, skip_serializing_if = "Plugin::is_empty")]
    pub plugin: Plugin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigContract>,
}

impl Operator {
    /// The consumer's notion of "no operator metadata": every field unset.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.summary.is_none()
            && self.description.is_none()
            && self.categories.is_empty()
            && self.tags.is_empty()
            && self.docs_url.is_none()
            && self.plugin.is_empty()
            && self.config.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tool_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_module_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_entrypoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<Contract>,
}

impl Plugin {
    pub fn is_empty(&self) -> bool {
        self.default_tool_id.is_none()
            && self.default_module_path.is_none()
            && self.default_entrypoint.is_none()
            && self.contracts.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub kind: String,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigContract {
    #[serde(default = "default_config_schema_version")]
    pub schema_version: u32,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, ConfigProperty>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigProperty {
    #[serde(rename = "type")]
    pub value_type: ConfigValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default)]
    pub redacted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigValueType {
    String,
    Integer,
    Number,
    Boolean,
    StringList,
}

impl ConfigValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigValueType::String => "string",
            ConfigValueType::Integer => "integer",
            ConfigValueType::Number => "number",
            ConfigValueType::Boolean => "boolean",
            ConfigValueType::StringList => "string_list",
        }
    }
}

fn default_manifest_version() -> u32 {
    CURRENT_MANIFEST_VERSION
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_fuel_budget() -> u64 {
    10_000_000
}
fn default_max_memory() -> u64 {
    64 * 1024 * 1024
}
fn default_config_schema_version() -> u32 {
    1
}

/// A plain `major.minor.patch` version, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses exactly three dot-separated unsigned integers (surrounding
    /// whitespace ignored, no pre-release or build suffix).
    pub fn parse(raw: &str) -> Option<Version> {
        let mut parts = raw.trim().split('.');
        let mut next = || {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse::<u32>().ok()
        };
        let version = Version(next()?, next()?, next()?);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

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

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("`skill.toml` is not valid UTF-8")]
    NotUtf8,
    #[error(
        "`skill.toml` does not match the manifest schema{}: {message}",
        at_path(path)
    )]
    Parse { path: String, message: String },
    #[error("`skill.toml` breaks {} manifest rule{}:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Invalid(Vec<Violation>),
}

fn at_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("  - {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompatError {
    #[error(
        "the skill requires protocol major {requested} but the Palyra runtime speaks {current}: lower `compat.required_protocol_major`"
    )]
    ProtocolMajor { requested: u32, current: u32 },
    #[error(
        "the skill requires Palyra {requested} or newer but the runtime is {current}: lower `compat.min_palyra_version`"
    )]
    TooOld { requested: String, current: Version },
    #[error(
        "the skill supports Palyra up to {supported} but the runtime is {current}: raise or remove `compat.max_palyra_version`"
    )]
    TooNew { supported: String, current: Version },
}

/// A non-fatal finding the consumer reports at install time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestWarning {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
}

impl Manifest {
    /// Parses and validates `skill.toml` text exactly as the consumer does.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest = Manifest::parse_unvalidated(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses bytes that must be UTF-8 `skill.toml` text.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::parse(std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?)
    }

    /// Strict schema parse (unknown keys rejected) without the semantic rules.
    pub fn parse_unvalidated(text: &str) -> Result<Manifest, ManifestError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|error| ManifestError::Parse {
                path: String::new(),
                message: error.to_string().trim_end().to_owned(),
            })?;
        serde_path_to_error::deserialize(deserializer).map_err(|error| ManifestError::Parse {
            path: error.path().to_string(),
            message: error.inner().to_string().trim_end().to_owned(),
        })
    }

    /// Serializes the manifest as TOML (all tables, defaults included).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("manifest model always serializes")
    }

    /// Every semantic rule of MANIFEST.md; all violations are reported at once.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut v = Validator::default();
        v.check(self);
        if v.violations.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::Invalid(v.violations))
        }
    }

    /// Verification step 10: does the consumer runtime (0.1.0, protocol 1) accept it?
    pub fn check_runtime_compat(&self) -> Result<(), CompatError> {
        let compat = &self.compat;
        if compat.required_protocol_major > RUNTIME_PROTOCOL_MAJOR {
            return Err(CompatError::ProtocolMajor {
                requested: compat.required_protocol_major,
                current: RUNTIME_PROTOCOL_MAJOR,
            });
        }
        if Version::parse(&compat.min_palyra_version).is_some_and(|min| min > RUNTIME_VERSION) {
            return Err(CompatError::TooOld {
                requested: compat.min_palyra_version.clone(),
                current: RUNTIME_VERSION,
            });
        }
        if let Some(max) = &compat.max_palyra_version
            && Version::parse(max).is_some_and(|max| RUNTIME_VERSION > max)
        {
            return Err(CompatError::TooNew {
                supported: max.clone(),
                current: RUNTIME_VERSION,
            });
        }
        Ok(())
    }

    /// The consumer's warnings (MANIFEST.md, "Warnings the consumer reports").
    pub fn warnings(&self) -> Vec<ManifestWarning> {
        let mut warnings = Vec::new();
        let mut warn = |code, message: String| {
            warnings.push(ManifestWarning {
                code,
                severity: "warning",
                message,
            })
        };
        if self.manifest_version == LEGACY_MANIFEST_VERSION {
            warn(
                "legacy_manifest_version",
                "manifest_version 1 is still accepted, but 2 is recommended: set `manifest_version = 2`".into(),
            );
        }
        if self.operator.is_empty() {
            warn(
                "missing_operator_metadata",
                "no `[operator]` metadata: operators will see a degraded inventory; add `[operator]` with `display_name` and `summary`".into(),
            );
            return warnings;
        }
        if self.operator.display_name.is_none() {
            warn(
                "missing_operator_display_name",
                "`operator.display_name` is missing".into(),
            );
        }
        if let Some(config) = &self.operator.config {
            if config.properties.is_empty() {
                warn(
                    "empty_operator_config_contract",
                    "`[operator.config]` is present but declares no properties: add properties or remove it".into(),
                );
            }
            for (name, property) in &config.properties {
                if !property.redacted && looks_secret(name) {
                    warn(
                        "operator_config_redaction_recommended",
                        format!(
                            "`operator.config.properties.{name}` looks secret but is not redacted: set `redacted = true`"
                        ),
                    );
                }
            }
        }
        warnings
    }

    /// The module the runtime runs by default, if the manifest names one.
    pub fn default_module_path(&self) -> Option<&str> {
        self.operator.plugin.default_module_path.as_deref()
    }

    /// The entrypoint export name (`run` unless the operator metadata says otherwise).
    pub fn entrypoint(&self) -> &str {
        self.operator
            .plugin
            .default_entrypoint
            .as_deref()
            .map(str::trim)
            .unwrap_or("run")
    }

    pub fn tool(&self, id: &str) -> Option<&Tool> {
        self.entrypoints
            .tools
            .iter()
            .find(|tool| tool.id.trim() == id)
    }
}

fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "token", "password", "api_key", "client_key"]
        .iter()
        .any(|needle| name.contains(needle))
}

/// `a-z 0-9 . _ - :` after trimming, non-empty.
pub fn is_identifier(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_:".contains(&b))
}

/// An identifier without `:` whose `.`-separated segments are all non-empty.
pub fn is_skill_id(value: &str) -> bool {
    is_identifier(value) && !value.contains(':') && value.trim().split('.').all(|s| !s.is_empty())
}

fn is_label(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The host rule for `http_egress_allowlist` (without the wildcard opt-in).
pub fn normalize_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && !host.contains("..")
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then_some(host)
}

#[derive(Default)]
struct Validator {
    violations: Vec<Violation>,
}

impl Validator {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            path: path.into(),
            message: message.into(),
        });
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
                format!(
                    "`{value}` is not a plain version: use `major.minor.patch` such as `1.0.0`"
                ),
            );
        }
        parsed
    }

    fn identifier_or_wildcard(&mut self, path: &str, value: &str, opt_in: bool, flag: &str) {
        if value.contains('*') {
            if !opt_in {
                self.fail(
                    path,
                    format!("`{value}` uses a wildcard without `wildcard_opt_in.{flag} = true`"),
                );
            }
        } else if !is_identifier(value) {
            self.fail(
                path,
                format!("`{value}` is not an identifier: use only `a-z 0-9 . _ - :`"),
            );
        }
    }

    fn artifact_path(&mut self, path: &str, value: &str) {
        if normalize_path(value).is_err() {
            self.fail(
                path,
                format!("`{value}` is not a valid relative path: no leading `/`, no `..` or `.` segments, no `:`"),
            );
        }
    }

    fn check(&mut self, m: &Manifest) {
        if !matches!(
            m.manifest_version,
            LEGACY_MANIFEST_VERSION | CURRENT_MANIFEST_VERSION
        ) {
            self.fail(
                "manifest_version",
                format!(
                    "{} is not supported: use 2 (or 1, legacy)",
                    m.manifest_version
                ),
            );
        }
        let publisher_ok = is_identifier(&m.publisher);
        if !publisher_ok {
            self.fail(
                "publisher",
                format!(
                    "`{}` is not an identifier: use only `a-z 0-9 . _ - :`",
                    m.publisher
                ),
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
                    format!(
                        "`{}` is not an identifier: use only `a-z 0-9 . _ - :`",
                        tool.id
                    ),
                );
            } else if publisher_ok && !tool.id.trim().starts_with(&prefix) {
                self.fail(
                    at("id"),
                    format!("`{}` must start with the publisher: `{prefix}...`", tool.id),
                );
            } else if !seen.insert(tool.id.trim().to_owned()) {
                self.fail(
                    at("id"),
                    format!("`{}` is declared twice: tool ids must be unique", tool.id),
                );
            }
            self.non_empty(&at("name"), &tool.name);
            self.non_empty(&at("description"), &tool.description);
            if !tool.input_schema.is_object() {
                self.fail(
                    at("input_schema"),
                    "must be a JSON Schema object (a TOML table)",
                );
            }
            if !tool.output_schema.is_object() {
                self.fail(
                    at("output_schema"),
                    "must be a JSON Schema object (a TOML table)",
                );
            }
        }
    }

    fn check_capabilities(&mut self, c: &Capabilities) {
        let wild = &c.wildcard_opt_in;
        for (field, roots) in [
            ("read_roots", &c.filesystem.read_roots),
            ("write_roots", &c.filesystem.write_roots),
        ] {
            for (i, root) in roots.iter().enumerate() {
                let path = format!("capabilities.filesystem.{field}[{i}]");
                if root.contains('*') && !wild.filesystem {
                    self.fail(
                        path,
                        format!(
                            "`{root}` uses a wildcard without `wildcard_opt_in.filesystem = true`"
                        ),
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
                        format!(
                            "`{host}` uses a wildcard without `wildcard_opt_in.http_egress = true`"
                        ),
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
                    format!("`{}` is not a scope: use `global`, `principal:<id>`, `channel:<id>` or `skill:<id>`", secret.scope),
                );
            }
            if secret.key_names.is_empty() {
                self.fail(
                    format!("capabilities.secrets[{i}].key_names"),
                    "must list at least one key name",
                );
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
            self.fail(
                "capabilities.quotas.wall_clock_timeout_ms",
                "must be greater than 0",
            );
        }
        if c.quotas.fuel_budget == 0 {
            self.fail("capabilities.quotas.fuel_budget", "must be greater than 0");
        }
        if c.quotas.max_memory_bytes < 65_536 {
            self.fail(
                "capabilities.quotas.max_memory_bytes",
                format!(
                    "{} is below one WebAssembly page: use at least 65536",
                    c.quotas.max_memory_bytes
                ),
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
                self.fail(
                    "compat.max_palyra_version",
                    format!("{max} is below `min_palyra_version` {min}"),
                );
            }
        }
    }

    fn check_builder(&mut self, b: &Builder) {
        if !b.experimental {
            self.fail(
                "builder.experimental",
                "must be true for generated skills under review",
            );
        }
        self.non_empty("builder.source_kind", &b.source_kind);
        self.non_empty("builder.source_ref", &b.source_ref);
        self.non_empty("builder.rollout_flag", &b.rollout_flag);
        for (field, value) in [
            (
                "capability_declaration_path",
                &b.checklist.capability_declaration_path,
            ),
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
        for (field, value) in [
            ("display_name", &op.display_name),
            ("summary", &op.summary),
            ("description", &op.description),
        ] {
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
            if !is_identifier(tool_id)
                || !m.entrypoints.tools.iter().any(|t| t.id == tool_id.trim())
            {
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
                self.fail(
                    format!("{at}.kind"),
                    format!("`{}` is declared twice", contract.kind),
                );
            }
            if contract.version != 1 {
                self.fail(
                    format!("{at}.version"),
                    format!(
                        "{} is not supported: the runtime speaks version 1",
                        contract.version
                    ),
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
                self.fail(
                    &at,
                    format!("property name `{name}` may use only `a-z 0-9 . _ -`"),
                );
            }
            for (field, value) in [("title", &p.title), ("description", &p.description)] {
                if let Some(value) = value {
                    self.non_empty(&format!("{at}.{field}"), value);
                }
            }
            if !p.enum_values.is_empty() {
                if p.value_type != ConfigValueType::String {
                    self.fail(
                        format!("{at}.enum_values"),
                        "only allowed with `type = \"string\"`",
                    );
                }
                let unique: BTreeSet<&str> = p.enum_values.iter().map(|v| v.trim()).collect();
                if unique.contains("") {
                    self.fail(
                        format!("{at}.enum_values"),
                        "must not contain empty strings",
                    );
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
                    ConfigValueType::StringList => default
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string)),
                };
                if !type_ok {
                    self.fail(
                        format!("{at}.default"),
                        format!(
                            "{default} does not match `type = \"{}\"`",
                            p.value_type.as_str()
                        ),
                    );
                } else if !p.enum_values.is_empty()
                    && !p
                        .enum_values
                        .iter()
                        .any(|v| Some(v.as_str()) == default.as_str())
                {
                    self.fail(
                        format!("{at}.default"),
                        format!("{default} is not one of `enum_values`"),
                    );
                }
            }
        }
    }
}
