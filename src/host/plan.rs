//! The daemon's decisions before a module runs (docs/host.md, "How a call is built"):
//! tool, module and entrypoint selection, grants, limits.

use std::collections::BTreeSet;

use serde::Serialize;

use super::HostError;
use super::grammar::{hosts, identifiers, storage_prefixes};
use super::operator::OperatorConfig;
use crate::manifest::{Manifest, Tool};
use crate::runtime::{FailureClass, thousands};

const MODULE_FIX: &str =
    "name the module with `--module`, or set `operator.plugin.default_module_path` in `skill.toml`";
const ENTRYPOINT_FIX: &str =
    "entrypoints are `[a-z0-9_-]+`: fix `--entrypoint` or `operator.plugin.default_entrypoint`";

fn invalid(message: impl Into<String>, fix: impl Into<String>) -> HostError {
    HostError::new(FailureClass::InvalidInput, message, fix)
}

/// The capabilities a call requests (`capabilities` of `palyra.plugin.run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Requested {
    pub http_hosts: Vec<String>,
    pub secrets: Vec<String>,
    pub storage_prefixes: Vec<String>,
    pub channels: Vec<String>,
}

/// What an installed skill is granted, before normalisation
/// (`capability_grants_from_manifest`): http = `http_egress_allowlist`,
/// secrets = `<scope>/<key>`, storage = `filesystem.write_roots`, no channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SkillGrants {
    pub http_hosts: Vec<String>,
    pub secrets: Vec<String>,
    pub storage_prefixes: Vec<String>,
    pub channels: Vec<String>,
}

fn dedupe_sorted<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    items
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl SkillGrants {
    pub fn from_manifest(manifest: &Manifest) -> SkillGrants {
        let c = &manifest.capabilities;
        let secrets: BTreeSet<String> = c
            .secrets
            .iter()
            .flat_map(|scope| scope.key_names.iter().map(move |key| format!("{}/{}", scope.scope, key)))
            .collect();
        SkillGrants {
            http_hosts: dedupe_sorted(c.http_egress_allowlist.iter()),
            secrets: secrets.into_iter().collect(),
            storage_prefixes: dedupe_sorted(c.filesystem.write_roots.iter()),
            channels: Vec::new(),
        }
    }
}

/// The daemon's run-time normalisation of the skill's grants, class by
/// class (docs/host.md, "How a call is built", step 5): every error here fails every run of
/// the skill as `invalid_input`, whatever is requested.
pub fn skill_grant_errors(manifest: &Manifest) -> Vec<HostError> {
    let skill = SkillGrants::from_manifest(manifest);
    let from_skill = "skill.manifest.capabilities";
    [
        hosts(&skill.http_hosts, from_skill).err(),
        identifiers(&skill.secrets, from_skill, "secret handle").err(),
        storage_prefixes(&skill.storage_prefixes, from_skill).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The typed-contract adapters of Palyra 0.1.0 and the capability classes
/// each allows (docs/manifest.md, `[operator]`): `None` for a kind it does not know.
pub fn contract_allowed_classes(kind: &str) -> Option<&'static [&'static str]> {
    const DATA: &[&str] = &["http", "secrets", "storage"];
    Some(match kind.trim() {
        "memory_provider" | "context_engine" | "routing_strategy" | "compaction_provider" => DATA,
        "run_lifecycle_hook" | "policy_signal_provider" => &[],
        "diagnostics_provider" | "scheduler_task_provider" => &["storage"],
        "channel_binding_provider" | "delivery_adapter" => &["channels"],
        "model_auth_provider" => &["secrets"],
        "connector_adapter" => &["http", "secrets", "storage", "channels"],
        _ => return None,
    })
}

/// What a call may run with, once the daemon has accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorized {
    /// The requested capabilities, normalised: what the module gets handles for.
    pub granted: Requested,
    /// The operator's allowlists intersected with the skill's grants.
    pub allowed: Requested,
}

/// Steps 1 to 4 of `execute_module`: module size, normalisation of the
/// requested capabilities, of the operator's lists and of the skill's
/// grants (on every run, even when nothing is requested), and the subset
/// rule. The first problem wins, as in the daemon.
pub fn authorize(
    operator: &OperatorConfig,
    manifest: &Manifest,
    module_len: u64,
    requested: &Requested,
) -> Result<Authorized, HostError> {
    ensure_enabled(operator)?;
    if module_len == 0 {
        return Err(HostError::new(
            FailureClass::InvalidModule,
            "palyra.plugin.run module payload cannot be empty",
            "the module is empty: rebuild it",
        ));
    }
    if module_len > operator.max_module_size_bytes {
        return Err(HostError::new(
            FailureClass::ModuleTooLarge,
            format!(
                "palyra.plugin.run module payload exceeds max_module_size_bytes={} bytes",
                operator.max_module_size_bytes
            ),
            format!(
                "the module is {} bytes: `cargo palyra-skill build --size-report` names what costs the bytes; or have the operator raise `max_module_size_bytes`",
                thousands(module_len)
            ),
        ));
    }
    let granted = Requested {
        http_hosts: hosts(&requested.http_hosts, "capabilities.http_hosts")?,
        secrets: identifiers(&requested.secrets, "capabilities.secrets", "secret handle")?,
        storage_prefixes: storage_prefixes(&requested.storage_prefixes, "capabilities.storage_prefixes")?,
        channels: identifiers(&requested.channels, "capabilities.channels", "channel handle")?,
    };
    let skill = SkillGrants::from_manifest(manifest);
    let from_skill = "skill.manifest.capabilities";
    let intersect = |mut policy: Vec<String>, skill: Vec<String>| {
        policy.retain(|p| skill.contains(p));
        policy
    };
    let http = hosts(&operator.allowed_http_hosts, "policy.allowed_http_hosts")?;
    let http = intersect(http, hosts(&skill.http_hosts, from_skill)?);
    let secrets = identifiers(&operator.allowed_secrets, "policy.allowed_secrets", "secret handle")?;
    let secrets = intersect(secrets, identifiers(&skill.secrets, from_skill, "secret handle")?);
    let storage = storage_prefixes(&operator.allowed_storage_prefixes, "policy.allowed_storage_prefixes")?;
    let storage = intersect(storage, storage_prefixes(&skill.storage_prefixes, from_skill)?);
    let channels = identifiers(&operator.allowed_channels, "policy.allowed_channels", "channel handle")?;
    let channels = intersect(channels, identifiers(&skill.channels, from_skill, "channel handle")?);
    let allowed = Requested { http_hosts: http, secrets, storage_prefixes: storage, channels };
    let declared = Requested {
        http_hosts: hosts(&skill.http_hosts, from_skill)?,
        storage_prefixes: storage_prefixes(&skill.storage_prefixes, from_skill)?,
        ..Requested::default()
    };
    for (wanted, allowed, declared, name) in [
        (&granted.http_hosts, &allowed.http_hosts, &declared.http_hosts, "http_hosts"),
        (&granted.secrets, &allowed.secrets, &declared.secrets, "secrets"),
        (
            &granted.storage_prefixes,
            &allowed.storage_prefixes,
            &declared.storage_prefixes,
            "storage_prefixes",
        ),
        (&granted.channels, &allowed.channels, &declared.channels, "channels"),
    ] {
        let denied: Vec<&str> = wanted.iter().filter(|w| !allowed.contains(w)).map(String::as_str).collect();
        if let Some(first) = denied.first() {
            return Err(HostError::new(
                FailureClass::CapabilityDenied,
                format!("palyra.plugin.run capability denied for {name}: {}", denied.join(",")),
                denial_fix(name, first, declared.iter().any(|d| d == first)),
            ));
        }
    }
    Ok(Authorized { granted, allowed })
}

/// Why `value` of the class `name` was denied, and the line that grants it:
/// the skill's declaration when it lacks one, else the operator's list.
fn denial_fix(name: &str, value: &str, declared: bool) -> String {
    let value = crate::text::escape(value);
    let (skill_line, operator_key) = match name {
        "http_hosts" => ("[capabilities] http_egress_allowlist", "allowed_http_hosts"),
        "storage_prefixes" => ("[capabilities.filesystem] write_roots", "allowed_storage_prefixes"),
        "secrets" => {
            return format!(
                "`{value}` is a secret, and Palyra 0.1.0 never grants one: the operator's `allowed_secrets` cannot hold the `/` of `<scope>/<key>`"
            );
        }
        _ => {
            return format!(
                "`{value}` is a channel, and Palyra 0.1.0 never grants one: a skill declares no channels"
            );
        }
    };
    if declared {
        format!(
            "`skill.toml` declares `{value}`, but the operator does not allow it: palyrad.toml must list it in `[tool_call.wasm_runtime] {operator_key}`"
        )
    } else {
        format!(
            "`skill.toml` does not declare `{value}`: add it to `{skill_line}` (a capability reaches the module only when the skill declares it and the operator allows it)"
        )
    }
}

/// `disabled` unless the operator enabled the runtime.
pub fn ensure_enabled(operator: &OperatorConfig) -> Result<(), HostError> {
    if operator.enabled {
        return Ok(());
    }
    Err(HostError::new(
        FailureClass::Disabled,
        "wasm plugin runtime is disabled by runtime policy",
        "the operator must set `[tool_call.wasm_runtime] enabled = true` in palyrad.toml",
    ))
}

/// The tool a call names (its `tool_id` must be declared exactly).
pub fn select_tool<'m>(manifest: &'m Manifest, tool_id: Option<&str>) -> Result<Option<&'m Tool>, HostError> {
    let Some(tool_id) = tool_id.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    manifest.entrypoints.tools.iter().find(|tool| tool.id == tool_id).map(Some).ok_or_else(|| {
        let ids: Vec<String> =
            manifest.entrypoints.tools.iter().map(|t| format!("`{}`", crate::text::escape(&t.id))).collect();
        invalid(
            format!("skill artifact does not declare tool_id '{tool_id}'"),
            format!(
                "the skill's tools are {}: name one with `--tool`, or fix `operator.plugin.default_tool_id`",
                ids.join(", ")
            ),
        )
    })
}

/// `module_path` if given (a `modules/*.wasm` entry), else the only module.
pub fn select_module(modules: &[&str], requested: Option<&str>) -> Result<String, HostError> {
    let mut paths: Vec<&str> =
        modules.iter().copied().filter(|p| p.starts_with("modules/") && p.ends_with(".wasm")).collect();
    paths.sort_unstable();
    paths.dedup();
    if let Some(path) = requested.map(str::trim).filter(|p| !p.is_empty()) {
        if path.contains('\0')
            || path.contains("..")
            || path.starts_with(['/', '\\'])
            || !path.starts_with("modules/")
            || !path.ends_with(".wasm")
        {
            return Err(invalid(
                "palyra.plugin.run module_path must reference a modules/*.wasm artifact entry",
                MODULE_FIX,
            ));
        }
        return paths.into_iter().find(|p| *p == path).map(str::to_owned).ok_or_else(|| {
            invalid(format!("skill artifact does not contain module_path '{path}'"), MODULE_FIX)
        });
    }
    match paths.as_slice() {
        [only] => Ok((*only).to_owned()),
        _ => Err(invalid(
            "skill artifact contains multiple modules; specify module_path to select one",
            MODULE_FIX,
        )),
    }
}

/// The entrypoint, `run` by default: trimmed, non-empty, `[a-z0-9_-]`.
pub fn select_entrypoint(requested: Option<&str>) -> Result<String, HostError> {
    let entrypoint = requested.map(str::trim).unwrap_or("run");
    if entrypoint.is_empty() {
        return Err(invalid("palyra.plugin.run entrypoint cannot be empty", ENTRYPOINT_FIX));
    }
    if !entrypoint.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')) {
        return Err(invalid(
            format!("palyra.plugin.run entrypoint '{entrypoint}' contains invalid characters"),
            ENTRYPOINT_FIX,
        ));
    }
    Ok(entrypoint.to_owned())
}

/// What a run-lifecycle hook's exit code means to the daemon (docs/host.md, "How a call is built").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookDecision {
    Continue,
    Annotate,
    RequestApproval,
    Block,
    TransformPreview,
    FailRun,
}

impl HookDecision {
    pub fn from_exit_code(code: i32) -> HookDecision {
        match code {
            0 => HookDecision::Continue,
            10 => HookDecision::Annotate,
            20 => HookDecision::RequestApproval,
            30 => HookDecision::Block,
            40 => HookDecision::TransformPreview,
            c if !(0..50).contains(&c) => HookDecision::FailRun,
            _ => HookDecision::Annotate,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HookDecision::Continue => "continue",
            HookDecision::Annotate => "annotate",
            HookDecision::RequestApproval => "request_approval",
            HookDecision::Block => "block",
            HookDecision::TransformPreview => "transform_preview",
            HookDecision::FailRun => "fail_run",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_decisions_follow_the_daemon() {
        let cases = [
            (0, "continue"),
            (10, "annotate"),
            (20, "request_approval"),
            (30, "block"),
            (40, "transform_preview"),
            (50, "fail_run"),
            (-1, "fail_run"),
            (1, "annotate"),
            (49, "annotate"),
            (10001, "fail_run"),
        ];
        for (code, decision) in cases {
            assert_eq!(HookDecision::from_exit_code(code).as_str(), decision, "{code}");
        }
    }

    #[test]
    fn module_selection_as_the_daemon() {
        let two = ["modules/a.wasm", "modules/b.wasm", "skill.toml"];
        assert_eq!(select_module(&two, Some(" modules/b.wasm ")).unwrap(), "modules/b.wasm");
        assert!(select_module(&two, None).unwrap_err().message.contains("multiple modules"));
        assert!(select_module(&[], None).unwrap_err().message.contains("multiple modules"));
        assert_eq!(select_module(&two[..1], None).unwrap(), "modules/a.wasm");
        for bad in ["a.wasm", "modules/../a.wasm", "/modules/a.wasm", "modules/a.wat"] {
            assert!(select_module(&two, Some(bad)).unwrap_err().message.contains("must reference"), "{bad}");
        }
        assert!(
            select_module(&two, Some("modules/c.wasm")).unwrap_err().message.contains("does not contain")
        );
    }

    #[test]
    fn entrypoint_grammar() {
        assert_eq!(select_entrypoint(None).unwrap(), "run");
        assert_eq!(select_entrypoint(Some(" on-hook_2 ")).unwrap(), "on-hook_2");
        assert!(select_entrypoint(Some(" ")).unwrap_err().message.contains("cannot be empty"));
        assert!(select_entrypoint(Some("Run")).unwrap_err().message.contains("invalid characters"));
    }
}
