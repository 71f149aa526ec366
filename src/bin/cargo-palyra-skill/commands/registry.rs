//! `registry verify`: check a static registry as the Palyra runtime would read it.

use std::path::PathBuf;

use anyhow::Result;
use cargo_palyra_skill::attest::policy::{self, GithubPolicy};
use cargo_palyra_skill::attest::{self, Requirements, Roots};
use cargo_palyra_skill::registry::{INDEX_FILE, Problem, RegistryReport, verify_registry};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::Outcome;
use crate::input::{TrustArgs, read_artifact};
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
    "  cargo palyra-skill registry verify site/ --require-attestation\n\n",
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
    /// Verifies each artifact's bundle, where there is one or one is
    /// required (by `--require-attestation` or a binding); returns how
    /// many verified.
    fn check_attestations(&self, report: &mut RegistryReport) -> Result<usize> {
        let policy = match &self.trust.trust_store {
            Some(store) => {
                let path = policy::path_beside(store);
                Some((GithubPolicy::load(&path)?, path))
            }
            None => None,
        };
        // A root file is checked up front, bundles or not; the built-in
        // roots load when a bundle needs them.
        let mut roots = self.trusted_root.as_deref().map(Roots::from_file).transpose()?;
        let mut verified = 0;
        for (subject, publisher, _) in report.signers.clone() {
            if subject == INDEX_FILE {
                continue;
            }
            let artifact = self.dir.join(&subject);
            let bundle = attest::bundle_path_for(&artifact);
            let bound =
                policy.as_ref().and_then(|(p, path)| p.requirement(&publisher).map(|(r, s)| (r, s, path)));
            if !bundle.exists() {
                if self.require_attestation || bound.is_some() {
                    let missing = match &bound {
                        Some((required, source, path)) => {
                            attest::missing_for(&bundle, &publisher, required, *source, path)
                        }
                        None => attest::missing(&bundle),
                    };
                    report.problems.push(Problem {
                        subject,
                        kind: if missing.kind == "attestation" {
                            "missing_attestation"
                        } else {
                            missing.kind
                        },
                        message: missing.error.unwrap_or_default(),
                    });
                }
                continue;
            }
            let roots = match &mut roots {
                Some(roots) => roots,
                None => roots.insert(Roots::built_in()?),
            };
            let bytes = read_artifact(&artifact)?;
            let mut attestation =
                attest::verify_file(&bundle, &bytes, &Requirements::any_repository(), roots)?;
            if let Some((required, source, path)) = bound {
                attestation.require_also(&required, &publisher, source, path);
            }
            match attestation.error {
                None => verified += 1,
                Some(error) => {
                    report.problems.push(Problem { subject, kind: attestation.kind, message: error })
                }
            }
        }
        Ok(verified)
    }

    fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let store = if self.trust.given() { Some(self.trust.store()?) } else { None };
        if !self.dir.is_dir() {
            anyhow::bail!("`{}` is not a directory: pass the registry directory", self.dir.display());
        }
        let (mut report, _) = verify_registry(&self.dir)?;
        if let Some(store) = &store {
            for (subject, signer, key) in &report.signers {
                // A check never pins: decide on a copy.
                if let Err(rejection) = store.clone().decide(signer, key, false) {
                    report.problems.push(Problem {
                        subject: subject.clone(),
                        kind: rejection.kind(),
                        message: rejection.to_string(),
                    });
                }
            }
        }
        let attestations_verified = self.check_attestations(&mut report)?;
        let ok = report.problems.is_empty();
        let trust_checked = store.is_some();
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
