//! The static registry: a directory of artifacts and the signed `index.json`
//! the consumer reads over https (ARTIFACT.md, "Static registry layout").
//!
//! `publish` adds one verified artifact and re-signs the index under a lock;
//! `verify_registry` checks the index signature, every entry against its
//! file, every artifact, and that no artifact is left out of the index.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifact::{MAX_ARCHIVE_BYTES, normalize_path};
use crate::fsutil::{Existing, lock_beside, write_atomic};
use crate::manifest::{Version, is_identifier};
use crate::parallel::map_in_order;
use crate::signing::{PublicKey, SecretKey, SignatureError, SignatureRecord};
use crate::verify::{Verified, verify_bytes};

pub const INDEX_FILE: &str = "index.json";
pub const SCHEMA_VERSION: u32 = 1;
/// The consumer's limits on an index.
pub const MAX_INDEX_BYTES: u64 = 2 * 1024 * 1024;
pub const MAX_INDEX_ENTRIES: usize = 10_000;
pub const ARTIFACT_EXTENSION: &str = ".palyra-skill";
/// The index signer's name when none is given or recorded.
pub const DEFAULT_REGISTRY_NAME: &str = "registry";

/// One artifact of the registry. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    pub skill_id: String,
    pub version: String,
    pub publisher: String,
    pub artifact: String,
    pub artifact_sha256: String,
    pub artifact_bytes: u64,
}

/// The unsigned index. Field order is the wire order; `next_page` is
/// omitted when absent, as the consumer serializes it for the payload hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub schema_version: u32,
    pub generated_at_unix_ms: i64,
    pub entries: Vec<IndexEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<String>,
}

/// `index.json` as served: the index and the signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIndex {
    pub schema_version: u32,
    pub index: Index,
    pub signature: SignatureRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("could not {action} `{path}`: {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("`{path}` is not a signed registry index: {message}")]
    BadIndex { path: PathBuf, message: String },
    #[error("the index signature is invalid: {0}")]
    Signature(#[from] SignatureError),
    #[error(
        "the index signature covers payload {declared}, but the index hashes to {actual}: the index was changed after signing"
    )]
    IndexPayloadMismatch { declared: String, actual: String },
    #[error("`{path}` does not verify: {message}")]
    Artifact { path: PathBuf, message: String },
    #[error(
        "`{path}` already exists with different bytes (sha256 {existing}, new {new}): a published version never changes; bump the version (in `Cargo.toml` for a crate built with `build`, which fills in `skill.toml`; else `version` in `skill.toml`) and publish again"
    )]
    Conflict { path: PathBuf, existing: String, new: String },
    #[error(
        "the index would list {0} artifacts, over the consumer's limit of {MAX_INDEX_ENTRIES}: split the registry"
    )]
    TooManyEntries(usize),
    #[error(
        "the index would be {0} bytes, over the consumer's limit of {MAX_INDEX_BYTES}: split the registry"
    )]
    IndexTooLarge(usize),
    #[error("`{0}` is not a registry name: use only `a-z 0-9 . _ - :`")]
    BadName(String),
    #[error("`{0}` is not a UTF-8 path below the registry: rename it")]
    BadPath(PathBuf),
    #[error(
        "the artifact's {what} `{value}` cannot name a folder or file below the registry (`.`, `..`, `:`, whitespace and separators are refused): publish under a plain identifier"
    )]
    UnsafeComponent { what: &'static str, value: String },
    #[error(
        "`{0}` is a symlink: a registry is read and written without following any; replace it with a real folder or file"
    )]
    Symlink(PathBuf),
}

impl Index {
    /// The consumer's payload: SHA-256 hex of the compact JSON of the index.
    pub fn payload_sha256(&self) -> String {
        let json = serde_json::to_vec(self).expect("an index always serializes");
        hex::encode(Sha256::digest(json))
    }

    /// By `skill_id`, then by numeric version.
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    }
}

fn sort_key(entry: &IndexEntry) -> (&str, Option<Version>, &str) {
    (&entry.skill_id, Version::parse(&entry.version), &entry.artifact)
}

impl SignedIndex {
    pub fn sign(index: Index, registry_name: &str, key: &SecretKey, signed_at_unix_ms: i64) -> SignedIndex {
        let signature = key.sign_payload(registry_name, &index.payload_sha256(), signed_at_unix_ms);
        SignedIndex { schema_version: SCHEMA_VERSION, index, signature }
    }

    /// Pretty JSON, newline-terminated.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("an index always serializes");
        bytes.push(b'\n');
        bytes
    }

    pub fn from_json(bytes: &[u8]) -> Result<SignedIndex, String> {
        let signed: SignedIndex = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if signed.schema_version != SCHEMA_VERSION || signed.index.schema_version != SCHEMA_VERSION {
            return Err(format!("schema_version must be {SCHEMA_VERSION}"));
        }
        Ok(signed)
    }

    /// The payload hash matches the index and the signature verifies;
    /// returns the signer's key.
    pub fn verify(&self) -> Result<PublicKey, RegistryError> {
        let actual = self.index.payload_sha256();
        if actual != self.signature.payload_sha256 {
            return Err(RegistryError::IndexPayloadMismatch {
                declared: self.signature.payload_sha256.clone(),
                actual,
            });
        }
        Ok(self.signature.verify()?)
    }
}

/// Where `publish` puts an artifact: `<publisher>/<skill_id>/<skill_id>-<version>.palyra-skill`.
///
/// Every component must stay one folder or file name beneath the registry:
/// non-empty, not `.` or `..`, no `:`, no whitespace, no separator, no
/// control character (`..` and ` acme` are valid publishers to the
/// consumer's packer, and would leave the directory or name another one).
pub fn artifact_path(publisher: &str, skill_id: &str, version: &str) -> Result<String, RegistryError> {
    let file = format!("{skill_id}-{version}{ARTIFACT_EXTENSION}");
    for (what, component) in [("publisher", publisher), ("skill id", skill_id), ("file name", file.as_str())]
    {
        let bad = component.is_empty()
            || component == "."
            || component == ".."
            || component
                .chars()
                .any(|c| c == ':' || c == '/' || c == '\\' || c.is_whitespace() || c.is_control());
        if bad {
            return Err(RegistryError::UnsafeComponent { what, value: component.to_owned() });
        }
    }
    let relative = format!("{publisher}/{skill_id}/{file}");
    match normalize_path(&relative) {
        Ok(normal) if normal == relative => Ok(relative),
        _ => Err(RegistryError::UnsafeComponent { what: "path", value: relative }),
    }
}

/// Refuses a symlink at any folder (or the file) of `relative` below `dir`,
/// so nothing is read or written through one.
pub fn refuse_symlinks(dir: &Path, relative: &str) -> Result<(), RegistryError> {
    let mut path = dir.to_owned();
    for component in relative.split('/') {
        path.push(component);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(RegistryError::Symlink(path)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(RegistryError::Io { action: "inspect", path, source }),
        }
    }
    Ok(())
}

/// Reads `DIR/index.json` if there is one (under the consumer's size limit).
pub fn load_index(dir: &Path) -> Result<Option<SignedIndex>, RegistryError> {
    let path = dir.join(INDEX_FILE);
    let bytes = match read_limited(&path, MAX_INDEX_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RegistryError::Io { action: "read", path, source }),
    };
    SignedIndex::from_json(&bytes).map(Some).map_err(|message| RegistryError::BadIndex { path, message })
}

fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)?.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// Every `*.palyra-skill` file below `dir` (any depth, symlinks ignored,
/// hidden entries such as temporary files skipped), as sorted relative
/// `/`-separated paths.
pub fn scan(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let listing = fs::read_dir(&current).map_err(|source| RegistryError::Io {
            action: "list",
            path: current.clone(),
            source,
        })?;
        for item in listing {
            let item =
                item.map_err(|source| RegistryError::Io { action: "list", path: current.clone(), source })?;
            let name = item.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = item.file_type().map_err(|source| RegistryError::Io {
                action: "stat",
                path: item.path(),
                source,
            })?;
            if kind.is_dir() {
                pending.push(item.path());
            } else if kind.is_file() && name.to_string_lossy().ends_with(ARTIFACT_EXTENSION) {
                let path = item.path();
                let relative =
                    path.strip_prefix(dir).ok().and_then(Path::to_str).map(|p| p.replace('\\', "/"));
                found.push(relative.ok_or(RegistryError::BadPath(path))?);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// An artifact file's index entry: its bytes are verified as the consumer
/// would, and the entry names what its manifest says.
pub fn entry_for(relative: &str, bytes: &[u8]) -> Result<(IndexEntry, Verified), String> {
    let (_, verified) = verify_bytes(bytes).map_err(|e| e.to_string())?;
    let m = &verified.manifest;
    let entry = IndexEntry {
        skill_id: m.skill_id.clone(),
        version: m.version.clone(),
        publisher: m.publisher.clone(),
        artifact: relative.to_owned(),
        artifact_sha256: hex::encode(Sha256::digest(bytes)),
        artifact_bytes: bytes.len() as u64,
    };
    Ok((entry, verified))
}

/// What `publish` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub artifact: String,
    pub skill_id: String,
    pub version: String,
    pub publisher: String,
    pub artifact_sha256: String,
    /// False when the same bytes were already published.
    pub copied: bool,
    pub index_rewritten: bool,
    pub index_entries: usize,
    pub added: Vec<IndexEntry>,
    pub removed: Vec<IndexEntry>,
    pub index_payload_sha256: String,
    pub index_key_id: String,
    pub dry_run: bool,
}

pub struct PublishRequest<'a> {
    pub dir: &'a Path,
    pub artifact: &'a [u8],
    pub key: &'a SecretKey,
    /// The index signer's name; `None` keeps the current index's, else
    /// [`DEFAULT_REGISTRY_NAME`].
    pub registry_name: Option<&'a str>,
    pub now_unix_ms: i64,
    pub dry_run: bool,
}

/// Verifies the artifact, copies it into place (never over different
/// bytes) and rewrites the signed index from every artifact under the
/// directory, all under an exclusive lock on `index.json`.
pub fn publish(request: PublishRequest) -> Result<PublishReport, RegistryError> {
    let dir = request.dir;
    let (new_entry, _) = entry_for("", request.artifact)
        .map_err(|message| RegistryError::Artifact { path: PathBuf::from("<artifact>"), message })?;
    let relative = artifact_path(&new_entry.publisher, &new_entry.skill_id, &new_entry.version)?;
    let new_entry = IndexEntry { artifact: relative.clone(), ..new_entry };
    let destination = dir.join(&relative);
    refuse_symlinks(dir, &relative)?;

    if !request.dry_run {
        fs::create_dir_all(dir).map_err(|source| RegistryError::Io {
            action: "create",
            path: dir.to_owned(),
            source,
        })?;
    }
    let index_path = dir.join(INDEX_FILE);
    // A dry run only reads, and must not even create the lock file. The
    // lock is `<dir>.lock` beside the directory, never inside it, so a
    // deployment of the directory never ships it.
    let _lock = if request.dry_run {
        None
    } else {
        let absolute = fs::canonicalize(dir).map_err(|source| RegistryError::Io {
            action: "resolve",
            path: dir.to_owned(),
            source,
        })?;
        Some(lock_beside(&absolute).map_err(|(path, source)| RegistryError::Io {
            action: "lock",
            path,
            source,
        })?)
    };

    let copied = match fs::read(&destination) {
        Ok(existing) if existing == request.artifact => false,
        Ok(existing) => {
            return Err(RegistryError::Conflict {
                path: destination,
                existing: hex::encode(Sha256::digest(&existing)),
                new: new_entry.artifact_sha256,
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !request.dry_run {
                let parent = destination.parent().expect("below the registry");
                fs::create_dir_all(parent).map_err(|source| RegistryError::Io {
                    action: "create",
                    path: parent.to_owned(),
                    source,
                })?;
                write_atomic(&destination, request.artifact, Some(0o644), Existing::Refuse).map_err(
                    |source| RegistryError::Io { action: "write", path: destination.clone(), source },
                )?;
            }
            true
        }
        Err(source) => return Err(RegistryError::Io { action: "read", path: destination, source }),
    };

    let current = if dir.exists() { load_index(dir)? } else { None };
    let known: BTreeMap<(&str, &str), &IndexEntry> = current
        .iter()
        .flat_map(|c| &c.index.entries)
        .map(|e| ((e.artifact.as_str(), e.artifact_sha256.as_str()), e))
        .collect();
    let mut entries = Vec::new();
    let mut paths = if dir.exists() { scan(dir)? } else { Vec::new() };
    if !paths.contains(&relative) {
        paths.push(relative.clone());
    }
    for path in paths {
        if path == relative {
            entries.push(new_entry.clone());
            continue;
        }
        let file = dir.join(&path);
        let bytes = read_limited(&file, MAX_ARCHIVE_BYTES)
            .map_err(|e| RegistryError::Artifact { path: file.clone(), message: e.to_string() })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // An artifact the signed index already lists with these exact bytes
        // was verified when it was indexed.
        if let Some(entry) = known.get(&(path.as_str(), sha256.as_str())) {
            entries.push((*entry).clone());
            continue;
        }
        let (entry, _) = entry_for(&path, &bytes).map_err(|message| RegistryError::Artifact {
            path: file,
            message: format!("{message}; remove it from the registry or replace it with a valid artifact"),
        })?;
        entries.push(entry);
    }
    if entries.len() > MAX_INDEX_ENTRIES {
        return Err(RegistryError::TooManyEntries(entries.len()));
    }

    let old_entries: &[IndexEntry] = current.as_ref().map_or(&[], |c| &c.index.entries);
    let mut index = Index {
        schema_version: SCHEMA_VERSION,
        generated_at_unix_ms: request.now_unix_ms,
        entries,
        next_page: None,
    };
    index.sort();
    let added: Vec<_> = index.entries.iter().filter(|e| !old_entries.contains(e)).cloned().collect();
    let removed: Vec<_> = old_entries.iter().filter(|e| !index.entries.contains(e)).cloned().collect();

    let name = match request.registry_name {
        Some(name) => name.to_owned(),
        None => current.as_ref().map_or(DEFAULT_REGISTRY_NAME.to_owned(), |c| c.signature.publisher.clone()),
    };
    if !is_identifier(&name) {
        return Err(RegistryError::BadName(name));
    }
    let key_id = request.key.public().key_id();
    // Nothing changed and the index is already ours: keep it byte for byte.
    let unchanged = current.as_ref().filter(|c| {
        added.is_empty()
            && removed.is_empty()
            && c.signature.publisher == name
            && c.signature.key_id == key_id
            && c.verify().is_ok()
    });
    let (index_rewritten, index_entries, index_payload_sha256) = match unchanged {
        Some(current) => (false, current.index.entries.len(), current.signature.payload_sha256.clone()),
        None => {
            let signed = SignedIndex::sign(index, &name, request.key, request.now_unix_ms);
            let json = signed.to_json();
            if json.len() as u64 > MAX_INDEX_BYTES {
                return Err(RegistryError::IndexTooLarge(json.len()));
            }
            if !request.dry_run {
                write_atomic(&index_path, &json, Some(0o644), Existing::Replace).map_err(|source| {
                    RegistryError::Io { action: "write", path: index_path.clone(), source }
                })?;
            }
            (true, signed.index.entries.len(), signed.signature.payload_sha256)
        }
    };
    Ok(PublishReport {
        artifact: relative,
        skill_id: new_entry.skill_id,
        version: new_entry.version,
        publisher: new_entry.publisher,
        artifact_sha256: new_entry.artifact_sha256,
        copied,
        index_rewritten,
        index_entries,
        added,
        removed,
        index_payload_sha256,
        index_key_id: key_id,
        dry_run: request.dry_run,
    })
}

/// One problem `verify_registry` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The index, or the artifact's path relative to the registry.
    pub subject: String,
    pub kind: &'static str,
    pub message: String,
}

/// What `verify_registry` checked.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryReport {
    pub index_key_id: Option<String>,
    pub index_public_key_hex: Option<String>,
    pub index_signer: Option<String>,
    pub entries: usize,
    pub artifacts_checked: usize,
    pub problems: Vec<Problem>,
    /// `(subject, signer, key)` of the index (when its signature verifies)
    /// and of every artifact that verified, for the caller's trust decisions.
    #[serde(skip)]
    pub signers: Vec<(String, String, PublicKey)>,
}

/// Checks the signed index (schema, limits, signature, order), every entry
/// against its file, every artifact as the consumer would, and that every
/// artifact under `dir` is listed. Trust is the caller's decision: the
/// index signer and each artifact's publisher key are returned.
pub fn verify_registry(dir: &Path) -> Result<(RegistryReport, Option<SignedIndex>), RegistryError> {
    let mut report = RegistryReport {
        index_key_id: None,
        index_public_key_hex: None,
        index_signer: None,
        entries: 0,
        artifacts_checked: 0,
        problems: Vec::new(),
        signers: Vec::new(),
    };
    let problem = |subject: &str, kind: &'static str, message: String| Problem {
        subject: subject.to_owned(),
        kind,
        message,
    };
    let signed = match load_index(dir) {
        Ok(Some(signed)) => signed,
        Ok(None) => {
            report.problems.push(problem(
                INDEX_FILE,
                "missing_index",
                format!("`{}` has no {INDEX_FILE}: run `cargo palyra-skill publish` into it", dir.display()),
            ));
            return Ok((report, None));
        }
        Err(RegistryError::BadIndex { message, .. }) => {
            report.problems.push(problem(INDEX_FILE, "malformed_index", message));
            return Ok((report, None));
        }
        Err(e) => return Err(e),
    };
    report.entries = signed.index.entries.len();
    report.index_signer = Some(signed.signature.publisher.clone());
    match signed.verify() {
        Ok(key) => {
            report.index_key_id = Some(key.key_id());
            report.index_public_key_hex = Some(key.to_hex());
            report.signers.push((INDEX_FILE.to_owned(), signed.signature.publisher.clone(), key));
        }
        Err(e) => report.problems.push(problem(INDEX_FILE, "index_signature", e.to_string())),
    }
    if signed.index.entries.len() > MAX_INDEX_ENTRIES {
        report.problems.push(problem(
            INDEX_FILE,
            "too_many_entries",
            format!("{} entries, over the limit of {MAX_INDEX_ENTRIES}", signed.index.entries.len()),
        ));
    }
    let mut sorted = signed.index.clone();
    sorted.sort();
    if sorted.entries != signed.index.entries {
        report.problems.push(problem(
            INDEX_FILE,
            "unsorted",
            "entries are not sorted by skill_id, then numeric version: publish again to rewrite the index"
                .into(),
        ));
    }
    // Reading, hashing and verifying every artifact uses every core; the
    // problems are then listed in index order.
    let prepared = map_in_order(&signed.index.entries, |entry| {
        let safe = normalize_path(&entry.artifact).ok().as_deref() == Some(entry.artifact.as_str())
            && refuse_symlinks(dir, &entry.artifact).is_ok();
        safe.then(|| {
            read_limited(&dir.join(&entry.artifact), MAX_ARCHIVE_BYTES).map(|bytes| {
                let sha256 = hex::encode(Sha256::digest(&bytes));
                (bytes.len(), sha256, entry_for(&entry.artifact, &bytes))
            })
        })
    });
    let mut seen = BTreeMap::new();
    for (entry, prepared) in signed.index.entries.iter().zip(prepared) {
        let subject = entry.artifact.as_str();
        if let Some(previous) = seen.insert((entry.skill_id.as_str(), entry.version.as_str()), subject) {
            report.problems.push(problem(
                subject,
                "duplicate_version",
                format!("`{}` {} is also listed as `{previous}`", entry.skill_id, entry.version),
            ));
        }
        if normalize_path(&entry.artifact).ok().as_deref() != Some(entry.artifact.as_str()) {
            report.problems.push(problem(
                subject,
                "bad_path",
                "not a relative path without `.`, `..` or root components".into(),
            ));
            continue;
        }
        if let Err(RegistryError::Symlink(link)) = refuse_symlinks(dir, &entry.artifact) {
            report.problems.push(problem(
                subject,
                "symlink",
                format!("`{}` on its path is a symbolic link; registries ignore them", link.display()),
            ));
            continue;
        }
        let Some(read) = prepared else {
            continue;
        };
        let (len, sha256, checked) = match read {
            Ok(read) => read,
            Err(e) => {
                report.problems.push(problem(
                    subject,
                    "unreadable",
                    format!("listed but cannot be read: {e}"),
                ));
                continue;
            }
        };
        report.artifacts_checked = report.artifacts_checked.saturating_add(1);
        if len as u64 != entry.artifact_bytes || sha256 != entry.artifact_sha256 {
            report.problems.push(problem(
                subject,
                "hash_mismatch",
                format!(
                    "the index lists {} bytes, sha256 {}; the file has {} bytes, sha256 {sha256}",
                    entry.artifact_bytes, entry.artifact_sha256, len
                ),
            ));
        }
        match checked {
            Ok((actual, verified)) => {
                for (field, listed, real) in [
                    ("skill_id", &entry.skill_id, &actual.skill_id),
                    ("version", &entry.version, &actual.version),
                    ("publisher", &entry.publisher, &actual.publisher),
                ] {
                    if listed != real {
                        report.problems.push(problem(
                            subject,
                            "entry_mismatch",
                            format!("the index says {field} `{listed}`, the artifact says `{real}`"),
                        ));
                    }
                }
                report.signers.push((entry.artifact.clone(), actual.publisher, verified.public_key));
            }
            Err(message) => report.problems.push(problem(subject, "artifact_rejected", message)),
        }
    }
    let listed: Vec<&str> = signed.index.entries.iter().map(|e| e.artifact.as_str()).collect();
    for path in scan(dir)? {
        if !listed.contains(&path.as_str()) {
            report.problems.push(problem(
                &path,
                "unindexed",
                "is in the registry directory but not in the index: publish it or remove it".into(),
            ));
        }
    }
    Ok((report, Some(signed)))
}
