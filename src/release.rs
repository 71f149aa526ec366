//! What a build records so `rebuild` can make it again: `--locked` when
//! `Cargo.lock` is committed and unchanged (as `rebuild` always builds),
//! an out-of-date lock file named before cargo builds, and a release build
//! (a tag, or a release key) refused from a work tree with uncommitted changes.

use std::path::PathBuf;

use crate::build::{BuildError, BuildOptions};
use crate::cargo::{CargoError, SkillCrate};
use crate::provenance::SourceInfo;

/// Something a build did that the user should hear about, though it built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildWarning {
    #[error(
        "`{lockfile}` is out of date with `Cargo.toml`{detail}: commit Cargo.lock after changing the version (`cargo update -w`). Built without `--locked`, so cargo rewrote it and the artifact records a dirty work tree, which `rebuild` cannot reproduce"
    )]
    StaleLockfile { lockfile: String, detail: String },
    #[error(
        "the work tree has uncommitted changes: the artifact records `dirty: true` and the clock's time, so `rebuild` of its commit cannot reproduce it; commit first for a release"
    )]
    Dirty,
}

/// How the crate was located: with `--locked` or not, and what to warn.
pub(crate) struct Located {
    pub(crate) krate: SkillCrate,
    /// The flags cargo gets (`--locked` added when the lock file is committed).
    pub(crate) cargo_flags: Vec<String>,
    /// `--locked` or `--frozen`: what the provenance records and `rebuild` repeats.
    pub(crate) locked: bool,
    pub(crate) warnings: Vec<BuildWarning>,
}

/// Finds the crate, locked when the user said so or when `Cargo.lock` is
/// committed and unchanged (builds for `run` and `test` excepted: they are
/// never released). An out-of-date committed lock file fails a locked or
/// release build with the fix; a local build warns and goes on unlocked.
pub(crate) fn locate(options: &BuildOptions) -> Result<Located, BuildError> {
    let found = with_lock(options, |flags| {
        SkillCrate::locate(
            options.manifest_path.as_deref(),
            options.package.as_deref(),
            &options.features,
            flags,
        )
    })?;
    Ok(Located {
        krate: found.value,
        cargo_flags: found.cargo_flags,
        locked: found.locked,
        warnings: found.warnings,
    })
}

/// What `find` (a `cargo metadata` read) gave under the lock rule of
/// [`locate`], and the flags cargo gets after it.
pub struct WithLock<T> {
    pub value: T,
    pub cargo_flags: Vec<String>,
    pub locked: bool,
    pub warnings: Vec<BuildWarning>,
}

/// Runs `find` with the cargo flags the lock rule of [`locate`] gives, so
/// that no `cargo metadata` before the build rewrites a committed lock
/// file: `--locked` added when `Cargo.lock` is committed and unchanged;
/// an out-of-date one fails a locked or release build with the fix, and a
/// local build warns and reads again unlocked.
pub fn with_lock<T>(
    options: &BuildOptions,
    find: impl Fn(&[String]) -> Result<T, CargoError>,
) -> Result<WithLock<T>, BuildError> {
    let given = options.cargo_flags.iter().any(|f| f == "--locked" || f == "--frozen");
    let committed = !given
        && !options.scratch
        && crate::lockfile::find(options.manifest_path.as_deref().unwrap_or("Cargo.toml".as_ref()))
            .is_some_and(|lockfile| crate::stamp::committed_unchanged(&lockfile));
    let unlocked = |warnings| -> Result<WithLock<T>, BuildError> {
        Ok(WithLock {
            value: find(&options.cargo_flags)?,
            cargo_flags: options.cargo_flags.clone(),
            locked: given,
            warnings,
        })
    };
    if !committed {
        return unlocked(vec![]);
    }
    let mut flags = options.cargo_flags.clone();
    flags.push("--locked".to_owned());
    match find(&flags) {
        Ok(value) => Ok(WithLock { value, cargo_flags: flags, locked: true, warnings: vec![] }),
        Err(CargoError::StaleLockfile { lockfile, detail }) if !options.release => {
            unlocked(vec![BuildWarning::StaleLockfile { lockfile, detail }])
        }
        Err(e) => Err(e.into()),
    }
}

/// A release build (`options.release`, or a tag at the commit) from a work
/// tree with uncommitted changes is refused unless `allow_dirty`; any
/// other dirty build gets a warning.
pub(crate) fn check_clean(
    options: &BuildOptions,
    source: Option<&SourceInfo>,
    crate_dir: PathBuf,
    warnings: &mut Vec<BuildWarning>,
) -> Result<(), BuildError> {
    let Some(source) = source.filter(|s| s.dirty && !options.scratch) else { return Ok(()) };
    let why = match (options.release, source.tagged) {
        (true, _) => "a release build (a release key, or a tag)",
        (false, true) => "a release build (a tag points at its commit)",
        (false, false) => "",
    };
    if why.is_empty() || options.allow_dirty {
        // An out-of-date lock file, rewritten by cargo, already said why.
        if !warnings.iter().any(|w| matches!(w, BuildWarning::StaleLockfile { .. })) {
            warnings.push(BuildWarning::Dirty);
        }
        return Ok(());
    }
    Err(BuildError::Dirty { dir: crate_dir, why })
}
