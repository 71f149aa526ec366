//! The registry's index: its wire format and signature, where artifacts go
//! beneath the directory, and how an artifact file becomes an entry.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifact::{normalize_path, sha256_hex};
use crate::manifest::Version;
use crate::signing::{PublicKey, SignError, SignatureError, SignatureRecord, Signer};
use crate::verify::{Verified, VerifyError, verify_bytes};

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
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("could not {action} `{path}`: {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("`{path}` is not a signed registry index: {source}")]
    BadIndex { path: PathBuf, source: IndexFormatError },
    #[error("the index signature is invalid: {0}")]
    Signature(#[from] SignatureError),
    #[error(
        "the index signature covers payload {declared}, but the index hashes to {actual}: the index was changed after signing"
    )]
    IndexPayloadMismatch { declared: String, actual: String },
    #[error("`{path}` does not verify: {source}{fix}")]
    Rejected { path: PathBuf, source: VerifyError, fix: &'static str },
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
    #[error(
        "`{path}` does not verify with this registry key ({reason}), so none of its entries can be trusted: if the registry key changed or you rebuilt the index by hand, pass `--rebuild-index` to re-read and re-verify every artifact"
    )]
    IndexUntrusted { path: PathBuf, reason: String },
    #[error(
        "the registry holds artifacts `publish` would not index: {0}; each version lives once, at `<publisher>/<skill_id>/<skill_id>-<version>.palyra-skill`: move or delete these, then publish again"
    )]
    Misplaced(String),
}

/// An I/O failure of `action` on `path`, for `map_err`.
pub(super) fn io_error(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> RegistryError {
    let path = path.into();
    move |source| RegistryError::Io { action, path, source }
}

/// Why `index.json` is not a signed index of this schema.
#[derive(Debug, thiserror::Error)]
pub enum IndexFormatError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("schema_version must be {SCHEMA_VERSION}")]
    SchemaVersion,
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
    pub fn sign(
        index: Index,
        registry_name: &str,
        key: &dyn Signer,
        signed_at_unix_ms: i64,
    ) -> Result<SignedIndex, SignError> {
        let signature = key.sign_record(registry_name, &index.payload_sha256(), signed_at_unix_ms)?;
        Ok(SignedIndex { schema_version: SCHEMA_VERSION, index, signature })
    }

    /// Pretty JSON, newline-terminated.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("an index always serializes");
        bytes.push(b'\n');
        bytes
    }

    pub fn from_json(bytes: &[u8]) -> Result<SignedIndex, IndexFormatError> {
        let signed: SignedIndex = serde_json::from_slice(bytes)?;
        if signed.schema_version != SCHEMA_VERSION || signed.index.schema_version != SCHEMA_VERSION {
            return Err(IndexFormatError::SchemaVersion);
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
    SignedIndex::from_json(&bytes).map(Some).map_err(|source| RegistryError::BadIndex { path, source })
}

/// A regular file below the registry (never a link or a FIFO), bounded.
pub(super) fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    crate::fsutil::read_regular(path, limit, crate::fsutil::Links::Refuse)
}

/// Every `*.palyra-skill` file below `dir` (any depth, symlinks ignored,
/// hidden entries such as temporary files skipped), as sorted relative
/// `/`-separated paths.
pub fn scan(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let listing = fs::read_dir(&current).map_err(io_error("list", current.clone()))?;
        for item in listing {
            let item = item.map_err(io_error("list", current.clone()))?;
            let name = item.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = item.file_type().map_err(io_error("stat", item.path()))?;
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
pub fn entry_for(relative: &str, bytes: &[u8]) -> Result<(IndexEntry, Verified), VerifyError> {
    let (_, verified) = verify_bytes(bytes)?;
    let m = &verified.manifest;
    let entry = IndexEntry {
        skill_id: m.skill_id.clone(),
        version: m.version.clone(),
        publisher: m.publisher.clone(),
        artifact: relative.to_owned(),
        artifact_sha256: sha256_hex(bytes),
        artifact_bytes: bytes.len() as u64,
    };
    Ok((entry, verified))
}
