//! The `.palyra-skill` container: ZIP reading under the consumer's limits,
//! the deterministic writer, the payload hash and the integrity table.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use sha2::{Digest, Sha256};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::manifest::IntegrityFile;

pub const MANIFEST_PATH: &str = "skill.toml";
pub const SBOM_PATH: &str = "sbom.cdx.json";
pub const PROVENANCE_PATH: &str = "provenance.json";
pub const SIGNATURE_PATH: &str = "signature.json";
pub const MODULES_DIR: &str = "modules/";
pub const ASSETS_DIR: &str = "assets/";

/// Whole archive (compressed) and sum of uncompressed entries, each.
pub const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;
/// One entry, uncompressed.
pub const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
/// Entries in the central directory (directories included, as the consumer counts).
pub const MAX_ENTRIES: usize = 256;

/// Domain separation prefix of the payload hash (ARTIFACT.md, "Payload hash").
const PAYLOAD_CONTEXT: &[u8] = b"palyra.skill.payload.v1";
/// Inflate in slices of this size so each slice is hashed while still in cache.
const READ_CHUNK: u64 = 256 * 1024;

pub use crate::paths::{PathError, normalize_path};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the artifact is {actual} bytes, over the limit of {MAX_ARCHIVE_BYTES} bytes (64 MiB)")]
    ArchiveTooLarge { actual: u64 },
    #[error(
        "not a readable ZIP archive, so not a `.palyra-skill` ({0}): check the path, or rebuild it with `cargo palyra-skill build` or `pack`"
    )]
    NotZip(String),
    #[error("the archive has {count} entries, over the limit of {MAX_ENTRIES}")]
    TooManyEntries { count: usize },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("entry `{path}` appears twice (after normalizing its path)")]
    Duplicate { path: String },
    #[error("the central directory lists an entry name twice")]
    DuplicateRaw,
    #[error(
        "ambiguous archive, which ZIP readers could read differently: {0}; rebuild it with `cargo palyra-skill pack` or `build`"
    )]
    Ambiguous(crate::zipcheck::Ambiguity),
    #[error("entry `{path}` inflates past {MAX_ENTRY_BYTES} bytes (16 MiB), the per-entry limit")]
    EntryTooLarge { path: String },
    #[error("the entries inflate past {MAX_ARCHIVE_BYTES} bytes (64 MiB) in total, the archive limit")]
    TotalTooLarge,
    #[error("entry `{path}` is corrupt: {message}")]
    Corrupt { path: String, message: String },
    #[error("could not write the archive: {0}")]
    Write(String),
}

/// One archive entry, fully read and hashed.
#[derive(Clone)]
pub struct Entry {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
    /// Compressed size as stored (0 for entries we built in memory).
    pub stored_size: u64,
}

impl Entry {
    pub fn new(bytes: Vec<u8>) -> Entry {
        let sha256 = Sha256::digest(&bytes).into();
        Entry { bytes, sha256, stored_size: 0 }
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({} bytes, sha256 {})", self.bytes.len(), self.sha256_hex())
    }
}

/// The entries of an artifact by normalized path, in lexicographic byte order.
#[derive(Debug, Clone, Default)]
pub struct Entries(BTreeMap<String, Entry>);

impl Entries {
    pub fn new() -> Entries {
        Entries::default()
    }

    /// Adds an entry under a normalized path; refuses duplicates and oversize.
    pub fn insert(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), ArtifactError> {
        let path = normalize_path(path)?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Err(ArtifactError::EntryTooLarge { path });
        }
        if self.0.contains_key(&path) {
            return Err(ArtifactError::Duplicate { path });
        }
        self.0.insert(path, Entry::new(bytes));
        Ok(())
    }

    /// Replaces (or adds) an entry.
    pub fn set(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), ArtifactError> {
        self.0.remove(path);
        self.insert(path, bytes)
    }

    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        self.0.remove(path)
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.0.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.0.iter().map(|(path, entry)| (path.as_str(), entry))
    }

    /// `modules/*.wasm` entries.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.iter().filter(|(path, _)| is_module_path(path))
    }

    pub fn total_bytes(&self) -> u64 {
        self.0.values().map(|e| e.bytes.len() as u64).sum()
    }

    /// SHA-256 over the context and every entry but `signature.json`, each
    /// path and content prefixed by its u64 big-endian length.
    pub fn payload_sha256(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(PAYLOAD_CONTEXT);
        for (path, entry) in self.iter().filter(|(path, _)| *path != SIGNATURE_PATH) {
            hasher.update((path.len() as u64).to_be_bytes());
            hasher.update(path.as_bytes());
            hasher.update((entry.bytes.len() as u64).to_be_bytes());
            hasher.update(&entry.bytes);
        }
        hex::encode(hasher.finalize())
    }

    /// The integrity table the manifest must carry: every entry except
    /// `skill.toml` and `signature.json`.
    pub fn integrity_files(&self) -> Vec<IntegrityFile> {
        self.iter()
            .filter(|(path, _)| *path != MANIFEST_PATH && *path != SIGNATURE_PATH)
            .map(|(path, entry)| IntegrityFile { path: path.to_owned(), sha256: entry.sha256_hex() })
            .collect()
    }

    /// Reads a ZIP archive, enforcing every limit on the bytes actually
    /// inflated (header sizes are never trusted).
    pub fn read_zip(bytes: &[u8]) -> Result<Entries, ArtifactError> {
        if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
            return Err(ArtifactError::ArchiveTooLarge { actual: bytes.len() as u64 });
        }
        let mut archive =
            ZipArchive::new(Cursor::new(bytes)).map_err(|e| ArtifactError::NotZip(plain_zip_error(&e)))?;
        // One reading only: every reader must see these entries and bytes.
        let records = crate::zipcheck::check_layout(bytes).map_err(ArtifactError::Ambiguous)?;
        if archive.len() > MAX_ENTRIES {
            return Err(ArtifactError::TooManyEntries { count: archive.len() });
        }
        // The zip crate keeps one of two same-named entries: the central
        // directory's own count catches a shadowed one.
        if records != archive.len() {
            return Err(ArtifactError::DuplicateRaw);
        }
        let mut entries = Entries::new();
        let mut total: u64 = 0;
        for index in 0..archive.len() {
            let file = archive.by_index(index).map_err(|e| ArtifactError::NotZip(e.to_string()))?;
            if file.is_dir() {
                continue;
            }
            let raw_name = file.name().map_err(|e| ArtifactError::NotZip(e.to_string()))?.into_owned();
            let path = normalize_path(&raw_name)?;
            if entries.contains(&path) {
                return Err(ArtifactError::Duplicate { path });
            }
            let stored_size = file.compressed_size();
            let room = MAX_ARCHIVE_BYTES.saturating_sub(total);
            let cap = MAX_ENTRY_BYTES.min(room);
            let declared = file.size();
            if declared > MAX_ENTRY_BYTES {
                return Err(ArtifactError::EntryTooLarge { path });
            }
            if declared > room {
                return Err(ArtifactError::TotalTooLarge);
            }
            // Reserve no more than the cap, however large the header claims.
            let mut buf = Vec::with_capacity(declared.min(cap) as usize);
            let mut hasher = Sha256::new();
            let mut reader = file.take(cap.saturating_add(1));
            loop {
                let start = buf.len();
                let read = (&mut reader)
                    .take(READ_CHUNK)
                    .read_to_end(&mut buf)
                    .map_err(|e| ArtifactError::Corrupt { path: path.clone(), message: e.to_string() })?;
                if read == 0 {
                    break;
                }
                hasher.update(&buf[start..]);
            }
            if buf.len() as u64 > cap {
                return Err(if cap < MAX_ENTRY_BYTES {
                    ArtifactError::TotalTooLarge
                } else {
                    ArtifactError::EntryTooLarge { path }
                });
            }
            total = total.saturating_add(buf.len() as u64);
            entries.0.insert(path, Entry { bytes: buf, sha256: hasher.finalize().into(), stored_size });
        }
        Ok(entries)
    }

    /// Writes the deterministic ZIP: sorted entries, Deflate, the ZIP epoch
    /// as modification time and mode 0644, so equal entries give equal bytes.
    pub fn to_zip(&self) -> Result<Vec<u8>, ArtifactError> {
        if self.0.len() > MAX_ENTRIES {
            return Err(ArtifactError::TooManyEntries { count: self.0.len() });
        }
        if self.total_bytes() > MAX_ARCHIVE_BYTES {
            return Err(ArtifactError::TotalTooLarge);
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644);
        let write_err = |e: &dyn std::fmt::Display| ArtifactError::Write(e.to_string());
        let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(self.total_bytes() as usize / 2)));
        for (path, entry) in self.iter() {
            writer.start_file(path, options).map_err(|e| write_err(&e))?;
            writer.write_all(&entry.bytes).map_err(|e| write_err(&e))?;
        }
        let bytes = writer.finish().map_err(|e| write_err(&e))?.into_inner();
        if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
            return Err(ArtifactError::ArchiveTooLarge { actual: bytes.len() as u64 });
        }
        Ok(bytes)
    }
}

/// The zip crate's error in words a user can act on.
fn plain_zip_error(error: &zip::result::ZipError) -> String {
    let text = error.to_string();
    if text.contains("EOCD") || text.contains("end of central directory") {
        "no ZIP end record: a random, truncated or non-ZIP file".to_owned()
    } else {
        text
    }
}

pub fn is_module_path(path: &str) -> bool {
    path.starts_with(MODULES_DIR) && path.ends_with(".wasm")
}

#[derive(Debug, thiserror::Error)]
#[error("`skill.toml` is not valid TOML: {0}")]
pub struct IntegrityWriteError(String);

/// Writes `[integrity]` into the author's `skill.toml` text, replacing any
/// previous table and keeping the rest of the layout and comments as written.
pub fn write_integrity(manifest_text: &str, files: &[IntegrityFile]) -> Result<String, IntegrityWriteError> {
    let mut doc: DocumentMut =
        manifest_text.parse().map_err(|e: toml_edit::TomlError| IntegrityWriteError(e.to_string()))?;
    doc.remove("integrity");
    let mut tables = ArrayOfTables::new();
    for file in files {
        let mut table = Table::new();
        table.insert("path", value(&file.path));
        table.insert("sha256", value(&file.sha256));
        tables.push(table);
    }
    let mut integrity = Table::new();
    integrity.set_implicit(true);
    integrity.insert("files", Item::ArrayOfTables(tables));
    doc.insert("integrity", Item::Table(integrity));
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The offset of the first byte where `a` and `b` differ (the shorter
/// one's length when one is a prefix of the other).
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(l, r)| l != r).unwrap_or(a.len().min(b.len()))
}

/// Lowercase hex SHA-256 of a byte string.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
