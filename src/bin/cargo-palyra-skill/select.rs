//! Cargo's package selection, shared by every command that takes a crate:
//! `-p/--package`, `--workspace`, `--exclude`, `--features`, `--target-dir`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use cargo_palyra_skill::build::BuildOptions;
use cargo_palyra_skill::cargo::{Features, SkillCrate};
use cargo_palyra_skill::workspace::{self, Members, Selection};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::shell::{MessageFormat, Shell};
use crate::skill::BuildArgs;

/// Which packages of a workspace, with which features, built where.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Package selection")]
pub struct PackageArgs {
    /// Package to act on, in a workspace (repeatable)
    #[arg(long, short, value_name = "SPEC")]
    pub package: Vec<String>,
    /// Act on every skill of the workspace (members without a `skill.toml`
    /// or a `cdylib` are skipped with a note)
    #[arg(long, conflicts_with = "package")]
    pub workspace: bool,
    /// Leave this member out of `--workspace` (repeatable)
    #[arg(long, value_name = "SPEC", requires = "workspace")]
    pub exclude: Vec<String>,
    /// Space or comma separated features to activate
    #[arg(long, short = 'F', value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Cargo's target directory
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
}

impl PackageArgs {
    pub fn selection(&self) -> Selection {
        Selection { packages: self.package.clone(), workspace: self.workspace, exclude: self.exclude.clone() }
    }

    /// `--features`, split as cargo splits them.
    pub fn feature_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(|f| f.split([' ', ',']))
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether the user chose packages at all (else: the crate here).
    pub fn selects(&self) -> bool {
        !self.package.is_empty() || self.workspace
    }

    /// Refuses a selection for `path`, a file that is no crate (an artifact or a module).
    pub fn refuse_for_file(&self, path: &Path) -> Result<()> {
        if self.selects() || !self.features.is_empty() || self.target_dir.is_some() {
            bail!(
                "`-p`, `--workspace`, `--features` and `--target-dir` choose how a crate is built, and `{}` is no crate: drop them, or pass a crate's directory",
                path.display()
            );
        }
        Ok(())
    }

    /// The skills the selection names in the workspace of `manifest_path`,
    /// with a note for each member skipped.
    pub fn members(
        &self,
        manifest_path: &Path,
        features: &Features,
        cargo_flags: &[String],
        shell: &mut Shell,
    ) -> Result<Members> {
        let members = workspace::select(manifest_path, &self.selection(), features, cargo_flags)?;
        Ok(self.noted(members, shell))
    }

    /// The skills of `build`'s selection, read under the lock rule (see
    /// `release::with_lock`) so that this first `cargo metadata` never
    /// rewrites a committed `Cargo.lock`; `options` gets the cargo flags
    /// the build then uses.
    pub fn members_locked(&self, options: &mut BuildOptions, shell: &mut Shell) -> Result<Members> {
        let manifest_path = options.manifest_path.clone().unwrap_or_else(|| PathBuf::from("Cargo.toml"));
        // Cargo's own errors go to the lock rule (an out-of-date lock file
        // is one); the selection's stay for after it.
        let found = cargo_palyra_skill::release::with_lock(options, |flags| {
            match workspace::select(&manifest_path, &self.selection(), &options.features, flags) {
                Err(workspace::WorkspaceError::Cargo(e)) => Err(e),
                other => Ok(other),
            }
        })?;
        for warning in &found.warnings {
            shell.warn(warning);
        }
        options.cargo_flags = found.cargo_flags;
        Ok(self.noted(found.value?, shell))
    }

    fn noted(&self, members: Members, shell: &mut Shell) -> Members {
        for skipped in &members.skipped {
            shell.note(format_args!("skipping `{}`: {}, so it is no skill", skipped.package, skipped.reason));
        }
        for ignored in workspace::ignored_profiles(&members.skills) {
            shell.warn(ignored.message());
        }
        members
    }
}

/// A report over several members: each member's own report, then the total.
#[derive(Serialize)]
pub struct MembersReport<T: Serialize> {
    pub members: Vec<MemberReport<T>>,
    /// Packages of the selection that are no skill.
    pub skipped: Vec<workspace::Skipped>,
    pub passed: usize,
    pub failed: usize,
}

/// One member's report, or the error that stopped it.
#[derive(Serialize)]
pub struct MemberReport<T: Serialize> {
    pub package: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The total line after several members: `2 skills: 1 passed, 1 failed`.
pub fn total_line(what: &str, passed: usize, failed: usize, skipped: usize) -> String {
    let mut line = format!("{} {what}: {passed} passed, {failed} failed", passed + failed);
    if skipped > 0 {
        line.push_str(&format!(", {skipped} package(s) skipped (no skill)"));
    }
    line
}

/// The skills `packages` selects in the workspace of `manifest_path`, or
/// `None` for the crate there: no selection, at a package's `Cargo.toml`
/// (no workspace lookup of ours then).
pub fn members_of(
    packages: &PackageArgs,
    manifest_path: &Path,
    build: &BuildArgs,
    shell: &mut Shell,
) -> Result<Option<Members>> {
    let manifest_path =
        if manifest_path.is_dir() { manifest_path.join("Cargo.toml") } else { manifest_path.to_owned() };
    if !packages.selects() && !is_virtual(&manifest_path) {
        return Ok(None);
    }
    let features = Features { features: packages.feature_names(), ..Default::default() };
    packages.members(&manifest_path, &features, &build.cargo_flags(), shell).map(Some)
}

/// Whether `manifest` is a virtual workspace's root (a `[workspace]` and no `[package]`).
fn is_virtual(manifest: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(manifest) else { return false };
    text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("workspace") && !t.contains_key("package"))
}

/// Runs `one` for every skill of `members`, each under a heading; then the
/// JSON report of every member (with `format` json) or the total. A member
/// that could not run is reported and the others still run; then the
/// command fails as that member did (exit 2), else a failed check (exit 1).
pub fn each_member<T: Serialize>(
    members: &Members,
    format: MessageFormat,
    what: &str,
    shell: &mut Shell,
    mut one: impl FnMut(&SkillCrate, &mut Shell) -> Result<(T, Result<Outcome>)>,
) -> Result<Outcome> {
    let mut reports = Vec::new();
    let mut errors = 0;
    for krate in &members.skills {
        let package = krate.package.name.to_string();
        shell.status("Skill", format_args!("{package} v{}", krate.package.version));
        let (report, verdict) = match one(krate, shell) {
            Ok((report, verdict)) => (Some(report), verdict),
            Err(error) => (None, Err(error)),
        };
        let (ok, error) = match verdict {
            Ok(outcome) => (outcome == Outcome::Success, None),
            Err(error) => {
                errors += 1;
                shell.status_failed("Failed", format_args!("`{package}`: {error:#}"));
                (false, Some(format!("{error:#}")))
            }
        };
        reports.push(MemberReport { package, ok, report, error });
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    let passed = reports.len() - failed;
    let total = total_line(what, passed, failed, members.skipped.len());
    match format {
        MessageFormat::Json => shell.print_json(&MembersReport {
            members: reports,
            skipped: members.skipped.clone(),
            passed,
            failed,
        })?,
        MessageFormat::Human if failed > 0 => shell.status_failed("Total", total),
        MessageFormat::Human => shell.status("Total", total),
    }
    if errors > 0 {
        bail!("{errors} of {} skills could not be checked (each error is above)", passed + failed);
    }
    Ok(if failed > 0 { Outcome::CheckFailed } else { Outcome::Success })
}
