//! `sign`: sign an unsigned artifact, or re-sign one with another key.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cargo_palyra_skill::artifact::SIGNATURE_PATH;
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
use cargo_palyra_skill::pack;
use cargo_palyra_skill::signing::SignatureRecord;
use cargo_palyra_skill::verify::{check_contents, check_integrity, check_signature};
use clap::Args;

use super::pack::ArtifactReport;
use crate::Outcome;
use crate::input::{KeyArgs, read_entries};
use crate::shell::{OutputArgs, Shell};

/// Sign an artifact, or re-sign it with a new key (key rotation).
///
/// The artifact's contents must be intact: its integrity table must match,
/// and an existing signature must verify (so a tampered artifact is never
/// blessed). Only `signature.json` changes; the payload hash stays the same.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill sign echo.palyra-skill --key release.pem\n",
    "  PALYRA_SKILL_SIGNING_KEY=\"$(cat new.pem)\" cargo palyra-skill sign echo.palyra-skill --out echo-rotated.palyra-skill\n\n",
    exit_status!()
))]
pub struct Opts {
    /// The artifact to sign
    artifact: PathBuf,
    /// Where to write the signed artifact [default: replace ARTIFACT]
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    output: OutputArgs,
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
            Some(_) => {
                let (record, ..) = check_signature(&manifest, &entries)
                    .with_context(|| format!("the existing signature of `{}` does not verify, so its contents cannot be trusted: repack it with `cargo palyra-skill pack`", path.display()))?;
                Some(record)
            }
            None => None,
        };
        let signed_at = pack::signed_at_unix_ms()?;
        let record = pack::sign(&mut entries, &manifest.publisher, &key, signed_at)?;
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
        ArtifactReport::new(out, &manifest, &entries, bytes.len() as u64, Some(record.key_id))
            .finish(shell, self.output.message_format)?;
        Ok(Outcome::Success)
    }
}
