//! Several skills in one cargo workspace: which packages a command acts on,
//! chosen as cargo chooses them (`-p`, `--workspace`, `--exclude`, the
//! default members), and which of those are skills.

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, Package};
use serde::Serialize;

use crate::cargo::{self, Abi, CargoError, Features, SkillCrate};

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Cargo(#[from] CargoError),
    #[error(
        "no package `{name}` in the workspace of `{manifest}`: pass one of its members with `-p` ({members})"
    )]
    NoSuchPackage { name: String, manifest: String, members: String },
    #[error(
        "no skill among the packages selected in `{manifest}` ({skipped}): a skill is a `cdylib` with a `skill.toml`; select one with `-p NAME`, or create one with `cargo palyra-skill new`"
    )]
    NoSkill { manifest: String, skipped: String },
}

/// Cargo's package selection, as the user gave it.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `-p NAME`, each a workspace member.
    pub packages: Vec<String>,
    /// `--workspace`: every member.
    pub workspace: bool,
    /// `--exclude NAME`, with `--workspace`.
    pub exclude: Vec<String>,
}

/// A selected package that is no skill, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub package: String,
    pub reason: &'static str,
}

/// The skills a command acts on, in the workspace's order, and the
/// selected packages it leaves out.
#[derive(Debug)]
pub struct Members {
    pub skills: Vec<SkillCrate>,
    pub skipped: Vec<Skipped>,
    /// Whether the user asked for several packages (`--workspace`, more
    /// than one `-p`, or a workspace root whose default members hold more
    /// than one skill): the command then reports per member and one total.
    pub several: bool,
}

/// The packages of `manifest_path`'s workspace that `selection` names:
///
/// - `-p NAME...`: those (each must be a skill: a mistake is an error);
/// - `--workspace`: every member but `--exclude`d ones;
/// - neither, at a package's `Cargo.toml`: that package;
/// - neither, at a virtual workspace's root: its default members (`default-members`, else every member).
///
/// Of a workspace-wide selection, members that are no skill (no `skill.toml`,
/// or no `cdylib`) are skipped; the caller notes them.
pub fn select(
    manifest_path: &Path,
    selection: &Selection,
    features: &Features,
    cargo_flags: &[String],
) -> Result<Members, WorkspaceError> {
    let read = |target: &str| cargo::metadata(Some(manifest_path), features, cargo_flags, target);
    let metadata = read(Abi::default().target())?;
    let shown = manifest_path.display().to_string();
    let (chosen, strict, several) = chosen(&metadata, selection, &shown)?;
    // A workspace root's default members are several only when more than one is a skill.
    let several = several.unwrap_or_else(|| chosen.iter().filter(|p| skip_reason(p).is_none()).count() > 1);
    let mut skills = Vec::new();
    let mut skipped = Vec::new();
    for package in chosen {
        match skip_reason(&package) {
            Some(reason) if !strict => {
                skipped.push(Skipped { package: package.name.to_string(), reason });
            }
            _ => skills.push(SkillCrate::of(metadata.clone(), package)?),
        }
    }
    if skills.is_empty() {
        let skipped =
            skipped.iter().map(|s| format!("`{}`: {}", s.package, s.reason)).collect::<Vec<_>>().join("; ");
        return Err(WorkspaceError::NoSkill { manifest: shown, skipped });
    }
    // The dependency graph depends on the target: read it again for each other ABI.
    let mut others: Vec<Abi> = skills.iter().map(|s| s.abi).filter(|abi| *abi != Abi::default()).collect();
    others.dedup();
    for abi in others {
        let metadata = read(abi.target())?;
        for skill in skills.iter_mut().filter(|s| s.abi == abi) {
            skill.metadata = metadata.clone();
        }
    }
    Ok(Members { skills, skipped, several })
}

/// The selected packages, whether a non-skill among them is an error
/// (named by the user) rather than skipped, and whether several were asked
/// for (`None`: as many as are skills).
fn chosen(
    metadata: &Metadata,
    selection: &Selection,
    shown: &str,
) -> Result<(Vec<Package>, bool, Option<bool>), WorkspaceError> {
    let members = metadata.workspace_packages();
    if !selection.packages.is_empty() {
        let mut chosen = Vec::new();
        for name in &selection.packages {
            let package = members.iter().find(|p| p.name.as_str() == name).ok_or_else(|| {
                WorkspaceError::NoSuchPackage {
                    name: crate::text::escape(name).into_owned(),
                    manifest: shown.to_owned(),
                    members: members.iter().map(|p| format!("`{}`", p.name)).collect::<Vec<_>>().join(", "),
                }
            })?;
            if !chosen.iter().any(|p: &Package| p.id == package.id) {
                chosen.push((*package).clone());
            }
        }
        let several = chosen.len() > 1;
        return Ok((chosen, true, Some(several)));
    }
    if selection.workspace {
        let chosen = members
            .into_iter()
            .filter(|p| !selection.exclude.iter().any(|e| e == p.name.as_str()))
            .cloned()
            .collect();
        return Ok((chosen, false, Some(true)));
    }
    match metadata.root_package() {
        Some(root) => Ok((vec![root.clone()], true, Some(false))),
        None => Ok((metadata.workspace_default_packages().into_iter().cloned().collect(), false, None)),
    }
}

/// Why a package is no skill, or `None` for a skill.
pub fn skip_reason(package: &Package) -> Option<&'static str> {
    if !cargo::is_cdylib(package) {
        return Some("not a `cdylib`");
    }
    let settings = cargo::settings(package).unwrap_or_default();
    if !cargo::skill_toml_path(package, &settings).is_file() {
        return Some("no `skill.toml`");
    }
    None
}

/// The workspace root's `Cargo.toml` of a selection.
pub fn root_manifest(members: &Members) -> PathBuf {
    members.skills.first().map(|s| s.workspace_root().join("Cargo.toml")).unwrap_or_default()
}

/// A member's `[profile.*]` tables, which cargo ignores: only the
/// workspace root's profiles apply to a build.
#[derive(Debug, Clone, Serialize)]
pub struct IgnoredProfile {
    /// The member's `Cargo.toml`.
    pub member: PathBuf,
    /// The workspace root's `Cargo.toml`, where the settings take effect.
    pub root: PathBuf,
    /// Each profile with its settings, as `[profile.release]` (`opt-level`, `lto`).
    pub profiles: Vec<(String, Vec<String>)>,
}

impl IgnoredProfile {
    /// The warning: what cargo ignores and where to move it, manifest text escaped.
    pub fn message(&self) -> String {
        let profiles: Vec<String> = self
            .profiles
            .iter()
            .map(|(name, keys)| {
                let keys: Vec<String> =
                    keys.iter().map(|k| format!("`{}`", crate::text::escape(k))).collect();
                format!("`[profile.{}]` ({})", crate::text::escape(name), keys.join(", "))
            })
            .collect();
        format!(
            "`{}` sets {}, which cargo ignores in a workspace member: move {} to the workspace root's `{}`, where profiles apply to every member",
            crate::text::escape(&self.member.display().to_string()),
            profiles.join(" and "),
            if self.profiles.len() == 1 { "it" } else { "them" },
            crate::text::escape(&self.root.display().to_string()),
        )
    }
}

/// The `[profile]` settings of each skill's own `Cargo.toml` that cargo
/// ignores, because the skill is a member of a workspace rooted elsewhere.
pub fn ignored_profiles(skills: &[SkillCrate]) -> Vec<IgnoredProfile> {
    skills
        .iter()
        .filter_map(|skill| {
            let member = skill.package.manifest_path.as_std_path().to_owned();
            let root = skill.workspace_root().join("Cargo.toml");
            if member == root {
                return None;
            }
            let table = std::fs::read_to_string(&member).ok()?.parse::<toml::Table>().ok()?;
            let profiles: Vec<(String, Vec<String>)> = table
                .get("profile")?
                .as_table()?
                .iter()
                .map(|(name, settings)| {
                    let keys = settings.as_table().map(|t| t.keys().cloned().collect()).unwrap_or_default();
                    (name.clone(), keys)
                })
                .collect();
            (!profiles.is_empty()).then_some(IgnoredProfile { member, root, profiles })
        })
        .collect()
}
