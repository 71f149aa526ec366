//! What the Action's steps leave in its report directory, read back as
//! types: our own commands' JSON reports (`--message-format json`), the
//! audit's SARIF, and `<step>.rc` for a step that exited non-zero. Only the
//! fields the report uses are read; unknown fields are ignored (these are
//! our reports, which grow).

use serde::Deserialize;

/// `build --message-format json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BuildView {
    pub artifact: String,
    pub skill_id: String,
    pub version: String,
    pub bytes: u64,
    pub payload_sha256: String,
    pub key_id: Option<String>,
    pub attestation: Option<String>,
}

/// `verify --message-format json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VerifyView {
    pub artifacts: Vec<VerifiedArtifact>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VerifiedArtifact {
    pub accepted: bool,
    pub trust_decision: Option<String>,
    pub error: Option<Message>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Message {
    pub message: String,
}

/// `audit --message-format json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditView {
    pub should_quarantine: bool,
    pub checks: Vec<CheckView>,
    pub findings: Vec<FindingView>,
    /// The RustSec scan, when the action was given `advisory-db`.
    pub advisories: Option<AdvisoriesView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AdvisoriesView {
    pub crates_scanned: u64,
    pub advisories: u64,
    pub matches: Vec<AdvisoryView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AdvisoryView {
    pub id: String,
    pub kind: String,
    pub title: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub version: String,
    pub patched: Vec<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckView {
    pub check_id: String,
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FindingView {
    pub id: String,
    pub severity: String,
    pub location: String,
    pub message: String,
}

/// `test --message-format json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TestView {
    pub passed: u64,
    pub failed: u64,
    pub cases: Vec<CaseView>,
    /// Each case against the fuel baseline (`test --baseline`).
    pub baseline: Option<crate::baseline::Comparison>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CaseView {
    pub case: String,
    pub tool: String,
    pub passed: bool,
    pub problem: Option<String>,
    pub fuel_consumed: Option<u64>,
    pub wall_ms: Option<u64>,
}

/// `publish --message-format json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PublishView {
    pub artifact: String,
    pub copied: bool,
    pub index_entries: u64,
    pub index_key_id: String,
}

/// `diff --message-format json`, as far as the gate needs it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DiffView {
    pub escalations: Vec<serde_json::Value>,
}

/// The audit's SARIF 2.1.0 log, as far as annotations need it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SarifView {
    pub runs: Vec<SarifRun>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SarifRun {
    pub results: Vec<SarifResult>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: String,
    pub level: Option<String>,
    pub message: SarifText,
    pub locations: Vec<SarifLocation>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SarifText {
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SarifLocation {
    pub physical_location: SarifPhysical,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SarifPhysical {
    pub artifact_location: SarifUri,
    pub region: Option<SarifRegion>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SarifUri {
    pub uri: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SarifRegion {
    pub start_line: Option<u64>,
}
