//! `registry verify`: the signed index, every entry against its file, every
//! artifact as the consumer would, and nothing left out of the index.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::index::*;
use crate::artifact::{MAX_ARCHIVE_BYTES, normalize_path, sha256_hex};
use crate::parallel::map_in_order;
use crate::signing::PublicKey;

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
        Err(RegistryError::BadIndex { source, .. }) => {
            report.problems.push(problem(INDEX_FILE, "malformed_index", source.to_string()));
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
                let sha256 = sha256_hex(&bytes);
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
            Err(rejection) => {
                report.problems.push(problem(subject, "artifact_rejected", rejection.to_string()))
            }
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
