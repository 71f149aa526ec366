//! `registry verify`: check a static registry as the Palyra runtime would read it.

use std::path::PathBuf;

use anyhow::Result;
use cargo_palyra_skill::attest::Requirements;
use cargo_palyra_skill::registry::{INDEX_FILE, Problem, verify_registry};
use cargo_palyra_skill::session::{Demands, Options, Session};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::Outcome;
use crate::input::{SignerArgs, TrustArgs};
use crate::shell::{MessageFormat, OutputArgs, Shell};

/// Work with a static registry directory.
///
/// A registry is a folder of artifacts with a signed `index.json`, served as
/// files (GitHub Pages, a bucket); `publish` adds to it, `registry verify`
/// checks it as the Palyra runtime would read it.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill publish echo.palyra-skill --registry-dir site/ \\\n",
    "      --key-env PALYRA_SKILL_REGISTRY_KEY\n",
    "  cargo palyra-skill registry verify site/ --trust-store trust.json\n\n",
    reference!()
))]
pub struct Opts {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    Verify(VerifyOpts),
}

/// Verify a registry: the signed index, every entry and every artifact.
///
/// Checks that `index.json` is the consumer's signed index (strict schema,
/// at most 2 MiB and 10,000 entries, payload hash over the compact JSON of
/// `index`, a valid Ed25519 signature), that entries are sorted and unique,
/// that each listed file exists with the listed size and SHA-256 and
/// verifies as an artifact whose manifest matches its entry, and that no
/// artifact under DIR is missing from the index. With a trust store, the
/// index signer and every artifact's publisher key must be trusted in it
/// (allowlisted or pinned; nothing is pinned).
///
/// Every attestation found beside an artifact (`<artifact>.sigstore.json`,
/// as `publish --attestation` stores it) is verified offline for the
/// artifact's bytes; `--require-attestation` refuses an artifact without
/// one, and a trust store's `.github.json` bindings are held to.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill registry verify site/\n",
    "  cargo palyra-skill registry verify site/ --trust-store trust.json --message-format json\n",
    "  cargo palyra-skill registry verify site/ --require-attestation\n",
    "  cargo palyra-skill registry verify site/ --require-attestation --signer-repo acme/workflows\n\n",
    exit_status!("the registry verified", "a check failed (each problem is listed)", "could not read the registry")
))]
struct VerifyOpts {
    /// The registry directory
    dir: PathBuf,
    /// Trust for the index signer and every artifact's publisher (nothing is pinned)
    #[command(flatten)]
    trust: TrustArgs,
    /// Refuse every artifact without a verified attestation beside it
    #[arg(long)]
    require_attestation: bool,
    /// Trust only this `trusted_root.json` for attestations
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    trust_checked: bool,
    attestations_verified: usize,
    #[serde(flatten)]
    registry: cargo_palyra_skill::registry::RegistryReport,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        match self.command {
            RegistryCommand::Verify(opts) => opts.run(shell),
        }
    }
}

impl VerifyOpts {
    fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let trust_checked = self.trust.given();
        if trust_checked {
            self.trust.load_store()?;
        }
        // Nothing is pinned: the session only reads the store and its bindings.
        let session = Session::open(
            Options {
                store: self.trust.trust_store.clone(),
                allowlisted: self.trust.allowlisted()?,
                allow_tofu: false,
                demands: Demands {
                    required: self.require_attestation.then(Requirements::any_repository),
                    bundle: None,
                    signer: self.signer.signer()?,
                    every_bundle: true,
                    trusted_root: self.trusted_root.clone(),
                },
            },
            0,
        )?;
        if !self.dir.is_dir() {
            anyhow::bail!("`{}` is not a directory: pass the registry directory", self.dir.display());
        }
        let (mut report, _) = verify_registry(&self.dir)?;
        for (subject, signer, key) in report.signers.iter().filter(|_| trust_checked) {
            if let Err(rejection) = session.trusts(signer, key) {
                let message = rejection.to_string();
                report.problems.push(Problem { subject: subject.clone(), kind: rejection.kind(), message });
            }
        }
        let mut attestations_verified = 0;
        for (subject, signer, _) in report.signers.clone() {
            if subject == INDEX_FILE {
                continue;
            }
            let artifact = self.dir.join(&subject);
            match session.attestation(&artifact, &signer)? {
                Some(attestation) if attestation.verified => attestations_verified += 1,
                Some(refused) => report.problems.push(Problem {
                    subject,
                    kind: refused.kind.as_str(),
                    message: refused.error.unwrap_or_default(),
                }),
                None => {}
            }
        }
        let ok = report.problems.is_empty();
        if self.output.message_format == MessageFormat::Json {
            shell.print_json(&Report { ok, trust_checked, attestations_verified, registry: report })?;
        } else {
            for problem in &report.problems {
                shell.print(format_args!(
                    "{} {}: {}",
                    Shell::bad(problem.kind),
                    problem.subject,
                    problem.message
                ))?;
            }
            if !trust_checked {
                shell.note("signatures were checked, but no key was checked against a trust store: pass `--trust-store` or `--trusted-publisher`");
            }
            let summary = format_args!(
                "{}: {} entries, {} artifacts checked ({attestations_verified} attested), index signed by `{}` with {}, {} problem{}",
                self.dir.display(),
                report.entries,
                report.artifacts_checked,
                report.index_signer.as_deref().unwrap_or("?"),
                report.index_key_id.as_deref().unwrap_or("an invalid signature"),
                report.problems.len(),
                if report.problems.len() == 1 { "" } else { "s" }
            );
            if ok { shell.status("Verified", summary) } else { shell.status_failed("Rejected", summary) }
        }
        Ok(if ok { Outcome::Success } else { Outcome::CheckFailed })
    }
}
