//! The vulnerability scan: the crates an artifact is built from (its SBOM,
//! and the `.dep-v0` list embedded in each module) matched against a local
//! RustSec advisory database with the `rustsec` crate. No network access.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustsec::advisory::Informational;
use rustsec::database::Query;
use rustsec::{Advisory, Collection, Database, Version};
use serde::Serialize;
use serde_json::Value;

/// The largest `.dep-v0` list read back (decompressed), as `cargo audit bin`
/// bounds it.
const MAX_DEPENDENCY_LIST: usize = 8 * 1024 * 1024;
/// Crates read from one list (the largest real graphs have a few hundred):
/// a crafted list of thousands is cut here, and the report says so.
pub const MAX_CRATES_PER_LIST: usize = 2_000;
/// Advisory matches and yanked crates reported, in all.
pub const MAX_FINDINGS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum AdvisoryDbError {
    #[error(
        "no advisory database at `{path}`: clone it there first (`git clone https://github.com/rustsec/advisory-db {path}`, or `cargo audit fetch` puts it in ~/.cargo/advisory-db)"
    )]
    Missing { path: String },
    #[error(
        "`{path}` is not a RustSec advisory database: it has no `crates/` directory (point --advisory-db at a checkout of https://github.com/rustsec/advisory-db)"
    )]
    NotADatabase { path: String },
    #[error(
        "could not read the advisory database at `{path}`: {message} (repair the checkout: `git -C {path} status` shows what changed, or clone it again)"
    )]
    Unreadable { path: String, message: String },
}

/// A RustSec advisory database, loaded from a checkout in its standard
/// layout (`crates/<name>/RUSTSEC-*.md`).
pub struct AdvisoryDb {
    path: PathBuf,
    database: Database,
}

impl std::fmt::Debug for AdvisoryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryDb").field("path", &self.path).field("advisories", &self.len()).finish()
    }
}

impl AdvisoryDb {
    pub fn open(path: &Path) -> Result<AdvisoryDb, AdvisoryDbError> {
        let shown = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(AdvisoryDbError::NotADatabase { path: shown }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AdvisoryDbError::Missing { path: shown });
            }
            Err(e) => return Err(AdvisoryDbError::Unreadable { path: shown, message: e.to_string() }),
        }
        if !path.join("crates").is_dir() {
            return Err(AdvisoryDbError::NotADatabase { path: shown });
        }
        check_tree(&path.join("crates"))
            .map_err(|message| AdvisoryDbError::Unreadable { path: shown.clone(), message })?;
        let database = Database::open(path)
            .map_err(|e| AdvisoryDbError::Unreadable { path: shown, message: e.to_string() })?;
        Ok(AdvisoryDb { path: path.to_owned(), database })
    }

    /// Advisories loaded, withdrawn ones included.
    pub fn len(&self) -> usize {
        self.database.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The largest advisory file read (real ones are a few KiB).
const MAX_ADVISORY_BYTES: u64 = 1024 * 1024;

/// `crates/` as a RustSec checkout lays it out, before rustsec reads it:
/// one real folder per crate holding regular advisory files of bounded size,
/// and at least one advisory. A symlink, FIFO or device anywhere is an
/// error (never a hang, an unbounded read or a silently skipped crate), and
/// so is an empty tree (never a "completed" scan of nothing).
fn check_tree(crates: &Path) -> Result<(), String> {
    use crate::fsutil::{Links, open_regular};
    let list = |dir: &Path| {
        std::fs::read_dir(dir)
            .map_err(|e| format!("`{}`: {e}", dir.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("`{}`: {e}", dir.display()))
    };
    let mut advisories = 0usize;
    for krate in list(crates)? {
        let kind = krate.file_type().map_err(|e| e.to_string())?;
        let name = krate.path();
        if kind.is_symlink() {
            return Err(format!("`{}` is a symlink: a checkout has none", name.display()));
        }
        if !kind.is_dir() {
            if kind.is_file() {
                continue; // a README or similar beside the crate folders
            }
            return Err(format!("`{}` is not a folder or a file", name.display()));
        }
        for file in list(&name)? {
            let path = file.path();
            let file_kind = file.file_type().map_err(|e| e.to_string())?;
            if file_kind.is_symlink() || !file_kind.is_file() {
                return Err(format!(
                    "`{}` is not a regular file (a symlink, folder, FIFO or device)",
                    path.display()
                ));
            }
            let size = open_regular(&path, Links::Refuse)
                .and_then(|f| f.metadata())
                .map_err(|e| e.to_string())?
                .len();
            if size > MAX_ADVISORY_BYTES {
                return Err(format!("`{}` is {size} bytes, over {MAX_ADVISORY_BYTES}", path.display()));
            }
            advisories += 1;
        }
    }
    if advisories == 0 {
        return Err(format!("`{}` holds no advisory at all", crates.display()));
    }
    Ok(())
}

/// A crates.io crate the artifact is built from, and where it was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub version: Version,
    /// `sbom.cdx.json`, or the path of a module whose `.dep-v0` lists it.
    pub listed_in: Vec<String>,
}

/// The crates to scan, by name and version, each with every list naming it.
#[derive(Debug, Default)]
pub struct Dependencies {
    crates: BTreeMap<(String, Version), Vec<String>>,
    /// The lists read, in order.
    pub sources: Vec<String>,
    /// Lists that were present but could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// Lists cut at [`MAX_CRATES_PER_LIST`], with how many crates they named.
    pub capped: Vec<(String, usize)>,
}

/// A crate name as cargo accepts one: only these can reach a `cargo
/// update -p NAME` we print, whatever a list says.
fn is_crate_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Dependencies {
    /// Adds the crates of one list, at most [`MAX_CRATES_PER_LIST`] of them;
    /// names that are not crate names are skipped.
    fn add_list(&mut self, source: &str, list: impl Iterator<Item = (String, Version)>) {
        let mut taken = 0usize;
        let mut named = 0usize;
        for (name, version) in list {
            named += 1;
            if !is_crate_name(&name) || taken >= MAX_CRATES_PER_LIST {
                continue;
            }
            taken += 1;
            let listed = self.crates.entry((name, version)).or_default();
            if !listed.iter().any(|s| s == source) {
                listed.push(source.to_owned());
            }
        }
        if named > MAX_CRATES_PER_LIST {
            self.capped.push((source.to_owned(), named));
        }
    }

    /// The crates.io components of a CycloneDX SBOM (plain `pkg:cargo/`
    /// purls: other registries, git and path crates carry a qualifier and
    /// have no RustSec advisories). `metadata.component`, the skill itself,
    /// is not a dependency and is not scanned.
    pub fn add_sbom(&mut self, sbom: &[u8], source: &str) {
        let document: Value = match serde_json::from_slice(sbom) {
            Ok(document) => document,
            Err(e) => {
                self.unreadable.push((source.to_owned(), e.to_string()));
                return;
            }
        };
        self.sources.push(source.to_owned());
        let mut found = Vec::new();
        let mut stack: Vec<&Value> = vec![&document["components"]];
        while let Some(components) = stack.pop() {
            for component in components.as_array().into_iter().flatten() {
                stack.push(&component["components"]);
                let Some(purl) = component["purl"].as_str() else { continue };
                let Ok(purl) = purl.parse::<purl::GenericPurl<String>>() else { continue };
                if purl.package_type() != "cargo" || !purl.qualifiers().is_empty() {
                    continue;
                }
                if let Some(version) = purl.version().and_then(|v| Version::parse(v).ok()) {
                    found.push((purl.name().to_owned(), version));
                }
            }
        }
        self.add_list(source, found.into_iter());
    }

    /// The crates.io packages of a module's embedded `.dep-v0` list; a
    /// module without one adds nothing.
    pub fn add_module(&mut self, module: &[u8], source: &str) {
        use auditable_info::Error;
        match auditable_info::audit_info_from_slice(module, MAX_DEPENDENCY_LIST) {
            Ok(info) => {
                self.sources.push(source.to_owned());
                let crates_io = info
                    .packages
                    .into_iter()
                    .filter(|p| p.source == auditable_serde::Source::CratesIo)
                    .map(|p| (p.name, p.version));
                self.add_list(source, crates_io);
            }
            Err(Error::NoAuditData) => {}
            Err(e) => self.unreadable.push((source.to_owned(), e.to_string())),
        }
    }

    pub fn len(&self) -> usize {
        self.crates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.crates.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Dependency> + '_ {
        self.crates.iter().map(|((name, version), listed_in)| Dependency {
            name: name.clone(),
            version: version.clone(),
            listed_in: listed_in.clone(),
        })
    }
}

/// What an advisory says of a crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryKind {
    Vulnerability,
    Unmaintained,
    Unsound,
    /// `notice` and informational kinds the database adds later.
    Notice,
}

/// One advisory that applies to one crate of the artifact.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisoryMatch {
    pub id: String,
    pub kind: AdvisoryKind,
    pub title: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub version: String,
    /// Version requirements that are fixed (empty: no fix exists).
    pub patched: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub listed_in: Vec<String>,
}

/// A finished scan: what was scanned and what applies.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    pub database: String,
    pub advisories: usize,
    pub crates_scanned: usize,
    pub sources: Vec<String>,
    pub matches: Vec<AdvisoryMatch>,
    pub yanked: YankCheck,
    /// Lists cut at [`MAX_CRATES_PER_LIST`] crates: `(list, crates it named)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capped_lists: Vec<(String, usize)>,
    /// How many matches there were when more than [`MAX_FINDINGS`] (only
    /// the first are reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_capped: Option<usize>,
}

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
    let mut by_name: BTreeMap<&str, Vec<&Version>> = BTreeMap::new();
    for (name, version) in deps.crates.keys() {
        by_name.entry(name).or_default().push(version);
    }
    for (name, versions) in by_name {
        let cached = tame_index::KrateName::crates_io(name)
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

/// Every advisory of `db` that applies to a crate of `deps` on the wasm32
/// targets skills are built for. Withdrawn advisories are ignored, as
/// `cargo audit` ignores them.
pub fn scan(db: &AdvisoryDb, deps: &Dependencies) -> Scan {
    let mut matches = Vec::new();
    let mut found = 0usize;
    for dep in deps.iter() {
        let Ok(name) = dep.name.parse() else { continue };
        // Not `Query::crate_scope()`: that leaves out informational advisories.
        // With a name and a collection, rustsec looks the crate up in its index.
        let query = Query::new()
            .collection(Collection::Crates)
            .withdrawn(false)
            .package_name(name)
            .package_version(dep.version.clone())
            .target_arch(vec!["wasm32".into()])
            .target_os(vec!["unknown".into(), "wasi".into()]);
        for advisory in db.database.query(&query) {
            found += 1;
            if matches.len() < MAX_FINDINGS {
                matches.push(advisory_match(advisory, &dep));
            }
        }
    }
    matches.sort_by(|a, b| (a.kind as u8, &a.krate, &a.id).cmp(&(b.kind as u8, &b.krate, &b.id)));
    Scan {
        database: db.path.display().to_string(),
        advisories: db.len(),
        crates_scanned: deps.len(),
        sources: deps.sources.clone(),
        matches,
        yanked: yanked(deps),
        capped_lists: deps.capped.clone(),
        matches_capped: (found > MAX_FINDINGS).then_some(found),
    }
}

fn advisory_match(advisory: &Advisory, dep: &Dependency) -> AdvisoryMatch {
    let kind = match &advisory.metadata.informational {
        None => AdvisoryKind::Vulnerability,
        Some(Informational::Unmaintained) => AdvisoryKind::Unmaintained,
        Some(Informational::Unsound) => AdvisoryKind::Unsound,
        Some(_) => AdvisoryKind::Notice,
    };
    AdvisoryMatch {
        id: advisory.id().to_string(),
        kind,
        title: advisory.title().to_owned(),
        krate: dep.name.clone(),
        version: dep.version.to_string(),
        patched: advisory.versions.patched().iter().map(ToString::to_string).collect(),
        // The advisory's page, as `cargo audit` links it; else its own link.
        url: if advisory.id().is_rustsec() {
            Some(format!("https://rustsec.org/advisories/{}", advisory.id()))
        } else {
            advisory.metadata.url.as_ref().map(ToString::to_string)
        },
        listed_in: dep.listed_in.clone(),
    }
}
