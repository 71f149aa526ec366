//! What changes between two versions of a skill in what it may do and what
//! it is: capabilities, quotas, tools and schemas, modules, dependencies
//! and the signing key. Escalations (more privilege) and breaking changes
//! are flagged so a reviewer or CI can stop on them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::artifact::{Entries, SBOM_PATH, SIGNATURE_PATH};
use crate::audit::analysis::analyze;
use crate::manifest::{Manifest, Tool};
use crate::signing::SignatureRecord;

/// One side of a diff: a manifest and the entries it came with.
pub struct Side<'a> {
    pub manifest: &'a Manifest,
    pub entries: &'a Entries,
}

/// Items of one kind that appear or disappear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl SetChange {
    fn of<'a>(
        old: impl IntoIterator<Item = &'a String>,
        new: impl IntoIterator<Item = &'a String>,
    ) -> SetChange {
        let old: BTreeSet<&String> = old.into_iter().collect();
        let new: BTreeSet<&String> = new.into_iter().collect();
        SetChange {
            added: new.difference(&old).map(|s| (*s).clone()).collect(),
            removed: old.difference(&new).map(|s| (*s).clone()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange<T> {
    pub old: T,
    pub new: T,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CapabilityChanges {
    pub http_egress: SetChange,
    pub filesystem_read_roots: SetChange,
    pub filesystem_write_roots: SetChange,
    pub secrets: SetChange,
    pub device_capabilities: SetChange,
    pub node_capabilities: SetChange,
    /// Wildcard opt-ins turned on or off (`http_egress`, `secrets`, ...).
    pub wildcard_opt_in: SetChange,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QuotaChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_budget: Option<ValueChange<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<ValueChange<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_clock_timeout_ms: Option<ValueChange<u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolChange {
    pub id: String,
    /// What changed, one line each (`name`, `description`, schema details).
    pub changes: Vec<String>,
    /// Why existing callers break, if they do.
    pub breaking: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ToolChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ToolChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModuleChange {
    pub path: String,
    pub bytes: ValueChange<Option<u64>>,
    pub imports: SetChange,
    pub exports: SetChange,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DependencyChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `name: old -> new`.
    pub changed: Vec<(String, String, String)>,
}

/// A change that gives the new version more privilege than the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub skill_id: ValueChange<String>,
    pub version: ValueChange<String>,
    pub publisher: ValueChange<String>,
    /// The signing key ids, when both sides are signed.
    pub key_id: ValueChange<Option<String>>,
    pub key_changed: bool,
    pub capabilities: CapabilityChanges,
    pub quotas: QuotaChanges,
    pub tools: ToolChanges,
    pub modules: Vec<ModuleChange>,
    pub dependencies: DependencyChanges,
    pub escalations: Vec<Escalation>,
    /// Why callers of the old version may break.
    pub breaking: Vec<String>,
}

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
fn input_schema_changes(old: &Value, new: &Value, changes: &mut Vec<String>, breaking: &mut Vec<String>) {
    if old == new {
        return;
    }
    let (old_props, new_props) = (properties(old), properties(new));
    let (old_req, new_req) = (required(old), required(new));
    for field in new_req.difference(&old_req) {
        let message = format!("input field `{field}` is now required");
        breaking.push(message.clone());
        changes.push(message);
    }
    for field in old_req.difference(&new_req) {
        changes.push(format!("input field `{field}` is no longer required"));
    }
    for (field, schema) in &new_props {
        match old_props.get(field) {
            None => changes.push(format!("input field `{field}` added")),
            Some(before) if before["type"] != schema["type"] => {
                let message = format!(
                    "input field `{field}` changed type from {} to {}",
                    before["type"], schema["type"]
                );
                breaking.push(message.clone());
                changes.push(message);
            }
            Some(before) if before != schema => changes.push(format!("input field `{field}` changed")),
            Some(_) => {}
        }
    }
    for field in old_props.keys().filter(|f| !new_props.contains_key(*f)) {
        let message = format!("input field `{field}` removed");
        if closed(new) {
            breaking.push(format!("{message} and unknown fields are rejected"));
        }
        changes.push(message);
    }
    if closed(new) && !closed(old) {
        let message = "input schema now rejects unknown fields (`additionalProperties = false`)".to_owned();
        breaking.push(message.clone());
        changes.push(message);
    }
    if changes.is_empty() {
        changes.push("input schema changed".into());
    }
}

/// Changes to an output schema; dropping or retyping a field callers read is breaking.
fn output_schema_changes(old: &Value, new: &Value, changes: &mut Vec<String>, breaking: &mut Vec<String>) {
    if old == new {
        return;
    }
    let before = changes.len();
    let (old_props, new_props) = (properties(old), properties(new));
    let (old_req, new_req) = (required(old), required(new));
    for field in old_req.difference(&new_req) {
        let message = format!("output field `{field}` is no longer guaranteed");
        breaking.push(message.clone());
        changes.push(message);
    }
    for (field, schema) in &old_props {
        match new_props.get(field) {
            None => {
                let message = format!("output field `{field}` removed");
                breaking.push(message.clone());
                changes.push(message);
            }
            Some(after) if after["type"] != schema["type"] => {
                let message = format!(
                    "output field `{field}` changed type from {} to {}",
                    schema["type"], after["type"]
                );
                breaking.push(message.clone());
                changes.push(message);
            }
            _ => {}
        }
    }
    for field in new_props.keys().filter(|f| !old_props.contains_key(*f)) {
        changes.push(format!("output field `{field}` added"));
    }
    if changes.len() == before {
        changes.push("output schema changed".into());
    }
}

fn tool_change(old: &Tool, new: &Tool) -> Option<ToolChange> {
    let mut changes = Vec::new();
    let mut breaking = Vec::new();
    if old.name != new.name {
        changes.push(format!("name `{}` -> `{}`", old.name, new.name));
    }
    if old.description != new.description {
        changes.push("description changed".into());
    }
    input_schema_changes(&old.input_schema, &new.input_schema, &mut changes, &mut breaking);
    output_schema_changes(&old.output_schema, &new.output_schema, &mut changes, &mut breaking);
    if old.risk.requires_approval != new.risk.requires_approval {
        changes.push(format!(
            "requires_approval {} -> {}",
            old.risk.requires_approval, new.risk.requires_approval
        ));
    }
    if old.risk.default_sensitive != new.risk.default_sensitive {
        changes.push(format!(
            "default_sensitive {} -> {}",
            old.risk.default_sensitive, new.risk.default_sensitive
        ));
    }
    (!changes.is_empty()).then(|| ToolChange { id: new.id.clone(), changes, breaking })
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
        breaking.extend(tool.breaking.iter().map(|b| format!("tool `{}`: {b}", tool.id)));
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

impl Diff {
    /// Every line of the report, grouped by section, without markup.
    fn sections(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut sections = Vec::new();
        let mut identity = Vec::new();
        for (field, c) in
            [("skill_id", &self.skill_id), ("version", &self.version), ("publisher", &self.publisher)]
        {
            if c.old != c.new {
                identity.push(format!("{field}: `{}` -> `{}`", c.old, c.new));
            }
        }
        if self.key_changed {
            identity.push(format!(
                "signing key changed: {} -> {} (check that the publisher rotated it)",
                self.key_id.old.as_deref().unwrap_or("?"),
                self.key_id.new.as_deref().unwrap_or("?")
            ));
        }
        sections.push(("Identity", identity));

        let c = &self.capabilities;
        let mut caps = Vec::new();
        for (label, set) in [
            ("HTTP host", &c.http_egress),
            ("read root", &c.filesystem_read_roots),
            ("write root", &c.filesystem_write_roots),
            ("secret", &c.secrets),
            ("device capability", &c.device_capabilities),
            ("node capability", &c.node_capabilities),
            ("wildcard opt-in", &c.wildcard_opt_in),
        ] {
            caps.extend(set.added.iter().map(|i| format!("+ {label} `{i}`")));
            caps.extend(set.removed.iter().map(|i| format!("- {label} `{i}`")));
        }
        sections.push(("Capabilities", caps));

        let q = &self.quotas;
        let quotas = [
            ("fuel_budget", &q.fuel_budget),
            ("max_memory_bytes", &q.max_memory_bytes),
            ("wall_clock_timeout_ms", &q.wall_clock_timeout_ms),
        ]
        .into_iter()
        .filter_map(|(name, c)| c.as_ref().map(|c| format!("{name}: {} -> {}", c.old, c.new)))
        .collect();
        sections.push(("Quotas", quotas));

        let mut tools: Vec<String> = self.tools.added.iter().map(|t| format!("+ tool `{t}`")).collect();
        tools.extend(self.tools.removed.iter().map(|t| format!("- tool `{t}` (breaking)")));
        for tool in &self.tools.changed {
            for change in &tool.changes {
                let mark = if tool.breaking.contains(change)
                    || tool.breaking.iter().any(|b| b.starts_with(change.as_str()))
                {
                    " (breaking)"
                } else {
                    ""
                };
                tools.push(format!("~ tool `{}`: {change}{mark}", tool.id));
            }
        }
        sections.push(("Tools", tools));

        let mut modules = Vec::new();
        for m in &self.modules {
            let size = |b: Option<u64>| b.map_or("absent".to_owned(), |b| format!("{b} bytes"));
            modules.push(format!("~ `{}`: {} -> {}", m.path, size(m.bytes.old), size(m.bytes.new)));
            modules.extend(m.imports.added.iter().map(|i| format!("  + import {i}")));
            modules.extend(m.imports.removed.iter().map(|i| format!("  - import {i}")));
            modules.extend(m.exports.added.iter().map(|e| format!("  + export {e}")));
            modules.extend(m.exports.removed.iter().map(|e| format!("  - export {e}")));
        }
        sections.push(("Modules", modules));

        let d = &self.dependencies;
        let mut deps: Vec<String> = d.added.iter().map(|a| format!("+ {a}")).collect();
        deps.extend(d.removed.iter().map(|r| format!("- {r}")));
        deps.extend(d.changed.iter().map(|(name, old, new)| format!("~ {name} {old} -> {new}")));
        sections.push(("Dependencies", deps));
        sections
    }

    pub fn is_empty(&self) -> bool {
        self.sections().iter().all(|(_, lines)| lines.is_empty())
    }

    /// Plain text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} {} -> {} {}\n",
            self.skill_id.old, self.version.old, self.skill_id.new, self.version.new
        );
        for (title, lines) in self.sections() {
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}:");
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        if self.is_empty() {
            out.push_str("\nNo changes in what the skill may do or what it contains.\n");
        }
        let _ = writeln!(out, "\n{}", self.verdict());
        out
    }

    fn verdict(&self) -> String {
        let escalation = match self.escalations.len() {
            0 => "no privilege escalation".to_owned(),
            n => format!("{n} privilege escalation{}", if n == 1 { "" } else { "s" }),
        };
        let breaking = match self.breaking.len() {
            0 => "no breaking change".to_owned(),
            n => format!("{n} breaking change{}", if n == 1 { "" } else { "s" }),
        };
        format!("{escalation}, {breaking}")
    }

    /// Markdown for a pull-request comment or a job summary.
    pub fn to_markdown(&self) -> String {
        let mut out =
            format!("### `{}` {} → {}\n\n", self.skill_id.new, md(&self.version.old), md(&self.version.new));
        if !self.escalations.is_empty() {
            out.push_str("> [!WARNING]\n> **Privilege escalation**\n");
            for e in &self.escalations {
                let _ = writeln!(out, "> - {}", md(&e.message));
            }
            out.push('\n');
        }
        if !self.breaking.is_empty() {
            out.push_str("> [!CAUTION]\n> **Breaking changes**\n");
            for b in &self.breaking {
                let _ = writeln!(out, "> - {}", md(b));
            }
            out.push('\n');
        }
        for (title, lines) in self.sections() {
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, "#### {title}\n");
            for line in lines {
                let indent = if line.starts_with("  ") { "  " } else { "" };
                let line = line.trim_start();
                let (word, rest) = match line.split_at_checked(2) {
                    Some(("+ ", rest)) => ("added ", rest),
                    Some(("- ", rest)) => ("removed ", rest),
                    Some(("~ ", rest)) => ("changed ", rest),
                    _ => ("", line),
                };
                let _ = writeln!(out, "{indent}- {word}{}", md(rest).replace(" -&gt; ", " → "));
            }
            out.push('\n');
        }
        if self.is_empty() {
            out.push_str("No changes in what the skill may do or what it contains.\n\n");
        }
        let _ = writeln!(out, "**{}**", self.verdict());
        out
    }
}

/// Escapes what Markdown would otherwise interpret outside code spans.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '*' | '_' | '[' | ']' | '|' | '#' if !in_code => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}
