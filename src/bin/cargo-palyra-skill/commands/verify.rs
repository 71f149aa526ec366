//! `verify`: the consumer's verification and trust decision, artifact by artifact.

use std::path::PathBuf;

use anyhow::Result;
use cargo_palyra_skill::attest::Attestation;
use cargo_palyra_skill::parallel::map_in_order;
use cargo_palyra_skill::session::{Options, Session};
use cargo_palyra_skill::trust::TrustDecision;
use cargo_palyra_skill::verdict::{self, ArtifactResult};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::input::{AttestArgs, TrustArgs, read_artifact};
use crate::shell::{MessageFormat, OutputArgs, Shell};

/// Verify artifacts exactly as the Palyra runtime does before installing them.
///
/// Checks, in the consumer's order: the ZIP under its limits, `skill.toml`,
/// the SBOM, the provenance, the modules, the signature over the payload
/// hash, the publisher binding, the integrity table, runtime compatibility,
/// and finally publisher trust (allowlist, then trust-on-first-use pins).
///
/// With `--repo`, the artifact must also carry a GitHub build attestation
/// from that repository (`<artifact>.sigstore.json`, or `--attestation`),
/// checked offline before any trust decision or pin: the certificate chain
/// to Sigstore's or GitHub's root, the transparency log or the timestamp,
/// the signature, the subject against the artifact's SHA-256, and the
/// repository, workflow, ref and commit required. The workflow that signed
/// (the certificate's SAN) must be one of that repository's, as with
/// `gh attestation verify --repo`, unless `--signer-repo` or
/// `--signer-workflow` names another (a reusable workflow's).
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill verify echo.palyra-skill --trusted-publisher acme=79b5...9664\n",
    "  cargo palyra-skill verify dist/*.palyra-skill --trust-store ~/.palyra/trust.json --allow-tofu\n",
    "  cargo palyra-skill verify echo.palyra-skill --allow-tofu --message-format json\n",
    "  cargo palyra-skill verify dist/acme.echo-1.0.0.palyra-skill --allow-tofu --repo acme/echo --workflow .github/workflows/skill.yml --ref 'refs/tags/v*'\n",
    "  cargo palyra-skill verify echo.palyra-skill --attestation echo.palyra-skill.sigstore.json --repo acme/echo --trusted-root trusted_root.json\n",
    "  cargo palyra-skill verify echo.palyra-skill --repo acme/echo --signer-workflow acme/workflows/.github/workflows/release.yml@refs/heads/main\n\n",
    exit_status!("every artifact verified", "an artifact was rejected (the reason is printed)", "could not run (unreadable file, bad trust store, I/O error)")
))]
pub struct Opts {
    /// Artifacts to verify
    #[arg(required = true, value_name = "ARTIFACT")]
    artifacts: Vec<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Accept and pin the key of a publisher seen for the first time
    #[arg(long)]
    allow_tofu: bool,
    #[command(flatten)]
    attest: AttestArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
struct Report {
    verified: usize,
    rejected: usize,
    artifacts: Vec<ArtifactResult>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        // Fail on an unreadable or invalid store before verifying anything.
        if let (Some(store), Some(path)) = (self.trust.load_store()?, &self.trust.trust_store) {
            shell.verbose(
                "Trusting",
                format_args!(
                    "{} allowlisted and {} pinned publishers from `{}`",
                    store.trusted_publishers.len(),
                    store.tofu_publishers.len(),
                    path.display()
                ),
            );
        }
        let options = Options {
            store: self.trust.trust_store.clone(),
            allowlisted: self.trust.allowlisted()?,
            allow_tofu: self.allow_tofu,
            demands: self.attest.demands()?,
        };
        let mut session = Session::open(options, self.artifacts.len())?;
        // Reading and verifying (inflate, hash, signature, attestation) use
        // every core; the session's decisions and pins follow one by one.
        let checked = map_in_order(&self.artifacts, |path| {
            let bytes = read_artifact(path)?;
            anyhow::Ok((bytes.len(), session.check(path, &bytes)?))
        });
        let mut results = Vec::new();
        let mut io_failed = 0;
        for (path, outcome) in self.artifacts.iter().zip(checked) {
            let result = match outcome {
                // One artifact that cannot be read: that is the whole story.
                Err(error) if self.artifacts.len() == 1 => return Err(error),
                Err(error) => {
                    io_failed += 1;
                    verdict::rejected(path, None, "io", format!("{error:#}"))
                }
                Ok((len, checked)) => {
                    shell.verbose("Verified", format_args!("`{}` ({len} bytes)", path.display()));
                    let judged = session.decide(path, checked)?;
                    if let Some(pin) = &judged.repository_pin {
                        shell.note(format_args!("{pin}"));
                    }
                    judged.result
                }
            };
            self.report_one(shell, &result)?;
            results.push(result);
        }
        let verified = results.iter().filter(|r| r.accepted).count();
        let report = Report { verified, rejected: results.len() - verified, artifacts: results };
        if self.output.message_format == MessageFormat::Json {
            shell.print_json(&report)?;
        }
        let summary = format_args!("{} verified, {} rejected", report.verified, report.rejected);
        if report.rejected == 0 {
            shell.status("Finished", summary)
        } else {
            shell.status_failed("Finished", summary)
        }
        if io_failed > 0 {
            anyhow::bail!("could not read {io_failed} of {} artifacts (listed above)", self.artifacts.len());
        }
        Ok(if report.rejected == 0 { Outcome::Success } else { Outcome::CheckFailed })
    }

    fn report_one(&self, shell: &mut Shell, result: &ArtifactResult) -> Result<()> {
        let name = result.artifact.display();
        for warning in &result.manifest_warnings {
            shell.warn(format_args!("{name}: {}: {}", warning.code, warning.message));
        }
        if result.trust_decision == Some(TrustDecision::TofuNewlyPinned) {
            match &self.trust.trust_store {
                Some(store) => shell.note(format_args!(
                    "pinned publisher `{}` to {} in `{}`: its later artifacts must be signed with this key",
                    result.publisher.as_deref().unwrap_or_default(),
                    result.key_id.as_deref().unwrap_or_default(),
                    store.display()
                )),
                None => shell.note(format_args!(
                    "publisher `{}` accepted on first use; the pin was not saved (pass `--trust-store FILE` to keep it)",
                    result.publisher.as_deref().unwrap_or_default()
                )),
            }
        }
        if self.output.message_format == MessageFormat::Json {
            return Ok(());
        }
        if let Some(error) = &result.error {
            shell.print(format_args!("{} {name}\n  {}", Shell::bad("rejected"), error.message))?;
            if let Some(identity) = result.attestation.as_ref().and_then(|a| a.identity.as_ref()) {
                shell.print(format_args!("  the certificate claims: {}", identity.summary()))?;
            }
        } else {
            shell.print(format_args!(
                "{} {name}\n  {} {} by {}, key {} ({})\n  payload sha256 {}",
                Shell::good("verified"),
                result.skill_id.as_deref().unwrap_or_default(),
                result.version.as_deref().unwrap_or_default(),
                result.publisher.as_deref().unwrap_or_default(),
                result.key_id.as_deref().unwrap_or_default(),
                result.trust_decision.map_or("", TrustDecision::describe),
                result.payload_sha256.as_deref().unwrap_or_default(),
            ))?;
            if let Some(attestation) = &result.attestation {
                attested(shell, attestation)?;
            }
        }
        Ok(())
    }
}

/// A verified attestation: who built the artifact, and each check with `-v`.
fn attested(shell: &mut Shell, attestation: &Attestation) -> Result<()> {
    let identity = attestation.identity.clone().unwrap_or_default();
    shell.print(format_args!("  attested: built in {} ({} root)", identity.summary(), attestation.root))?;
    for check in &attestation.checks {
        shell.verbose("Checked", format_args!("{}: {}", check.name, check.detail));
    }
    Ok(())
}
