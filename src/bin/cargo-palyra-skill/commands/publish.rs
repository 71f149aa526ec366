//! `publish`: add a verified artifact to a static registry and re-sign its index.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::attest::{self, Roots};
use cargo_palyra_skill::pack::signed_at_unix_ms;
use cargo_palyra_skill::registry::{self, PublishRequest};
use cargo_palyra_skill::verify::verify_bytes;
use clap::Args;

use crate::Outcome;
use crate::input::{KeyArgs, SignerArgs, dev_key, dev_key_exists, read_artifact};
use crate::shell::{MessageFormat, OutputArgs, Shell, human_size};

/// Publish an artifact to a static registry directory.
///
/// Verifies the artifact as the Palyra runtime would, copies it to
/// `DIR/<publisher>/<skill_id>/<skill_id>-<version>.palyra-skill`, and
/// rewrites `DIR/index.json` as the signed index the runtime reads over
/// https: every artifact under DIR, sorted by skill id then version,
/// signed with the registry key. A published version never changes:
/// publishing different bytes under an existing version is refused, the
/// same bytes are a no-op. Concurrent publishes into one directory are
/// serialized by a lock (`DIR.lock`, beside the directory, never in it).
///
/// With `--attestation BUNDLE`, the GitHub build attestation is verified
/// for the artifact's bytes (offline, any repository, signed by one of its
/// own workflows unless `--signer-repo` or `--signer-workflow` names
/// another) and stored beside it as `<artifact>.sigstore.json`, where
/// `registry verify` and `verify` find it.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill publish echo.palyra-skill --registry-dir site/ --key registry.pem\n",
    "  cargo palyra-skill publish echo.palyra-skill --registry-dir site/ --dry-run\n",
    "  REGISTRY_KEY=... cargo palyra-skill publish echo.palyra-skill --registry-dir site/ --key-env REGISTRY_KEY\n",
    "  cargo palyra-skill publish echo.palyra-skill --attestation echo.palyra-skill.sigstore.json --registry-dir site/ --key registry.pem\n",
    "  cargo palyra-skill publish echo.palyra-skill --attestation echo.palyra-skill.sigstore.json --signer-repo acme/workflows --registry-dir site/ --key registry.pem\n\n",
    exit_status!("published, or already published with the same bytes", "could not publish (an artifact that does not verify, the same version with other bytes, a registry signed by another key, I/O error)")
))]
pub struct Opts {
    /// The artifact to publish
    artifact: PathBuf,
    /// The registry directory (created if missing)
    #[arg(long, value_name = "DIR")]
    registry_dir: PathBuf,
    /// The index signer's name [default: the current index's, else `registry`]
    #[arg(long, value_name = "NAME")]
    registry_name: Option<String>,
    /// Show what would change without writing anything
    #[arg(long)]
    dry_run: bool,
    /// Re-read and re-verify every artifact in the directory instead of
    /// trusting the current `index.json` (needed when it is not signed by this key)
    #[arg(long)]
    rebuild_index: bool,
    /// Publish an artifact signed with your local development key (which no
    /// operator trusts), for a test registry
    #[arg(long)]
    allow_dev_key: bool,
    /// Store this Sigstore bundle beside the artifact, once it verifies for its bytes
    #[arg(long, value_name = "BUNDLE")]
    attestation: Option<PathBuf>,
    /// Trust only this `trusted_root.json` when verifying `--attestation`
    #[arg(long, value_name = "FILE", requires = "attestation")]
    trusted_root: Option<PathBuf>,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl Opts {
    /// An artifact signed with the local development key is refused unless
    /// `--allow-dev-key`: it would publish a skill no operator can trust.
    fn refuse_dev_key(&self, bytes: &[u8]) -> Result<()> {
        if self.allow_dev_key || !dev_key_exists() {
            return Ok(());
        }
        let Ok((_, verified)) = verify_bytes(bytes) else {
            return Ok(()); // `publish` reports why it does not verify.
        };
        let (dev, path, _) = dev_key()?;
        if dev.public() == verified.public_key {
            bail!(
                "`{}` is signed with your local development key {} (`{}`), which no operator trusts: sign it with your publisher key (`cargo palyra-skill sign {} --key FILE`), or pass `--allow-dev-key` for a test registry",
                self.artifact.display(),
                dev.public().key_id(),
                path.display(),
                self.artifact.display()
            );
        }
        Ok(())
    }

    /// The bundle's bytes, once it proves a GitHub Actions build of these
    /// bytes: a registry never serves an attestation for something else.
    fn attestation(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(path) = &self.attestation else { return Ok(None) };
        let required = self.signer.any_repository()?;
        let roots = Roots::load(self.trusted_root.as_deref())?;
        let bundle = attest::read_bundle(path)?;
        let checked = attest::verify(path, &bundle, bytes, &required, &roots);
        if let Some(error) = checked.error {
            bail!(
                "the attestation `{}` does not verify for `{}`: {error}",
                path.display(),
                self.artifact.display()
            );
        }
        Ok(Some(bundle))
    }

    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let (key, source) = self.key.require(shell, "registry signing key")?;
        shell.verbose("Signing", format_args!("the index with {} from {source}", key.public().key_id()));
        let bytes = read_artifact(&self.artifact)?;
        self.refuse_dev_key(&bytes)?;
        let attestation = self.attestation(&bytes)?;
        let now = signed_at_unix_ms()?;
        let report = registry::publish(PublishRequest {
            dir: &self.registry_dir,
            artifact: &bytes,
            key: &*key,
            registry_name: self.registry_name.as_deref(),
            now_unix_ms: now,
            dry_run: self.dry_run,
            rebuild_index: self.rebuild_index,
            attestation: attestation.as_deref(),
        })
        .with_context(|| format!("could not publish `{}`", self.artifact.display()))?;
        if self.output.message_format == MessageFormat::Json {
            shell.print_json(&report)?;
            return Ok(Outcome::Success);
        }
        let would = if report.dry_run { "would be " } else { "" };
        let what = format!("{} {}", report.skill_id, report.version);
        if report.copied {
            shell.status(
                if report.dry_run { "Would publish" } else { "Published" },
                format_args!("{what} ({}) as `{}`", human_size(bytes.len() as u64), report.artifact),
            );
        } else {
            shell.status("Unchanged", format_args!("{what}: the same bytes are already published"));
        }
        for entry in &report.added {
            shell.verbose(
                "Indexed",
                format_args!("+ {} {} `{}`", entry.skill_id, entry.version, entry.artifact),
            );
        }
        for entry in &report.removed {
            shell.status(
                "Unindexed",
                format_args!("- {} {} `{}` (file gone)", entry.skill_id, entry.version, entry.artifact),
            );
        }
        if let Some(stored) = &report.attestation {
            shell
                .status(if report.dry_run { "Would attest" } else { "Attested" }, format_args!("`{stored}`"));
        }
        if report.index_rewritten {
            shell.status(
                "Signed",
                format_args!(
                    "index.json {would}rewritten: {} artifacts, payload {}, key {}",
                    report.index_entries, report.index_payload_sha256, report.index_key_id
                ),
            );
        }
        Ok(Outcome::Success)
    }
}
