//! Publishers bound to GitHub repositories: our extension beside the
//! consumer's trust store (docs/verify.md, "Binding a publisher to a
//! repository"). The consumer's `trust.json` keeps its own format, so the
//! consumer still loads it; the bindings live in `trust.github.json` next
//! to it, under the same lock.
//!
//! `publishers.acme = {repository, workflow}` means every artifact of
//! `acme` must carry an attestation from that repository (and workflow),
//! however good its key signature, signed by a workflow of that repository
//! unless `signer_repo` or `signer_workflow` names another (a reusable
//! workflow's). `tofu_repositories.acme` is the repository a first use
//! saw; a later artifact built elsewhere, or not attested at all, is
//! refused like a changed key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::{RequirementError, Requirements, Signer};
use crate::fsutil::{Existing, write_atomic};

/// A publisher's repository, optionally the workflow that must build it,
/// and whose workflow may sign when it is not one of that repository's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// `OWNER/NAME`: any workflow of this repository may sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_repo: Option<String>,
    /// `OWNER/NAME/PATH[@REF]`: this workflow, and only it, may sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_workflow: Option<String>,
}

impl Binding {
    /// What the binding requires of an attestation.
    pub fn requirements(&self) -> Result<Requirements, RequirementError> {
        let signer = match (&self.signer_repo, &self.signer_workflow) {
            (Some(repository), _) => Signer::repository(repository)?,
            (None, Some(workflow)) => Signer::workflow(workflow)?,
            (None, None) => Signer::SourceRepository,
        };
        Ok(Requirements::new(&self.repository, self.workflow.as_deref(), None, None)?.signed_by(signer))
    }
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
            if binding.signer_repo.is_some() && binding.signer_workflow.is_some() {
                return Err(invalid(format!(
                    "publishers.{publisher}: name the signer once, with `signer_repo` or `signer_workflow`, not both"
                )));
            }
            binding
                .requirements()
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

    /// What `publisher`'s artifacts must be attested by, if anything. A
    /// binding names its own signer (by default, its repository); a pin
    /// names none, so `signer`, the run's, applies to it.
    pub fn requirement(&self, publisher: &str, signer: &Signer) -> Option<(Requirements, Source)> {
        if let Some(binding) = self.publishers.get(publisher) {
            return Some((binding.requirements().ok()?, Source::Bound));
        }
        let repository = self.tofu_repositories.get(publisher)?;
        let required = Requirements::new(repository, None, None, None).ok()?.signed_by(signer.clone());
        Some((required, Source::Pinned))
    }

    /// Whether `publisher` is bound or pinned already.
    pub fn names(&self, publisher: &str) -> bool {
        self.publishers.contains_key(publisher) || self.tofu_repositories.contains_key(publisher)
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
        let run = Signer::Repository("acme/workflows".into());
        let (required, source) = policy.requirement("acme", &run).unwrap();
        assert_eq!((required.repository.as_deref(), source), (Some("acme/weather"), Source::Bound));
        assert_eq!(required.workflow.as_deref(), Some(".github/workflows/skill.yml"));
        assert_eq!(required.signer, Some(Signer::SourceRepository), "a binding's own signer, not the run's");
        let (required, source) = policy.requirement("globex", &run).unwrap();
        assert_eq!((source, required.signer), (Source::Pinned, Some(run.clone())));
        assert!(policy.requirement("initech", &run).is_none());
        policy.save(&path).unwrap();
        assert_eq!(GithubPolicy::load(&path).unwrap(), policy);

        std::fs::write(
            &path,
            r#"{"publishers": {"acme": {"repository": "acme/weather", "signer_repo": "Other/Shared"},
                               "globex": {"repository": "globex/tools",
                                          "signer_workflow": "other/shared/.github/workflows/release.yml@refs/tags/v*"}}}"#,
        )
        .unwrap();
        let policy = GithubPolicy::load(&path).unwrap();
        assert_eq!(
            policy.requirement("acme", &run).unwrap().0.signer,
            Some(Signer::Repository("Other/Shared".into()))
        );
        assert!(matches!(
            policy.requirement("globex", &run).unwrap().0.signer,
            Some(Signer::Workflow { ref repository, .. }) if repository == "other/shared"
        ));

        for bad in [
            r#"{"publishers": {"acme": {"repository": "a/b", "signer_repo": "c/d", "signer_workflow": "c/d/.github/workflows/x.yml"}}}"#,
            r#"{"publishers": {"acme": {"repository": "a/b", "signer_repo": "shared"}}}"#,
            r#"{"publishers": {"acme": {"repository": "a/b", "signer_workflow": "c/d/x.yml"}}}"#,
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
