//! `inspect`: what is inside an artifact, without requiring trust.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cargo_palyra_skill::attest::{self, Attestation, Roots};
use cargo_palyra_skill::inspect::{InspectReport, inspect};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::input::{SignerArgs, read_artifact};
use crate::operator::OperatorArgs;
use crate::shell::{MessageFormat, OutputArgs, Shell, human_size};
use cargo_palyra_skill::headroom::Level;

/// Show an artifact's entries, manifest summary and signature.
///
/// Reads the archive under the consumer's limits and reports what each
/// check would say, without consulting any trust store. Use `verify` to
/// decide whether to install it. With `-v`, also where each entry lies: its
/// local header and data offsets, sizes, method and CRC-32 (which the local
/// header and the central directory both state; an archive where they
/// differ is refused as `ambiguous_archive`), the central directory and the
/// end record.
///
/// With `--attestation BUNDLE`, also who built it: the repository,
/// workflow, ref, commit and run the bundle's certificate names, once its
/// signature, timestamp and subject verify offline (any repository; use
/// `verify --repo` to require one), signed by a workflow of that
/// repository or by the one `--signer-repo` or `--signer-workflow` names.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill inspect echo.palyra-skill\n",
    "  cargo palyra-skill inspect echo.palyra-skill --message-format json | jq .signature\n",
    "  cargo palyra-skill -v inspect echo.palyra-skill      # with the archive layout\n",
    "  cargo palyra-skill inspect echo.palyra-skill --attestation echo.palyra-skill.sigstore.json\n",
    "  cargo palyra-skill inspect echo.palyra-skill --attestation echo.palyra-skill.sigstore.json --signer-repo acme/workflows\n\n",
    exit_status!("shown (inspect checks nothing: use `verify`)", "could not read the artifact")
))]
pub struct Opts {
    /// The artifact to inspect
    artifact: PathBuf,
    /// Show who built it, from this Sigstore bundle (verified offline, any repository)
    #[arg(long, value_name = "BUNDLE")]
    attestation: Option<PathBuf>,
    /// Trust only this `trusted_root.json` for `--attestation`
    #[arg(long, value_name = "FILE", requires = "attestation")]
    trusted_root: Option<PathBuf>,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    operator: OperatorArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    report: &'a InspectReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation: Option<Attestation>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let bytes = read_artifact(&self.artifact)?;
        let cap = self.operator.read()?.unwrap_or_default().max_module_size_bytes;
        let report = inspect(self.artifact.clone(), &bytes, shell.is_verbose(), cap)
            .with_context(|| format!("could not read artifact `{}`", self.artifact.display()))?;
        let attestation = match &self.attestation {
            Some(bundle) => {
                let required = self.signer.any_repository()?;
                let roots = Roots::load(self.trusted_root.as_deref())?;
                Some(attest::verify_file(bundle, &bytes, &required, &roots)?)
            }
            None => None,
        };
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&Report { report: &report, attestation })?,
            MessageFormat::Human => {
                shell.print(human(&report))?;
                if let Some(attestation) = &attestation {
                    shell.print(attested(attestation))?;
                }
            }
        }
        Ok(Outcome::Success)
    }
}

/// Who built it, and whether the bundle proved it.
fn attested(attestation: &Attestation) -> String {
    let identity = attestation.identity.clone().unwrap_or_default();
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "?".into());
    let mut out = match &attestation.error {
        None => format!("\nattestation: verified offline ({} root)\n", attestation.root),
        Some(error) => {
            format!("\nattestation: NOT verified: {error}\n  what the certificate claims, unproven:\n")
        }
    };
    for (name, value) in [
        ("repository", &identity.repository),
        ("workflow", &identity.workflow),
        ("ref", &identity.git_ref),
        ("commit", &identity.source_commit),
        ("run", &identity.run),
        ("signer", &identity.signer),
        ("runner", &identity.runner),
        ("visibility", &identity.visibility),
    ] {
        out += &format!("  {name:<11} {}\n", shown(value));
    }
    out
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

fn human(r: &InspectReport) -> String {
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
    for m in &r.module_sizes {
        let flag = match m.headroom.level {
            Level::Ok => "",
            Level::Warn => "  (little room left)",
            Level::Over => "  (OVER: Palyra refuses it as quota_exceeded)",
        };
        out += &format!(
            "module    {}: {} of the operator's module cap{flag}\n",
            m.path,
            m.headroom.describe(" bytes")
        );
    }
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
