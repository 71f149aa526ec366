//! `action-report` (used by `action.yml`): turns the JSON the action's steps
//! wrote into step outputs, a Markdown job summary and workflow-command
//! annotations, and decides whether the job fails.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::Outcome;
use crate::shell::{Shell, human_size};

/// Report the GitHub Action's results (outputs, job summary, annotations).
///
/// Reads what the action's steps wrote into DIR (`build.json`,
/// `verify.json`, `audit.json`, `audit.sarif`, `test.json`, `diff.json`,
/// `diff.md`, `publish.json`, and `<step>.rc` for a step that exited
/// non-zero), appends outputs to `$GITHUB_OUTPUT` and a summary to
/// `$GITHUB_STEP_SUMMARY`, prints `::error`/`::warning` annotations for
/// audit findings, and exits 1 if a check failed. `--print FIELD` prints
/// one field of the build instead.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo-palyra-skill action-report --dir \"$RUNNER_TEMP/palyra-skill\" --fail-on warning\n",
    "  cargo-palyra-skill action-report --dir \"$RUNNER_TEMP/palyra-skill\" --print artifact\n\n",
    exit_status!()
))]
pub struct Opts {
    /// The directory the action's steps wrote their results to
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Fail on audit errors only, or on warnings too
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// Fail when the diff against the previous release is an escalation
    #[arg(long)]
    fail_on_escalation: bool,
    /// Print one field of the build (`artifact`, `key-id`, `skill-id`, `version`, `payload-sha256`) and exit
    #[arg(long, value_name = "FIELD")]
    print: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Error,
    Warning,
}

/// The build's facts, as the action's outputs name them.
struct Build {
    artifact: String,
    skill_id: String,
    version: String,
    bytes: u64,
    payload_sha256: String,
    key_id: String,
    attestation: String,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.trim_ascii().is_empty() => Ok(None),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("`{}` is not JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read `{}`", path.display())),
    }
}

fn str_of(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

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

fn append(path: Option<&std::ffi::OsStr>, text: &str, what: &str) -> Result<()> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("could not open {what} `{}`", Path::new(path).display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("could not write {what}"))
}

impl Opts {
    fn rc(&self, step: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join(format!("{step}.rc"))).ok()?;
        text.trim().parse().ok()
    }

    /// Whether `step` could not run (exit 2: bad input or I/O), recorded as a failure.
    fn crashed(&self, step: &str, failures: &mut Vec<String>) -> bool {
        let crashed = self.rc(step).is_some_and(|rc| rc >= 2);
        if crashed {
            failures.push(format!("{step} could not run (see its step log)"));
        }
        crashed
    }

    fn build(&self) -> Result<Build> {
        let Some(json) = read_json(&self.dir.join("build.json"))? else {
            bail!("`{}` has no build.json: the build step did not run or failed", self.dir.display());
        };
        let key_id = json["key_id"].as_str().unwrap_or_default().to_owned();
        Ok(Build {
            artifact: str_of(&json, "artifact"),
            skill_id: str_of(&json, "skill_id"),
            version: str_of(&json, "version"),
            bytes: json["bytes"].as_u64().unwrap_or(0),
            payload_sha256: str_of(&json, "payload_sha256"),
            key_id,
            attestation: json["attestation"].as_str().unwrap_or_default().to_owned(),
        })
    }

    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let build = self.build()?;
        if let Some(field) = &self.print {
            let value = match field.as_str() {
                "artifact" => &build.artifact,
                "key-id" => &build.key_id,
                "skill-id" => &build.skill_id,
                "version" => &build.version,
                "payload-sha256" => &build.payload_sha256,
                other => bail!(
                    "unknown field `{other}`: use `artifact`, `key-id`, `skill-id`, `version` or `payload-sha256`"
                ),
            };
            shell.print(value)?;
            return Ok(Outcome::Success);
        }

        let mut failures: Vec<String> = Vec::new();
        let mut summary = format!("## `{}` {}\n\n", build.skill_id, build.version);
        let _ = writeln!(summary, "| | |\n|---|---|");
        let artifact_name = Path::new(&build.artifact).file_name().map(|n| n.to_string_lossy().into_owned());
        let _ = writeln!(
            summary,
            "| Artifact | `{}` ({}) |",
            artifact_name.unwrap_or_default(),
            human_size(build.bytes)
        );
        let _ = writeln!(summary, "| Payload SHA-256 | `{}` |", build.payload_sha256);
        let key = if build.key_id.is_empty() { "unsigned".to_owned() } else { format!("`{}`", build.key_id) };
        let _ = writeln!(summary, "| Signing key | {key} |");
        if !build.attestation.is_empty() {
            let name = Path::new(&build.attestation).file_name().map(|n| n.to_string_lossy().into_owned());
            let _ = writeln!(summary, "| Attestation | `{}` |", name.unwrap_or_default());
        }

        // Verification.
        let verify = read_json(&self.dir.join("verify.json"))?;
        let verification = match &verify {
            _ if self.crashed("verify", &mut failures) => "could not run".to_owned(),
            Some(v) => {
                let result = &v["artifacts"][0];
                if result["accepted"] == Value::Bool(true) {
                    format!("accepted ({})", result["trust_decision"].as_str().unwrap_or("trusted"))
                } else {
                    let message = result["error"]["message"].as_str().unwrap_or("rejected").to_owned();
                    failures.push(format!("verification rejected the artifact: {message}"));
                    format!("**rejected**: {}", cell(&message))
                }
            }
            None if build.key_id.is_empty() => "skipped (unsigned)".to_owned(),
            None => {
                failures.push("verify wrote no report".into());
                "no report".to_owned()
            }
        };
        let _ = writeln!(summary, "| Verification | {verification} |");

        // Audit.
        let audit = read_json(&self.dir.join("audit.json"))?;
        let mut audit_passed = false;
        let mut audit_section = String::new();
        let audit_status = match &audit {
            _ if self.crashed("audit", &mut failures) => "could not run".to_owned(),
            None => {
                failures.push("audit wrote no report".into());
                "no report".to_owned()
            }
            Some(report) => {
                let quarantine = report["should_quarantine"] == Value::Bool(true);
                let findings = report["findings"].as_array().cloned().unwrap_or_default();
                let checks = report["checks"].as_array().cloned().unwrap_or_default();
                let count = |severity: &str| findings.iter().filter(|f| f["severity"] == severity).count();
                let errors = count("error");
                let warnings = count("warning") + checks.iter().filter(|c| c["status"] == "warn").count();
                audit_passed = !quarantine && errors == 0 && (self.fail_on == FailOn::Error || warnings == 0);
                if !audit_passed {
                    failures.push(format!(
                        "the audit failed (fail-on: {}): {}",
                        if self.fail_on == FailOn::Error { "error" } else { "warning" },
                        format_args!(
                            "{}quarantine, {errors} error finding(s), {warnings} warning(s)",
                            if quarantine { "" } else { "no " }
                        )
                    ));
                }
                let _ = writeln!(audit_section, "### Audit\n\n| Check | Status | Message |\n|---|---|---|");
                for check in &checks {
                    let _ = writeln!(
                        audit_section,
                        "| `{}` | {} | {} |",
                        str_of(check, "check_id"),
                        str_of(check, "status"),
                        cell(&str_of(check, "message"))
                    );
                }
                if !findings.is_empty() {
                    let _ = writeln!(
                        audit_section,
                        "\n| Severity | Finding | Location | Message |\n|---|---|---|---|"
                    );
                    for f in &findings {
                        let _ = writeln!(
                            audit_section,
                            "| {} | `{}` | `{}` | {} |",
                            str_of(f, "severity"),
                            str_of(f, "id"),
                            str_of(f, "location"),
                            cell(&str_of(f, "message"))
                        );
                    }
                }
                audit_section.push('\n');
                format!(
                    "{}: {} error(s), {} warning(s){}",
                    if audit_passed { "passed" } else { "**failed**" },
                    errors,
                    warnings,
                    if quarantine { ", **the host would quarantine it**" } else { "" }
                )
            }
        };
        let _ = writeln!(summary, "| Audit | {audit_status} |");

        // Tests.
        let test = read_json(&self.dir.join("test.json"))?;
        let mut tests_passed = true;
        let mut test_section = String::new();
        let test_status = match &test {
            _ if self.crashed("test", &mut failures) => {
                tests_passed = false;
                "could not run".to_owned()
            }
            None => "not run".to_owned(),
            Some(report) => {
                let passed = report["passed"].as_u64().unwrap_or(0);
                let failed = report["failed"].as_u64().unwrap_or(0);
                if failed > 0 {
                    tests_passed = false;
                    failures.push(format!("{failed} test case(s) failed"));
                }
                let _ = writeln!(
                    test_section,
                    "### Tests\n\n| Case | Tool | Result | Fuel | Time |\n|---|---|---|---|---|"
                );
                for case in report["cases"].as_array().into_iter().flatten() {
                    let result = if case["passed"] == Value::Bool(true) {
                        "passed".to_owned()
                    } else {
                        format!("**failed**: {}", cell(&str_of(case, "problem")))
                    };
                    let _ = writeln!(
                        test_section,
                        "| `{}` | `{}` | {result} | {} | {} ms |",
                        str_of(case, "case"),
                        str_of(case, "tool"),
                        case["fuel_consumed"],
                        case["wall_ms"]
                    );
                }
                test_section.push('\n');
                format!("{passed} passed, {failed} failed")
            }
        };
        let _ = writeln!(summary, "| Tests | {test_status} |");

        // Registry.
        if let Some(publish) = read_json(&self.dir.join("publish.json"))? {
            let how = if publish["copied"] == Value::Bool(true) { "published" } else { "already published" };
            let _ = writeln!(
                summary,
                "| Registry | {how} as `{}`; index of {} artifact(s) signed by `{}` |",
                str_of(&publish, "artifact"),
                publish["index_entries"],
                str_of(&publish, "index_key_id")
            );
        }
        summary.push('\n');
        summary.push_str(&audit_section);
        summary.push_str(&test_section);

        // Diff against the previous release.
        if let Ok(markdown) = std::fs::read_to_string(self.dir.join("diff.md"))
            && !markdown.trim().is_empty()
        {
            let _ = writeln!(summary, "### Changes since the previous release\n");
            summary.push_str(markdown.trim_end());
            summary.push_str("\n\n");
        }
        if let Some(diff) = read_json(&self.dir.join("diff.json"))? {
            let escalations = diff["escalations"].as_array().map_or(0, Vec::len);
            if self.fail_on_escalation && escalations > 0 {
                failures.push(format!(
                    "{escalations} change(s) since the previous release ask for more privilege"
                ));
            }
        } else {
            self.crashed("diff", &mut failures);
        }

        if !failures.is_empty() {
            let _ = writeln!(summary, "> [!CAUTION]\n> **Failed**");
            for failure in &failures {
                let _ = writeln!(summary, "> - {}", cell(failure));
            }
        }

        // Annotations from the SARIF (which knows skill.toml's lines).
        let sarif_path = self.dir.join("audit.sarif");
        let mut annotations = String::new();
        if let Some(sarif) = read_json(&sarif_path)? {
            for result in sarif["runs"][0]["results"].as_array().into_iter().flatten() {
                let command = match result["level"].as_str() {
                    Some("error") => "error",
                    Some("warning") => "warning",
                    _ => "notice",
                };
                let location = &result["locations"][0]["physicalLocation"];
                let uri = location["artifactLocation"]["uri"].as_str().unwrap_or_default();
                let mut properties = format!("title={}", escape_property(&str_of(result, "ruleId")));
                if uri.ends_with("skill.toml") {
                    let _ = write!(properties, ",file={}", escape_property(uri));
                    if let Some(line) = location["region"]["startLine"].as_u64() {
                        let _ = write!(properties, ",line={line}");
                    }
                }
                let message = result["message"]["text"].as_str().unwrap_or_default();
                let _ = writeln!(annotations, "::{command} {properties}::{}", escape_data(message));
            }
        }
        for failure in &failures {
            let _ = writeln!(annotations, "::error title=cargo-palyra-skill::{}", escape_data(failure));
        }
        shell.print(annotations.trim_end())?;

        let outputs = [
            ("artifact", build.artifact.clone()),
            ("payload-sha256", build.payload_sha256.clone()),
            ("key-id", build.key_id.clone()),
            ("skill-id", build.skill_id.clone()),
            ("version", build.version.clone()),
            ("audit-passed", audit_passed.to_string()),
            ("sarif", if sarif_path.is_file() { sarif_path.display().to_string() } else { String::new() }),
            ("attestation", build.attestation.clone()),
            ("tests-passed", tests_passed.to_string()),
        ];
        let mut output_text = String::new();
        for (name, value) in outputs {
            let _ = writeln!(output_text, "{name}={}", value.replace(['\r', '\n'], " "));
        }
        append(std::env::var_os("GITHUB_OUTPUT").as_deref(), &output_text, "$GITHUB_OUTPUT")?;
        append(std::env::var_os("GITHUB_STEP_SUMMARY").as_deref(), &summary, "$GITHUB_STEP_SUMMARY")?;

        if failures.is_empty() {
            shell.status("Passed", format_args!("{} {}", build.skill_id, build.version));
            Ok(Outcome::Success)
        } else {
            shell.status_failed("Failed", failures.join("; "));
            Ok(Outcome::CheckFailed)
        }
    }
}
