//! Who built it: the GitHub Actions claims a Fulcio certificate carries,
//! and the identity a verifier requires of them.

use serde::Serialize;
use sigstore_crypto::FulcioCiClaims;
use sigstore_types::Bundle;

/// The OIDC issuer of GitHub Actions' workflow tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

const GITHUB: &str = "https://github.com/";

/// What the certificate says about the build, from Fulcio's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `OWNER/NAME` of the repository the artifact was built from.
    pub repository: Option<String>,
    /// The workflow that ran, as a path in that repository
    /// (`.github/workflows/release.yml`), and the ref it ran at.
    pub workflow: Option<String>,
    pub workflow_ref: Option<String>,
    /// The workflow whose identity signed: the same file, or a reusable
    /// workflow it called (the certificate's SAN).
    pub signer: Option<String>,
    /// The ref and commit the artifact was built from.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub source_commit: Option<String>,
    pub event: Option<String>,
    pub run: Option<String>,
    pub runner: Option<String>,
    pub visibility: Option<String>,
    pub issuer: Option<String>,
}

fn clean(value: &Option<String>) -> Option<String> {
    value.as_deref().map(|v| crate::text::escape(v).into_owned())
}

impl Identity {
    /// The workflow file's URI as a certificate's SAN names it.
    pub fn workflow_uri(&self) -> Option<String> {
        Some(format!(
            "{GITHUB}{}/{}@{}",
            self.repository.as_ref()?,
            self.workflow.as_ref()?,
            self.workflow_ref.as_ref()?
        ))
    }

    pub fn from_claims(issuer: Option<String>, san: Option<String>, claims: &FulcioCiClaims) -> Identity {
        let repository = claims
            .source_repository_uri
            .as_deref()
            .and_then(|uri| uri.strip_prefix(GITHUB))
            .map(str::to_owned);
        // `https://github.com/OWNER/NAME/.github/workflows/x.yml@refs/tags/v1`
        let (workflow, workflow_ref) = match (&claims.build_config_uri, &repository) {
            (Some(uri), Some(repo)) => match uri
                .strip_prefix(GITHUB)
                .and_then(|rest| rest.strip_prefix(repo.as_str()))
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some(rest) => match rest.split_once('@') {
                    Some((path, at)) => (Some(path.to_owned()), Some(at.to_owned())),
                    None => (Some(rest.to_owned()), None),
                },
                None => (Some(uri.clone()), None),
            },
            (uri, _) => (uri.clone(), None),
        };
        Identity {
            repository: clean(&repository),
            workflow: clean(&workflow),
            workflow_ref: clean(&workflow_ref),
            signer: clean(&san),
            git_ref: clean(&claims.source_repository_ref),
            source_commit: clean(&claims.source_repository_digest),
            event: clean(&claims.build_trigger),
            run: clean(&claims.run_invocation_uri),
            runner: clean(&claims.runner_environment),
            visibility: clean(&claims.source_repository_visibility_at_signing),
            issuer: clean(&issuer),
        }
    }
}

/// The certificate's claims before anything is verified: shown when a
/// check fails, never trusted.
pub(super) fn from_bundle(bundle: &Bundle) -> Option<Identity> {
    let info = sigstore_crypto::parse_certificate_info(bundle.signing_certificate()?).ok()?;
    Some(Identity::from_claims(
        info.issuer.clone(),
        info.identity.as_ref().map(ToString::to_string),
        &info.ci_claims,
    ))
}

/// `refs/tags/v1.2.0`, or a prefix ending in `*` (`refs/tags/v*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefPattern(String);

impl RefPattern {
    pub fn matches(&self, git_ref: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => git_ref.starts_with(prefix),
            None => git_ref == self.0,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A requirement that cannot be met by any certificate: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum RequirementError {
    #[error("`--repo {0}` is not `OWNER/NAME` (for example `--repo acme/weather`)")]
    Repository(String),
    #[error("`--workflow {0}` is not a workflow path (for example `--workflow .github/workflows/skill.yml`)")]
    Workflow(String),
    #[error(
        "`--ref {0}` is not a full ref (`refs/tags/v1.0.0`, or a prefix ending in `*` such as `refs/tags/v*`)"
    )]
    Ref(String),
    #[error("`--source-commit {0}` is not a full 40-digit commit SHA")]
    Commit(String),
}

/// The identity an attestation must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// `None` only for a first use, which records the repository it sees.
    pub repository: Option<String>,
    pub workflow: Option<String>,
    pub git_ref: Option<RefPattern>,
    pub source_commit: Option<String>,
    pub issuer: String,
}

fn name_part(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Requirements {
    pub fn new(
        repository: &str,
        workflow: Option<&str>,
        git_ref: Option<&str>,
        source_commit: Option<&str>,
    ) -> Result<Requirements, RequirementError> {
        let escaped = |v: &str| crate::text::escape(v).into_owned();
        match repository.split_once('/') {
            Some((owner, name)) if name_part(owner) && name_part(name) => {}
            _ => return Err(RequirementError::Repository(escaped(repository))),
        }
        if let Some(path) = workflow {
            let path = path.strip_prefix("./").unwrap_or(path);
            if !(path.starts_with(".github/workflows/")
                && (path.ends_with(".yml") || path.ends_with(".yaml")))
                || path.split('/').any(|part| !name_part(part))
            {
                return Err(RequirementError::Workflow(escaped(path)));
            }
        }
        if let Some(git_ref) = git_ref
            && (!git_ref.starts_with("refs/")
                || git_ref.strip_suffix('*').unwrap_or(git_ref).contains('*')
                || git_ref.chars().any(char::is_control))
        {
            return Err(RequirementError::Ref(escaped(git_ref)));
        }
        if let Some(commit) = source_commit
            && (commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(RequirementError::Commit(escaped(commit)));
        }
        Ok(Requirements {
            repository: Some(repository.to_owned()),
            workflow: workflow.map(|w| w.strip_prefix("./").unwrap_or(w).to_owned()),
            git_ref: git_ref.map(|r| RefPattern(r.to_owned())),
            source_commit: source_commit.map(str::to_ascii_lowercase),
            issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
        })
    }

    /// Any repository, built by GitHub Actions: what a first use checks
    /// before it records the repository it saw.
    pub fn any_repository() -> Requirements {
        Requirements {
            repository: None,
            workflow: None,
            git_ref: None,
            source_commit: None,
            issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
        }
    }

    /// Each required claim: its check name, whether it holds, and what was
    /// found. GitHub names are case-insensitive, paths and refs are not.
    pub fn check(&self, found: &Identity) -> Vec<(&'static str, bool, String)> {
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "nothing".into());
        let mut checks = Vec::new();
        let issuer_ok = found.issuer.as_deref() == Some(self.issuer.as_str());
        checks.push((
            "issuer",
            issuer_ok,
            if issuer_ok {
                self.issuer.clone()
            } else {
                format!(
                    "the certificate was issued to `{}`, not to GitHub Actions (`{}`)",
                    shown(&found.issuer),
                    self.issuer
                )
            },
        ));
        if let Some(repository) = &self.repository {
            let ok = found.repository.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(repository));
            checks.push((
                "repository",
                ok,
                if ok {
                    repository.clone()
                } else {
                    format!("built in `{}`, not in `{repository}`", shown(&found.repository))
                },
            ));
        }
        if let Some(workflow) = &self.workflow {
            let ok = found.workflow.as_deref() == Some(workflow.as_str());
            checks.push((
                "workflow",
                ok,
                if ok {
                    workflow.clone()
                } else {
                    format!("built by `{}`, not by `{workflow}`", shown(&found.workflow))
                },
            ));
        }
        if let Some(pattern) = &self.git_ref {
            let ok = found.git_ref.as_deref().is_some_and(|r| pattern.matches(r));
            checks.push((
                "ref",
                ok,
                if ok {
                    shown(&found.git_ref)
                } else {
                    format!(
                        "built from `{}`, which does not match `{}`",
                        shown(&found.git_ref),
                        pattern.as_str()
                    )
                },
            ));
        }
        if let Some(commit) = &self.source_commit {
            let ok = found.source_commit.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(commit));
            checks.push((
                "source commit",
                ok,
                if ok {
                    commit.clone()
                } else {
                    format!("built from commit `{}`, not `{commit}`", shown(&found.source_commit))
                },
            ));
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found() -> Identity {
        Identity {
            repository: Some("Acme/Weather".into()),
            workflow: Some(".github/workflows/skill.yml".into()),
            git_ref: Some("refs/tags/v1.2.0".into()),
            source_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            issuer: Some(GITHUB_ACTIONS_ISSUER.into()),
            ..Identity::default()
        }
    }

    #[test]
    fn each_required_claim_is_matched_and_named_when_it_differs() {
        let all = |r: &Requirements| r.check(&found()).iter().all(|c| c.1);
        let commit = "0123456789ABCDEF0123456789abcdef01234567";
        let required = Requirements::new(
            "acme/weather",
            Some("./.github/workflows/skill.yml"),
            Some("refs/tags/v*"),
            Some(commit),
        )
        .unwrap();
        assert!(all(&required));
        assert!(all(&Requirements::new("acme/weather", None, Some("refs/tags/v1.2.0"), None).unwrap()));
        for (required, name) in [
            (Requirements::new("acme/other", None, None, None).unwrap(), "repository"),
            (
                Requirements::new("acme/weather", Some(".github/workflows/ci.yml"), None, None).unwrap(),
                "workflow",
            ),
            (Requirements::new("acme/weather", None, Some("refs/heads/*"), None).unwrap(), "ref"),
            (Requirements::new("acme/weather", None, Some("refs/tags/v1.2"), None).unwrap(), "ref"),
            (Requirements::new("acme/weather", None, None, Some(&"f".repeat(40))).unwrap(), "source commit"),
        ] {
            let failed: Vec<_> = required.check(&found()).into_iter().filter(|c| !c.1).map(|c| c.0).collect();
            assert_eq!(failed, [name]);
        }
        let mut other_issuer = found();
        other_issuer.issuer = Some(format!("{GITHUB_ACTIONS_ISSUER}/hammer-time"));
        assert!(!Requirements::new("acme/weather", None, None, None).unwrap().check(&other_issuer)[0].1);
    }

    #[test]
    fn requirements_that_no_certificate_could_meet_are_refused() {
        assert!(matches!(
            Requirements::new("weather", None, None, None),
            Err(RequirementError::Repository(_))
        ));
        assert!(matches!(Requirements::new("a/b/c", None, None, None), Err(RequirementError::Repository(_))));
        assert!(matches!(
            Requirements::new("a/b", Some("skill.yml"), None, None),
            Err(RequirementError::Workflow(_))
        ));
        assert!(matches!(
            Requirements::new("a/b", Some(".github/workflows/../x.yml"), None, None),
            Err(RequirementError::Workflow(_))
        ));
        assert!(matches!(Requirements::new("a/b", None, Some("v1.0"), None), Err(RequirementError::Ref(_))));
        assert!(matches!(
            Requirements::new("a/b", None, Some("refs/*/v1"), None),
            Err(RequirementError::Ref(_))
        ));
        assert!(matches!(
            Requirements::new("a/b", None, None, Some("abc123")),
            Err(RequirementError::Commit(_))
        ));
        // Any text, whatever its last character's width.
        assert!(Requirements::new("a/b", None, Some("refs/tags/vé"), None).is_ok());
        assert!(matches!(
            Requirements::new("a/b", None, Some("refs/tags/é**"), None),
            Err(RequirementError::Ref(_))
        ));
    }
}
