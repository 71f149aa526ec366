//! A diff as plain text for a terminal and as Markdown for a pull request
//! or a job summary (JSON is the model's own serialization).

use std::fmt::Write as _;

use super::model::Diff;

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
                let mark = if change.breaking.is_some() { " (breaking)" } else { "" };
                tools.push(format!("~ tool `{}`: {}{mark}", tool.id, change.message));
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
