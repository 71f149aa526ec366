//! The audit report: the consumer's checks (same ids, statuses, severities
//! and fields as docs/audit.md) and our findings, plus the policy that drives both.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::host::OperatorConfig;
use crate::manifest::{Manifest, ManifestWarning};
use crate::trust::TrustDecision;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One of the consumer's checks.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check_id: String,
    pub status: Status,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Check {
    pub fn pass(id: impl Into<String>, message: impl Into<String>, details: Option<Value>) -> Check {
        Check {
            check_id: id.into(),
            status: Status::Pass,
            severity: Severity::Info,
            message: message.into(),
            details,
        }
    }

    pub fn fail(id: impl Into<String>, message: impl Into<String>, details: Option<Value>) -> Check {
        Check {
            check_id: id.into(),
            status: Status::Fail,
            severity: Severity::Error,
            message: message.into(),
            details,
        }
    }

    pub fn warn(id: impl Into<String>, message: impl Into<String>, details: Option<Value>) -> Check {
        Check {
            check_id: id.into(),
            status: Status::Warn,
            severity: Severity::Warning,
            message: message.into(),
            details,
        }
    }
}

/// The consumer's four settings and our thresholds; `--policy FILE` (TOML)
/// sets them and flags override them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "default_max_module_bytes")]
    pub max_module_bytes: u64,
    #[serde(default = "default_max_exported_functions")]
    pub max_exported_functions: usize,
    #[serde(default)]
    pub allow_device_capabilities: bool,
    #[serde(default)]
    pub allow_wildcard_capabilities: bool,
    /// Ours: DWARF `.debug_*` sections larger than this (bytes) are reported.
    #[serde(default = "default_max_debug_bytes")]
    pub max_debug_info_bytes: u64,
    /// Ours: a RustSec advisory database checkout to scan dependencies
    /// against (relative to the policy file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_db: Option<std::path::PathBuf>,
}

fn default_max_module_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_max_exported_functions() -> usize {
    128
}
fn default_max_debug_bytes() -> u64 {
    0
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_module_bytes: default_max_module_bytes(),
            max_exported_functions: default_max_exported_functions(),
            allow_device_capabilities: false,
            allow_wildcard_capabilities: false,
            max_debug_info_bytes: default_max_debug_bytes(),
            advisory_db: None,
        }
    }
}

impl Policy {
    pub fn from_toml(text: &str) -> Result<Policy, toml::de::Error> {
        toml::from_str(text)
    }
}

/// One finding of our analysis, tied to where it applies and how to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    /// `skill.toml`, or the module path.
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// The import, export or manifest key the finding is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub message: String,
    pub fix: String,
}

/// Per module: what it is and who built it.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleSummary {
    pub path: String,
    pub bytes: u64,
    /// `bytes` against the operator's `max_module_size_bytes`.
    pub module_size: crate::headroom::Headroom,
    pub sha256: String,
    pub exported_functions: usize,
    pub imports: Vec<String>,
    pub wasi_functions: Vec<String>,
    pub producers: Vec<super::analysis::Producer>,
}

/// The consumer's report fields, extended with our analysis.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub skill_id: String,
    pub version: String,
    pub publisher: String,
    pub accepted: bool,
    pub passed: bool,
    pub should_quarantine: bool,
    pub trust_decision: Option<TrustDecision>,
    pub payload_sha256: String,
    pub generated_at_unix_ms: i64,
    pub policy: Policy,
    pub manifest_warnings: Vec<ManifestWarning>,
    pub checks: Vec<Check>,
    pub quarantine_reasons: Vec<String>,
    pub vulnerability_scan: Check,
    /// Ours: the RustSec scan, when a database was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisories: Option<super::advisories::Scan>,
    pub findings: Vec<Finding>,
    pub modules: Vec<ModuleSummary>,
}

impl AuditReport {
    /// Findings of error severity: problems the consumer's audit does not
    /// catch but that will break the skill (an unknown import, say).
    pub fn error_findings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    /// What the publisher needs to hear first.
    pub fn verdict(&self) -> String {
        let errors = self.error_findings();
        match (self.should_quarantine, errors) {
            (true, _) => format!(
                "FAILED: the Palyra host would QUARANTINE {} {}: {} check(s) failed",
                self.skill_id,
                self.version,
                self.quarantine_reasons.len()
            ),
            (false, 0) => format!("PASSED: the Palyra host would accept {} {}", self.skill_id, self.version),
            (false, n) => format!(
                "FAILED: {n} finding(s) are errors: Palyra's install-time audit would accept {} {}, but it would not work there (see the findings)",
                self.skill_id, self.version
            ),
        }
    }
}

/// Where vulnerability information comes from: the consumer's hook
/// (`PALYRA_SKILL_AUDIT_VULN_FEED_HOOK`) and our RustSec database.
#[derive(Debug, Default, Clone, Copy)]
pub struct Feed<'a> {
    pub hook: Option<&'a str>,
    pub advisory_db: Option<&'a super::advisories::AdvisoryDb>,
}

/// What is audited: an artifact's verified contents, or a bare module.
pub struct Subject<'a> {
    pub manifest: Option<&'a Manifest>,
    pub trust_decision: Option<TrustDecision>,
    pub payload_sha256: String,
    /// `(path, bytes)` of every `modules/*.wasm`.
    pub modules: Vec<(&'a str, &'a [u8])>,
    pub sbom: Option<&'a [u8]>,
    pub provenance: Option<&'a [u8]>,
    /// The daemon's configuration the run-time findings assume (default:
    /// a stock Palyra 0.1.0).
    pub operator: Option<&'a OperatorConfig>,
}

impl<'a> Subject<'a> {
    /// A verified artifact's contents, with its trust decision.
    pub fn artifact(
        entries: &'a crate::artifact::Entries,
        verified: &'a crate::verify::Verified,
        trust_decision: TrustDecision,
        operator: &'a OperatorConfig,
    ) -> Subject<'a> {
        use crate::artifact::{PROVENANCE_PATH, SBOM_PATH};
        Subject {
            manifest: Some(&verified.manifest),
            trust_decision: Some(trust_decision),
            payload_sha256: verified.payload_sha256.clone(),
            modules: entries.modules().map(|(path, entry)| (path, entry.bytes.as_slice())).collect(),
            sbom: entries.get(SBOM_PATH).map(|e| e.bytes.as_slice()),
            provenance: entries.get(PROVENANCE_PATH).map(|e| e.bytes.as_slice()),
            operator: Some(operator),
        }
    }

    /// A bare module, with no manifest, SBOM or provenance.
    pub fn module(path: &'a str, bytes: &'a [u8], operator: &'a OperatorConfig) -> Subject<'a> {
        Subject {
            manifest: None,
            trust_decision: None,
            payload_sha256: String::new(),
            modules: vec![(path, bytes)],
            sbom: None,
            provenance: None,
            operator: Some(operator),
        }
    }
}
