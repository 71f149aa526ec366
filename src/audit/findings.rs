//! Our findings for one module (entrypoint, imports, WASI, memory, tables,
//! start function, custom sections, host paths, supply chain) and the
//! least-privilege comparison of imports with the manifest.

use std::collections::BTreeSet;

use serde_json::Value;

use super::analysis::ModuleFacts;
use super::report::{Finding, Policy, Severity, Subject};
use crate::artifact::sha256_hex;
use crate::manifest::Manifest;
use crate::runtime::{CapabilityClass, HOST_MODULE};

pub(super) const WASI_P1: &str = "wasi_snapshot_preview1";
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

#[allow(clippy::too_many_arguments)]
pub(super) fn module_findings(
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

    for import in &facts.imports {
        let qualified = format!("{}::{}", import.module, import.name);
        if import.module == HOST_MODULE {
            match CapabilityClass::host_function(&import.name) {
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
    if facts.imports_omitted + facts.exports_omitted > 0 {
        finding(
            "too_many_entries",
            Severity::Warning,
            None,
            None,
            format!(
                "the module declares {} imports and {} exports: only the first {} of each were analysed",
                facts.imports.len() + facts.imports_omitted,
                facts.exports.len() + facts.exports_omitted,
                super::analysis::MAX_RECORDED
            ),
            "a skill needs a handful of imports and exports: check what generated the rest".into(),
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
                "optionally set a maximum (`RUSTFLAGS=\"-C link-arg=--max-memory=BYTES\"` when building)"
                    .into(),
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
pub(super) fn least_privilege(
    manifest: &Manifest,
    imported: &BTreeSet<&'static str>,
    findings: &mut Vec<Finding>,
) {
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
                fix: if class == "channel" {
                    "channels are never granted to skills: remove the `channel-count`/`channel-handle` imports".to_owned()
                } else {
                    format!("declare `capabilities.{key}` or remove the `{class}-handle` import")
                },
            });
        }
    }
}
