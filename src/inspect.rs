//! `inspect`'s report: an artifact's entries, payload hash, manifest
//! summary, signature and (on request) archive layout, read under the
//! consumer's limits and without any trust decision.

use std::path::PathBuf;

use serde::Serialize;

use crate::artifact::{ArtifactError, Entries, SIGNATURE_PATH, sha256_hex};
use crate::manifest::{Manifest, ManifestWarning};
use crate::signing::SignatureRecord;
use crate::verify::{check_contents, check_integrity};
use crate::zipcheck::{self, Layout};

#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    pub path: String,
    pub bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestSummary {
    pub skill_id: String,
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub manifest_version: u32,
    pub tools: Vec<String>,
    pub http_egress_allowlist: Vec<String>,
    pub filesystem_read_roots: Vec<String>,
    pub filesystem_write_roots: Vec<String>,
    pub secrets: Vec<String>,
    pub device_capabilities: Vec<String>,
    pub node_capabilities: Vec<String>,
    pub wall_clock_timeout_ms: u64,
    pub fuel_budget: u64,
    pub max_memory_bytes: u64,
    pub min_palyra_version: String,
    pub warnings: Vec<ManifestWarning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureInfo {
    pub publisher: String,
    pub key_id: String,
    pub public_key_hex: Option<String>,
    pub signed_at_unix_ms: i64,
    pub payload_sha256: String,
    /// The signature verifies over these entries (trust not considered).
    pub valid: bool,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub artifact: PathBuf,
    pub bytes: u64,
    pub artifact_sha256: String,
    pub payload_sha256: String,
    pub entries: Vec<EntryInfo>,
    pub manifest: Option<ManifestSummary>,
    pub manifest_error: Option<String>,
    pub integrity_error: Option<String>,
    pub signature: Option<SignatureInfo>,
    /// Each module's bytes against the operator's `max_module_size_bytes`.
    pub module_sizes: Vec<ModuleSize>,
    /// With `-v`: where every entry lies in the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
}

/// One module's bytes against the module cap.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleSize {
    pub path: String,
    #[serde(flatten)]
    pub headroom: crate::headroom::Headroom,
}

/// Reads `bytes` (the artifact at `path`) and describes it; `layout` adds
/// where every entry lies in the archive.
/// `module_cap` is the operator's `max_module_size_bytes`.
pub fn inspect(
    path: PathBuf,
    bytes: &[u8],
    layout: bool,
    module_cap: u64,
) -> Result<InspectReport, ArtifactError> {
    let entries = Entries::read_zip(bytes)?;
    let (manifest, manifest_error) = match check_contents(&entries) {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let integrity_error =
        manifest.as_ref().and_then(|m| check_integrity(m, &entries).err()).map(|e| e.to_string());
    let payload_sha256 = entries.payload_sha256();
    let signature = entries.get(SIGNATURE_PATH).map(|entry| signature_info(&entry.bytes, &payload_sha256));
    Ok(InspectReport {
        artifact: path,
        bytes: bytes.len() as u64,
        artifact_sha256: sha256_hex(bytes),
        payload_sha256,
        entries: entries
            .iter()
            .map(|(path, e)| EntryInfo {
                path: path.to_owned(),
                bytes: e.bytes.len() as u64,
                stored_bytes: e.stored_size,
                sha256: e.sha256_hex(),
            })
            .collect(),
        module_sizes: entries
            .modules()
            .map(|(path, e)| ModuleSize {
                path: path.to_owned(),
                headroom: crate::headroom::Headroom::new(
                    e.bytes.len() as u64,
                    module_cap,
                    crate::headroom::DEFAULT_WARN_AT,
                ),
            })
            .collect(),
        manifest: manifest.as_ref().map(summary),
        manifest_error,
        integrity_error,
        signature,
        layout: if layout { Some(zipcheck::layout(bytes).map_err(ArtifactError::Ambiguous)?) } else { None },
    })
}

fn signature_info(bytes: &[u8], payload_sha256: &str) -> SignatureInfo {
    match SignatureRecord::from_json(bytes) {
        Err(e) => SignatureInfo {
            publisher: String::new(),
            key_id: String::new(),
            public_key_hex: None,
            signed_at_unix_ms: 0,
            payload_sha256: String::new(),
            valid: false,
            problem: Some(e.to_string()),
        },
        Ok(record) => {
            let problem = if record.payload_sha256 != payload_sha256 {
                Some("the signed payload hash differs from the entries' payload hash: an entry changed after signing".to_owned())
            } else {
                record.verify().err().map(|e| e.to_string())
            };
            SignatureInfo {
                public_key_hex: record.public_key().ok().map(|k| k.to_hex()),
                valid: problem.is_none(),
                problem,
                publisher: record.publisher,
                key_id: record.key_id,
                signed_at_unix_ms: record.signed_at_unix_ms,
                payload_sha256: record.payload_sha256,
            }
        }
    }
}

fn summary(m: &Manifest) -> ManifestSummary {
    let c = &m.capabilities;
    ManifestSummary {
        skill_id: m.skill_id.clone(),
        name: m.name.clone(),
        version: m.version.clone(),
        publisher: m.publisher.clone(),
        manifest_version: m.manifest_version,
        tools: m.entrypoints.tools.iter().map(|t| t.id.clone()).collect(),
        http_egress_allowlist: c.http_egress_allowlist.clone(),
        filesystem_read_roots: c.filesystem.read_roots.clone(),
        filesystem_write_roots: c.filesystem.write_roots.clone(),
        secrets: c
            .secrets
            .iter()
            .flat_map(|s| s.key_names.iter().map(move |k| format!("{}/{k}", s.scope)))
            .collect(),
        device_capabilities: c.device_capabilities.clone(),
        node_capabilities: c.node_capabilities.clone(),
        wall_clock_timeout_ms: c.quotas.wall_clock_timeout_ms,
        fuel_budget: c.quotas.fuel_budget,
        max_memory_bytes: c.quotas.max_memory_bytes,
        min_palyra_version: m.compat.min_palyra_version.clone(),
        warnings: m.warnings(),
    }
}
