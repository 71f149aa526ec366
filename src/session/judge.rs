//! The session itself: [`Session::check`] (steps 1 to 10 and the bundle,
//! on every core) and [`Session::decide`] (bindings, pins and step 11,
//! under the trust store's lock), and `registry verify`'s read-only
//! questions.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::options::{Options, SessionError};
use super::pins::{RepositoryPin, commit, decide_key, pin_repository, with_allowlist};
use crate::attest::policy::{self, GithubPolicy};
use crate::attest::{self, AttestError, Attestation, Requirements, Roots, Signer};
use crate::signing::PublicKey;
use crate::trust::{Reason, TrustDecision, TrustRejection, TrustStore};
use crate::verdict::{self, ArtifactResult};
use crate::verify::{Verified, VerifyError, verify_bytes};

/// An artifact's bundle, as [`Session::check`] left it.
#[derive(Debug)]
enum Bundle {
    /// Nothing asked for it when the session opened.
    NotChecked(PathBuf),
    /// Asked for, and not there.
    Missing(PathBuf),
    Checked(Box<Attestation>),
}

/// Steps 1 to 10 and the attestation of one artifact, before any trust decision.
#[derive(Debug)]
pub struct Checked {
    verified: Result<Verified, VerifyError>,
    bundle: Bundle,
}

/// One artifact's verdict, and the repository pin it made.
#[derive(Debug)]
pub struct Judged {
    pub result: ArtifactResult,
    pub repository_pin: Option<RepositoryPin>,
}

impl From<ArtifactResult> for Judged {
    fn from(result: ArtifactResult) -> Judged {
        Judged { result, repository_pin: None }
    }
}

pub struct Session {
    options: Options,
    /// The run's requirement, with its signer.
    required: Option<Requirements>,
    /// The run's signer rule, for its requirement and for pins.
    signer: Signer,
    /// The keys allowlisted for the run, as a store.
    allowlist: TrustStore,
    /// The store and `trust.github.json` as they were when the session
    /// opened: which bundles to check, and `registry verify`'s decisions.
    store: TrustStore,
    policy: Option<(PathBuf, GithubPolicy)>,
    root_file: Option<Roots>,
    built_in: OnceLock<Roots>,
    /// First-use key pins of a run without a store file.
    memory: TrustStore,
}

impl Session {
    /// Checks the options, the store, its bindings and the root file
    /// before any of `artifacts` artifacts is read.
    pub fn open(options: Options, artifacts: usize) -> Result<Session, SessionError> {
        let demands = &options.demands;
        if demands.bundle.is_some() && artifacts > 1 {
            return Err(SessionError::OneBundle);
        }
        let asked = demands.bundle.is_some() || demands.trusted_root.is_some() || demands.signer.is_some();
        if demands.required.is_none() && options.store.is_none() && !demands.every_bundle && asked {
            return Err(SessionError::NoRepository);
        }
        let mut allowlist = TrustStore::default();
        for (publisher, key) in &options.allowlisted {
            allowlist.trust(publisher, key).map_err(|e| SessionError::Allowlisted(publisher.clone(), e))?;
        }
        let store = options.store.as_deref().map(TrustStore::load).transpose()?.unwrap_or_default();
        let policy = match options.store.as_deref().map(policy::path_beside) {
            Some(path) => Some((path.clone(), GithubPolicy::load(&path)?)),
            None => None,
        };
        let signer = demands.signer.clone().unwrap_or(Signer::SourceRepository);
        let required = demands.required.clone().map(|r| match r.signer {
            Some(_) => r,
            None => r.signed_by(signer.clone()),
        });
        let root_file = demands.trusted_root.as_deref().map(Roots::from_file).transpose()?;
        Ok(Session {
            options,
            required,
            signer,
            allowlist,
            store,
            policy,
            root_file,
            built_in: OnceLock::new(),
            memory: TrustStore::default(),
        })
    }

    fn roots(&self) -> Result<&Roots, AttestError> {
        if let Some(roots) = &self.root_file {
            return Ok(roots);
        }
        // Parsed once a session; a failure (embedded roots that do not
        // parse) is reported, with its own error, each time it is asked.
        match self.built_in.get() {
            Some(roots) => Ok(roots),
            None => {
                let roots = Roots::built_in()?;
                Ok(self.built_in.get_or_init(|| roots))
            }
        }
    }

    /// Steps 1 to 10 for `bytes`, the artifact at `artifact`, and its
    /// bundle when one is required (by the run, a binding or a pin), named,
    /// or present where a first use would pin its repository. `Err` only
    /// when a bundle cannot be read.
    pub fn check(&self, artifact: &Path, bytes: &[u8]) -> Result<Checked, AttestError> {
        let verified = verify_bytes(bytes).map(|(_, verified)| verified);
        let bundle = match &verified {
            Ok(verified) => match self.bundle_to_check(artifact, &verified.manifest.publisher) {
                Ok(path) => self.verify_bundle(&path, bytes)?,
                Err(bundle) => bundle,
            },
            Err(_) => Bundle::NotChecked(PathBuf::new()),
        };
        Ok(Checked { verified, bundle })
    }

    /// The bundle to verify for `publisher`'s artifact, or, as `Err`, why
    /// none is verified.
    fn bundle_to_check(&self, artifact: &Path, publisher: &str) -> Result<PathBuf, Bundle> {
        let named = self.options.demands.bundle.is_some();
        let path = self.options.demands.bundle.clone().unwrap_or_else(|| attest::bundle_path_for(artifact));
        let present = named || path.exists();
        let bound = self.policy.as_ref().is_some_and(|(_, policy)| policy.names(publisher));
        let first_use = self.options.allow_tofu && self.policy.is_some();
        let wanted = named
            || self.required.is_some()
            || bound
            || (present && (first_use || self.options.demands.every_bundle));
        match (wanted, present) {
            (false, _) => Err(Bundle::NotChecked(path)),
            (true, false) => Err(Bundle::Missing(path)),
            (true, true) => Ok(path),
        }
    }

    /// The bundle at `path` verified for `bytes`: against the run's
    /// requirement, else from any repository, its signer left to the
    /// binding, pin or first use that [`Session::hold`] finds.
    fn verify_bundle(&self, path: &Path, bytes: &[u8]) -> Result<Bundle, AttestError> {
        let any = Requirements::any_repository();
        let required = self.required.as_ref().unwrap_or(&any);
        Ok(Bundle::Checked(Box::new(attest::verify_file(path, bytes, required, self.roots()?)?)))
    }

    /// The attestation as the run and `policy`'s bindings and pins require
    /// it, each with its signer: `None` when nothing does and no bundle was
    /// checked.
    fn hold(
        &self,
        bundle: Bundle,
        publisher: &str,
        policy: Option<(&GithubPolicy, &Path)>,
    ) -> Option<Attestation> {
        let bound = policy.and_then(|(policy, file)| {
            policy.requirement(publisher, &self.signer).map(|(required, source)| (required, source, file))
        });
        match (bundle, bound) {
            (Bundle::Checked(mut attestation), Some((required, source, file))) => {
                attestation.require_also(&required, publisher, source, file);
                Some(*attestation)
            }
            // Neither the run nor a binding or pin named a repository (a
            // first use, a registry): a workflow of the one that built it,
            // or the run's named signer, must have signed.
            (Bundle::Checked(mut attestation), None) => {
                if self.required.is_none() {
                    attestation.require(&Requirements::any_repository().signed_by(self.signer.clone()));
                }
                Some(*attestation)
            }
            (Bundle::Missing(path), Some((required, source, file))) => {
                Some(attest::missing_for(&path, publisher, &required, source, file))
            }
            (Bundle::Missing(path), None) => self.required.is_some().then(|| attest::missing(&path)),
            (Bundle::NotChecked(path), Some((required, source, file))) if !path.exists() => {
                Some(attest::missing_for(&path, publisher, &required, source, file))
            }
            // Bound or pinned by another run after this one opened.
            (Bundle::NotChecked(path), Some((_, _, file))) => Some(attest::refused(
                &path,
                format!(
                    "`{}` bound or pinned publisher `{publisher}` while this run was verifying, so its bundle was not checked: verify again",
                    file.display()
                ),
                Reason::Attestation,
            )),
            (Bundle::NotChecked(_), None) => None,
        }
    }

    /// Step 11 and the pins, for an artifact [`Session::check`]ed: the
    /// attestation held to the bindings and pins as they are now, then the
    /// key decision, then a first use's key pin and repository pin, both
    /// or neither. With a store file all of it happens under its lock.
    pub fn decide(&mut self, artifact: &Path, checked: Checked) -> Result<Judged, SessionError> {
        let verified = match checked.verified {
            Ok(verified) => verified,
            Err(error) => {
                return Ok(verdict::rejected(artifact, None, error.kind(), error.to_string()).into());
            }
        };
        let Some(store_path) = self.options.store.clone() else {
            let attestation =
                match unless_refused(self.hold(checked.bundle, &verified.manifest.publisher, None)) {
                    Ok(attestation) => attestation,
                    Err(refused) => return Ok(refused_verdict(artifact, verified, refused).into()),
                };
            let decision = decide_key(&self.allowlist, &mut self.memory, &verified, self.options.allow_tofu);
            return Ok(decided_verdict(artifact, verified, attestation, decision).into());
        };
        let _lock = TrustStore::lock(&store_path)?;
        let mut store = TrustStore::load(&store_path)?;
        let policy_path = policy::path_beside(&store_path);
        let mut policy = GithubPolicy::load(&policy_path)?;
        let publisher = verified.manifest.publisher.clone();
        let attestation =
            match unless_refused(self.hold(checked.bundle, &publisher, Some((&policy, &policy_path)))) {
                Ok(attestation) => attestation,
                // Refused: no trust decision is made, nothing is pinned.
                Err(refused) => return Ok(refused_verdict(artifact, verified, refused).into()),
            };
        let decision = decide_key(&self.allowlist, &mut store, &verified, self.options.allow_tofu);
        let mut repository_pin = None;
        if decision == Ok(TrustDecision::TofuNewlyPinned) {
            let before = policy.clone();
            repository_pin = pin_repository(&mut policy, &policy_path, &publisher, attestation.as_ref());
            let policy = (policy != before).then_some((&policy, publisher.as_str()));
            commit(&store_path, &store, &policy_path, policy, TrustStore::save)?;
        }
        let result = decided_verdict(artifact, verified, attestation, decision);
        Ok(Judged { result, repository_pin })
    }

    /// `registry verify`'s trust in `publisher` signing with `key`, against
    /// the store as the session opened and the allowlisted keys; nothing
    /// is pinned.
    pub fn trusts(&self, publisher: &str, key: &PublicKey) -> Result<TrustDecision, TrustRejection> {
        with_allowlist(&self.store, &self.allowlist).decide(publisher, key, false)
    }

    /// `registry verify`'s attestation of one published artifact, held to
    /// the bindings and pins as the session opened; nothing is written.
    /// The artifact is read only when a bundle is to be verified.
    pub fn attestation(&self, artifact: &Path, publisher: &str) -> Result<Option<Attestation>, SessionError> {
        let bundle = match self.bundle_to_check(artifact, publisher) {
            Err(bundle) => bundle,
            Ok(path) => {
                let bytes = crate::fsutil::read_regular(
                    artifact,
                    crate::artifact::MAX_ARCHIVE_BYTES,
                    crate::fsutil::Links::Follow,
                )
                .map_err(|source| SessionError::ReadArtifact { path: artifact.to_owned(), source })?;
                self.verify_bundle(&path, &bytes)?
            }
        };
        Ok(self.hold(bundle, publisher, self.policy.as_ref().map(|(file, policy)| (policy, file.as_path()))))
    }
}

/// `Err` with the attestation when it was refused.
fn unless_refused(attestation: Option<Attestation>) -> Result<Option<Attestation>, Box<Attestation>> {
    match attestation {
        Some(refused) if !refused.verified => Err(Box::new(refused)),
        attestation => Ok(attestation),
    }
}

fn refused_verdict(artifact: &Path, verified: Verified, refused: Box<Attestation>) -> ArtifactResult {
    let message = refused.error.clone().unwrap_or_default();
    let result = verdict::rejected(artifact, Some(verified), refused.kind.as_str(), message);
    ArtifactResult { attestation: Some(*refused), ..result }
}

fn decided_verdict(
    artifact: &Path,
    verified: Verified,
    attestation: Option<Attestation>,
    decision: Result<TrustDecision, TrustRejection>,
) -> ArtifactResult {
    let result = match decision {
        Ok(decision) => verdict::accepted(artifact, verified, decision),
        Err(rejection) => {
            verdict::rejected(artifact, Some(verified), rejection.kind(), rejection.to_string())
        }
    };
    ArtifactResult { attestation, ..result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{Check, GITHUB_ACTIONS_ISSUER, Identity};
    use crate::session::Demands;

    /// The consumer's reference artifact, publisher `acme`, steps 1 to 10 passed.
    fn verified() -> Verified {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vectors/reference-echo.palyra-skill");
        verify_bytes(&std::fs::read(path).unwrap()).unwrap().1
    }

    /// What `Session::check` leaves for an artifact whose bundle verified
    /// as built and signed in `repository` (or was refused).
    fn checked(repository: &str, verified_ok: bool) -> Checked {
        let identity = Identity {
            repository: Some(repository.into()),
            workflow: Some(".github/workflows/skill.yml".into()),
            workflow_ref: Some("refs/tags/v1.0.0".into()),
            signer: Some(format!(
                "https://github.com/{repository}/.github/workflows/skill.yml@refs/tags/v1.0.0"
            )),
            issuer: Some(GITHUB_ACTIONS_ISSUER.into()),
            ..Identity::default()
        };
        let check = Check { name: "subject", passed: verified_ok, detail: String::new() };
        let attestation = Attestation {
            bundle: "acme.echo_http-1.0.0.palyra-skill.sigstore.json".into(),
            verified: verified_ok,
            root: "test".into(),
            checks: vec![check],
            identity: Some(identity),
            error: (!verified_ok).then(|| "subject: other bytes".to_owned()),
            kind: Reason::Attestation,
        };
        Checked { verified: Ok(verified()), bundle: Bundle::Checked(Box::new(attestation)) }
    }

    fn first_use(dir: &Path) -> Session {
        let options = Options { store: Some(dir.join("trust.json")), allow_tofu: true, ..Options::default() };
        Session::open(options, 2).unwrap()
    }

    fn pins(dir: &Path) -> (bool, Option<String>) {
        let key = TrustStore::load(&dir.join("trust.json")).unwrap().tofu_publishers.contains_key("acme");
        let policy = GithubPolicy::load(&dir.join("trust.github.json")).unwrap();
        (key, policy.tofu_repositories.get("acme").cloned())
    }

    #[test]
    fn a_first_use_writes_the_key_pin_and_the_repository_pin_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut session = first_use(dir.path());
        let judged = session.decide(Path::new("a.palyra-skill"), checked("acme/echo", true)).unwrap();
        assert_eq!(judged.result.trust_decision, Some(TrustDecision::TofuNewlyPinned), "{judged:#?}");
        assert!(
            matches!(judged.repository_pin, Some(RepositoryPin::Pinned { ref repository, .. }) if repository == "acme/echo")
        );
        assert_eq!(pins(dir.path()), (true, Some("acme/echo".into())));
        // The same run's next artifact meets both pins, read again under the lock.
        let judged = session.decide(Path::new("b.palyra-skill"), checked("mallory/echo", true)).unwrap();
        let error = judged.result.error.unwrap();
        assert_eq!(error.kind, "tofu_repository_mismatch", "{}", error.message);
    }

    #[test]
    fn a_refused_attestation_pins_neither() {
        let dir = tempfile::tempdir().unwrap();
        let judged =
            first_use(dir.path()).decide(Path::new("a.palyra-skill"), checked("acme/echo", false)).unwrap();
        assert_eq!(judged.result.error.unwrap().kind, "attestation");
        assert!(judged.result.trust_decision.is_none() && judged.repository_pin.is_none());
        assert!(!dir.path().join("trust.json").exists() && !dir.path().join("trust.github.json").exists());
    }

    #[test]
    fn nothing_is_asked_of_a_bundle_without_a_repository_to_hold_it_to() {
        let demands = Demands { bundle: Some("x.sigstore.json".into()), ..Demands::default() };
        let options = Options { demands, ..Options::default() };
        assert!(matches!(Session::open(options.clone(), 1), Err(SessionError::NoRepository)));
        let demands = Demands { required: Some(Requirements::any_repository()), ..options.demands };
        assert!(matches!(Session::open(Options { demands, ..options }, 2), Err(SessionError::OneBundle)));
    }
}
