//! The Action's verdict: from what its steps wrote, what happened at each
//! step, which checks failed, and the step outputs.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::model::*;

/// Fail on audit errors only, or on warnings too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
}

impl FailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Warning => "warning",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("`{0}` has no build.json or sign.json: the build or sign step did not run or failed")]
    NoBuild(PathBuf),
    #[error("`{path}` is not the report this step writes: {source}")]
    NotJson { path: PathBuf, source: serde_json::Error },
    #[error("could not read `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// What verification said.
#[derive(Debug, Clone)]
pub enum Verification {
    Accepted { trust_decision: String },
    Rejected { message: String },
    SkippedUnsigned,
    CouldNotRun,
    NoReport,
}

/// What the audit said, with the counts the gate uses.
#[derive(Debug, Clone)]
pub enum Audit {
    Ran { report: AuditView, errors: usize, warnings: usize, passed: bool },
    CouldNotRun,
    NoReport,
}

/// What the fixture cases said.
#[derive(Debug, Clone)]
pub enum Tests {
    Ran(TestView),
    CouldNotRun,
    NotRun,
}

/// Everything the last step reports: the build, each step's outcome, the
/// failed checks in the order they were found, and the SARIF for
/// annotations.
#[derive(Debug, Clone)]
pub struct ActionReport {
    pub build: BuildView,
    pub verification: Verification,
    pub audit: Audit,
    pub tests: Tests,
    pub publish: Option<PublishView>,
    pub diff_markdown: Option<String>,
    /// `audit.sarif`, when the audit wrote one.
    pub sarif_file: Option<PathBuf>,
    pub sarif: Option<SarifView>,
    /// The crate's directory relative to the workspace (`test.crate`), for
    /// annotations on its fixture files.
    pub crate_dir: Option<String>,
    pub failures: Vec<String>,
}

/// A report file: `None` when absent or empty.
fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ActionError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.trim_ascii().is_empty() => Ok(None),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ActionError::NotJson { path: path.to_owned(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ActionError::Read { path: path.to_owned(), source }),
    }
}

/// The build step's report alone (for `--print FIELD`), with the sign
/// step's key and attestation when the artifact was signed after it was
/// built (the Action compiles in a step that never holds the key).
///
/// In a job that only signs (the action's `mode: sign`), there is no
/// build step: the signed artifact's report stands for the build.
pub fn read_build(dir: &Path) -> Result<BuildView, ActionError> {
    let signed = read::<BuildView>(&dir.join("sign.json"))?;
    let Some(mut build) = read::<BuildView>(&dir.join("build.json"))? else {
        return signed.ok_or_else(|| ActionError::NoBuild(dir.to_owned()));
    };
    if let Some(signed) = signed {
        build.artifact = signed.artifact;
        build.key_id = signed.key_id;
        build.attestation = signed.attestation;
        build.payload_sha256 = signed.payload_sha256;
        build.bytes = signed.bytes;
    }
    Ok(build)
}

/// Whether `step` exited with 2 or more (could not run).
fn crashed(dir: &Path, step: &str) -> bool {
    std::fs::read_to_string(dir.join(format!("{step}.rc")))
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .is_some_and(|rc| rc >= 2)
}

/// Reads the directory the steps wrote and decides.
pub fn report(dir: &Path, fail_on: FailOn, fail_on_escalation: bool) -> Result<ActionReport, ActionError> {
    let build = read_build(dir)?;
    let signed = build.key_id.as_deref().is_some_and(|k| !k.is_empty());
    let mut failures = Vec::new();
    let could_not_run = |step: &str, failures: &mut Vec<String>| {
        let crashed = crashed(dir, step);
        if crashed {
            failures.push(format!("{step} could not run (see its step log)"));
        }
        crashed
    };

    let verify: Option<VerifyView> = read(&dir.join("verify.json"))?;
    let verification = match verify {
        _ if could_not_run("verify", &mut failures) => Verification::CouldNotRun,
        Some(report) => {
            let first = report.artifacts.into_iter().next().unwrap_or_default();
            if first.accepted {
                Verification::Accepted {
                    trust_decision: first.trust_decision.unwrap_or_else(|| "trusted".into()),
                }
            } else {
                let message = first.error.map_or_else(|| "rejected".to_owned(), |e| e.message);
                failures.push(format!("verification rejected the artifact: {message}"));
                Verification::Rejected { message }
            }
        }
        None if !signed => Verification::SkippedUnsigned,
        None => {
            failures.push("verify wrote no report".into());
            Verification::NoReport
        }
    };

    let audit_report: Option<AuditView> = read(&dir.join("audit.json"))?;
    let audit = match audit_report {
        _ if could_not_run("audit", &mut failures) => Audit::CouldNotRun,
        None => {
            failures.push("audit wrote no report".into());
            Audit::NoReport
        }
        Some(report) => {
            let count = |severity: &str| report.findings.iter().filter(|f| f.severity == severity).count();
            let errors = count("error");
            let warnings =
                count("warning").saturating_add(report.checks.iter().filter(|c| c.status == "warn").count());
            let quarantine = report.should_quarantine;
            let passed = !quarantine && errors == 0 && (fail_on == FailOn::Error || warnings == 0);
            if !passed {
                failures.push(format!(
                    "the audit failed (fail-on: {}): {}quarantine, {errors} error finding(s), {warnings} warning(s)",
                    fail_on.as_str(),
                    if quarantine { "" } else { "no " }
                ));
            }
            Audit::Ran { report, errors, warnings, passed }
        }
    };

    let test_report: Option<TestView> = read(&dir.join("test.json"))?;
    let tests = match test_report {
        _ if could_not_run("test", &mut failures) => Tests::CouldNotRun,
        None => Tests::NotRun,
        Some(report) => {
            if report.failed > 0 {
                failures.push(format!("{} test case(s) failed", report.failed));
            }
            if let Some(baseline) = &report.baseline {
                let grown = baseline.regressions.saturating_sub(baseline.removed);
                if grown > 0 {
                    failures.push(format!(
                        "{grown} test case(s) regressed against the fuel baseline (over +{:.1}%, or at {:.0}% of the fuel budget)",
                        baseline.tolerance_percent, baseline.warn_percent
                    ));
                }
                if baseline.removed > 0 {
                    failures.push(format!(
                        "{} test case(s) of the fuel baseline no longer ran (deleted or renamed): restore them, or set allow-removed-cases: true",
                        baseline.removed
                    ));
                }
            }
            Tests::Ran(report)
        }
    };

    let publish = read(&dir.join("publish.json"))?;
    let diff_markdown =
        std::fs::read_to_string(dir.join("diff.md")).ok().filter(|markdown| !markdown.trim().is_empty());
    match read::<DiffView>(&dir.join("diff.json"))? {
        Some(diff) => {
            if fail_on_escalation && !diff.escalations.is_empty() {
                failures.push(format!(
                    "{} change(s) since the previous release ask for more privilege",
                    diff.escalations.len()
                ));
            }
        }
        None => {
            could_not_run("diff", &mut failures);
        }
    }
    let sarif_path = dir.join("audit.sarif");
    let sarif = read::<SarifView>(&sarif_path)?;
    let sarif_file = sarif_path.is_file().then_some(sarif_path);
    Ok(ActionReport {
        build,
        verification,
        audit,
        tests,
        publish,
        diff_markdown,
        sarif_file,
        sarif,
        crate_dir: std::fs::read_to_string(dir.join("test.crate"))
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty()),
        failures,
    })
}

impl ActionReport {
    pub fn audit_passed(&self) -> bool {
        matches!(self.audit, Audit::Ran { passed: true, .. })
    }

    pub fn tests_passed(&self) -> bool {
        match &self.tests {
            Tests::Ran(report) => report.failed == 0,
            Tests::CouldNotRun => false,
            Tests::NotRun => true,
        }
    }

    /// The action's outputs, in `action.yml`'s order.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        let b = &self.build;
        vec![
            ("artifact", b.artifact.clone()),
            ("payload-sha256", b.payload_sha256.clone()),
            ("key-id", b.key_id.clone().unwrap_or_default()),
            ("skill-id", b.skill_id.clone()),
            ("version", b.version.clone()),
            ("audit-passed", self.audit_passed().to_string()),
            ("sarif", self.sarif_file.as_ref().map(|path| path.display().to_string()).unwrap_or_default()),
            ("attestation", b.attestation.clone().unwrap_or_default()),
            ("tests-passed", self.tests_passed().to_string()),
        ]
    }
}
