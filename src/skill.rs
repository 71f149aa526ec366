//! Choosing what to run in a skill, as the host chooses it, and where its
//! state lives on this machine: the module entry, the state directory, and
//! the filesystem roots opened beneath it.

use std::path::{Path, PathBuf};

use crate::artifact::Entries;
use crate::manifest::Manifest;
use crate::runtime::{Preopen, StateError, open_roots};

#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error("no module `{path}` in the skill (modules: {available})")]
    NoSuchModule { path: String, available: String },
    #[error(
        "the skill has {count} modules ({available}): pick one with `--module` or set `operator.plugin.default_module_path`"
    )]
    AmbiguousModule { count: usize, available: String },
    #[error("no state directory: set `PALYRA_SKILL_STATE_DIR`")]
    NoStateDir,
    #[error("cannot grant the filesystem roots of `{skill_id}`: {source}")]
    Roots { skill_id: String, source: StateError },
}

/// Whether `path` names a crate (a directory or its `Cargo.toml`) rather
/// than a file to read.
pub fn is_crate(path: &Path) -> bool {
    path.is_dir() || path.file_name().is_some_and(|n| n == "Cargo.toml")
}

/// `wanted` (`--module`), else `operator.plugin.default_module_path`, else
/// the only module.
pub fn pick_module(
    manifest: &Manifest,
    entries: &Entries,
    wanted: Option<&str>,
) -> Result<String, SkillError> {
    let modules: Vec<&str> = entries.modules().map(|(path, _)| path).collect();
    let wanted = module_arg(wanted);
    if let Some(path) = wanted.as_deref().or(manifest.default_module_path()) {
        if modules.contains(&path) {
            return Ok(path.to_owned());
        }
        return Err(SkillError::NoSuchModule { path: path.to_owned(), available: modules.join(", ") });
    }
    match modules.as_slice() {
        [only] => Ok((*only).to_owned()),
        _ => Err(SkillError::AmbiguousModule { count: modules.len(), available: modules.join(", ") }),
    }
}

/// A module argument as an entry path: `echo.wasm` means `modules/echo.wasm`.
pub fn module_arg(wanted: Option<&str>) -> Option<String> {
    wanted.map(|w| if w.starts_with("modules/") { w.to_owned() } else { format!("modules/{w}") })
}

/// `$PALYRA_SKILL_STATE_DIR`, else `$XDG_DATA_HOME/palyra-skill/state`,
/// else `~/.local/share/palyra-skill/state`; one folder per skill below it.
pub fn state_dir(skill_id: &str) -> Result<PathBuf, SkillError> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = var("PALYRA_SKILL_STATE_DIR")
        .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("palyra-skill").join("state")))
        .or_else(|| var("HOME").map(|d| d.join(".local/share/palyra-skill/state")))
        .ok_or(SkillError::NoStateDir)?;
    Ok(base.join(skill_id.trim()))
}

/// The declared filesystem roots as preopens under the skill's state
/// directory: read roots read-only, write roots read-write, each opened
/// beneath it without following symlinks.
pub fn preopens(manifest: &Manifest) -> Result<Vec<Preopen>, SkillError> {
    let state = state_dir(&manifest.skill_id)?;
    let fs = &manifest.capabilities.filesystem;
    open_roots(&state, &fs.read_roots, &fs.write_roots)
        .map_err(|source| SkillError::Roots { skill_id: manifest.skill_id.trim().to_owned(), source })
}
