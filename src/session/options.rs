//! What a trust session is opened with: where trust comes from, what the
//! run demands of attestations, and why it could not open or decide.

use std::path::PathBuf;

use crate::attest::policy::PolicyError;
use crate::attest::{AttestError, Requirements, Signer};
use crate::signing::PublicKey;
use crate::trust::{StoreError, TrustError};

/// What a run asks of attestations, before any artifact is read.
#[derive(Debug, Clone, Default)]
pub struct Demands {
    /// `--repo` and friends: every artifact must carry an attestation that
    /// meets them. [`Requirements::any_repository`] asks for one from
    /// anywhere (`registry verify --require-attestation`).
    pub required: Option<Requirements>,
    /// `--attestation BUNDLE`: this bundle, not the one beside the artifact.
    pub bundle: Option<PathBuf>,
    /// `--signer-repo` or `--signer-workflow`: whose workflow may sign, for
    /// the run's requirement and for pins (a binding names its own). `None`:
    /// a workflow of the repository the artifact comes from.
    pub signer: Option<Signer>,
    /// Verify every bundle found beside an artifact, required or not.
    pub every_bundle: bool,
    /// `--trusted-root FILE` instead of the built-in roots.
    pub trusted_root: Option<PathBuf>,
}

/// Where trust comes from, and what the run demands of attestations.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The trust store file: decisions are made under its lock, pins saved.
    pub store: Option<PathBuf>,
    /// Keys allowlisted for this run only (never saved).
    pub allowlisted: Vec<(String, PublicKey)>,
    /// Pin a new publisher's key, and the repository it was attested from.
    pub allow_tofu: bool,
    pub demands: Demands,
}

/// Why a session could not open or decide: exit 2, not a verdict.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Attest(#[from] AttestError),
    #[error(
        "{error}; and `{path}` could not be put back as it was ({source}): remove `tofu_repositories.{publisher}` from it by hand"
    )]
    HalfPinned { error: TrustError, path: PathBuf, publisher: String, source: std::io::Error },
    #[error("could not read artifact `{path}`: {source}")]
    ReadArtifact { path: PathBuf, source: std::io::Error },
    #[error("`--trusted-publisher {0}=...`: {1}")]
    Allowlisted(String, StoreError),
    #[error(
        "`--attestation` names one bundle, for one artifact; with several artifacts, put each `<artifact>.sigstore.json` beside its artifact and pass only `--repo`"
    )]
    OneBundle,
    #[error(
        "an attestation is checked against the repository it must come from: pass `--repo OWNER/NAME` (or a `--trust-store` whose `.github.json` binds the publisher)"
    )]
    NoRepository,
}
