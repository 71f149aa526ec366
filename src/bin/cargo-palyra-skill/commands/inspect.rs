//! `inspect`: what is inside an artifact, without requiring trust.

use std::path::PathBuf;

use anyhow::Result;
use cargo_palyra_skill::artifact::{SIGNATURE_PATH, sha256_hex};
use cargo_palyra_skill::manifest::{Manifest, ManifestWarning};
use cargo_palyra_skill::signing::SignatureRecord;
use cargo_palyra_skill::verify::{check_contents, check_integrity};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::input::read_artifact;
use crate::shell::{MessageFormat, Shell, human_size};
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::zipcheck::{self, Layout};

/// Show an artifact's entries, manifest summary and signature.
///
/// Reads the archive under the consumer's limits and reports what each
/// check would say, without consulting any trust store. Use `verify` to
/// decide whether to install it. With `-v`, also where each entry lies: its
/// local header and data offsets, sizes, method and CRC-32 (which the local
/// header and the central directory both state; an archive where they
/// differ is refused as `ambiguous_archive`), the central directory and the
/// end record.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill inspect echo.palyra-skill\n",
    "  cargo palyra-skill inspect echo.palyra-skill --message-format json | jq .signature\n",
    "  cargo palyra-skill -v inspect echo.palyra-skill      # with the archive layout\n\n",
    exit_status!()
))]
pub struct Opts {
    /// The artifact to inspect
    artifact: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

#[derive(Serialize)]
struct EntryInfo {
    path: String,
    bytes: u64,
    stored_bytes: u64,
    sha256: String,
}

#[derive(Serialize)]
struct ManifestSummary {
    skill_id: String,
    name: String,
    version: String,
    publisher: String,
    manifest_version: u32,
    tools: Vec<String>,
    http_egress_allowlist: Vec<String>,
    filesystem_read_roots: Vec<String>,
    filesystem_write_roots: Vec<String>,
    secrets: Vec<String>,
    device_capabilities: Vec<String>,
    node_capabilities: Vec<String>,
    wall_clock_timeout_ms: u64,
    fuel_budget: u64,
    max_memory_bytes: u64,
    min_palyra_version: String,
    warnings: Vec<ManifestWarning>,
}

#[derive(Serialize)]
struct SignatureInfo {
    publisher: String,
    key_id: String,
    public_key_hex: Option<String>,
    signed_at_unix_ms: i64,
    payload_sha256: String,
    /// The signature verifies over these entries (trust not considered).
    valid: bool,
    problem: Option<String>,
}

#[derive(Serialize)]
struct Report {
    artifact: PathBuf,
    bytes: u64,
    artifact_sha256: String,
    payload_sha256: String,
    entries: Vec<EntryInfo>,
    manifest: Option<ManifestSummary>,
    manifest_error: Option<String>,
    integrity_error: Option<String>,
    signature: Option<SignatureInfo>,
    /// With `-v`: where every entry lies in the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<Layout>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let bytes = read_artifact(&self.artifact)?;
        let entries = Entries::read_zip(&bytes)
            .map_err(|e| anyhow::anyhow!(e))
            .map_err(|e| e.context(format!("could not read artifact `{}`", self.artifact.display())))?;
        let (manifest, manifest_error) = match check_contents(&entries) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let integrity_error =
            manifest.as_ref().and_then(|m| check_integrity(m, &entries).err()).map(|e| e.to_string());
        let payload_sha256 = entries.payload_sha256();
        let signature =
            entries.get(SIGNATURE_PATH).map(|entry| signature_info(&entry.bytes, &payload_sha256));
        let report = Report {
            artifact: self.artifact,
            bytes: bytes.len() as u64,
            artifact_sha256: sha256_hex(&bytes),
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
            manifest: manifest.as_ref().map(summary),
            manifest_error,
            integrity_error,
            signature,
            layout: shell.is_verbose().then(|| zipcheck::layout(&bytes)).transpose()?,
        };
        match self.message_format {
            MessageFormat::Json => shell.print_json(&report)?,
            MessageFormat::Human => shell.print(human(&report))?,
        }
        Ok(Outcome::Success)
    }
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

fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

fn human(r: &Report) -> String {
    let mut out = format!(
        "{} ({}, sha256 {})\n\nentries:\n",
        r.artifact.display(),
        human_size(r.bytes),
        r.artifact_sha256
    );
    for e in &r.entries {
        out += &format!("  {:<28} {:>10}  {}\n", e.path, human_size(e.bytes), e.sha256);
    }
    out += &format!("\npayload sha256  {}\n", r.payload_sha256);
    match (&r.manifest, &r.manifest_error) {
        (Some(m), _) => {
            out += &format!("\nskill     {} {} ({}) by {}\n", m.skill_id, m.version, m.name, m.publisher);
            out += &format!("tools     {}\n", list(&m.tools));
            out += &format!("http      {}\n", list(&m.http_egress_allowlist));
            out += &format!(
                "fs read   {}\nfs write  {}\n",
                list(&m.filesystem_read_roots),
                list(&m.filesystem_write_roots)
            );
            out += &format!("secrets   {}\n", list(&m.secrets));
            out += &format!(
                "devices   {}\nnodes     {}\n",
                list(&m.device_capabilities),
                list(&m.node_capabilities)
            );
            out += &format!(
                "quotas    {} ms, {} fuel, {} memory\n",
                m.wall_clock_timeout_ms,
                m.fuel_budget,
                human_size(m.max_memory_bytes)
            );
            out += &format!("requires  Palyra >= {}\n", m.min_palyra_version);
            for w in &m.warnings {
                out += &format!("warning   {}: {}\n", w.code, w.message);
            }
        }
        (None, Some(error)) => out += &format!("\nmanifest  {}: {error}\n", Shell::bad("invalid")),
        (None, None) => {}
    }
    if let Some(error) = &r.integrity_error {
        out += &format!("integrity {}: {error}\n", Shell::bad("mismatch"));
    }
    match &r.signature {
        None => out += "\nsignature none (unsigned)",
        Some(s) => {
            let state = if s.valid { Shell::good("valid") } else { Shell::bad("invalid") };
            out += &format!(
                "\nsignature {state} {} by {}, signed at {} ({} ms)",
                s.key_id,
                s.publisher,
                cargo_palyra_skill::sbom::rfc3339(s.signed_at_unix_ms.div_euclid(1000)),
                s.signed_at_unix_ms
            );
            if let Some(hex) = &s.public_key_hex {
                out +=
                    &format!("\n          public key {hex} (for `--trusted-publisher {}=HEX`)", s.publisher);
            }
            if let Some(p) = &s.problem {
                out += &format!("\n          {p}");
            }
            out += "\n          (trust is not checked here: use `verify`)";
        }
    }
    if let Some(layout) = &r.layout {
        out += "\n\nlayout (each local header agrees with the central directory):\n";
        out += "  local at     data at   stored      size  method  crc-32    entry\n";
        for e in &layout.entries {
            let method = match e.method {
                0 => "stored".to_owned(),
                8 => "deflate".to_owned(),
                other => other.to_string(),
            };
            out += &format!(
                "  {:>8}  {:>10}  {:>7}  {:>8}  {:<7} {:08x}  {}{}\n",
                e.local_header_offset,
                e.data_offset,
                e.compressed_size,
                e.size,
                method,
                e.crc32,
                e.name,
                if e.data_descriptor { " (data descriptor)" } else { "" }
            );
        }
        out += &format!(
            "  central directory at {} ({} bytes), end record at {}, comment {} bytes",
            layout.central_directory_offset,
            layout.central_directory_bytes,
            layout.end_record_offset,
            layout.comment_bytes
        );
    }
    out
}
