//! `verify`'s verdict on each artifact: steps 1 to 10 as `verify` runs
//! them, then step 11, publisher trust, against a trust store file (locked,
//! first-use pins saved) or an in-memory store, with keys allowlisted for
//! the run.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::ManifestWarning;
use crate::signing::PublicKey;
use crate::trust::{TrustDecision, TrustError, TrustRejection, TrustStore};
use crate::verify::{Verified, VerifyError};

/// Why an artifact was rejected, with a stable reason code.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    pub kind: &'static str,
    pub message: String,
}

/// One artifact's verdict and what it is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArtifactResult {
    pub artifact: PathBuf,
    pub accepted: bool,
    pub skill_id: Option<String>,
    pub version: Option<String>,
    pub publisher: Option<String>,
    pub payload_sha256: Option<String>,
    pub key_id: Option<String>,
    pub public_key_hex: Option<String>,
    pub trust_decision: Option<TrustDecision>,
    pub manifest_warnings: Vec<ManifestWarning>,
    /// The GitHub build attestation, when one was required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<crate::attest::Attestation>,
    pub error: Option<Rejection>,
}

/// Where trust comes from for a run.
pub struct Trust<'a> {
    /// The store file: decisions are made under its lock and pins saved.
    pub store: Option<&'a Path>,
    /// Keys allowlisted for this run only (never saved).
    pub allowlisted: &'a [(String, PublicKey)],
    pub allow_tofu: bool,
}

fn describe(path: &Path, verified: Option<Verified>) -> ArtifactResult {
    let mut result = ArtifactResult { artifact: path.to_owned(), ..Default::default() };
    if let Some(v) = verified {
        result.skill_id = Some(v.manifest.skill_id);
        result.version = Some(v.manifest.version);
        result.publisher = Some(v.manifest.publisher);
        result.payload_sha256 = Some(v.payload_sha256);
        result.key_id = Some(v.public_key.key_id());
        result.public_key_hex = Some(v.public_key.to_hex());
        result.manifest_warnings = v.warnings;
    }
    result
}

/// A rejection before or without a verified manifest (`kind` as reported).
pub fn rejected(
    path: &Path,
    verified: Option<Verified>,
    kind: &'static str,
    message: String,
) -> ArtifactResult {
    ArtifactResult { error: Some(Rejection { kind, message }), ..describe(path, verified) }
}

/// Step 11 after steps 1-10: `memory` holds first-use pins when there is
/// no store file.
pub fn judge(
    path: &Path,
    verified: Result<Verified, VerifyError>,
    trust: &Trust,
    memory: &mut TrustStore,
) -> Result<ArtifactResult, TrustError> {
    let verified = match verified {
        Ok(verified) => verified,
        Err(error) => return Ok(rejected(path, None, error.kind(), error.to_string())),
    };
    Ok(match decide(&verified, trust, memory)? {
        Ok(decision) => ArtifactResult {
            accepted: true,
            trust_decision: Some(decision),
            ..describe(path, Some(verified))
        },
        Err(rejection) => rejected(path, Some(verified), rejection.kind(), rejection.to_string()),
    })
}

/// The trust decision against the store file (locked, pins saved) or the
/// in-memory one; allowlisted keys count but are never saved.
fn decide(
    verified: &Verified,
    trust: &Trust,
    memory: &mut TrustStore,
) -> Result<Result<TrustDecision, TrustRejection>, TrustError> {
    let publisher = &verified.manifest.publisher;
    let key = &verified.public_key;
    let decide = |store: &mut TrustStore| {
        let mut view = store.clone();
        for (name, key) in trust.allowlisted {
            view.trust(name, key).expect("publisher checked when parsed");
        }
        let decision = view.decide(publisher, key, trust.allow_tofu);
        if decision == Ok(TrustDecision::TofuNewlyPinned) {
            store.tofu_publishers.insert(publisher.clone(), key.to_hex());
        }
        decision
    };
    match trust.store {
        Some(path) => TrustStore::update(path, decide),
        None => Ok(decide(memory)),
    }
}
