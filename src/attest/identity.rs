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

    /// `acme/echo, .github/workflows/skill.yml at refs/tags/v1.0.0, commit
    /// 0123…, run https://…`, and the signer when it is another workflow.
    pub fn summary(&self) -> String {
        let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "?".to_owned());
        let mut text = format!(
            "{}, {} at {}, commit {}",
            shown(&self.repository),
            shown(&self.workflow),
            shown(&self.git_ref),
            shown(&self.source_commit),
        );
        if let Some(run) = &self.run {
            text.push_str(&format!(", run {run}"));
        }
        if let Some(signer) = self.signer.as_ref().filter(|s| Some(*s) != self.workflow_uri().as_ref()) {
            text.push_str(&format!(", signed by {signer}"));
        }
        text
    }

    /// The signer's repository, workflow path and ref, read from its URI
    /// `https://github.com/OWNER/NAME/PATH@REF`; `None` when the signer is
    /// not a workflow of a GitHub repository.
    pub fn signer_workflow(&self) -> Option<(&str, &str, Option<&str>)> {
        let rest = self.signer.as_deref()?.strip_prefix(GITHUB)?;
        let (file, at) = match rest.split_once('@') {
            Some((file, at)) => (file, Some(at)),
            None => (rest, None),
        };
        let mut parts = file.splitn(3, '/');
        let (owner, name, path) = (parts.next()?, parts.next()?, parts.next()?);
        let repository = &file[..owner.len() + 1 + name.len()];
        (name_part(owner) && name_part(name)).then_some((repository, path, at))
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
    #[error("`--signer-repo {0}` is not `OWNER/NAME` (for example `--signer-repo acme/workflows`)")]
    SignerRepository(String),
    #[error(
        "`--signer-workflow {0}` is not `OWNER/NAME/PATH[@REF]` (for example `--signer-workflow acme/workflows/.github/workflows/release.yml@refs/heads/main`)"
    )]
    SignerWorkflow(String),
}

/// Whose workflow may sign an attestation. The certificate's SAN (its
/// Build Signer URI, `https://github.com/OWNER/NAME/PATH@REF`) names the
/// workflow that signed: the one that ran, or a reusable workflow it
/// called, possibly of another repository. As `gh attestation verify`
/// does, a signer of another repository is trusted only where it is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A workflow of the repository required, or, where any repository is
    /// accepted, of the one the artifact was built from (gh's default).
    SourceRepository,
    /// Any workflow of this repository (`--signer-repo`, `signer_repo`).
    Repository(String),
    /// This workflow file of this repository, at any ref or at the refs
    /// `git_ref` matches (`--signer-workflow`, `signer_workflow`).
    Workflow { repository: String, path: String, git_ref: Option<RefPattern> },
}

impl Signer {
    /// `--signer-repo OWNER/NAME`.
    pub fn repository(value: &str) -> Result<Signer, RequirementError> {
        if !is_repository(value) {
            return Err(RequirementError::SignerRepository(crate::text::escape(value).into_owned()));
        }
        Ok(Signer::Repository(value.to_owned()))
    }

    /// `--signer-workflow OWNER/NAME/PATH[@REF]`, optionally after
    /// `https://github.com/` or `github.com/` as gh accepts it.
    pub fn workflow(value: &str) -> Result<Signer, RequirementError> {
        let bad = || RequirementError::SignerWorkflow(crate::text::escape(value).into_owned());
        let rest = value.strip_prefix("https://").unwrap_or(value);
        let rest = rest.strip_prefix("github.com/").unwrap_or(rest);
        let (file, git_ref) = match rest.split_once('@') {
            Some((file, git_ref)) => (file, Some(git_ref)),
            None => (rest, None),
        };
        let mut parts = file.splitn(3, '/');
        let (Some(owner), Some(name), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let repository = &file[..owner.len() + 1 + name.len()];
        if !is_repository(repository) || !is_workflow_path(path) || git_ref.is_some_and(|r| !is_ref(r)) {
            return Err(bad());
        }
        Ok(Signer::Workflow {
            repository: repository.to_owned(),
            path: path.to_owned(),
            git_ref: git_ref.map(|r| RefPattern(r.to_owned())),
        })
    }

    /// The signer as a binding or flag names it: `None` for the default.
    pub fn named(&self) -> Option<String> {
        match self {
            Signer::SourceRepository => None,
            Signer::Repository(repository) => Some(format!("`{repository}`")),
            Signer::Workflow { repository, path, git_ref } => Some(format!(
                "`{repository}/{path}{}`",
                git_ref.as_ref().map(|r| format!("@{}", r.as_str())).unwrap_or_default()
            )),
        }
    }

    /// Whether `found`'s signer is this one; `required` is the repository
    /// the artifact must come from, when one is.
    fn check(&self, required: Option<&str>, found: &Identity) -> (bool, String) {
        let uri = found.signer.clone().unwrap_or_else(|| "nothing".into());
        let Some((repository, path, at)) = found.signer_workflow() else {
            return (false, format!("signed by `{uri}`, which is not a workflow of a GitHub repository"));
        };
        let same = |expected: &str| repository.eq_ignore_ascii_case(expected);
        let named = format!(
            "`--signer-repo {repository}` or `--signer-workflow {repository}/{path}`, or `signer_repo` in the publisher's `trust.github.json` binding"
        );
        match self {
            Signer::SourceRepository => {
                let Some(expected) = required.or(found.repository.as_deref()) else {
                    return (
                        false,
                        format!("signed by `{uri}`, but the certificate names no source repository"),
                    );
                };
                if same(expected) {
                    (true, format!("`{uri}`, a workflow of `{expected}`"))
                } else {
                    (
                        false,
                        format!(
                            "signed by `{uri}`, a workflow of `{repository}`, not of `{expected}`: a workflow of another repository signs only where it is named as the signer ({named})"
                        ),
                    )
                }
            }
            Signer::Repository(expected) if same(expected) => {
                (true, format!("`{uri}`, a workflow of `{expected}`, the signer named"))
            }
            Signer::Repository(expected) => (
                false,
                format!(
                    "signed by `{uri}`, a workflow of `{repository}`, not of `{expected}`, the signer named"
                ),
            ),
            Signer::Workflow { repository: expected, path: file, git_ref } => {
                let ref_ok = match (git_ref, at) {
                    (None, _) => true,
                    (Some(pattern), Some(at)) => pattern.matches(at),
                    (Some(_), None) => false,
                };
                let wanted = self.named().unwrap_or_default();
                if same(expected) && path == file && ref_ok {
                    (true, format!("`{uri}`, the signer workflow named ({wanted})"))
                } else {
                    (false, format!("signed by `{uri}`, not by the signer workflow named ({wanted})"))
                }
            }
        }
    }
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
    /// Whose workflow may sign; `None` checks no signer (as [`Requirements::new`]
    /// and [`Requirements::any_repository`] leave it). The trust session
    /// (`crate::session`) always names one, [`Signer::SourceRepository`] by default.
    pub signer: Option<Signer>,
}

fn name_part(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `OWNER/NAME`.
fn is_repository(value: &str) -> bool {
    value.split_once('/').is_some_and(|(owner, name)| name_part(owner) && name_part(name))
}

/// `.github/workflows/NAME.yml` (or `.yaml`), each part a plain name.
fn is_workflow_path(path: &str) -> bool {
    path.starts_with(".github/workflows/")
        && (path.ends_with(".yml") || path.ends_with(".yaml"))
        && path.split('/').all(name_part)
}

/// `refs/...`, or a prefix of one ending in `*`.
fn is_ref(git_ref: &str) -> bool {
    git_ref.starts_with("refs/")
        && !git_ref.strip_suffix('*').unwrap_or(git_ref).contains('*')
        && !git_ref.chars().any(char::is_control)
}

impl Requirements {
    pub fn new(
        repository: &str,
        workflow: Option<&str>,
        git_ref: Option<&str>,
        source_commit: Option<&str>,
    ) -> Result<Requirements, RequirementError> {
        let escaped = |v: &str| crate::text::escape(v).into_owned();
        if !is_repository(repository) {
            return Err(RequirementError::Repository(escaped(repository)));
        }
        if let Some(path) = workflow {
            let path = path.strip_prefix("./").unwrap_or(path);
            if !is_workflow_path(path) {
                return Err(RequirementError::Workflow(escaped(path)));
            }
        }
        if let Some(git_ref) = git_ref
            && !is_ref(git_ref)
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
            signer: None,
        })
    }

    /// The same requirements, and this signer.
    pub fn signed_by(self, signer: Signer) -> Requirements {
        Requirements { signer: Some(signer), ..self }
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
            signer: None,
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
        if let Some(signer) = &self.signer {
            let (ok, detail) = signer.check(self.repository.as_deref(), found);
            checks.push(("signer", ok, detail));
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
    fn the_signer_is_the_repositorys_own_workflow_unless_another_is_named() {
        let shared = "https://github.com/other/shared/.github/workflows/release.yml@refs/heads/main";
        let reused = Identity { signer: Some(shared.into()), ..found() };
        let own = Identity {
            signer: Some(
                "https://github.com/Acme/Weather/.github/workflows/skill.yml@refs/tags/v1.2.0".into(),
            ),
            ..found()
        };
        let signer = |rule: Signer, found: &Identity| {
            let required = Requirements::new("acme/weather", None, None, None).unwrap().signed_by(rule);
            required.check(found).into_iter().find(|c| c.0 == "signer").unwrap()
        };
        assert!(signer(Signer::SourceRepository, &own).1, "case-insensitive, as gh's `(?i)`");
        let (_, ok, detail) = signer(Signer::SourceRepository, &reused);
        assert!(!ok && detail.contains("`--signer-repo other/shared`"), "{detail}");
        assert!(signer(Signer::repository("OTHER/shared").unwrap(), &reused).1);
        assert!(!signer(Signer::repository("acme/weather").unwrap(), &reused).1);
        for (rule, ok) in [
            ("other/shared/.github/workflows/release.yml", true),
            ("github.com/other/shared/.github/workflows/release.yml@refs/heads/main", true),
            ("https://github.com/other/shared/.github/workflows/release.yml@refs/heads/*", true),
            ("other/shared/.github/workflows/release.yml@refs/heads/mai", false),
            ("other/shared/.github/workflows/release.yaml", false),
            ("other/other/.github/workflows/release.yml", false),
        ] {
            assert_eq!(signer(Signer::workflow(rule).unwrap(), &reused).1, ok, "{rule}");
        }
        // Any repository: the one the certificate names as the source.
        let any = Requirements::any_repository().signed_by(Signer::SourceRepository);
        assert!(any.check(&own).iter().all(|c| c.1));
        assert!(!any.check(&reused).iter().all(|c| c.1));
        // A signer that is no GitHub workflow is no repository's.
        let odd = Identity { signer: Some("https://example.com/x".into()), ..found() };
        assert!(!signer(Signer::SourceRepository, &odd).1);
        for bad in ["other", "other/shared/x.yml", "other/shared/.github/workflows/x.yml@main", "a/b/c"] {
            assert!(Signer::workflow(bad).is_err(), "{bad}");
        }
        assert!(Signer::repository("a/b/c").is_err() && Signer::repository("shared").is_err());
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
