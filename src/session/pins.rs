//! A decision's pins: the key decision with the run's allowlisted keys,
//! the repository a first use pins, and both written under the lock the
//! caller holds, the repository pin first.

use std::path::{Path, PathBuf};

use super::SessionError;
use crate::attest::policy::{GithubPolicy, PolicyError};
use crate::attest::{self, Attestation, Requirements};
use crate::trust::{TrustDecision, TrustError, TrustRejection, TrustStore};
use crate::verify::Verified;

/// The repository pin a first use made, or why it made none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryPin {
    Pinned { publisher: String, repository: String, file: PathBuf },
    NotOwnerName { publisher: String, repository: String },
}

impl std::fmt::Display for RepositoryPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepositoryPin::Pinned { publisher, repository, file } => write!(
                f,
                "pinned publisher `{publisher}` to repository `{repository}` in `{}`: its later artifacts must be attested from there",
                file.display()
            ),
            RepositoryPin::NotOwnerName { publisher, repository } => write!(
                f,
                "publisher `{publisher}`'s repository was not pinned: the certificate names `{repository}`, which is not `OWNER/NAME`"
            ),
        }
    }
}

/// `store` with `allowlist`'s keys added, for one decision.
pub(super) fn with_allowlist(store: &TrustStore, allowlist: &TrustStore) -> TrustStore {
    let mut view = store.clone();
    for (publisher, keys) in &allowlist.trusted_publishers {
        let listed = view.trusted_publishers.entry(publisher.clone()).or_default();
        listed.extend(keys.iter().cloned());
        listed.sort();
        listed.dedup();
    }
    view
}

/// The key decision with the run's allowlisted keys; a first use pins the
/// key in `store` (an allowlisted key is never saved).
pub(super) fn decide_key(
    allowlist: &TrustStore,
    store: &mut TrustStore,
    verified: &Verified,
    allow_tofu: bool,
) -> Result<TrustDecision, TrustRejection> {
    let publisher = &verified.manifest.publisher;
    let decision = with_allowlist(store, allowlist).decide(publisher, &verified.public_key, allow_tofu);
    if decision == Ok(TrustDecision::TofuNewlyPinned) {
        store.tofu_publishers.insert(publisher.clone(), verified.public_key.to_hex());
    }
    decision
}

/// After a first use pinned the key: the repository its verified
/// attestation names, unless the publisher is bound or pinned already.
/// Only a repository `--repo` could name is pinned: the file must load again.
pub(super) fn pin_repository(
    policy: &mut GithubPolicy,
    file: &Path,
    publisher: &str,
    attestation: Option<&Attestation>,
) -> Option<RepositoryPin> {
    let attestation = attestation.filter(|a| a.verified)?;
    let repository = attestation.identity.as_ref()?.repository.clone()?;
    if policy.names(publisher) {
        return None;
    }
    let publisher = publisher.to_owned();
    if Requirements::new(&repository, None, None, None).is_err() {
        return Some(RepositoryPin::NotOwnerName { publisher, repository });
    }
    policy.tofu_repositories.insert(publisher.clone(), repository.clone());
    Some(RepositoryPin::Pinned { publisher, repository, file: file.to_owned() })
}

/// Writes one decision's pins, the caller holding the store's lock: the
/// repository pin (`policy`, when it changed) first, then the key pin. When
/// the key pin cannot be saved, the bindings file is put back as it was,
/// so neither pin is kept. A crash between the two renames leaves only the
/// repository pin: the stricter half, which holds the publisher's next
/// first use to that repository, and which that first use completes.
pub(super) fn commit(
    store_path: &Path,
    store: &TrustStore,
    policy_path: &Path,
    policy: Option<(&GithubPolicy, &str)>,
    save_store: impl FnOnce(&TrustStore, &Path) -> Result<(), TrustError>,
) -> Result<(), SessionError> {
    let Some((policy, publisher)) = policy else {
        return Ok(save_store(store, store_path)?);
    };
    let before = match crate::fsutil::read_regular(
        policy_path,
        attest::MAX_BUNDLE_BYTES,
        crate::fsutil::Links::Refuse,
    ) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(PolicyError::Read { path: policy_path.to_owned(), source }.into()),
    };
    policy.save(policy_path)?;
    if let Err(error) = save_store(store, store_path) {
        let restored = match before {
            Some(bytes) => crate::fsutil::write_atomic(
                policy_path,
                &bytes,
                Some(0o644),
                crate::fsutil::Existing::Replace,
            ),
            None => std::fs::remove_file(policy_path),
        };
        return Err(match restored {
            Ok(()) => error.into(),
            Err(source) => SessionError::HalfPinned {
                error,
                path: policy_path.to_owned(),
                publisher: publisher.to_owned(),
                source,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_key_pin_cannot_be_saved_the_repository_pin_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let (store_path, policy_path) = (dir.path().join("trust.json"), dir.path().join("trust.github.json"));
        let mut store = TrustStore::default();
        store.tofu_publishers.insert("acme".into(), "00".repeat(32));
        let mut policy = GithubPolicy::default();
        policy.tofu_repositories.insert("acme".into(), "acme/echo".into());
        let failing = |_: &TrustStore, path: &Path| {
            Err(TrustError::Write { path: path.to_owned(), source: std::io::Error::other("disk full") })
        };
        // No bindings file before: none after.
        let error = commit(&store_path, &store, &policy_path, Some((&policy, "acme")), failing).unwrap_err();
        assert!(error.to_string().contains("disk full"), "{error}");
        assert!(!policy_path.exists() && !store_path.exists());
        // A bindings file before: the same bytes after.
        let before = "{\"publishers\": {\"globex\": {\"repository\": \"globex/tools\"}}}\n";
        std::fs::write(&policy_path, before).unwrap();
        let _ = commit(&store_path, &store, &policy_path, Some((&policy, "acme")), failing).unwrap_err();
        assert_eq!(std::fs::read_to_string(&policy_path).unwrap(), before);
        assert!(!store_path.exists());
        // Both saved: both there.
        commit(&store_path, &store, &policy_path, Some((&policy, "acme")), TrustStore::save).unwrap();
        assert!(TrustStore::load(&store_path).unwrap().tofu_publishers.contains_key("acme"));
        assert_eq!(GithubPolicy::load(&policy_path).unwrap(), policy);
    }
}
