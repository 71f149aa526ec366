//! Computing a diff: capabilities, quotas, tools and their schemas,
//! modules, dependencies and the key, then escalations and breaking changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::model::*;
use crate::artifact::{Entries, SBOM_PATH, SIGNATURE_PATH};
use crate::audit::analysis::analyze;
use crate::manifest::{Manifest, Tool};
use crate::signing::SignatureRecord;

fn secrets(m: &Manifest) -> Vec<String> {
    m.capabilities
        .secrets
        .iter()
        .flat_map(|s| s.key_names.iter().map(move |k| format!("{}/{}", s.scope.trim(), k.trim())))
        .collect()
}

fn wildcards(m: &Manifest) -> Vec<String> {
    let w = &m.capabilities.wildcard_opt_in;
    [
        ("http_egress", w.http_egress),
        ("secrets", w.secrets),
        ("filesystem", w.filesystem),
        ("device", w.device),
        ("node", w.node),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name.to_owned())
    .collect()
}

fn key_id(entries: &Entries) -> Option<String> {
    SignatureRecord::from_json(&entries.get(SIGNATURE_PATH)?.bytes).ok().map(|r| r.key_id)
}

/// `name` -> versions, from the SBOM's top-level components.
fn dependencies(entries: &Entries) -> BTreeMap<String, BTreeSet<String>> {
    let mut deps = BTreeMap::<String, BTreeSet<String>>::new();
    let Some(sbom) = entries.get(SBOM_PATH).and_then(|e| serde_json::from_slice::<Value>(&e.bytes).ok())
    else {
        return deps;
    };
    for component in sbom["components"].as_array().into_iter().flatten() {
        let Some(name) = component["name"].as_str() else { continue };
        let name = match component["group"].as_str() {
            Some(group) if !group.is_empty() => format!("{group}/{name}"),
            _ => name.to_owned(),
        };
        let version = component["version"].as_str().unwrap_or("").to_owned();
        deps.entry(name).or_default().insert(version);
    }
    deps
}

fn change<T: PartialEq + Clone>(old: &T, new: &T) -> Option<ValueChange<T>> {
    (old != new).then(|| ValueChange { old: old.clone(), new: new.clone() })
}

fn properties(schema: &Value) -> BTreeMap<String, &Value> {
    schema["properties"]
        .as_object()
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v)).collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn closed(schema: &Value) -> bool {
    schema["additionalProperties"] == Value::Bool(false)
}

/// Changes to an input schema, and which of them reject input the old
/// schema accepted (breaking for existing callers).
fn input_schema_changes(old: &Value, new: &Value, changes: &mut Vec<Change>) {
    if old == new {
        return;
    }
    let (old_props, new_props) = (properties(old), properties(new));
    let (old_req, new_req) = (required(old), required(new));
    for field in new_req.difference(&old_req) {
        changes.push(Change::breaking(format!("input field `{field}` is now required")));
    }
    for field in old_req.difference(&new_req) {
        changes.push(Change::compatible(format!("input field `{field}` is no longer required")));
    }
    for (field, schema) in &new_props {
        match old_props.get(field) {
            None => changes.push(Change::compatible(format!("input field `{field}` added"))),
            Some(before) if before["type"] != schema["type"] => {
                changes.push(Change::breaking(format!(
                    "input field `{field}` changed type from {} to {}",
                    before["type"], schema["type"]
                )));
            }
            Some(before) if before != schema => {
                changes.push(Change::compatible(format!("input field `{field}` changed")))
            }
            Some(_) => {}
        }
    }
    for field in old_props.keys().filter(|f| !new_props.contains_key(*f)) {
        let message = format!("input field `{field}` removed");
        let breaking = closed(new).then(|| format!("{message} and unknown fields are rejected"));
        changes.push(Change { message, breaking });
    }
    if closed(new) && !closed(old) {
        changes.push(Change::breaking(
            "input schema now rejects unknown fields (`additionalProperties = false`)",
        ));
    }
    if changes.is_empty() {
        changes.push(Change::compatible("input schema changed"));
    }
}

/// Changes to an output schema; dropping or retyping a field callers read is breaking.
fn output_schema_changes(old: &Value, new: &Value, changes: &mut Vec<Change>) {
    if old == new {
        return;
    }
    let before = changes.len();
    let (old_props, new_props) = (properties(old), properties(new));
    let (old_req, new_req) = (required(old), required(new));
    for field in old_req.difference(&new_req) {
        changes.push(Change::breaking(format!("output field `{field}` is no longer guaranteed")));
    }
    for (field, schema) in &old_props {
        match new_props.get(field) {
            None => {
                changes.push(Change::breaking(format!("output field `{field}` removed")));
            }
            Some(after) if after["type"] != schema["type"] => {
                changes.push(Change::breaking(format!(
                    "output field `{field}` changed type from {} to {}",
                    schema["type"], after["type"]
                )));
            }
            _ => {}
        }
    }
    for field in new_props.keys().filter(|f| !old_props.contains_key(*f)) {
        changes.push(Change::compatible(format!("output field `{field}` added")));
    }
    if changes.len() == before {
        changes.push(Change::compatible("output schema changed"));
    }
}

fn tool_change(old: &Tool, new: &Tool) -> Option<ToolChange> {
    let mut changes = Vec::new();
    if old.name != new.name {
        changes.push(Change::compatible(format!("name `{}` -> `{}`", old.name, new.name)));
    }
    if old.description != new.description {
        changes.push(Change::compatible("description changed"));
    }
    input_schema_changes(&old.input_schema, &new.input_schema, &mut changes);
    output_schema_changes(&old.output_schema, &new.output_schema, &mut changes);
    if old.risk.requires_approval != new.risk.requires_approval {
        changes.push(Change::compatible(format!(
            "requires_approval {} -> {}",
            old.risk.requires_approval, new.risk.requires_approval
        )));
    }
    if old.risk.default_sensitive != new.risk.default_sensitive {
        changes.push(Change::compatible(format!(
            "default_sensitive {} -> {}",
            old.risk.default_sensitive, new.risk.default_sensitive
        )));
    }
    (!changes.is_empty()).then(|| ToolChange { id: new.id.clone(), changes })
}

fn module_facts(bytes: &[u8]) -> (BTreeSet<String>, BTreeSet<String>) {
    let facts = analyze(bytes);
    let imports = facts.imports.iter().map(|i| format!("{}::{} {}", i.module, i.name, i.ty)).collect();
    let exports = facts
        .exports
        .iter()
        .map(|e| match &e.ty {
            Some(ty) => format!("{} {ty}", e.name),
            None => format!("{} ({})", e.name, e.kind),
        })
        .collect();
    (imports, exports)
}

/// Compares two versions of a skill.
pub fn diff(old: &Side, new: &Side) -> Diff {
    let (om, nm) = (old.manifest, new.manifest);
    let (oc, nc) = (&om.capabilities, &nm.capabilities);
    let capabilities = CapabilityChanges {
        http_egress: SetChange::of(&oc.http_egress_allowlist, &nc.http_egress_allowlist),
        filesystem_read_roots: SetChange::of(&oc.filesystem.read_roots, &nc.filesystem.read_roots),
        filesystem_write_roots: SetChange::of(&oc.filesystem.write_roots, &nc.filesystem.write_roots),
        secrets: SetChange::of(&secrets(om), &secrets(nm)),
        device_capabilities: SetChange::of(&oc.device_capabilities, &nc.device_capabilities),
        node_capabilities: SetChange::of(&oc.node_capabilities, &nc.node_capabilities),
        wildcard_opt_in: SetChange::of(&wildcards(om), &wildcards(nm)),
    };
    let (oq, nq) = (&oc.quotas, &nc.quotas);
    let quotas = QuotaChanges {
        fuel_budget: change(&oq.fuel_budget, &nq.fuel_budget),
        max_memory_bytes: change(&oq.max_memory_bytes, &nq.max_memory_bytes),
        wall_clock_timeout_ms: change(&oq.wall_clock_timeout_ms, &nq.wall_clock_timeout_ms),
    };

    let old_tools: BTreeMap<&str, &Tool> = om.entrypoints.tools.iter().map(|t| (t.id.trim(), t)).collect();
    let new_tools: BTreeMap<&str, &Tool> = nm.entrypoints.tools.iter().map(|t| (t.id.trim(), t)).collect();
    let mut tools = ToolChanges::default();
    for (id, tool) in &new_tools {
        match old_tools.get(id) {
            None => tools.added.push((*id).to_owned()),
            Some(before) => tools.changed.extend(tool_change(before, tool)),
        }
    }
    tools.removed =
        old_tools.keys().filter(|id| !new_tools.contains_key(*id)).map(|id| (*id).to_owned()).collect();

    let mut modules = Vec::new();
    let old_modules: BTreeMap<&str, &[u8]> =
        old.entries.modules().map(|(p, e)| (p, e.bytes.as_slice())).collect();
    let new_modules: BTreeMap<&str, &[u8]> =
        new.entries.modules().map(|(p, e)| (p, e.bytes.as_slice())).collect();
    let paths: BTreeSet<&str> = old_modules.keys().chain(new_modules.keys()).copied().collect();
    for path in paths {
        let (before, after) = (old_modules.get(path), new_modules.get(path));
        if before == after {
            continue;
        }
        let (old_imports, old_exports) = before.map(|b| module_facts(b)).unwrap_or_default();
        let (new_imports, new_exports) = after.map(|b| module_facts(b)).unwrap_or_default();
        modules.push(ModuleChange {
            path: path.to_owned(),
            bytes: ValueChange { old: before.map(|b| b.len() as u64), new: after.map(|b| b.len() as u64) },
            imports: SetChange::of(&old_imports, &new_imports),
            exports: SetChange::of(&old_exports, &new_exports),
        });
    }

    let (old_deps, new_deps) = (dependencies(old.entries), dependencies(new.entries));
    let mut dependencies = DependencyChanges::default();
    for (name, versions) in &new_deps {
        match old_deps.get(name) {
            None => dependencies.added.extend(versions.iter().map(|v| format!("{name} {v}"))),
            Some(before) if before != versions => {
                let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
                dependencies.changed.push((name.clone(), join(before), join(versions)));
            }
            Some(_) => {}
        }
    }
    for (name, versions) in &old_deps {
        if !new_deps.contains_key(name) {
            dependencies.removed.extend(versions.iter().map(|v| format!("{name} {v}")));
        }
    }

    let mut escalations = Vec::new();
    let mut escalate = |kind: &'static str, what: &str, items: &[String]| {
        for item in items {
            escalations.push(Escalation { kind, message: format!("{what} `{item}`") });
        }
    };
    escalate("http_egress", "new HTTP host", &capabilities.http_egress.added);
    escalate("secret", "new secret", &capabilities.secrets.added);
    escalate("filesystem", "new read root", &capabilities.filesystem_read_roots.added);
    escalate("filesystem", "new write root", &capabilities.filesystem_write_roots.added);
    escalate("device", "new device capability", &capabilities.device_capabilities.added);
    escalate("node", "new node capability", &capabilities.node_capabilities.added);
    escalate("wildcard", "wildcard opt-in turned on for", &capabilities.wildcard_opt_in.added);
    for (name, quota) in [
        ("fuel_budget", &quotas.fuel_budget),
        ("max_memory_bytes", &quotas.max_memory_bytes),
        ("wall_clock_timeout_ms", &quotas.wall_clock_timeout_ms),
    ] {
        if let Some(q) = quota.as_ref().filter(|q| q.new > q.old) {
            escalations.push(Escalation {
                kind: "quota",
                message: format!("`{name}` raised from {} to {}", q.old, q.new),
            });
        }
    }
    for tool in &new_tools {
        if let Some(before) = old_tools.get(tool.0)
            && before.risk.requires_approval
            && !tool.1.risk.requires_approval
        {
            escalations.push(Escalation {
                kind: "approval",
                message: format!("tool `{}` no longer requires approval", tool.0),
            });
        }
    }

    let mut breaking: Vec<String> = tools.removed.iter().map(|id| format!("tool `{id}` removed")).collect();
    for tool in &tools.changed {
        breaking.extend(tool.breaking().map(|b| format!("tool `{}`: {b}", tool.id)));
    }

    let key_id = ValueChange { old: key_id(old.entries), new: key_id(new.entries) };
    let key_changed = matches!((&key_id.old, &key_id.new), (Some(a), Some(b)) if a != b);
    Diff {
        skill_id: ValueChange { old: om.skill_id.clone(), new: nm.skill_id.clone() },
        version: ValueChange { old: om.version.clone(), new: nm.version.clone() },
        publisher: ValueChange { old: om.publisher.clone(), new: nm.publisher.clone() },
        key_id,
        key_changed,
        capabilities,
        quotas,
        tools,
        modules,
        dependencies,
        escalations,
        breaking,
    }
}
