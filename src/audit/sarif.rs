//! SARIF 2.1.0 for GitHub code scanning: one rule per check or finding id,
//! one result per failed or warning check and per finding, located in
//! `skill.toml` (with a line when the key is found) or the module.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::report::{AuditReport, Severity, Status};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The 1-based line of the first line of `text` that mentions `key`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let key = key.rsplit('.').next().unwrap_or(key);
    text.lines().position(|line| line.contains(key)).map(|i| i + 1)
}

fn location(uri: &str, line: Option<usize>) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri } });
    if let Some(line) = line {
        physical["region"] = json!({ "startLine": line });
    }
    json!([{ "physicalLocation": physical }])
}

/// The report as a SARIF log; `manifest_uri` is where `skill.toml` lives in
/// the repository and `manifest_text` its content (for line numbers).
pub fn to_sarif(report: &AuditReport, manifest_uri: &str, manifest_text: Option<&str>) -> Value {
    let mut rules: BTreeMap<String, Value> = BTreeMap::new();
    let mut results = Vec::new();
    let mut rule = |id: &str, text: &str, help: &str, severity: Severity| {
        rules.entry(id.to_owned()).or_insert_with(|| {
            json!({
                "id": id,
                "name": id.replace([':', '-'], "_"),
                "shortDescription": { "text": text },
                "help": { "text": help },
                "defaultConfiguration": { "level": level(severity) },
            })
        });
    };
    for check in report.checks.iter().filter(|c| matches!(c.status, Status::Fail | Status::Warn)) {
        let severity = if check.status == Status::Fail { Severity::Error } else { Severity::Warning };
        let help = if check.status == Status::Fail {
            "the Palyra host's security audit fails this check and quarantines the skill"
        } else {
            "the Palyra host's security audit reports this as a warning"
        };
        rule(&check.check_id, &check.message, help, severity);
        let module = check.details.as_ref().and_then(|d| d["module_path"].as_str());
        let (uri, line) = match module {
            Some(path) => (path.to_owned(), None),
            None => {
                (manifest_uri.to_owned(), manifest_text.and_then(|t| line_of(t, check_key(&check.check_id))))
            }
        };
        results.push(json!({
            "ruleId": check.check_id,
            "level": level(severity),
            "message": { "text": check.message },
            "locations": location(&uri, line),
        }));
    }
    for finding in &report.findings {
        rule(finding.id, &finding.message, &finding.fix, finding.severity);
        let (uri, line) = match finding.location.as_str() {
            "skill.toml" => {
                let key = finding.name.as_deref().unwrap_or("");
                (manifest_uri.to_owned(), manifest_text.and_then(|t| line_of(t, key)))
            }
            // Dependency findings: the lock file beside the manifest.
            "Cargo.lock" => (sibling(manifest_uri, "Cargo.lock"), None),
            other => (other.to_owned(), None),
        };
        let mut message = format!("{} ({})", finding.message, finding.fix);
        if let Some(offset) = finding.offset {
            message.push_str(&format!(" [byte offset {offset}]"));
        }
        results.push(json!({
            "ruleId": finding.id,
            "level": level(finding.severity),
            "message": { "text": message },
            "locations": location(&uri, line),
        }));
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/tomasmarekk/Palyra",
                "rules": rules.into_values().collect::<Vec<_>>(),
            } },
            "results": results,
        }],
    })
}

/// `name` in the directory of `uri` (a repository-relative path).
fn sibling(uri: &str, name: &str) -> String {
    match uri.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_owned(),
    }
}

/// The manifest key a consumer check is about, to find its line.
fn check_key(check_id: &str) -> &str {
    match check_id {
        "forbidden_device_capabilities" => "device_capabilities",
        "forbidden_wildcard_capabilities" => "wildcard_opt_in",
        "manifest_http_egress_scopes" => "http_egress_allowlist",
        "manifest_secret_scopes" => "secrets",
        "manifest_filesystem_scopes" => "filesystem",
        "vulnerability_feed_hook" => "skill_id",
        other => other.strip_prefix("manifest_warning:").map_or("skill_id", |_| "operator"),
    }
}
