//! The Action's report for GitHub: a Markdown job summary, workflow-command
//! annotations (`::error`, `::warning`, `::notice`), and `name=value` step
//! outputs.

use std::fmt::Write as _;
use std::path::Path;

use super::model::*;
use super::report::{ActionReport, Audit, Tests, Verification};
use crate::baseline::{Comparison, Status};
use crate::text::human_size;

/// `%`, CR and LF escaped for a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// As [`escape_data`], plus `:` and `,` for a property value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn number(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// The job summary (GitHub-flavoured Markdown).
pub fn summary(r: &ActionReport) -> String {
    let b = &r.build;
    let mut out = format!("## `{}` {}\n\n| | |\n|---|---|\n", b.skill_id, b.version);
    let _ = writeln!(out, "| Artifact | `{}` ({}) |", file_name(&b.artifact), human_size(b.bytes));
    let _ = writeln!(out, "| Payload SHA-256 | `{}` |", b.payload_sha256);
    let key = match b.key_id.as_deref() {
        Some(key) if !key.is_empty() => format!("`{key}`"),
        _ => "unsigned".to_owned(),
    };
    let _ = writeln!(out, "| Signing key | {key} |");
    if let Some(attestation) = b.attestation.as_deref().filter(|a| !a.is_empty()) {
        let _ = writeln!(out, "| Attestation | `{}` |", file_name(attestation));
    }
    let verification = match &r.verification {
        Verification::Accepted { trust_decision } => format!("accepted ({trust_decision})"),
        Verification::Rejected { message } => format!("**rejected**: {}", cell(message)),
        Verification::SkippedUnsigned => "skipped (unsigned)".to_owned(),
        Verification::CouldNotRun => "could not run".to_owned(),
        Verification::NoReport => "no report".to_owned(),
    };
    let _ = writeln!(out, "| Verification | {verification} |");

    let mut audit_section = String::new();
    let audit = match &r.audit {
        Audit::CouldNotRun => "could not run".to_owned(),
        Audit::NoReport => "no report".to_owned(),
        Audit::Ran { report, errors, warnings, passed } => {
            audit_section = audit_tables(report);
            format!(
                "{}: {errors} error(s), {warnings} warning(s){}",
                if *passed { "passed" } else { "**failed**" },
                if report.should_quarantine { ", **the host would quarantine it**" } else { "" }
            )
        }
    };
    let _ = writeln!(out, "| Audit | {audit} |");

    let mut test_section = String::new();
    let tests = match &r.tests {
        Tests::CouldNotRun => "could not run".to_owned(),
        Tests::NotRun => "not run".to_owned(),
        Tests::Ran(report) => {
            test_section = test_table(report);
            if let Some(baseline) = &report.baseline {
                test_section.push_str(&baseline_table(baseline));
            }
            format!("{} passed, {} failed", report.passed, report.failed)
        }
    };
    let _ = writeln!(out, "| Tests | {tests} |");
    if let Some(publish) = &r.publish {
        let how = if publish.copied { "published" } else { "already published" };
        let _ = writeln!(
            out,
            "| Registry | {how} as `{}`; index of {} artifact(s) signed by `{}` |",
            publish.artifact, publish.index_entries, publish.index_key_id
        );
    }
    out.push('\n');
    out.push_str(&audit_section);
    out.push_str(&test_section);
    if let Some(markdown) = &r.diff_markdown {
        let _ = writeln!(out, "### Changes since the previous release\n");
        out.push_str(markdown.trim_end());
        out.push_str("\n\n");
    }
    if !r.failures.is_empty() {
        let _ = writeln!(out, "> [!CAUTION]\n> **Failed**");
        for failure in &r.failures {
            let _ = writeln!(out, "> - {}", cell(failure));
        }
    }
    out
}

fn audit_tables(report: &AuditView) -> String {
    let mut out = String::from("### Audit\n\n| Check | Status | Message |\n|---|---|---|\n");
    for check in &report.checks {
        let _ = writeln!(out, "| `{}` | {} | {} |", check.check_id, check.status, cell(&check.message));
    }
    if let Some(scan) = &report.advisories {
        let _ = writeln!(
            out,
            "\n#### Dependencies\n\n{} crate(s) scanned against {} RustSec advisories: {} match(es).",
            scan.crates_scanned,
            scan.advisories,
            scan.matches.len()
        );
        if !scan.matches.is_empty() {
            let _ = writeln!(
                out,
                "\n| Advisory | Kind | Crate | Version | Patched | Title |\n|---|---|---|---|---|---|"
            );
            for m in &scan.matches {
                let id = match &m.url {
                    Some(url) => format!("[{}]({url})", m.id),
                    None => m.id.clone(),
                };
                let kind =
                    if m.kind == "vulnerability" { "**vulnerability**".to_owned() } else { m.kind.clone() };
                let patched = if m.patched.is_empty() { "none".to_owned() } else { m.patched.join(", ") };
                let _ = writeln!(
                    out,
                    "| {id} | {kind} | `{}` | {} | {} | {} |",
                    m.krate,
                    m.version,
                    cell(&patched),
                    cell(&m.title)
                );
            }
        }
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\n| Severity | Finding | Location | Message |\n|---|---|---|---|");
        for f in &report.findings {
            let _ =
                writeln!(out, "| {} | `{}` | `{}` | {} |", f.severity, f.id, f.location, cell(&f.message));
        }
    }
    out.push('\n');
    out
}

/// Each case's fuel against the baseline: base, head, delta and headroom.
fn baseline_table(baseline: &Comparison) -> String {
    let mut out = format!(
        "### Fuel against the baseline\n\nA case fails when its fuel grows over +{:.1}% or reaches {:.0}% of its fuel budget, or when a case of the baseline no longer runs{}.\n\n| Case | Base | Head | Delta | Headroom | Status |\n|---|--:|--:|--:|--:|---|\n",
        baseline.tolerance_percent,
        baseline.warn_percent,
        if baseline.allow_removed { " (allowed here: `allow-removed-cases`)" } else { "" }
    );
    for row in &baseline.rows {
        let delta = match (row.delta, row.delta_percent) {
            (Some(d), Some(p)) => format!("{d:+} ({p:+.1}%)"),
            _ => "-".to_owned(),
        };
        let status = match row.status {
            Status::Regressed => "**regressed**",
            Status::LowHeadroom => "**low headroom**",
            Status::Ok => "ok",
            Status::New => "new",
            Status::Removed => "**removed**",
            Status::RemovedAllowed => "removed (allowed)",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {delta} | {} | {status} |",
            cell(&row.case),
            row.base.map_or("-".to_owned(), |v| v.to_string()),
            row.head.map_or("-".to_owned(), |v| v.to_string()),
            row.headroom_percent.map_or("-".to_owned(), |p| format!("{p:.1}%")),
        );
    }
    out.push('\n');
    out
}

fn test_table(report: &TestView) -> String {
    let mut out =
        String::from("### Tests\n\n| Case | Tool | Result | Fuel | Time |\n|---|---|---|---|---|\n");
    for case in &report.cases {
        let result = if case.passed {
            "passed".to_owned()
        } else {
            format!("**failed**: {}", cell(case.problem.as_deref().unwrap_or_default()))
        };
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {result} | {} | {} ms |",
            case.case,
            case.tool,
            number(case.fuel_consumed),
            number(case.wall_ms)
        );
    }
    out.push('\n');
    out
}

/// Workflow commands: one per SARIF result (findings about `skill.toml`
/// carry its file and line, dependency findings `Cargo.lock`), then one `::error` per failed check.
pub fn annotations(r: &ActionReport) -> String {
    let mut out = String::new();
    let results = r.sarif.iter().flat_map(|sarif| sarif.runs.first()).flat_map(|run| &run.results);
    for result in results {
        let command = match result.level.as_deref() {
            Some("error") => "error",
            Some("warning") => "warning",
            _ => "notice",
        };
        let mut properties = format!("title={}", escape_property(&result.rule_id));
        if let Some(location) = result.locations.first().map(|l| &l.physical_location)
            && (location.artifact_location.uri.ends_with("skill.toml")
                || location.artifact_location.uri.ends_with("Cargo.lock"))
        {
            let _ = write!(properties, ",file={}", escape_property(&location.artifact_location.uri));
            if let Some(line) = location.region.as_ref().and_then(|r| r.start_line) {
                let _ = write!(properties, ",line={line}");
            }
        }
        let _ = writeln!(out, "::{command} {properties}::{}", escape_data(&result.message.text));
    }
    if let Tests::Ran(TestView { baseline: Some(baseline), .. }) = &r.tests {
        for row in baseline.rows.iter().filter(|row| row.status.fails()) {
            let title = match row.status {
                Status::Regressed => "fuel regression",
                Status::Removed => "removed test case",
                _ => "fuel headroom",
            };
            let mut properties = format!("title={title}");
            if let Some(dir) = &r.crate_dir {
                let crate_dir = if dir == "." { Path::new("") } else { Path::new(dir) };
                let file = crate_dir.join("fixtures").join(&row.case);
                let _ = write!(properties, ",file={}", escape_property(&file.display().to_string()));
            }
            if row.status == Status::Removed {
                let _ = writeln!(
                    out,
                    "::error {properties}::{}",
                    escape_data(&format!(
                        "{}: in the baseline ({} fuel) but it did not run: deleted or renamed; set allow-removed-cases: true to accept that",
                        row.case,
                        row.base.map_or("-".to_owned(), |v| v.to_string()),
                    ))
                );
                continue;
            }
            let _ = writeln!(
                out,
                "::error {properties}::{}",
                escape_data(&format!(
                    "{}: {} fuel, base {} ({}), {} of the fuel budget left",
                    row.case,
                    row.head.map_or("-".to_owned(), |v| v.to_string()),
                    row.base.map_or("none".to_owned(), |v| v.to_string()),
                    row.delta_percent.map_or("new".to_owned(), |p| format!("{p:+.1}%")),
                    row.headroom_percent.map_or("-".to_owned(), |p| format!("{p:.1}%")),
                ))
            );
        }
    }
    for failure in &r.failures {
        let _ = writeln!(out, "::error title=cargo-palyra-skill::{}", escape_data(failure));
    }
    out
}

/// `name=value` lines for `$GITHUB_OUTPUT` (values on one line).
pub fn outputs(r: &ActionReport) -> String {
    let mut out = String::new();
    for (name, value) in r.outputs() {
        let _ = writeln!(out, "{name}={}", value.replace(['\r', '\n'], " "));
    }
    out
}
