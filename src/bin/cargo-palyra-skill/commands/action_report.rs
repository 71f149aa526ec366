//! `action-report` (used by `action.yml`): turns the JSON the action's steps
//! wrote into step outputs, a Markdown job summary and workflow-command
//! annotations, and decides whether the job fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::action::{self, FailOn};
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::shell::Shell;

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
    exit_status!("every check passed", "a check failed (named in the summary and an annotation)", "could not read the steps' results")
))]
pub struct Opts {
    /// The directory the action's steps wrote their results to
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Fail on audit errors only, or on warnings too
    #[arg(long, value_enum, default_value_t = FailOnArg::Error)]
    fail_on: FailOnArg,
    /// Fail when the diff against the previous release is an escalation
    #[arg(long)]
    fail_on_escalation: bool,
    /// Print one field of the build (`artifact`, `key-id`, `skill-id`, `version`, `payload-sha256`) and exit
    #[arg(long, value_name = "FIELD")]
    print: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOnArg {
    Error,
    Warning,
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
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        if let Some(field) = &self.print {
            let build = action::read_build(&self.dir)?;
            let value = match field.as_str() {
                "artifact" => build.artifact,
                "key-id" => build.key_id.unwrap_or_default(),
                "skill-id" => build.skill_id,
                "version" => build.version,
                "payload-sha256" => build.payload_sha256,
                other => bail!(
                    "unknown field `{other}`: use `artifact`, `key-id`, `skill-id`, `version` or `payload-sha256`"
                ),
            };
            shell.print(value)?;
            return Ok(Outcome::Success);
        }
        let fail_on = match self.fail_on {
            FailOnArg::Error => FailOn::Error,
            FailOnArg::Warning => FailOn::Warning,
        };
        let report = action::report(&self.dir, fail_on, self.fail_on_escalation)?;
        shell.print(action::annotations(&report).trim_end())?;
        append(std::env::var_os("GITHUB_OUTPUT").as_deref(), &action::outputs(&report), "$GITHUB_OUTPUT")?;
        append(
            std::env::var_os("GITHUB_STEP_SUMMARY").as_deref(),
            &action::summary(&report),
            "$GITHUB_STEP_SUMMARY",
        )?;
        let build = &report.build;
        if report.failures.is_empty() {
            shell.status("Passed", format_args!("{} {}", build.skill_id, build.version));
            Ok(Outcome::Success)
        } else {
            shell.status_failed("Failed", report.failures.join("; "));
            Ok(Outcome::CheckFailed)
        }
    }
}
