//! `diff`: what a new version changes in what the skill may do and what it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::diff::{Side, diff};
use cargo_palyra_skill::manifest::Manifest;
use cargo_palyra_skill::verify::{check_contents, check_integrity};
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::input::read_entries;
use crate::shell::Shell;
use crate::skill::{self, BuildArgs};

/// Compare two versions of a skill (artifacts or crate directories).
///
/// Reports capabilities (HTTP hosts, filesystem roots, secrets, devices,
/// nodes, wildcard opt-ins), quotas, tools and their schemas (added,
/// removed, changed; changes that break existing callers are flagged),
/// each module's size, imports and exports, dependency changes from the
/// SBOMs, and a change of signing key. A change that asks for more
/// privilege is an escalation; with `--fail-on-escalation` it exits 1.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill diff echo-1.0.0.palyra-skill echo-1.1.0.palyra-skill\n",
    "  cargo palyra-skill diff released.palyra-skill . --fail-on-escalation\n",
    "  cargo palyra-skill diff old.palyra-skill new.palyra-skill --message-format markdown >> \"$GITHUB_STEP_SUMMARY\"\n\n",
    "Exit status:\n  0  compared (and no escalation, with --fail-on-escalation)\n  1  an escalation was found with --fail-on-escalation\n  2  could not compare (bad input, I/O error, build failed)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    /// The old version: a `.palyra-skill` artifact or a crate directory
    old: PathBuf,
    /// The new version: a `.palyra-skill` artifact or a crate directory
    new: PathBuf,
    /// Exit 1 when the new version asks for more privilege
    #[arg(long)]
    fail_on_escalation: bool,
    #[command(flatten)]
    build: BuildArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    message_format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    /// Text for people
    Human,
    /// One JSON document on stdout
    Json,
    /// Markdown for a pull-request comment or job summary
    Markdown,
}

fn load(path: &Path, build: &BuildArgs, shell: &mut Shell) -> Result<Entries> {
    if skill::is_crate(path) {
        Ok(skill::build_crate(path, build, None, None, shell)?.entries)
    } else {
        read_entries(path)
    }
}

/// The manifest, once the entries are the ones its integrity table lists
/// (a diff of entries the manifest does not vouch for would mislead).
fn checked(entries: &Entries, path: &Path) -> Result<Manifest> {
    let context = || format!("cannot compare `{}`", path.display());
    let manifest = check_contents(entries).with_context(context)?;
    check_integrity(&manifest, entries).with_context(context)?;
    Ok(manifest)
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let old_entries = load(&self.old, &self.build, shell)?;
        let new_entries = load(&self.new, &self.build, shell)?;
        let old_manifest = checked(&old_entries, &self.old)?;
        let new_manifest = checked(&new_entries, &self.new)?;
        if old_manifest.skill_id != new_manifest.skill_id {
            shell.warn(format_args!(
                "comparing two different skills: `{}` and `{}`",
                old_manifest.skill_id, new_manifest.skill_id
            ));
        }
        let report = diff(
            &Side { manifest: &old_manifest, entries: &old_entries },
            &Side { manifest: &new_manifest, entries: &new_entries },
        );
        match self.message_format {
            DiffFormat::Json => shell.print_json(&report)?,
            DiffFormat::Markdown => shell.print(report.to_markdown().trim_end())?,
            DiffFormat::Human => shell.print(report.to_text().trim_end())?,
        }
        if self.fail_on_escalation && !report.escalations.is_empty() {
            shell.status_failed(
                "Escalation",
                format_args!("{} change(s) ask for more privilege", report.escalations.len()),
            );
            return Ok(Outcome::CheckFailed);
        }
        Ok(Outcome::Success)
    }
}
