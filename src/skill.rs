//! Choosing what to run in a skill, as the host chooses it, and where its
//! state lives on this machine: the module entry, the state directory, and
//! the filesystem roots opened beneath it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::artifact::Entries;
use crate::build::{self, BuildError, BuildOptions, Event};
use crate::cargo::Abi;
use crate::manifest::Manifest;
use crate::provenance::Environment;
use crate::runtime::{Preopen, StateError, open_roots};
use crate::signing::Signer;

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
    use crate::env::{Var, path};
    let base = path(Var::StateDir)
        .or_else(|| path(Var::XdgDataHome).map(|d| d.join("palyra-skill").join("state")))
        .or_else(|| path(Var::Home).map(|d| d.join(".local/share/palyra-skill/state")))
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

/// A verified skill, ready to call.
pub struct Skill {
    pub manifest: Manifest,
    pub entries: Entries,
    /// The crate directory, when the skill came from one.
    pub crate_dir: Option<PathBuf>,
    /// The crate's ABI setting, when the skill came from a crate.
    pub crate_abi: Option<Abi>,
    /// The crate's `headroom-warn`, else the default share.
    pub warn_at: f64,
    /// The named copy of each module that has one, by entry path: from the
    /// build, or found beside the artifact (`crate::named::find`).
    pub named: BTreeMap<String, Vec<u8>>,
}

impl Skill {
    /// The ABI to run with: `flag`, else the crate's, else the host's.
    pub fn abi(&self, flag: Option<Abi>) -> Abi {
        flag.or(self.crate_abi).unwrap_or_default()
    }

    /// Every entry that may be a module, as the host selects from them.
    pub fn modules(&self) -> Vec<(&str, &[u8])> {
        self.entries.modules().map(|(path, entry)| (path, entry.bytes.as_slice())).collect()
    }

    /// The function names of the module entry `module_path`, from its named
    /// copy; empty without one.
    pub fn function_names(&self, module_path: &str) -> BTreeMap<u32, String> {
        self.named.get(module_path).map(|named| crate::named::function_names(named)).unwrap_or_default()
    }

    /// The symbols of the module entry `module_path`: names and line tables
    /// from its named copy, the skill's crate from its `.dep-v0` list.
    pub fn symbols(&self, module_path: &str) -> crate::symbols::Symbols {
        let module =
            self.entries.modules().find(|(path, _)| *path == module_path).map(|(_, e)| e.bytes.as_slice());
        crate::symbols::Symbols::new(
            module.unwrap_or_default(),
            self.named.get(module_path).map(Vec::as_slice),
        )
    }
}

/// The named copies beside the artifact at `artifact` of its modules in
/// `entries`: each only when it is that module, stripped.
pub fn named_beside(artifact: &Path, entries: &Entries) -> BTreeMap<String, Vec<u8>> {
    let dir = crate::named::dir_beside(artifact);
    if !dir.is_dir() {
        return BTreeMap::new();
    }
    entries
        .modules()
        .filter_map(|(path, entry)| {
            crate::named::find(&dir, path, &entry.bytes).map(|named| (path.to_owned(), named))
        })
        .collect()
}

/// A crate built for `run`, `test` or `audit`, into the scratch output directory.
pub struct Scratch {
    pub artifact: PathBuf,
    pub bytes: Vec<u8>,
    pub entries: Entries,
    pub crate_dir: PathBuf,
    pub abi: Abi,
    pub warn_at: f64,
    /// The named copy of each module, by entry path.
    pub named: BTreeMap<String, Vec<u8>>,
}

/// Builds the crate of `options` (its `manifest_path`: a directory or a
/// `Cargo.toml`; its `package`, features and target directory) into
/// `<target>/palyra-skill/scratch`, so a real build's artifact is never
/// replaced, with the named copies beside it; signed with `key`, or unsigned.
pub fn build_scratch(mut options: BuildOptions, key: Option<&dyn Signer>) -> Result<Scratch, BuildError> {
    let path = options.manifest_path.clone().unwrap_or_else(|| PathBuf::from("Cargo.toml"));
    let manifest_path = if path.is_dir() { path.join("Cargo.toml") } else { path };
    options.manifest_path = Some(manifest_path.clone());
    options.scratch = true;
    let mut crate_dir = manifest_path.parent().map(Path::to_owned).unwrap_or_default();
    let built = build::build(&options, key, false, &Environment::Local, &mut |event| {
        if let Event::Located { skill_toml, .. } = event {
            crate_dir = skill_toml.parent().map(Path::to_owned).unwrap_or_default();
        }
    })?;
    Ok(Scratch {
        artifact: built.artifact,
        bytes: built.bytes,
        entries: built.entries,
        crate_dir,
        abi: built.abi,
        warn_at: built.warn_at,
        named: built.named,
    })
}
