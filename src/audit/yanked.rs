//! Yanked crates, from cargo's local crates.io index cache (never fetched):
//! each crate's cache file read once, under cargo's package lock.

use std::collections::BTreeMap;
use std::path::Path;

use rustsec::Version;
use serde::Serialize;

use super::advisories::{Dependencies, MAX_FINDINGS};

/// What cargo's local crates.io index cache says of each crate's version:
/// the yanked ones. Read from disk under cargo's package lock, never
/// fetched, so it is as fresh as the last cargo command that updated it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct YankCheck {
    /// The index directory read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// Why the cache could not be read (then nothing was checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    pub checked: usize,
    /// Crates the cache has no entry for (never fetched on this machine).
    pub not_in_cache: Vec<String>,
    /// `(crate, version)` yanked from crates.io.
    pub yanked: Vec<(String, String)>,
}

/// How long to wait for cargo's package lock (a build may hold it).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why cargo's crates.io index cache could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexUnavailable {
    #[error("{0}")]
    Index(String),
    #[error("crates.io is configured as a git index: only the sparse index cache is read")]
    GitIndex,
    #[error("cargo has no crates.io index cache at `{0}` (nothing was fetched from crates.io here)")]
    NoCache(String),
    #[error("cargo's package lock: {0}")]
    Lock(String),
}

/// The crates.io sparse index cache, locked as cargo locks it, and its root.
fn open_index_cache()
-> Result<(tame_index::index::SparseIndex, tame_index::index::FileLock, String), IndexUnavailable> {
    use tame_index::index::{IndexLocation, IndexUrl, SparseIndex};
    let tame = |e: tame_index::Error| IndexUnavailable::Index(with_causes(&e));
    let url = IndexUrl::crates_io(None, None, None).map_err(tame)?;
    if !url.is_sparse() {
        return Err(IndexUnavailable::GitIndex);
    }
    let index = SparseIndex::new(IndexLocation::new(url)).map_err(tame)?;
    let probe = index.cache().cache_path(tame_index::KrateName::crates_io("serde").map_err(tame)?);
    let root = probe.ancestors().nth(4).map(|p| p.to_string()).unwrap_or_default();
    if !Path::new(&root).join(".cache").is_dir() {
        return Err(IndexUnavailable::NoCache(root));
    }
    let lock = tame_index::flock::LockOptions::cargo_package_lock(None)
        .and_then(|options| options.shared().lock(|_| Some(LOCK_WAIT)))
        .map_err(|e| IndexUnavailable::Lock(with_causes(&e)))?;
    Ok((index, lock, root))
}

/// The yanked versions among `deps`, from the index cache of crates.io (or
/// of the source cargo's configuration puts in its place). Each crate's
/// cache file is read and parsed once, however many of its versions are
/// listed.
pub fn yanked(deps: &Dependencies) -> YankCheck {
    if deps.is_empty() {
        return YankCheck::default();
    }
    let (index, lock, root) = match open_index_cache() {
        Ok(opened) => opened,
        Err(reason) => return YankCheck { unavailable: Some(reason.to_string()), ..Default::default() },
    };
    let mut check = YankCheck { index: Some(root), ..Default::default() };
    let mut by_name: BTreeMap<String, Vec<Version>> = BTreeMap::new();
    for dep in deps.iter() {
        by_name.entry(dep.name).or_default().push(dep.version);
    }
    for (name, versions) in by_name {
        let cached = tame_index::KrateName::crates_io(&name)
            .and_then(|name| index.cached_krate(name, &lock))
            .and_then(|entry| entry.map(|e| e.deserialize()).transpose());
        let Ok(Some(krate)) = cached else {
            check.not_in_cache.extend(versions.iter().map(|v| format!("{name}@{v}")));
            continue;
        };
        let yanked: std::collections::BTreeSet<&str> =
            krate.versions.iter().filter(|v| v.is_yanked()).map(|v| v.version.as_str()).collect();
        for version in versions {
            check.checked += 1;
            let version = version.to_string();
            if yanked.contains(version.as_str()) && check.yanked.len() < MAX_FINDINGS {
                check.yanked.push((name.to_owned(), version));
            }
        }
    }
    check
}

/// `error: cause: cause`, as tame-index's errors name only their kind.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text = format!("{text}: {shown}");
        }
        source = cause.source();
    }
    text
}
