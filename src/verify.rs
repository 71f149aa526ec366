//! The consumer's verification order (docs/format.md, "What an install checks"), with a
//! reason a publisher can act on for every rejection. Trust (step 11) is
//! decided by [`crate::trust::TrustStore::decide`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::artifact::{
    ArtifactError, Entries, MANIFEST_PATH, PROVENANCE_PATH, SBOM_PATH, SIGNATURE_PATH, normalize_path,
};
use crate::manifest::{CompatError, Manifest, ManifestError, ManifestWarning};
use crate::signing::{PublicKey, SignatureError, SignatureRecord};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Archive(#[from] ArtifactError),
    #[error("the artifact has no `{0}` entry")]
    Missing(&'static str),
    #[error("invalid `skill.toml`: {0}")]
    Manifest(#[from] ManifestError),
    #[error("invalid `sbom.cdx.json`: {0}")]
    Sbom(DocumentError),
    #[error("invalid `provenance.json`: {0}")]
    Provenance(DocumentError),
    #[error("the artifact has no module: add at least one `modules/*.wasm` entry")]
    NoModule,
    #[error("the artifact is not signed (no `signature.json`): sign it with `cargo palyra-skill sign`")]
    Unsigned,
    #[error(
        "payload hash mismatch: `signature.json` signs {declared} but the entries hash to {actual}; an entry was changed after signing (re-sign with `cargo palyra-skill sign` if the change is yours)"
    )]
    PayloadMismatch { declared: String, actual: String },
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(
        "`signature.json` names publisher `{signature}` but `skill.toml` says `{manifest}`: re-sign as the manifest's publisher"
    )]
    PublisherMismatch { signature: String, manifest: String },
    #[error("the integrity table in `skill.toml` does not match the entries: {0}")]
    Integrity(String),
    #[error("incompatible with the Palyra runtime: {0}")]
    Compat(#[from] CompatError),
}

impl VerifyError {
    /// A stable name for the reason, for JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::Archive(crate::artifact::ArtifactError::Ambiguous(_)) => "ambiguous_archive",
            VerifyError::Archive(_) => "archive",
            VerifyError::Missing(_) => "missing_entry",
            VerifyError::Manifest(_) => "manifest",
            VerifyError::Sbom(_) => "sbom",
            VerifyError::Provenance(_) => "provenance",
            VerifyError::NoModule => "no_module",
            VerifyError::Unsigned => "unsigned",
            VerifyError::PayloadMismatch { .. } => "payload_mismatch",
            VerifyError::Signature(_) => "signature",
            VerifyError::PublisherMismatch { .. } => "publisher_mismatch",
            VerifyError::Integrity(_) => "integrity",
            VerifyError::Compat(_) => "compat",
        }
    }
}

/// What steps 1-10 establish about an artifact.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub warnings: Vec<ManifestWarning>,
    pub signature: SignatureRecord,
    pub public_key: PublicKey,
    pub payload_sha256: String,
}

/// Steps 2-5: the manifest, SBOM, provenance and modules are present and valid.
pub fn check_contents(entries: &Entries) -> Result<Manifest, VerifyError> {
    let manifest = entries.get(MANIFEST_PATH).ok_or(VerifyError::Missing(MANIFEST_PATH))?;
    let manifest = Manifest::parse_bytes(&manifest.bytes)?;
    let sbom = entries.get(SBOM_PATH).ok_or(VerifyError::Missing(SBOM_PATH))?;
    check_sbom(&sbom.bytes).map_err(VerifyError::Sbom)?;
    let provenance = entries.get(PROVENANCE_PATH).ok_or(VerifyError::Missing(PROVENANCE_PATH))?;
    check_provenance(&provenance.bytes).map_err(VerifyError::Provenance)?;
    if entries.modules().next().is_none() {
        return Err(VerifyError::NoModule);
    }
    Ok(manifest)
}

/// Why an SBOM or provenance document fails the consumer's shape check.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("must be a JSON object")]
    NotObject,
    #[error("{0}")]
    Field(&'static str),
}

fn json_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, DocumentError> {
    match serde_json::from_slice(bytes)? {
        Value::Object(object) => Ok(object),
        _ => Err(DocumentError::NotObject),
    }
}

/// The consumer's SBOM check: an object, `bomFormat` = `CycloneDX`, non-empty `specVersion`.
pub fn check_sbom(bytes: &[u8]) -> Result<(), DocumentError> {
    let object = json_object(bytes)?;
    if object.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(DocumentError::Field("`bomFormat` must be \"CycloneDX\""));
    }
    if object.get("specVersion").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(DocumentError::Field("`specVersion` must be a non-empty string"));
    }
    Ok(())
}

/// The consumer's provenance check: an object with an object `builder` and a non-empty `subject` array.
pub fn check_provenance(bytes: &[u8]) -> Result<(), DocumentError> {
    let object = json_object(bytes)?;
    if !object.get("builder").is_some_and(Value::is_object) {
        return Err(DocumentError::Field("a top-level `builder` object is required"));
    }
    if object.get("subject").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        return Err(DocumentError::Field("`subject` must be a non-empty array"));
    }
    Ok(())
}

/// Step 9: the `[integrity]` table lists exactly the entries' (path, sha256).
pub fn check_integrity(manifest: &Manifest, entries: &Entries) -> Result<(), VerifyError> {
    let actual: BTreeMap<String, String> =
        entries.integrity_files().into_iter().map(|f| (f.path, f.sha256)).collect();
    let mut declared = BTreeMap::new();
    for file in &manifest.integrity.files {
        let path = normalize_path(&file.path).map_err(|e| VerifyError::Integrity(e.to_string()))?;
        declared.insert(path, file.sha256.clone());
    }
    if actual == declared {
        return Ok(());
    }
    let mut problems = Vec::new();
    for (path, sha) in &actual {
        match declared.get(path) {
            None => problems.push(format!("`{path}` is not listed")),
            Some(listed) if listed != sha => {
                problems.push(format!("`{path}` has sha256 {sha}, the table says {listed}"))
            }
            Some(_) => {}
        }
    }
    for path in declared.keys().filter(|path| !actual.contains_key(*path)) {
        problems.push(format!("`{path}` is listed but not in the archive"));
    }
    if problems.is_empty() {
        problems.push("an entry is listed twice".into());
    }
    Err(VerifyError::Integrity(problems.join("; ")))
}

/// Steps 6-8: the signature record parses, signs these entries, verifies
/// and names the manifest's publisher.
pub fn check_signature(
    manifest: &Manifest,
    entries: &Entries,
) -> Result<(SignatureRecord, PublicKey, String), VerifyError> {
    let record = entries.get(SIGNATURE_PATH).ok_or(VerifyError::Unsigned)?;
    let record = SignatureRecord::from_json(&record.bytes)?;
    let payload = entries.payload_sha256();
    if payload != record.payload_sha256 {
        return Err(VerifyError::PayloadMismatch { declared: record.payload_sha256, actual: payload });
    }
    let key = record.verify()?;
    if record.publisher != manifest.publisher {
        return Err(VerifyError::PublisherMismatch {
            signature: record.publisher,
            manifest: manifest.publisher.clone(),
        });
    }
    Ok((record, key, payload))
}

/// Steps 2-10 over entries already read under the limits (step 1).
pub fn verify_entries(entries: &Entries) -> Result<Verified, VerifyError> {
    let manifest = check_contents(entries)?;
    let (signature, public_key, payload_sha256) = check_signature(&manifest, entries)?;
    check_integrity(&manifest, entries)?;
    manifest.check_runtime_compat()?;
    Ok(Verified { warnings: manifest.warnings(), manifest, signature, public_key, payload_sha256 })
}

/// Steps 1-10 over the bytes of a `.palyra-skill` file.
pub fn verify_bytes(bytes: &[u8]) -> Result<(Entries, Verified), VerifyError> {
    let entries = Entries::read_zip(bytes)?;
    let verified = verify_entries(&entries)?;
    Ok((entries, verified))
}
