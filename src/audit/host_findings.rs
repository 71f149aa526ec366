//! What the Palyra 0.1.0 daemon will do with the skill (docs/host.md), beyond
//! the install-time audit: imports it cannot link, modules over its size
//! cap, manifest values that fail every run, an ambiguous module choice,
//! quotas it caps, capabilities the operator will not grant or nobody can,
//! and typed contracts whose capability classes the adapter forbids.

use super::analysis::ModuleFacts;
use super::findings::WASI_P1;
use super::report::{Finding, Severity};
use crate::host::{OperatorConfig, contract_allowed_classes, skill_grant_errors};
use crate::manifest::Manifest;
use crate::runtime::{HOST_MODULE, thousands};

fn manifest_finding(
    id: &'static str,
    severity: Severity,
    name: &str,
    message: String,
    fix: String,
) -> Finding {
    Finding {
        id,
        severity,
        location: "skill.toml".into(),
        offset: None,
        name: Some(name.to_owned()),
        message,
        fix,
    }
}

/// Findings for one module.
pub(super) fn module_host_findings(
    path: &str,
    size: u64,
    facts: &ModuleFacts,
    operator: &OperatorConfig,
    findings: &mut Vec<Finding>,
) {
    if size > operator.max_module_size_bytes {
        findings.push(Finding {
            id: "module_over_host_size",
            severity: Severity::Error,
            location: path.to_owned(),
            offset: None,
            name: None,
            message: format!(
                "the module is {} bytes, over the operator's `max_module_size_bytes` of {}: every call fails as `quota_exceeded`",
                thousands(size),
                thousands(operator.max_module_size_bytes)
            ),
            fix: "`cargo palyra-skill build --size-report` names the packages that cost the bytes and the profile settings not yet set; or have the operator raise `[tool_call.wasm_runtime] max_module_size_bytes`".into(),
        });
    }
    let wasi: Vec<&str> =
        facts.imports.iter().filter(|i| i.module == WASI_P1).map(|i| i.name.as_str()).collect();
    if let Some(first) = facts.imports.iter().find(|i| i.module == WASI_P1) {
        findings.push(Finding {
            id: "host_unlinkable_import",
            severity: Severity::Error,
            location: path.to_owned(),
            offset: Some(first.offset),
            name: Some(format!("{WASI_P1}::{}", first.name)),
            message: format!(
                "the Palyra 0.1.0 host links only `{HOST_MODULE}`; this module imports WASI ({}), so every call fails as `invalid_input` (\"unknown import\"): it can run only under `cargo palyra-skill run --abi wasi-json`",
                wasi.join(", ")
            ),
            fix: "build for the host ABI (`abi = \"palyra-host-v1\"`, the default: `wasm32-unknown-unknown`) and drop the WASI use".into(),
        });
    }
    if facts.imports.iter().any(|i| i.module == HOST_MODULE && i.name.starts_with("channel-")) {
        findings.push(Finding {
            id: "capability_never_granted",
            severity: Severity::Warning,
            location: path.to_owned(),
            offset: None,
            name: Some(format!("{HOST_MODULE}::channel-handle")),
            message: "the module asks for channel handles, which Palyra 0.1.0 never grants to a skill: it will always see none".into(),
            fix: "remove the `channel-count`/`channel-handle` imports".into(),
        });
    }
}

/// Findings about the manifest and the skill as a whole.
pub(super) fn manifest_host_findings(
    manifest: &Manifest,
    modules: &[&str],
    operator: &OperatorConfig,
    findings: &mut Vec<Finding>,
) {
    for error in skill_grant_errors(manifest) {
        findings.push(manifest_finding(
            "manifest_fails_every_run",
            Severity::Error,
            "capabilities",
            format!(
                "the daemon checks the skill's grants on every run and refuses this value, so every call fails as `invalid_input`: {}",
                error.message
            ),
            "secret scopes must be `global` (no `:`), keys `[a-z0-9._-]`, write roots `[a-z0-9/._-]` without `..`, hosts lowercase `[a-z0-9.-]`".into(),
        ));
    }
    if modules.len() > 1 && manifest.default_module_path().is_none() {
        findings.push(manifest_finding(
            "module_selection_ambiguous",
            Severity::Error,
            "operator.plugin.default_module_path",
            format!(
                "the skill has {} modules and no `operator.plugin.default_module_path`: the daemon refuses every call without a `module_path` (\"skill artifact contains multiple modules\")",
                modules.len()
            ),
            format!("set `operator.plugin.default_module_path` to one of {}", modules.join(", ")),
        ));
    }
    if let Some(declared) = manifest.default_module_path().map(str::trim)
        && !modules.contains(&declared)
    {
        findings.push(manifest_finding(
            "default_module_missing",
            Severity::Error,
            "operator.plugin.default_module_path",
            format!(
                "`operator.plugin.default_module_path` names `{declared}`, which the artifact does not hold: the daemon refuses every call that relies on it (\"skill artifact does not contain module_path\")"
            ),
            format!("set it to one of {}", modules.join(", ")),
        ));
    }
    let q = &manifest.capabilities.quotas;
    for (key, asked, cap, cap_key) in [
        ("fuel_budget", q.fuel_budget, operator.fuel_budget, "[tool_call.wasm_runtime] fuel_budget"),
        (
            "max_memory_bytes",
            q.max_memory_bytes,
            operator.max_memory_bytes,
            "[tool_call.wasm_runtime] max_memory_bytes",
        ),
        (
            "wall_clock_timeout_ms",
            q.wall_clock_timeout_ms,
            operator.execution_timeout_ms,
            "[tool_call] execution_timeout_ms",
        ),
    ] {
        if asked > cap {
            findings.push(manifest_finding(
                "quota_above_host_cap",
                Severity::Info,
                &format!("capabilities.quotas.{key}"),
                format!(
                    "`{key}` asks for {} but the host caps it at {} (`{cap_key}`): calls run with {}",
                    thousands(asked),
                    thousands(cap),
                    thousands(cap)
                ),
                format!("test with the effective value (`cargo palyra-skill run` applies it), or ask the operator to raise `{cap_key}`"),
            ));
        }
    }
    let c = &manifest.capabilities;
    let missing = |declared: &[String], allowed: &[String]| -> Vec<String> {
        declared
            .iter()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty() && !allowed.contains(d))
            .collect()
    };
    let http = missing(&c.http_egress_allowlist, &operator.allowed_http_hosts);
    let storage = missing(&c.filesystem.write_roots, &operator.allowed_storage_prefixes);
    if !http.is_empty() || !storage.is_empty() {
        let mut lines = OperatorConfig::toml_lines(
            &operator.allowed_http_hosts.iter().cloned().chain(http.clone()).collect::<Vec<_>>(),
            &[],
            &operator.allowed_storage_prefixes.iter().cloned().chain(storage.clone()).collect::<Vec<_>>(),
        );
        if http.is_empty() {
            lines.retain(|l| !l.starts_with("allowed_http_hosts"));
        }
        if storage.is_empty() {
            lines.retain(|l| !l.starts_with("allowed_storage_prefixes"));
        }
        let items: Vec<String> = http
            .iter()
            .map(|h| format!("http `{h}`"))
            .chain(storage.iter().map(|s| format!("storage `{s}`")))
            .collect();
        findings.push(manifest_finding(
            "capability_not_allowed_by_operator",
            Severity::Info,
            "capabilities",
            format!(
                "the operator's allowlists do not grant {}: until they do, the default plugin binding is invalid (`policy_restricted`) and a call requesting it is `capability_denied`",
                items.join(", ")
            ),
            format!("the operator adds to palyrad.toml:\n{}", lines.join("\n")),
        ));
    }
    if !c.secrets.is_empty() {
        findings.push(manifest_finding(
            "capability_never_granted",
            Severity::Warning,
            "capabilities.secrets",
            "secrets are declared, but Palyra 0.1.0 can never grant one (the operator's `allowed_secrets` cannot hold the `<scope>/<key>` form the skill's grants use): `secret-count` is always 0".into(),
            "remove `capabilities.secrets`, or keep it for a later Palyra and handle 0 secrets".into(),
        ));
    }
    let classes: Vec<&str> = [
        (!c.http_egress_allowlist.is_empty(), "http"),
        (!c.secrets.is_empty(), "secrets"),
        (!c.filesystem.write_roots.is_empty(), "storage"),
    ]
    .into_iter()
    .filter_map(|(declared, class)| declared.then_some(class))
    .collect();
    for contract in &manifest.operator.plugin.contracts {
        let Some(allowed) = contract_allowed_classes(&contract.kind) else {
            continue;
        };
        let forbidden: Vec<&str> = classes.iter().copied().filter(|c| !allowed.contains(c)).collect();
        if !forbidden.is_empty() {
            findings.push(manifest_finding(
                "contract_capability_forbidden",
                Severity::Error,
                "operator.plugin.contracts",
                format!(
                    "the `{}` contract's adapter allows {}, but the skill declares {}: the daemon rejects the contract",
                    contract.kind.trim(),
                    if allowed.is_empty() { "no capability classes".to_owned() } else { allowed.join(", ") },
                    forbidden.join(", ")
                ),
                "remove those capabilities, or declare a contract kind whose adapter allows them".into(),
            ));
        }
    }
}
