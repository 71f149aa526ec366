//! `sign`: sign an unsigned artifact, or re-sign one with another key.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::artifact::{PROVENANCE_PATH, SIGNATURE_PATH};
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
use cargo_palyra_skill::pack;
use cargo_palyra_skill::provenance::dsse_envelope;
use cargo_palyra_skill::signing::SignatureRecord;
use cargo_palyra_skill::verify::{check_contents, check_integrity, check_signature};
use clap::Args;

use super::pack::ArtifactReport;
use crate::Outcome;
use crate::input::{KeyArgs, read_entries};
use crate::shell::{MessageFormat, OutputArgs, Shell};

/// Sign an artifact, or re-sign it with a new key (key rotation).
///
/// The artifact's contents must be intact: its integrity table must match,
/// and an existing signature must verify (so a tampered artifact is never
/// blessed). Only `signature.json` changes; the payload hash stays the same.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill sign echo.palyra-skill --key release.pem\n",
    "  VAULT_ADDR=https://vault.example.com:8200 cargo palyra-skill sign echo.palyra-skill --key hashivault://acme\n",
    "  PALYRA_SKILL_SIGNING_KEY=\"$(cat new.pem)\" cargo palyra-skill sign echo.palyra-skill --out echo-rotated.palyra-skill\n",
    "  cargo palyra-skill sign target/palyra-skill/acme.echo-1.0.0.palyra-skill --key release.pem --attestation\n",
    "  cargo palyra-skill sign unsigned/acme.echo-1.0.0.palyra-skill --require-unsigned --out dist/acme.echo-1.0.0.palyra-skill\n\n",
    exit_status!("signed", "could not sign (no key, an artifact that does not verify, I/O error)")
))]
pub struct Opts {
    /// The artifact to sign
    artifact: PathBuf,
    /// Where to write the signed artifact [default: replace ARTIFACT]
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    /// Also write `<artifact>.intoto.jsonl`: the artifact's provenance as a
    /// DSSE envelope signed with the same key (as `build --attestation` does)
    #[arg(long)]
    attestation: bool,
    /// Refuse an artifact that is already signed: for a job that signs what
    /// a keyless build job made, where any signature is out of place
    #[arg(long)]
    require_unsigned: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `sign --message-format json`: the artifact, and the attestation when written.
#[derive(serde::Serialize)]
struct Report {
    #[serde(flatten)]
    artifact: ArtifactReport,
    attestation: Option<PathBuf>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let (key, source) = self.key.require(shell, "signing key")?;
        let path = &self.artifact;
        let mut entries = read_entries(path)?;
        let context = || format!("refusing to sign `{}`", path.display());
        let manifest = check_contents(&entries).with_context(context)?;
        check_integrity(&manifest, &entries).with_context(context)?;
        let previous = match entries.get(SIGNATURE_PATH) {
            Some(_) if self.require_unsigned => bail!(
                "refusing to sign `{}`: it already holds `{SIGNATURE_PATH}`, and `--require-unsigned` expects the unsigned artifact of a build that holds no key (`build --unsigned`); sign the artifact that build made",
                path.display()
            ),
            Some(_) => {
                let (record, ..) = check_signature(&manifest, &entries)
                    .with_context(|| format!("the existing signature of `{}` does not verify, so its contents cannot be trusted: repack it with `cargo palyra-skill pack`", path.display()))?;
                Some(record)
            }
            None => None,
        };
        let signed_at = pack::signed_at_for(&entries)?;
        let record = pack::sign(&mut entries, &manifest.publisher, &*key, signed_at)?;
        match previous.as_ref().map(|p: &SignatureRecord| &p.key_id) {
            Some(old) if *old != record.key_id => shell.status(
                "Re-signing",
                format_args!(
                    "{} {}: {old} -> {} from {source}",
                    manifest.skill_id, manifest.version, record.key_id
                ),
            ),
            Some(_) => shell.status(
                "Re-signing",
                format_args!(
                    "{} {} with {} from {source}",
                    manifest.skill_id, manifest.version, record.key_id
                ),
            ),
            None => shell.status(
                "Signing",
                format_args!(
                    "{} {} with {} from {source}",
                    manifest.skill_id, manifest.version, record.key_id
                ),
            ),
        }
        let out = self.out.as_ref().unwrap_or(path);
        let bytes = entries.to_zip()?;
        write_atomic(out, &bytes, Some(0o644), Existing::Replace)
            .with_context(|| format!("could not write `{}`", out.display()))?;
        let attestation = if self.attestation {
            let statement = entries.get(PROVENANCE_PATH).map(|e| e.bytes.as_slice()).unwrap_or_default();
            let mut path = out.clone().into_os_string();
            path.push(".intoto.jsonl");
            let path = PathBuf::from(path);
            write_atomic(&path, dsse_envelope(statement, &*key)?.as_bytes(), Some(0o644), Existing::Replace)
                .with_context(|| format!("could not write `{}`", path.display()))?;
            shell.status("Attested", format_args!("`{}`", path.display()));
            Some(path)
        } else {
            None
        };
        let artifact = ArtifactReport::new(out, &manifest, &entries, bytes.len() as u64, Some(record.key_id));
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&Report { artifact, attestation })?,
            MessageFormat::Human => artifact.finish(shell, MessageFormat::Human)?,
        }
        Ok(Outcome::Success)
    }
}
