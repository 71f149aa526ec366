//! The `.palyra-skill` container: ZIP reading under the consumer's limits,
//! the deterministic writer, the payload hash and the integrity table.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

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

/// Domain separation prefix of the payload hash (docs/format.md, "The payload hash").
const PAYLOAD_CONTEXT: &[u8] = b"palyra.skill.payload.v1";
/// Inflate in slices of this size so each slice is hashed while still in cache.
const READ_CHUNK: u64 = 256 * 1024;

pub use crate::paths::{PathError, normalize_path};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(transparent)]
    Sign(#[from] crate::signing::SignError),
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
        // The zip crate's reading first, for its plain words on a file that
        // is no ZIP at all; then ours, which every reader must agree with.
        let archive =
            ZipArchive::new(Cursor::new(bytes)).map_err(|e| ArtifactError::NotZip(plain_zip_error(&e)))?;
        let layout = crate::zipcheck::layout(bytes).map_err(ArtifactError::Ambiguous)?;
        if layout.entries.len() > MAX_ENTRIES {
            return Err(ArtifactError::TooManyEntries { count: layout.entries.len() });
        }
        // The zip crate keeps one of two same-named entries: the central
        // directory's own count catches a shadowed one.
        if layout.entries.len() != archive.len() {
            return Err(ArtifactError::DuplicateRaw);
        }
        let mut entries = Entries::new();
        let mut total: u64 = 0;
        for entry in &layout.entries {
            let path = normalize_path(&entry.name)?;
            if entries.contains(&path) {
                return Err(ArtifactError::Duplicate { path });
            }
            if entry.size > MAX_ENTRY_BYTES {
                return Err(ArtifactError::EntryTooLarge { path });
            }
            let room = MAX_ARCHIVE_BYTES.saturating_sub(total);
            if entry.size > room {
                return Err(ArtifactError::TotalTooLarge);
            }
            let (data, sha256) = inflate(bytes, entry, &path)?;
            total = total.saturating_add(data.len() as u64);
            entries.0.insert(path, Entry { bytes: data, sha256, stored_size: entry.compressed_size });
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

/// One entry's bytes and their SHA-256, inflated from exactly its stored
/// bytes: the deflate stream must end on the last of them (a reader that
/// stops at the stream's end and one that reads the stored size see the
/// same thing), and the size and CRC-32 must be the declared ones. Never
/// inflates past the declared size, which the caller has held to the limits.
fn inflate(
    bytes: &[u8],
    entry: &crate::zipcheck::EntryLayout,
    path: &str,
) -> Result<(Vec<u8>, [u8; 32]), ArtifactError> {
    let corrupt = |message: String| ArtifactError::Corrupt { path: path.to_owned(), message };
    let start = usize::try_from(entry.data_offset).map_err(|_| corrupt("offset out of range".into()))?;
    let len = usize::try_from(entry.compressed_size).map_err(|_| corrupt("size out of range".into()))?;
    let stored = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| corrupt("its data runs past the end of the archive".into()))?;
    // The caller has held the declared size to the entry and archive limits.
    let mut out = Vec::with_capacity(entry.size as usize);
    let mut hasher = Sha256::new();
    let mut crc = flate2::Crc::new();
    match entry.method {
        0 => {
            if entry.size != entry.compressed_size {
                return Err(corrupt(format!(
                    "stored (not compressed) with {} bytes, but its size says {}",
                    entry.compressed_size, entry.size
                )));
            }
            out.extend_from_slice(stored);
            hasher.update(stored);
            crc.update(stored);
        }
        8 => {
            let mut inflater = flate2::Decompress::new(false);
            // One byte more than the declared size is room enough to see
            // both the stream's end and a stream that overruns it; zeroing
            // a full chunk for each small entry cost every read 1 MiB of
            // page faults.
            let mut chunk = vec![0u8; entry.size.saturating_add(1).min(READ_CHUNK) as usize];
            loop {
                let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
                let input = usize::try_from(in_before).ok().and_then(|n| stored.get(n..)).unwrap_or_default();
                let status = inflater
                    .decompress(input, &mut chunk, flate2::FlushDecompress::None)
                    .map_err(|e| corrupt(format!("invalid deflate data: {e}")))?;
                let produced = usize::try_from(inflater.total_out().saturating_sub(out_before)).unwrap_or(0);
                let piece = chunk.get(..produced).unwrap_or_default();
                if (out.len() as u64).saturating_add(produced as u64) > entry.size {
                    return Err(corrupt(format!(
                        "it inflates to more than {} bytes, larger than its declared uncompressed size",
                        entry.size
                    )));
                }
                out.extend_from_slice(piece);
                hasher.update(piece);
                crc.update(piece);
                if status == flate2::Status::StreamEnd {
                    break;
                }
                if produced == 0 && inflater.total_in() == in_before {
                    return Err(corrupt("its deflate stream is cut short".into()));
                }
            }
            if inflater.total_in() != entry.compressed_size {
                return Err(corrupt(format!(
                    "{} bytes follow the end of its deflate stream inside its stored size; rebuild it with `cargo palyra-skill pack` or `build`",
                    entry.compressed_size.saturating_sub(inflater.total_in())
                )));
            }
        }
        other => {
            return Err(corrupt(format!("compression method {other}: an artifact is stored or deflated")));
        }
    }
    if out.len() as u64 != entry.size {
        return Err(corrupt(format!("it inflates to {} bytes, but its size says {}", out.len(), entry.size)));
    }
    if crc.sum() != entry.crc32 {
        return Err(corrupt(format!("CRC-32 {:08x}, but the archive says {:08x}", crc.sum(), entry.crc32)));
    }
    Ok((out, hasher.finalize().into()))
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
