//! `publish`: one verified artifact into the directory, and the index
//! rewritten and re-signed from every artifact there, under a lock.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::index::*;
use crate::artifact::{MAX_ARCHIVE_BYTES, sha256_hex};
use crate::fsutil::{Existing, lock_beside, write_atomic};
use crate::manifest::is_identifier;
use crate::signing::Signer;

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
    /// Where the attestation bundle was stored, relative to the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
}

pub struct PublishRequest<'a> {
    pub dir: &'a Path,
    pub artifact: &'a [u8],
    pub key: &'a dyn Signer,
    /// The index signer's name; `None` keeps the current index's, else
    /// [`DEFAULT_REGISTRY_NAME`].
    pub registry_name: Option<&'a str>,
    pub now_unix_ms: i64,
    pub dry_run: bool,
    /// Re-read and re-verify every artifact instead of trusting the current
    /// index (which must otherwise verify with `key`).
    pub rebuild_index: bool,
    /// A Sigstore bundle the caller verified for these bytes: stored beside
    /// the artifact as `<artifact>.sigstore.json`, before the index is rewritten.
    pub attestation: Option<&'a [u8]>,
}

/// Every artifact at the path `publish` gives it, and one artifact per
/// `(skill_id, version)`: a second `acme.demo 0.1.0` dropped anywhere else
/// in the directory is listed, never signed into the index.
fn refuse_misplaced(entries: &[IndexEntry]) -> Result<(), RegistryError> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for entry in entries {
        let canonical = artifact_path(&entry.publisher, &entry.skill_id, &entry.version).ok();
        if canonical.as_deref() != Some(entry.artifact.as_str()) {
            problems.push(format!(
                "`{}` ({} {} by {}) is not at {}",
                crate::text::escape(&entry.artifact),
                crate::text::escape(&entry.skill_id),
                crate::text::escape(&entry.version),
                crate::text::escape(&entry.publisher),
                canonical.map_or("any path publish gives".to_owned(), |c| format!(
                    "`{}`",
                    crate::text::escape(&c)
                ))
            ));
        }
        if let Some(first) = seen.insert((&entry.skill_id, &entry.version), &entry.artifact) {
            problems.push(format!(
                "`{}` and `{}` are both {} {}",
                crate::text::escape(first),
                crate::text::escape(&entry.artifact),
                crate::text::escape(&entry.skill_id),
                crate::text::escape(&entry.version)
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(RegistryError::Misplaced(problems.join("; "))) }
}

/// Verifies the artifact, copies it into place (never over different
/// bytes) and rewrites the signed index from every artifact under the
/// directory, all under an exclusive lock on `index.json`.
pub fn publish(request: PublishRequest) -> Result<PublishReport, RegistryError> {
    let dir = request.dir;
    let (new_entry, _) = entry_for("", request.artifact).map_err(|source| RegistryError::Rejected {
        path: PathBuf::from("<artifact>"),
        source,
        fix: "",
    })?;
    let relative = artifact_path(&new_entry.publisher, &new_entry.skill_id, &new_entry.version)?;
    let new_entry = IndexEntry { artifact: relative.clone(), ..new_entry };
    let destination = dir.join(&relative);
    refuse_symlinks(dir, &relative)?;

    if !request.dry_run {
        fs::create_dir_all(dir).map_err(io_error("create", dir.to_owned()))?;
    }
    let index_path = dir.join(INDEX_FILE);
    // A dry run only reads, and must not even create the lock file. The
    // lock is `<dir>.lock` beside the directory, never inside it, so a
    // deployment of the directory never ships it.
    let _lock = if request.dry_run {
        None
    } else {
        let absolute = fs::canonicalize(dir).map_err(io_error("resolve", dir.to_owned()))?;
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
                existing: sha256_hex(&existing),
                new: new_entry.artifact_sha256,
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !request.dry_run {
                let parent = destination.parent().expect("below the registry");
                fs::create_dir_all(parent).map_err(io_error("create", parent.to_owned()))?;
                write_atomic(&destination, request.artifact, Some(0o644), Existing::Refuse)
                    .map_err(io_error("write", destination.clone()))?;
            }
            true
        }
        Err(source) => return Err(RegistryError::Io { action: "read", path: destination, source }),
    };

    let current = if dir.exists() { load_index(dir)? } else { None };
    // Entries are reused (not re-verified) only from an index this very
    // key signed: anyone who can write the directory but holds no key could
    // otherwise have us sign entries of their choosing.
    let trusted = match &current {
        Some(current) if !request.rebuild_index => {
            let reason = match current.verify() {
                Ok(signer) if signer == request.key.public() => None,
                Ok(signer) => Some(format!(
                    "it is signed by {}, not by this key {}",
                    signer.key_id(),
                    request.key.public().key_id()
                )),
                Err(e) => Some(e.to_string()),
            };
            if let Some(reason) = reason {
                return Err(RegistryError::IndexUntrusted { path: index_path, reason });
            }
            Some(current)
        }
        _ => None,
    };
    let known: BTreeMap<(&str, &str), &IndexEntry> = trusted
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
        let bytes = read_limited(&file, MAX_ARCHIVE_BYTES).map_err(io_error("read", file.clone()))?;
        let sha256 = sha256_hex(&bytes);
        // An artifact the signed index already lists with these exact bytes
        // was verified when it was indexed.
        if let Some(entry) = known.get(&(path.as_str(), sha256.as_str())) {
            entries.push((*entry).clone());
            continue;
        }
        let (entry, _) = entry_for(&path, &bytes).map_err(|source| RegistryError::Rejected {
            path: file,
            source,
            fix: "; remove it from the registry or replace it with a valid artifact",
        })?;
        entries.push(entry);
    }
    if entries.len() > MAX_INDEX_ENTRIES {
        return Err(RegistryError::TooManyEntries(entries.len()));
    }
    refuse_misplaced(&entries)?;

    // The bundle proves itself (Sigstore signed it), so the index does not
    // list it; it is replaced only by another one for the same bytes.
    let attestation = match request.attestation {
        Some(bundle) => {
            let stored = format!("{relative}.sigstore.json");
            if !request.dry_run {
                let path = dir.join(&stored);
                write_atomic(&path, bundle, Some(0o644), Existing::Replace)
                    .map_err(io_error("write", path.clone()))?;
            }
            Some(stored)
        }
        None => None,
    };

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
            let signed = SignedIndex::sign(index, &name, request.key, request.now_unix_ms)?;
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
        attestation,
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
