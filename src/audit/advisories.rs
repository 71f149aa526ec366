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

pub use super::yanked::{IndexUnavailable, YankCheck, yanked};

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
        check_tree(&path.join("crates"), &shown)?;
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
fn check_tree(crates: &Path, db: &str) -> Result<(), AdvisoryDbError> {
    use crate::fsutil::{Links, open_regular};
    let fail = |message: String| AdvisoryDbError::Unreadable { path: db.to_owned(), message };
    let list = |dir: &Path| {
        std::fs::read_dir(dir)
            .map_err(|e| fail(format!("`{}`: {e}", dir.display())))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("`{}`: {e}", dir.display())))
    };
    let mut advisories = 0usize;
    for krate in list(crates)? {
        let kind = krate.file_type().map_err(|e| fail(e.to_string()))?;
        let name = krate.path();
        if kind.is_symlink() {
            return Err(fail(format!("`{}` is a symlink: a checkout has none", name.display())));
        }
        if !kind.is_dir() {
            if kind.is_file() {
                continue; // a README or similar beside the crate folders
            }
            return Err(fail(format!("`{}` is not a folder or a file", name.display())));
        }
        for file in list(&name)? {
            let path = file.path();
            let file_kind = file.file_type().map_err(|e| fail(e.to_string()))?;
            if file_kind.is_symlink() || !file_kind.is_file() {
                return Err(fail(format!(
                    "`{}` is not a regular file (a symlink, folder, FIFO or device)",
                    path.display()
                )));
            }
            let size = open_regular(&path, Links::Refuse)
                .and_then(|f| f.metadata())
                .map_err(|e| fail(e.to_string()))?
                .len();
            if size > MAX_ADVISORY_BYTES {
                return Err(fail(format!("`{}` is {size} bytes, over {MAX_ADVISORY_BYTES}", path.display())));
            }
            advisories += 1;
        }
    }
    if advisories == 0 {
        return Err(fail(format!("`{}` holds no advisory at all", crates.display())));
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

impl Dependencies {
    /// Adds the crates of one list, at most [`MAX_CRATES_PER_LIST`] of them;
    /// names that are not crate names are skipped.
    fn add_list(&mut self, source: &str, list: impl Iterator<Item = (String, Version)>) {
        let mut taken = 0usize;
        let mut named = 0usize;
        for (name, version) in list {
            named += 1;
            if !crate::names::is_crate_name(&name) || taken >= MAX_CRATES_PER_LIST {
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
