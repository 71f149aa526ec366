//! `verify`'s verdict on each artifact, as its report states it: what the
//! artifact is, whether it was accepted and on which trust decision, its
//! attestation, and why it was rejected. The trust session
//! (`crate::session`) reaches the verdict.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::ManifestWarning;
use crate::trust::TrustDecision;
use crate::verify::Verified;

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

/// An accepted artifact and the trust decision that accepted it.
pub fn accepted(path: &Path, verified: Verified, decision: TrustDecision) -> ArtifactResult {
    ArtifactResult { accepted: true, trust_decision: Some(decision), ..describe(path, Some(verified)) }
}
