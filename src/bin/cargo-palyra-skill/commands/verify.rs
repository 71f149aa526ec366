//! `verify`: the consumer's verification and trust decision, artifact by artifact.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_palyra_skill::manifest::ManifestWarning;
use cargo_palyra_skill::parallel::map_in_order;
use cargo_palyra_skill::signing::PublicKey;
use cargo_palyra_skill::trust::{TrustDecision, TrustRejection, TrustStore};
use cargo_palyra_skill::verify::{Verified, VerifyError, verify_bytes};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::input::{TrustArgs, read_artifact};
use crate::shell::{MessageFormat, Shell};

/// Verify artifacts exactly as the Palyra runtime does before installing them.
///
/// Checks, in the consumer's order: the ZIP under its limits, `skill.toml`,
/// the SBOM, the provenance, the modules, the signature over the payload
/// hash, the publisher binding, the integrity table, runtime compatibility,
/// and finally publisher trust (allowlist, then trust-on-first-use pins).
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill verify echo.palyra-skill --trusted-publisher acme=79b5...9664\n",
    "  cargo palyra-skill verify dist/*.palyra-skill --trust-store ~/.palyra/trust.json --allow-tofu\n",
    "  cargo palyra-skill verify echo.palyra-skill --allow-tofu --message-format json\n\n",
    exit_status!()
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
    /// Output format
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

#[derive(Serialize)]
struct Rejection {
    kind: &'static str,
    message: String,
}

#[derive(Serialize, Default)]
struct ArtifactResult {
    artifact: PathBuf,
    accepted: bool,
    skill_id: Option<String>,
    version: Option<String>,
    publisher: Option<String>,
    payload_sha256: Option<String>,
    key_id: Option<String>,
    public_key_hex: Option<String>,
    trust_decision: Option<TrustDecision>,
    manifest_warnings: Vec<ManifestWarning>,
    error: Option<Rejection>,
}

#[derive(Serialize)]
struct Report {
    verified: usize,
    rejected: usize,
    artifacts: Vec<ArtifactResult>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let overlay = self.trust.allowlisted()?;
        let mut memory = TrustStore::default();
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
        // Reading and verifying (inflate, hash, signature) use every core;
        // trust decisions and pins follow one by one, in input order.
        let checked = map_in_order(&self.artifacts, |path| {
            read_artifact(path).map(|bytes| (bytes.len(), verify_bytes(&bytes).map(|(_, verified)| verified)))
        });
        let mut results = Vec::new();
        let mut io_failed = 0;
        for (path, outcome) in self.artifacts.iter().zip(checked) {
            let result = match outcome {
                // One artifact that cannot be read: that is the whole story.
                Err(error) if self.artifacts.len() == 1 => return Err(error),
                Err(error) => {
                    io_failed += 1;
                    rejected(path, None, "io", format!("{error:#}"))
                }
                Ok((len, verified)) => {
                    shell.verbose("Verified", format_args!("`{}` ({len} bytes)", path.display()));
                    self.check(path, verified, &overlay, &mut memory)?
                }
            };
            self.report_one(shell, &result)?;
            results.push(result);
        }
        let verified = results.iter().filter(|r| r.accepted).count();
        let report = Report { verified, rejected: results.len() - verified, artifacts: results };
        if self.message_format == MessageFormat::Json {
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

    /// Step 11 (trust) after steps 1-10.
    fn check(
        &self,
        path: &Path,
        verified: Result<Verified, VerifyError>,
        overlay: &[(String, PublicKey)],
        memory: &mut TrustStore,
    ) -> Result<ArtifactResult> {
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => return Ok(rejected(path, None, error.kind(), error.to_string())),
        };
        Ok(match self.decide(&verified, overlay, memory)? {
            Ok(decision) => accepted(path, verified, decision),
            Err(rejection) => rejected(path, Some(verified), rejection.kind(), rejection.to_string()),
        })
    }

    /// Step 11 against the store file (locked, pins saved) or the in-memory one.
    fn decide(
        &self,
        verified: &Verified,
        overlay: &[(String, PublicKey)],
        memory: &mut TrustStore,
    ) -> Result<Result<TrustDecision, TrustRejection>> {
        let publisher = &verified.manifest.publisher;
        let key = &verified.public_key;
        let decide = |store: &mut TrustStore| {
            let mut view = store.clone();
            for (name, key) in overlay {
                view.trust(name, key).expect("publisher checked when parsed");
            }
            let decision = view.decide(publisher, key, self.allow_tofu);
            if decision == Ok(TrustDecision::TofuNewlyPinned) {
                store.tofu_publishers.insert(publisher.clone(), key.to_hex());
            }
            decision
        };
        match &self.trust.trust_store {
            Some(path) => TrustStore::update(path, decide)
                .with_context(|| format!("could not use trust store `{}`", path.display())),
            None => Ok(decide(memory)),
        }
    }

    fn report_one(&self, shell: &mut Shell, result: &ArtifactResult) -> Result<()> {
        let name = result.artifact.display();
        for warning in &result.manifest_warnings {
            shell.warn(format_args!("{name}: {}: {}", warning.code, warning.message));
        }
        if result.trust_decision == Some(TrustDecision::TofuNewlyPinned) {
            match &self.trust.trust_store {
                Some(store) => shell.note(format_args!(
                    "pinned publisher `{}` to {} in `{}`",
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
        if self.message_format == MessageFormat::Json {
            return Ok(());
        }
        if let Some(error) = &result.error {
            shell.print(format_args!("{} {name}\n  {}", Shell::bad("rejected"), error.message))?;
        } else {
            shell.print(format_args!(
                "{} {name}\n  {} {} by {}, key {} ({})\n  payload sha256 {}",
                Shell::good("verified"),
                result.skill_id.as_deref().unwrap_or_default(),
                result.version.as_deref().unwrap_or_default(),
                result.publisher.as_deref().unwrap_or_default(),
                result.key_id.as_deref().unwrap_or_default(),
                result.trust_decision.map_or("", TrustDecision::as_str),
                result.payload_sha256.as_deref().unwrap_or_default(),
            ))?;
        }
        Ok(())
    }
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

fn accepted(path: &Path, verified: Verified, decision: TrustDecision) -> ArtifactResult {
    ArtifactResult { accepted: true, trust_decision: Some(decision), ..describe(path, Some(verified)) }
}

fn rejected(path: &Path, verified: Option<Verified>, kind: &'static str, message: String) -> ArtifactResult {
    ArtifactResult { error: Some(Rejection { kind, message }), ..describe(path, verified) }
}
