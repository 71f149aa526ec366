//! `--attestation`, `--repo` and friends: the GitHub build attestation an
//! artifact must carry, for `verify` and `inspect`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use std::sync::OnceLock;

use cargo_palyra_skill::attest::policy::{self, GithubPolicy, Source};
use cargo_palyra_skill::attest::{self, Attestation, Identity, Requirements, Roots};
use clap::Args;

use crate::shell::Shell;

#[derive(Debug, Clone, Args)]
pub struct AttestArgs {
    /// Verify this Sigstore bundle (`<artifact>.sigstore.json`) for the artifact, offline; with `--repo`, it is looked for beside each artifact
    #[arg(long, value_name = "BUNDLE", help_heading = "Attestation")]
    pub attestation: Option<PathBuf>,
    /// Require a GitHub build attestation from this repository
    #[arg(long, value_name = "OWNER/NAME", help_heading = "Attestation")]
    pub repo: Option<String>,
    /// ... built by this workflow of the repository
    #[arg(long, value_name = "PATH", requires = "repo", help_heading = "Attestation")]
    pub workflow: Option<String>,
    /// ... from this ref (`refs/tags/v1.0.0`, or a prefix ending in `*`)
    #[arg(long = "ref", value_name = "REF", requires = "repo", help_heading = "Attestation")]
    pub git_ref: Option<String>,
    /// ... at this commit (40 hex digits)
    #[arg(long, value_name = "SHA", requires = "repo", help_heading = "Attestation")]
    pub source_commit: Option<String>,
    /// Trust only this `trusted_root.json` (`gh attestation trusted-root` prints one) instead of the built-in Sigstore and GitHub roots
    #[arg(long, value_name = "FILE", help_heading = "Attestation")]
    pub trusted_root: Option<PathBuf>,
}

/// The requirements and roots, checked once before any artifact is read.
pub struct Attester {
    /// `--repo` and friends.
    required: Option<Requirements>,
    bundle: Option<PathBuf>,
    trusted_root: Option<Roots>,
    built_in: OnceLock<Result<Roots, String>>,
    /// The trust store's GitHub bindings and pins, and their file.
    policy: Option<(PathBuf, GithubPolicy)>,
    allow_tofu: bool,
}

impl AttestArgs {
    /// What attestations the run requires: `--repo`, and the bindings
    /// beside `trust_store`.
    pub fn attester(
        &self,
        artifacts: usize,
        trust_store: Option<&Path>,
        allow_tofu: bool,
    ) -> Result<Attester> {
        if self.attestation.is_some() && artifacts > 1 {
            anyhow::bail!(
                "`--attestation` names one bundle, for one artifact; with several artifacts, put each `<artifact>.sigstore.json` beside its artifact and pass only `--repo`"
            );
        }
        if self.repo.is_none()
            && trust_store.is_none()
            && (self.attestation.is_some() || self.trusted_root.is_some())
        {
            anyhow::bail!(
                "an attestation is checked against the repository it must come from: pass `--repo OWNER/NAME` (or a `--trust-store` whose `.github.json` binds the publisher)"
            );
        }
        let required = match &self.repo {
            Some(repo) => Some(Requirements::new(
                repo,
                self.workflow.as_deref(),
                self.git_ref.as_deref(),
                self.source_commit.as_deref(),
            )?),
            None => None,
        };
        let trusted_root = self.trusted_root.as_deref().map(Roots::from_file).transpose()?;
        let policy = match trust_store {
            Some(store) => {
                let path = policy::path_beside(store);
                Some((path.clone(), GithubPolicy::load(&path)?))
            }
            None => None,
        };
        Ok(Attester {
            required,
            bundle: self.attestation.clone(),
            trusted_root,
            built_in: OnceLock::new(),
            policy,
            allow_tofu,
        })
    }
}

impl Attester {
    fn roots(&self) -> Result<&Roots> {
        if let Some(roots) = &self.trusted_root {
            return Ok(roots);
        }
        self.built_in
            .get_or_init(|| Roots::built_in().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The attestation for `artifact` (its bytes) of `publisher`, if one
    /// is required or, on a first use that pins, present beside it. An
    /// unreadable bundle given by name stops the run.
    pub fn check(&self, artifact: &Path, bytes: &[u8], publisher: &str) -> Result<Option<Attestation>> {
        let from_policy = self.policy.as_ref().and_then(|(path, policy)| {
            policy.requirement(publisher).map(|(required, source)| (required, source, path))
        });
        let path = self.bundle.clone().unwrap_or_else(|| attest::bundle_path_for(artifact));
        // A publisher neither required nor pinned: a bundle beside a first
        // use is verified so that its repository can be pinned.
        let first_use = self.allow_tofu && self.policy.is_some() && path.exists();
        if self.required.is_none() && from_policy.is_none() && !first_use && self.bundle.is_none() {
            return Ok(None);
        }
        if self.bundle.is_none() && !path.exists() {
            return Ok(Some(match &from_policy {
                Some((required, source, policy)) => {
                    attest::missing_for(&path, publisher, required, *source, policy)
                }
                None => attest::missing(&path),
            }));
        }
        let required = self.required.clone().unwrap_or_else(Requirements::any_repository);
        let mut attestation = attest::verify_file(&path, bytes, &required, self.roots()?)?;
        if let Some((required, source, policy)) = from_policy {
            attestation.require_also(&required, publisher, source, policy);
        }
        Ok(Some(attestation))
    }

    /// An artifact of a publisher whose repository this very run pinned:
    /// held to the pin as a later run would hold it.
    pub fn hold_to_pin(
        &self,
        artifact: &Path,
        publisher: &str,
        repository: &str,
        attestation: Option<Attestation>,
    ) -> Option<Attestation> {
        let policy = self.policy.as_ref().map_or(Path::new("trust.github.json"), |(path, _)| path.as_path());
        let required = Requirements::new(repository, None, None, None).ok()?;
        Some(match attestation {
            Some(mut attestation) => {
                attestation.require_also(&required, publisher, Source::Pinned, policy);
                attestation
            }
            None => attest::missing_for(
                &attest::bundle_path_for(artifact),
                publisher,
                &required,
                Source::Pinned,
                policy,
            ),
        })
    }

    /// After a first-use pin: records the repository the attestation
    /// named, under the trust store's lock, unless one is bound or pinned.
    /// Returns the note to print, and the repository when it pinned one.
    pub fn pin_repository(
        &self,
        store: &Path,
        publisher: &str,
        attestation: &Attestation,
    ) -> Result<Option<(String, Option<String>)>> {
        let (Some((path, _)), true) = (&self.policy, attestation.verified) else { return Ok(None) };
        let Some(repository) = attestation.identity.as_ref().and_then(|i| i.repository.clone()) else {
            return Ok(None);
        };
        // Only a repository that `--repo` could name is pinned: the file must load again.
        if Requirements::new(&repository, None, None, None).is_err() {
            let note = format!(
                "publisher `{publisher}`'s repository was not pinned: the certificate names `{repository}`, which is not `OWNER/NAME`"
            );
            return Ok(Some((note, None)));
        }
        let saved = cargo_palyra_skill::trust::TrustStore::update(store, |_| {
            let mut policy = GithubPolicy::load(path)?;
            if policy.publishers.contains_key(publisher) || policy.tofu_repositories.contains_key(publisher) {
                return Ok(false);
            }
            policy.tofu_repositories.insert(publisher.to_owned(), repository.clone());
            policy.save(path).map(|()| true)
        })?;
        Ok(saved?.then(|| {
            let note = format!(
                "pinned publisher `{publisher}` to repository `{repository}` in `{}`: its later artifacts must be attested from there",
                path.display()
            );
            (note, Some(repository.clone()))
        }))
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
