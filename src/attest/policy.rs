//! Publishers bound to GitHub repositories: our extension beside the
//! consumer's trust store (docs/verify.md, "Binding a publisher to a
//! repository"). The consumer's `trust.json` keeps its own format, so the
//! consumer still loads it; the bindings live in `trust.github.json` next
//! to it, under the same lock.
//!
//! `publishers.acme = {repository, workflow}` means every artifact of
//! `acme` must carry an attestation from that repository (and workflow),
//! however good its key signature. `tofu_repositories.acme` is the
//! repository a first use saw; a later artifact built elsewhere, or not
//! attested at all, is refused like a changed key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::{RequirementError, Requirements};
use crate::fsutil::{Existing, write_atomic};

/// A publisher's repository, and optionally the workflow that must build it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubPolicy {
    #[serde(default)]
    pub publishers: BTreeMap<String, Binding>,
    #[serde(default)]
    pub tofu_repositories: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("could not read `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{path}` is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("could not save `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Where a publisher's requirement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bound,
    Pinned,
}

/// `trust.json` → `trust.github.json`.
pub fn path_beside(store: &Path) -> PathBuf {
    store.with_extension("github.json")
}

impl GithubPolicy {
    /// A missing file is an empty policy; anything else must be valid.
    pub fn load(path: &Path) -> Result<GithubPolicy, PolicyError> {
        let bytes =
            match crate::fsutil::read_regular(path, super::MAX_BUNDLE_BYTES, crate::fsutil::Links::Refuse) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(GithubPolicy::default()),
                Err(source) => return Err(PolicyError::Read { path: path.to_owned(), source }),
            };
        let invalid = |message: String| PolicyError::Invalid { path: path.to_owned(), message };
        let policy: GithubPolicy = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        // A key the consumer's store would refuse could never match a
        // publisher: a binding under it would silently bind nothing.
        for publisher in policy.publishers.keys().chain(policy.tofu_repositories.keys()) {
            if !crate::manifest::is_identifier(publisher) {
                return Err(invalid(format!(
                    "`{}` is not a publisher identifier (use only `a-z 0-9 . _ - :`, as in `trust.json`)",
                    crate::text::escape(publisher)
                )));
            }
        }
        for (publisher, binding) in &policy.publishers {
            Requirements::new(&binding.repository, binding.workflow.as_deref(), None, None)
                .map_err(|e: RequirementError| invalid(format!("publishers.{publisher}: {e}")))?;
        }
        for (publisher, repository) in &policy.tofu_repositories {
            Requirements::new(repository, None, None, None)
                .map_err(|e| invalid(format!("tofu_repositories.{publisher}: {e}")))?;
        }
        Ok(policy)
    }

    pub fn save(&self, path: &Path) -> Result<(), PolicyError> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a policy always serializes");
        bytes.push(b'\n');
        write_atomic(path, &bytes, Some(0o644), Existing::Replace)
            .map_err(|source| PolicyError::Write { path: path.to_owned(), source })
    }

    /// What `publisher`'s artifacts must be attested by, if anything.
    pub fn requirement(&self, publisher: &str) -> Option<(Requirements, Source)> {
        if let Some(binding) = self.publishers.get(publisher) {
            let required =
                Requirements::new(&binding.repository, binding.workflow.as_deref(), None, None).ok()?;
            return Some((required, Source::Bound));
        }
        let repository = self.tofu_repositories.get(publisher)?;
        Some((Requirements::new(repository, None, None, None).ok()?, Source::Pinned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_and_pins_load_and_anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trust.github.json");
        assert_eq!(GithubPolicy::load(&path).unwrap(), GithubPolicy::default(), "missing: empty");
        std::fs::write(
            &path,
            r#"{"publishers": {"acme": {"repository": "acme/weather", "workflow": ".github/workflows/skill.yml"}},
                "tofu_repositories": {"globex": "globex/tools"}}"#,
        )
        .unwrap();
        let policy = GithubPolicy::load(&path).unwrap();
        let (required, source) = policy.requirement("acme").unwrap();
        assert_eq!((required.repository.as_deref(), source), (Some("acme/weather"), Source::Bound));
        assert_eq!(required.workflow.as_deref(), Some(".github/workflows/skill.yml"));
        assert_eq!(policy.requirement("globex").unwrap().1, Source::Pinned);
        assert!(policy.requirement("initech").is_none());
        policy.save(&path).unwrap();
        assert_eq!(GithubPolicy::load(&path).unwrap(), policy);

        for bad in [
            r#"{"publishers": {"acme": {"repository": "weather"}}}"#,
            r#"{"publishers": {"acme": {"repository": "a/b", "workflow": "x.yml"}}}"#,
            r#"{"tofu_repositories": {"acme": "a/b/c"}}"#,
            r#"{"keys": []}"#,
            r#"{"publishers": {"Acme": {"repository": "acme/weather"}}}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(matches!(GithubPolicy::load(&path), Err(PolicyError::Invalid { .. })), "{bad}");
        }
    }
}
