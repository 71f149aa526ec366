//! The audit itself: the consumer's checks in the consumer's order, then our
//! findings for every module.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::analysis::{ModuleFacts, analyze};
use super::report::{AuditReport, Check, Finding, ModuleSummary, Policy, Severity, Status};
use crate::artifact::sha256_hex;
use crate::manifest::Manifest;
use crate::runtime::{CapabilityClass, HOST_MODULE};
use crate::trust::TrustDecision;

const WASI_P1: &str = "wasi_snapshot_preview1";
/// WASI preview1 functions that reach the filesystem (beyond stdio).
const WASI_FILESYSTEM: &[&str] = &[
    "path_open",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "fd_readdir",
    "fd_prestat_get",
    "fd_prestat_dir_name",
];
const MAX_TABLE_ELEMENTS: u64 = 100_000;

/// What is audited: an artifact's verified contents, or a bare module.
pub struct Subject<'a> {
    pub manifest: Option<&'a Manifest>,
    pub trust_decision: Option<TrustDecision>,
    pub payload_sha256: String,
    /// `(path, bytes)` of every `modules/*.wasm`.
    pub modules: Vec<(&'a str, &'a [u8])>,
    pub sbom: Option<&'a [u8]>,
    pub provenance: Option<&'a [u8]>,
}

/// Runs every check. `vuln_feed_hook` is `PALYRA_SKILL_AUDIT_VULN_FEED_HOOK`.
pub fn audit(
    subject: &Subject,
    policy: &Policy,
    vuln_feed_hook: Option<&str>,
    now_unix_ms: i64,
) -> AuditReport {
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
    }

    let vulnerability_scan = match vuln_feed_hook.map(str::trim).filter(|h| !h.is_empty()) {
        Some(hook) => Check::pass(
            "vulnerability_feed_hook",
            "vulnerability feed hook is configured",
            Some(json!({ "hook": hook })),
        ),
        None => Check::warn(
            "vulnerability_feed_hook",
            "vulnerability feed hook is not configured (set PALYRA_SKILL_AUDIT_VULN_FEED_HOOK)",
            None,
        ),
    };
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
        findings,
        modules: summaries,
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

fn host_function(name: &str) -> Option<(CapabilityClass, &'static str)> {
    CapabilityClass::ALL.into_iter().find_map(|class| {
        if name == format!("{}-count", class.prefix()) {
            Some((class, "() -> (i32)"))
        } else if name == format!("{}-handle", class.prefix()) {
            Some((class, "(i32) -> (i32)"))
        } else {
            None
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn module_findings(
    path: &str,
    bytes: &[u8],
    facts: &ModuleFacts,
    manifest: Option<&Manifest>,
    filesystem_declared: bool,
    policy: &Policy,
    subject: &Subject,
    findings: &mut Vec<Finding>,
    imported_classes: &mut BTreeSet<&'static str>,
) {
    let mut finding =
        |id, severity, offset: Option<usize>, name: Option<String>, message: String, fix: String| {
            findings.push(Finding { id, severity, location: path.to_owned(), offset, name, message, fix })
        };

    let entrypoint = manifest.map_or("run", Manifest::entrypoint);
    match facts.exports.iter().find(|e| e.name == entrypoint && e.kind == "func") {
        Some(export) if export.ty.as_deref() == Some("() -> (i32)") => {}
        Some(export) => finding(
            "entrypoint_type",
            Severity::Error,
            None,
            Some(entrypoint.to_owned()),
            format!(
                "the entrypoint `{entrypoint}` has type {}, not `() -> i32`",
                export.ty.as_deref().unwrap_or("?")
            ),
            format!("declare it as `#[unsafe(no_mangle)] pub extern \"C\" fn {entrypoint}() -> i32`"),
        ),
        None => finding(
            "entrypoint_missing",
            Severity::Error,
            None,
            Some(entrypoint.to_owned()),
            format!("the module does not export `{entrypoint}`, the function the Palyra host calls"),
            format!("export `{entrypoint}` as `() -> i32`, or set `operator.plugin.default_entrypoint`"),
        ),
    }

    let mut wasi = Vec::new();
    for import in &facts.imports {
        let qualified = format!("{}::{}", import.module, import.name);
        if import.module == HOST_MODULE {
            match host_function(&import.name) {
                Some((class, ty)) if import.ty == ty => {
                    imported_classes.insert(class.prefix());
                }
                Some((_, ty)) => finding(
                    "host_import_type",
                    Severity::Error,
                    Some(import.offset),
                    Some(qualified),
                    format!(
                        "`{}` is imported as {} but the host defines it as {ty}: linking will fail",
                        import.name, import.ty
                    ),
                    format!("import it with type {ty}"),
                ),
                None => finding(
                    "unknown_import",
                    Severity::Error,
                    Some(import.offset),
                    Some(qualified),
                    format!(
                        "the Palyra host has no function `{}`: the module can never be linked",
                        import.name
                    ),
                    "use only the `*-count` and `*-handle` functions of the host ABI v1".into(),
                ),
            }
        } else if import.module == WASI_P1 {
            wasi.push(import.name.clone());
            if WASI_FILESYSTEM.contains(&import.name.as_str()) && !filesystem_declared {
                finding(
                    "wasi_filesystem_without_roots",
                    Severity::Error,
                    Some(import.offset),
                    Some(qualified),
                    format!("the module imports `{}` but the manifest declares no filesystem roots", import.name),
                    "declare `capabilities.filesystem.read_roots`/`write_roots`, or stop using the filesystem".into(),
                );
            }
        } else {
            finding(
                "unknown_import",
                Severity::Error,
                Some(import.offset),
                Some(qualified.clone()),
                format!(
                    "`{qualified}` is provided by neither the Palyra host nor WASI preview1: the module can never be linked"
                ),
                "remove the import (check which dependency pulls it in)".into(),
            );
        }
    }
    if !wasi.is_empty() {
        finding(
            "host_wasi_compatibility",
            Severity::Warning,
            None,
            None,
            format!(
                "the Palyra host links no WASI functions today; this module needs {}: it runs under `cargo palyra-skill run` but will not instantiate in the host until it provides them",
                wasi.join(", ")
            ),
            "track host WASI support, or avoid std I/O in the module".into(),
        );
    }

    let quota = manifest.map(|m| m.capabilities.quotas.max_memory_bytes);
    for (initial, maximum) in &facts.memories {
        let bytes_needed = initial.saturating_mul(65_536);
        if let Some(quota) = quota.filter(|q| bytes_needed > *q) {
            finding(
                "memory_initial_over_quota",
                Severity::Error,
                None,
                None,
                format!("initial memory is {initial} pages ({bytes_needed} bytes), over `quotas.max_memory_bytes` ({quota}): it cannot instantiate"),
                "raise `capabilities.quotas.max_memory_bytes` or lower the initial memory (`-C link-arg=--initial-memory=...`)".into(),
            );
        }
        if maximum.is_none() {
            finding(
                "memory_no_maximum",
                Severity::Info,
                None,
                None,
                "the memory declares no maximum: only the host's quota bounds it".into(),
                "optionally set a maximum (`-C link-arg=--max-memory=...`)".into(),
            );
        }
    }
    for initial in &facts.tables {
        if *initial > MAX_TABLE_ELEMENTS {
            finding(
                "table_too_large",
                Severity::Error,
                None,
                None,
                format!(
                    "a table starts with {initial} elements, over the host's limit of 100,000: it cannot instantiate"
                ),
                "shrink the table".into(),
            );
        }
    }
    if let Some(index) = facts.start_function {
        finding(
            "start_function",
            Severity::Warning,
            None,
            Some(format!("function {index}")),
            "the module has a start function: it runs at instantiation, before the entrypoint".into(),
            "move its work into the entrypoint or `_initialize`".into(),
        );
    }
    let debug_bytes: usize =
        facts.custom_sections.iter().filter(|(n, ..)| n.starts_with(".debug_")).map(|(_, s, _)| s).sum();
    if debug_bytes as u64 > policy.max_debug_info_bytes {
        let offset = facts.custom_sections.iter().find(|(n, ..)| n.starts_with(".debug_")).map(|(.., o)| *o);
        finding(
            "debug_info",
            Severity::Warning,
            offset,
            None,
            format!(
                "{debug_bytes} bytes of DWARF debug info (`.debug_*` sections): larger modules, and source paths leak"
            ),
            "set `debug = false` and `strip = \"debuginfo\"` in the release profile".into(),
        );
    }
    if let Some((_, size, offset)) = facts.custom_sections.iter().find(|(n, ..)| n == "name") {
        finding(
            "name_section",
            Severity::Info,
            Some(*offset),
            None,
            format!("a `name` section of {size} bytes (function names, useful in traps, visible to anyone)"),
            "keep it for readable traps, or `strip = true` to drop it".into(),
        );
    }
    for (offset, marker) in &facts.host_paths {
        finding(
            "host_path",
            Severity::Warning,
            Some(*offset),
            Some(marker.clone()),
            format!(
                "an absolute host path (`{marker}...`) is embedded in the module: it leaks the build machine and breaks reproducibility"
            ),
            "build with `cargo palyra-skill build` (it remaps host paths), or `--remap-path-prefix`".into(),
        );
    }

    if let (Some(sbom), Some(provenance)) = (subject.sbom, subject.provenance) {
        let sha = sha256_hex(bytes);
        let in_provenance = serde_json::from_slice::<Value>(provenance)
            .ok()
            .and_then(|p| p.get("subject").and_then(Value::as_array).cloned())
            .is_some_and(|subjects| {
                subjects.iter().any(|s| s["digest"]["sha256"].as_str() == Some(sha.as_str()))
            });
        let in_sbom = std::str::from_utf8(sbom).is_ok_and(|text| text.contains(&sha));
        for (present, document, key) in
            [(in_provenance, "provenance.json", "a subject"), (in_sbom, "sbom.cdx.json", "a component hash")]
        {
            if !present {
                finding(
                    "supply_chain_mismatch",
                    Severity::Error,
                    None,
                    Some(document.to_owned()),
                    format!(
                        "the module's SHA-256 {sha} is not {key} in `{document}`: the document describes another build"
                    ),
                    "rebuild with `cargo palyra-skill build`, which writes both from the module it packs"
                        .into(),
                );
            }
        }
    }
}

/// Capabilities declared but never imported, and imported but never declared.
fn least_privilege(manifest: &Manifest, imported: &BTreeSet<&'static str>, findings: &mut Vec<Finding>) {
    let c = &manifest.capabilities;
    let declared = [
        ("http", "http_egress_allowlist", !c.http_egress_allowlist.is_empty()),
        ("secret", "secrets", !c.secrets.is_empty()),
        ("storage", "filesystem.write_roots", !c.filesystem.write_roots.is_empty()),
        ("channel", "(channels cannot be declared)", false),
    ];
    for (class, key, is_declared) in declared {
        let is_imported = imported.contains(class);
        if is_declared && !is_imported {
            findings.push(Finding {
                id: "capability_unused",
                severity: Severity::Warning,
                location: "skill.toml".into(),
                offset: None,
                name: Some(format!("capabilities.{key}")),
                message: format!("`capabilities.{key}` is declared but no module imports `{class}-count` or `{class}-handle`: the manifest asks for more than the skill uses"),
                fix: format!("remove `capabilities.{key}`, or use the capability"),
            });
        }
        if is_imported && !is_declared {
            findings.push(Finding {
                id: "capability_undeclared",
                severity: Severity::Warning,
                location: "skill.toml".into(),
                offset: None,
                name: Some(format!("{class}-handle")),
                message: format!("a module imports the `{class}` host functions but the manifest declares no {class} capability: it will only ever see -1"),
                fix: format!("declare `capabilities.{key}` or remove the `{class}-handle` import"),
            });
        }
    }
}
