//! `--attestation`, `--repo` and friends: the GitHub build attestation an
//! artifact must carry, for `verify` and `inspect`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_palyra_skill::attest::{self, Attestation, Identity, Requirements, Roots};
use clap::Args;

use crate::shell::Shell;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Attestation")]
pub struct AttestArgs {
    /// Verify this Sigstore bundle (`<artifact>.sigstore.json`) for the artifact, offline; with `--repo`, it is looked for beside each artifact
    #[arg(long, value_name = "BUNDLE", requires = "repo")]
    pub attestation: Option<PathBuf>,
    /// Require a GitHub build attestation from this repository
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// ... built by this workflow of the repository
    #[arg(long, value_name = "PATH", requires = "repo")]
    pub workflow: Option<String>,
    /// ... from this ref (`refs/tags/v1.0.0`, or a prefix ending in `*`)
    #[arg(long = "ref", value_name = "REF", requires = "repo")]
    pub git_ref: Option<String>,
    /// ... at this commit (40 hex digits)
    #[arg(long, value_name = "SHA", requires = "repo")]
    pub source_commit: Option<String>,
    /// Trust only this `trusted_root.json` (`gh attestation trusted-root` prints one) instead of the built-in Sigstore and GitHub roots
    #[arg(long, value_name = "FILE", requires = "repo")]
    pub trusted_root: Option<PathBuf>,
}

/// The requirements and roots, checked once before any artifact is read.
pub struct Attester {
    required: Requirements,
    roots: Roots,
    bundle: Option<PathBuf>,
}

impl AttestArgs {
    /// `None` when no attestation is required.
    pub fn attester(&self, artifacts: usize) -> Result<Option<Attester>> {
        let Some(repo) = &self.repo else { return Ok(None) };
        if self.attestation.is_some() && artifacts > 1 {
            anyhow::bail!(
                "`--attestation` names one bundle, for one artifact; with several artifacts, put each `<artifact>.sigstore.json` beside its artifact and pass only `--repo`"
            );
        }
        let required = Requirements::new(
            repo,
            self.workflow.as_deref(),
            self.git_ref.as_deref(),
            self.source_commit.as_deref(),
        )?;
        let roots = match &self.trusted_root {
            Some(path) => Roots::from_file(path)?,
            None => Roots::built_in()?,
        };
        Ok(Some(Attester { required, roots, bundle: self.attestation.clone() }))
    }
}

impl Attester {
    /// The attestation for `artifact` (its bytes): the bundle given, or
    /// the one beside it. An unreadable bundle given by name stops the run.
    pub fn check(&self, artifact: &Path, bytes: &[u8]) -> Result<Attestation> {
        let path = self.bundle.clone().unwrap_or_else(|| attest::bundle_path_for(artifact));
        if self.bundle.is_none() && !path.exists() {
            return Ok(attest::missing(&path));
        }
        Ok(attest::verify_file(&path, bytes, &self.required, &self.roots)?)
    }
}

/// `acme/echo, .github/workflows/skill.yml at refs/tags/v1.0.0, commit 0123…, run https://…`
pub fn describe(identity: &Identity) -> String {
    let unknown = || "?".to_owned();
    let mut text = format!(
        "{}, {} at {}, commit {}",
        identity.repository.clone().unwrap_or_else(unknown),
        identity.workflow.clone().unwrap_or_else(unknown),
        identity.git_ref.clone().unwrap_or_else(unknown),
        identity.source_commit.clone().unwrap_or_else(unknown),
    );
    if let Some(run) = &identity.run {
        text.push_str(&format!(", run {run}"));
    }
    if identity.signer.is_some() && identity.signer != identity.workflow_uri() {
        text.push_str(&format!(", signed by {}", identity.signer.clone().unwrap_or_default()));
    }
    text
}

/// A verified attestation: who built the artifact, and each check with `-v`.
pub fn print(shell: &mut Shell, attestation: &Attestation) -> Result<()> {
    let identity = attestation.identity.clone().unwrap_or_default();
    shell.print(format_args!("  attested: built in {} ({} root)", describe(&identity), attestation.root))?;
    for check in &attestation.checks {
        shell.verbose("Checked", format_args!("{}: {}", check.name, check.detail));
    }
    Ok(())
}
