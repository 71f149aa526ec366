//! The roots a bundle may chain to, and what each demands of it.

use std::path::{Path, PathBuf};

use sigstore_trust_root::{SigstoreInstance, TrustedRoot};
use sigstore_types::Bundle;
use sigstore_verify::VerificationPolicy;

use super::{AttestError, MAX_BUNDLE_BYTES, crypto};

/// The roots a bundle may chain to.
pub enum Roots {
    /// Sigstore's public-good instance (Fulcio, Rekor, CT logs) for public
    /// repositories, and GitHub's (its Fulcio and timestamp authority) for
    /// private ones: the roots `gh attestation verify` uses.
    BuiltIn { public_good: Box<TrustedRoot>, github: Box<TrustedRoot> },
    /// A `trusted_root.json` (as `gh attestation trusted-root` prints it),
    /// and nothing else.
    File { path: PathBuf, root: Box<TrustedRoot> },
}

impl Roots {
    pub fn built_in() -> Result<Roots, AttestError> {
        let load = |instance| {
            TrustedRoot::from_embedded(instance)
                .map(Box::new)
                .map_err(|e| AttestError::BuiltIn(e.to_string()))
        };
        Ok(Roots::BuiltIn {
            public_good: load(SigstoreInstance::PublicGood)?,
            github: load(SigstoreInstance::GitHub)?,
        })
    }

    /// `--trusted-root FILE` when given, else the built-in roots.
    pub fn load(trusted_root: Option<&Path>) -> Result<Roots, AttestError> {
        match trusted_root {
            Some(path) => Roots::from_file(path),
            None => Roots::built_in(),
        }
    }

    /// A `trusted_root.json` file, checked before any bundle is read.
    pub fn from_file(path: &Path) -> Result<Roots, AttestError> {
        let error = |message: String| AttestError::Root { path: path.to_owned(), message };
        let bytes = crate::fsutil::read_regular(path, MAX_BUNDLE_BYTES, crate::fsutil::Links::Follow)
            .map_err(|e| error(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| error(e.to_string()))?;
        let root = TrustedRoot::from_json(&text).map_err(|e| {
            error(format!(
                "{e}; expected the JSON that `gh attestation trusted-root` prints (one root, not JSON lines)"
            ))
        })?;
        crypto::install();
        sigstore_verify::Verifier::new(&root).map_err(|e| error(e.to_string()))?;
        Ok(Roots::File { path: path.to_owned(), root: Box::new(root) })
    }
}

/// What the chosen root demands of a bundle, and what it is called.
pub(super) struct Domain<'r> {
    pub(super) root: &'r TrustedRoot,
    pub(super) name: String,
    pub(super) policy: VerificationPolicy,
    pub(super) tlog: bool,
    pub(super) sct: bool,
}

pub(super) fn domain<'r>(roots: &'r Roots, bundle: &Bundle) -> Domain<'r> {
    match roots {
        // A bundle with a log entry is public-good's; one without is
        // GitHub's, which timestamps instead of logging and issues no SCTs.
        Roots::BuiltIn { public_good, .. } if !bundle.verification_material.tlog_entries.is_empty() => {
            Domain {
                root: public_good,
                name: "public-good".into(),
                policy: VerificationPolicy::any_identity(),
                tlog: true,
                sct: true,
            }
        }
        Roots::BuiltIn { github, .. } => Domain {
            root: github,
            name: "github".into(),
            policy: VerificationPolicy::any_identity().skip_tlog_unsafe().skip_sct(),
            tlog: false,
            sct: false,
        },
        // A root file demands what it holds: logs if it has any, SCTs if
        // it has CT logs.
        Roots::File { path, root } => {
            let (tlog, sct) = (!root.tlogs.is_empty(), !root.ctlogs.is_empty());
            let mut policy = VerificationPolicy::any_identity();
            if !tlog {
                policy = policy.skip_tlog_unsafe();
            }
            if !sct {
                policy = policy.skip_sct();
            }
            Domain { root, name: path.display().to_string(), policy, tlog, sct }
        }
    }
}
