//! The audit itself: the consumer's checks in the consumer's order, then our
//! findings for every module.

use std::collections::BTreeSet;

use serde_json::json;

use super::advisories::{AdvisoryKind, Dependencies, MAX_CRATES_PER_LIST, MAX_FINDINGS, Scan, scan};
use super::analysis::analyze;
use super::findings::{WASI_P1, least_privilege, module_findings};
use super::host_findings::{manifest_host_findings, module_host_findings};
use super::report::{AuditReport, Check, Feed, Finding, ModuleSummary, Policy, Severity, Status, Subject};
use crate::artifact::sha256_hex;
use crate::host::OperatorConfig;
use crate::manifest::Manifest;

/// Runs every check, and the vulnerability scan when `feed` names an
/// advisory database.
pub fn audit(subject: &Subject, policy: &Policy, feed: &Feed, now_unix_ms: i64) -> AuditReport {
    let mut checks = Vec::new();
    let mut findings = Vec::new();
    let mut summaries = Vec::new();
    let manifest = subject.manifest;
    if let Some(manifest) = manifest {
        checks.push(Check::pass("signature_validity", "signature chain and payload hash verified", None));
        checks.push(Check::pass("sbom_presence", "sbom.cdx.json is present and valid", None));
        checks.push(Check::pass("provenance_presence", "provenance.json is present and valid", None));
        checks.push(Check::pass(
            "manifest_sanity",
            "manifest passed strict schema and wildcard validation",
            None,
        ));
        for warning in manifest.warnings() {
            checks.push(Check::warn(
                format!("manifest_warning:{}", warning.code),
                warning.message.clone(),
                Some(json!({ "code": warning.code, "severity": warning.severity })),
            ));
        }
        capability_guardrails(manifest, policy, &mut checks);
    }

    if subject.modules.is_empty() {
        checks.push(Check::fail(
            "wasm_module_presence",
            "artifact does not contain any modules/*.wasm entries",
            None,
        ));
    } else {
        let paths: Vec<&str> = subject.modules.iter().map(|(p, _)| *p).collect();
        checks.push(Check::pass(
            "wasm_module_presence",
            format!("artifact includes {} wasm module(s)", paths.len()),
            Some(json!({ "modules": paths })),
        ));
    }

    let fs = manifest.map(|m| &m.capabilities.filesystem);
    let filesystem_declared = fs.is_some_and(|fs| !fs.read_roots.is_empty() || !fs.write_roots.is_empty());
    let mut imported_classes = BTreeSet::new();
    let default_operator = OperatorConfig::default();
    let operator = subject.operator.unwrap_or(&default_operator);
    for (path, bytes) in &subject.modules {
        let size = bytes.len() as u64;
        let size_details =
            json!({ "module_path": path, "module_bytes": size, "max_module_bytes": policy.max_module_bytes });
        if size > policy.max_module_bytes {
            checks.push(Check::fail(
                "wasm_module_size_limit",
                format!("module '{path}' exceeds max_module_bytes ({size} > {})", policy.max_module_bytes),
                Some(size_details),
            ));
            continue;
        }
        let facts = analyze(bytes);
        if let Some((offset, message)) = &facts.validation_error {
            checks.push(Check::fail(
                "wasm_module_validation",
                format!("module '{path}' failed validation: {message} (at offset {offset})"),
                Some(json!({ "module_path": path })),
            ));
            findings.push(Finding {
                id: "invalid_module",
                severity: Severity::Error,
                location: path.to_string(),
                offset: Some(*offset),
                name: None,
                message: format!("not a valid WebAssembly module: {message}"),
                fix: "rebuild the module for `wasm32-wasip1` with `cargo palyra-skill build`".into(),
            });
            continue;
        }
        checks.push(Check::pass(
            "wasm_module_size_limit",
            format!("module '{path}' is within max_module_bytes ({size} <= {})", policy.max_module_bytes),
            Some(size_details),
        ));
        let exported = facts.exported_functions();
        let export_details = json!({
            "module_path": path, "exported_functions": exported, "max_exported_functions": policy.max_exported_functions,
        });
        if exported > policy.max_exported_functions {
            checks.push(Check::fail(
                "wasm_exported_function_limit",
                format!(
                    "module '{path}' exports too many functions ({exported} > {})",
                    policy.max_exported_functions
                ),
                Some(export_details),
            ));
        } else {
            checks.push(Check::pass(
                "wasm_exported_function_limit",
                format!(
                    "module '{path}' export function count is within limit ({exported} <= {})",
                    policy.max_exported_functions
                ),
                Some(export_details),
            ));
        }
        let fs_details = json!({ "module_path": path, "filesystem_declared": filesystem_declared });
        let component_fs =
            facts.imports.iter().any(|i| i.module.trim().to_ascii_lowercase().starts_with("wasi:filesystem"));
        if component_fs && !filesystem_declared {
            checks.push(Check::fail(
                "wasm_wasi_filesystem_imports",
                format!("module '{path}' imports wasi:filesystem without declared filesystem capability"),
                Some(fs_details),
            ));
        } else {
            checks.push(Check::pass(
                "wasm_wasi_filesystem_imports",
                format!("module '{path}' does not violate wasi:filesystem policy"),
                Some(fs_details),
            ));
        }
        module_host_findings(path, size, &facts, operator, &mut findings);
        module_findings(
            path,
            bytes,
            &facts,
            manifest,
            filesystem_declared,
            policy,
            subject,
            &mut findings,
            &mut imported_classes,
        );
        summaries.push(ModuleSummary {
            path: path.to_string(),
            bytes: size,
            module_size: crate::headroom::Headroom::new(
                size,
                operator.max_module_size_bytes,
                crate::headroom::DEFAULT_WARN_AT,
            ),
            sha256: sha256_hex(bytes),
            exported_functions: exported,
            imports: facts.imports.iter().map(|i| format!("{}::{}", i.module, i.name)).collect(),
            wasi_functions: facts
                .imports
                .iter()
                .filter(|i| i.module == WASI_P1)
                .map(|i| i.name.clone())
                .collect(),
            producers: facts.producers.clone(),
        });
    }
    if let Some(manifest) = manifest {
        least_privilege(manifest, &imported_classes, &mut findings);
        let paths: Vec<&str> = subject.modules.iter().map(|(p, _)| *p).collect();
        manifest_host_findings(manifest, &paths, operator, &mut findings);
    }

    let advisories = feed.advisory_db.map(|db| {
        let mut deps = Dependencies::default();
        if let Some(sbom) = subject.sbom {
            deps.add_sbom(sbom, crate::artifact::SBOM_PATH);
        }
        for (path, bytes) in &subject.modules {
            deps.add_module(bytes, path);
        }
        for (source, reason) in &deps.unreadable {
            findings.push(Finding {
                id: "dependency_list_unreadable",
                severity: Severity::Warning,
                location: source.clone(),
                offset: None,
                name: None,
                message: format!(
                    "the dependency list in `{source}` could not be read, so it was not scanned: {reason}"
                ),
                fix:
                    "rebuild with `cargo palyra-skill build`, which writes both lists from the resolved graph"
                        .into(),
            });
        }
        let scan = scan(db, &deps);
        advisory_findings(&scan, &mut findings);
        scan
    });
    let vulnerability_scan = feed_check(feed.hook, advisories.as_ref());
    checks.push(vulnerability_scan.clone());

    let quarantine_reasons: Vec<String> =
        checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.message.clone()).collect();
    let passed = quarantine_reasons.is_empty();
    AuditReport {
        skill_id: manifest.map(|m| m.skill_id.clone()).unwrap_or_default(),
        version: manifest.map(|m| m.version.clone()).unwrap_or_default(),
        publisher: manifest.map(|m| m.publisher.clone()).unwrap_or_default(),
        accepted: subject.trust_decision.is_some(),
        passed,
        should_quarantine: !passed,
        trust_decision: subject.trust_decision,
        payload_sha256: subject.payload_sha256.clone(),
        generated_at_unix_ms: now_unix_ms,
        policy: policy.clone(),
        manifest_warnings: manifest.map(Manifest::warnings).unwrap_or_default(),
        checks,
        quarantine_reasons,
        vulnerability_scan,
        advisories,
        findings,
        modules: summaries,
    }
}

/// The consumer's `vulnerability_feed_hook` check: a warning when nothing
/// is configured, a pass when a hook is set or a database was scanned (and
/// then it says what was scanned).
fn feed_check(hook: Option<&str>, scan: Option<&Scan>) -> Check {
    let hook = hook.map(str::trim).filter(|h| !h.is_empty());
    match (scan, hook) {
        (Some(scan), _) => {
            let vulnerable = scan.matches.iter().filter(|m| m.kind == AdvisoryKind::Vulnerability).count();
            let sources = if scan.sources.is_empty() {
                "no dependency list".to_owned()
            } else {
                scan.sources.join(", ")
            };
            let yanked = match &scan.yanked.unavailable {
                Some(reason) => format!("; yanked crates not checked ({reason})"),
                None => format!(
                    "; {} yanked (of {} in cargo's index cache)",
                    scan.yanked.yanked.len(),
                    scan.yanked.checked
                ),
            };
            let mut capped: String = scan
                .capped_lists
                .iter()
                .map(|(list, named)| {
                    format!(
                        "; `{list}` names {named} crates, only the first {MAX_CRATES_PER_LIST} were scanned"
                    )
                })
                .collect();
            if let Some(total) = scan.matches_capped {
                capped.push_str(&format!(
                    "; {total} advisories matched, only the first {MAX_FINDINGS} are reported"
                ));
            }
            Check::pass(
                "vulnerability_feed_hook",
                format!(
                    "scanned {} crate(s) from {sources} against {} advisories in `{}`: {vulnerable} vulnerable, {} warning(s){yanked}{capped}",
                    scan.crates_scanned,
                    scan.advisories,
                    scan.database,
                    scan.matches.len() - vulnerable
                ),
                Some(json!({
                    "advisory_db": scan.database,
                    "advisories": scan.advisories,
                    "crates_scanned": scan.crates_scanned,
                    "sources": scan.sources,
                    "vulnerable": vulnerable,
                    "yanked": scan.yanked,
                    "capped_lists": scan.capped_lists,
                    "matches_capped": scan.matches_capped,
                    "hook": hook,
                })),
            )
        }
        (None, Some(hook)) => Check::pass(
            "vulnerability_feed_hook",
            "vulnerability feed hook is configured",
            Some(json!({ "hook": hook })),
        ),
        (None, None) => Check::warn(
            "vulnerability_feed_hook",
            "vulnerability feed hook is not configured: scan the crates with `--advisory-db DIR` (a checkout of github.com/rustsec/advisory-db; the workflow `new` writes does) or set PALYRA_SKILL_AUDIT_VULN_FEED_HOOK. Palyra's own audit warns the same unless its operator configures a feed",
            None,
        ),
    }
}

/// One finding per advisory that applies: vulnerabilities are errors;
/// unmaintained, unsound, notices and yanked crates are warnings.
fn advisory_findings(scan: &Scan, findings: &mut Vec<Finding>) {
    for (krate, version) in &scan.yanked.yanked {
        findings.push(Finding {
            id: "yanked_dependency",
            severity: Severity::Warning,
            location: "Cargo.lock".into(),
            offset: None,
            name: Some(format!("{krate}@{version}")),
            message: format!(
                "`{krate} {version}` is yanked from crates.io (cargo's local index cache says so)"
            ),
            fix: format!("`cargo update -p {krate}` to a version that is not yanked"),
        });
    }
    for m in &scan.matches {
        let patched = if m.patched.is_empty() { "none".to_owned() } else { m.patched.join(", ") };
        let (id, severity, what) = match m.kind {
            AdvisoryKind::Vulnerability => ("vulnerable_dependency", Severity::Error, "is vulnerable"),
            AdvisoryKind::Unmaintained => ("unmaintained_dependency", Severity::Warning, "is unmaintained"),
            AdvisoryKind::Unsound => ("unsound_dependency", Severity::Warning, "is unsound"),
            AdvisoryKind::Notice => ("dependency_advisory", Severity::Warning, "has an advisory"),
        };
        let url = m.url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default();
        let fix = if m.patched.is_empty() {
            format!("no patched version of `{}` exists: replace or remove it ({})", m.krate, m.id)
        } else {
            format!(
                "`cargo update -p {}` to a patched version ({patched}); if none fits your requirement, raise it in Cargo.toml",
                m.krate
            )
        };
        findings.push(Finding {
            id,
            severity,
            location: "Cargo.lock".into(),
            offset: None,
            name: Some(format!("{}@{}", m.krate, m.version)),
            message: format!(
                "`{} {}` {what}: {} {}{url}; patched: {patched}; listed in {}",
                m.krate,
                m.version,
                m.id,
                m.title,
                m.listed_in.join(", ")
            ),
            fix,
        });
    }
}

/// The consumer's inventory checks and its device and wildcard gates.
fn capability_guardrails(manifest: &Manifest, policy: &Policy, checks: &mut Vec<Check>) {
    let c = &manifest.capabilities;
    checks.push(Check::pass(
        "manifest_filesystem_scopes",
        format!(
            "manifest declares {} filesystem read root(s) and {} write root(s)",
            c.filesystem.read_roots.len(),
            c.filesystem.write_roots.len()
        ),
        Some(json!({ "read_roots": c.filesystem.read_roots, "write_roots": c.filesystem.write_roots })),
    ));
    checks.push(Check::pass(
        "manifest_http_egress_scopes",
        format!("manifest declares {} http egress host(s)", c.http_egress_allowlist.len()),
        Some(json!({ "hosts": c.http_egress_allowlist })),
    ));
    checks.push(Check::pass(
        "manifest_secret_scopes",
        format!("manifest declares {} secret scope(s)", c.secrets.len()),
        Some(json!({ "scopes": c.secrets.iter().map(|s| s.scope.as_str()).collect::<Vec<_>>() })),
    ));
    if !c.device_capabilities.is_empty() && !policy.allow_device_capabilities {
        checks.push(Check::fail(
            "forbidden_device_capabilities",
            "manifest declares device capabilities, which are not grantable by the sandboxed plugin runtime",
            Some(json!({ "device_capabilities": c.device_capabilities })),
        ));
    } else {
        checks.push(Check::pass(
            "forbidden_device_capabilities",
            "manifest does not declare forbidden device capabilities",
            Some(json!({
                "device_capabilities": c.device_capabilities,
                "allow_device_capabilities": policy.allow_device_capabilities,
            })),
        ));
    }
    let w = &c.wildcard_opt_in;
    let wildcards: Vec<&str> = [
        (w.filesystem, "filesystem"),
        (w.http_egress, "http_egress"),
        (w.secrets, "secrets"),
        (w.device, "device"),
        (w.node, "node"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if !wildcards.is_empty() && !policy.allow_wildcard_capabilities {
        checks.push(Check::fail(
            "forbidden_wildcard_capabilities",
            "manifest enables wildcard capabilities, which require an explicit audit policy override",
            Some(json!({ "wildcard_opt_ins": wildcards })),
        ));
    } else {
        checks.push(Check::pass(
            "forbidden_wildcard_capabilities",
            "manifest wildcard capability posture is allowed by audit policy",
            Some(json!({ "wildcard_opt_ins": wildcards, "allow_wildcard_capabilities": policy.allow_wildcard_capabilities })),
        ));
    }
}
