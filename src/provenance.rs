//! SLSA Provenance v1 in an in-toto Statement v1 (plain serde types, as
//! docs/build.md asks), local and GitHub Actions builders, and the DSSE
//! envelope of a signed attestation.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::signing::{SignError, Signer};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// Our build type, documented in docs/build.md ("Provenance").
/// The build type: `cargo build` of a skill cdylib; `externalParameters`
/// name the target and the ABI.
pub const BUILD_TYPE: &str = "urn:palyra:cargo-palyra-skill:buildtype:cargo-cdylib:v2";
/// The builder of a build on a developer's machine.
pub const LOCAL_BUILDER: &str = "urn:palyra:cargo-palyra-skill:builder:local:v1";
pub const DSSE_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Provenance,
    /// The consumer's extension: an exact copy of `predicate.runDetails.builder`.
    pub builder: Builder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: Value,
    pub internal_parameters: Value,
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: RunMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    pub started_on: String,
    pub finished_on: String,
}

/// Where the build runs: on a developer's machine or on GitHub Actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Local,
    GitHub(Box<GitHubEnv>),
}

/// The `GITHUB_*` variables the provenance records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubEnv {
    pub server_url: String,
    pub repository: String,
    pub workflow_ref: String,
    pub git_ref: String,
    pub sha: String,
    pub run_id: String,
    pub run_attempt: String,
    pub event_name: String,
    pub repository_id: String,
    pub repository_owner_id: String,
    pub runner_environment: String,
}

impl Environment {
    /// A GitHub Actions run for a tag (`refs/tags/...`): a release.
    pub fn is_tag(&self) -> bool {
        matches!(self, Environment::GitHub(gh) if gh.git_ref.starts_with("refs/tags/"))
    }

    /// GitHub Actions when `GITHUB_ACTIONS=true` and the workflow variables are set.
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> Environment {
        if var("GITHUB_ACTIONS").as_deref() != Some("true") {
            return Environment::Local;
        }
        let get = |name: &str| var(name).unwrap_or_default();
        let (Some(repository), Some(workflow_ref)) = (var("GITHUB_REPOSITORY"), var("GITHUB_WORKFLOW_REF"))
        else {
            return Environment::Local;
        };
        Environment::GitHub(Box::new(GitHubEnv {
            server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            repository,
            workflow_ref,
            git_ref: get("GITHUB_REF"),
            sha: get("GITHUB_SHA"),
            run_id: get("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into()),
            event_name: get("GITHUB_EVENT_NAME"),
            repository_id: get("GITHUB_REPOSITORY_ID"),
            repository_owner_id: get("GITHUB_REPOSITORY_OWNER_ID"),
            runner_environment: get("RUNNER_ENVIRONMENT"),
        }))
    }
}

/// The source checkout, when the crate lives in a git work tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// `git+<remote>@<ref>`, credentials stripped; `None` without a remote.
    pub uri: Option<String>,
    pub commit: String,
    pub dirty: bool,
    /// The commit's time (seconds since 1970, the committer's).
    pub committed_at: Option<i64>,
    /// A tag points at the commit (a release build); not recorded.
    pub tagged: bool,
}

/// Everything a provenance statement records about one build.
#[derive(Debug, Clone)]
pub struct BuildFacts {
    pub package: String,
    pub abi: crate::cargo::Abi,
    pub profile: String,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
    /// Module file name and SHA-256 hex.
    pub subjects: Vec<(String, String)>,
    pub source: Option<SourceInfo>,
    pub lockfile_sha256: Option<String>,
    /// Runtime crates: purl and Cargo.lock checksum (if any).
    pub crates: Vec<(String, Option<String>)>,
    pub rustc: String,
    pub cargo: String,
    pub started_on: String,
    pub finished_on: String,
}

fn digest(algorithm: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(algorithm.to_owned(), value.to_owned())])
}

/// The statement for `facts` built in `env`.
pub fn statement(facts: &BuildFacts, env: &Environment) -> Statement {
    let version = BTreeMap::from([(env!("CARGO_PKG_NAME").to_owned(), env!("CARGO_PKG_VERSION").to_owned())]);
    let mut external = json!({
        "package": facts.package,
        "target": facts.abi.target(),
        "abi": facts.abi.as_str(),
        "profile": facts.profile,
        "features": facts.features,
        "source": facts.source.as_ref().and_then(|s| s.uri.clone()).unwrap_or_else(|| "local".into()),
    });
    // Recorded only when set, so the common provenance keeps its shape;
    // `rebuild` needs them to build the same thing.
    if facts.all_features {
        external["all_features"] = json!(true);
    }
    if facts.no_default_features {
        external["no_default_features"] = json!(true);
    }
    let mut internal = json!({ "rustc": facts.rustc, "cargo": facts.cargo, "locked": facts.locked });
    let mut resolved = Vec::new();
    let (builder_id, invocation_id) = match env {
        Environment::Local => {
            if let Some(source) = &facts.source {
                resolved.push(ResourceDescriptor {
                    name: source.uri.is_none().then(|| "source".to_owned()),
                    uri: source.uri.clone(),
                    digest: digest("gitCommit", &source.commit),
                    annotations: Some(json!({ "dirty": source.dirty })),
                });
            }
            (LOCAL_BUILDER.to_owned(), None)
        }
        Environment::GitHub(gh) => {
            let repository_url = format!("{}/{}", gh.server_url, gh.repository);
            let path = gh
                .workflow_ref
                .strip_prefix(&format!("{}/", gh.repository))
                .and_then(|rest| rest.split('@').next())
                .unwrap_or(&gh.workflow_ref);
            external["workflow"] = json!({ "ref": gh.git_ref, "repository": repository_url, "path": path });
            external["source"] = json!(format!("git+{repository_url}@{}", gh.git_ref));
            internal["github"] = json!({
                "event_name": gh.event_name,
                "repository_id": gh.repository_id,
                "repository_owner_id": gh.repository_owner_id,
                "runner_environment": gh.runner_environment,
            });
            resolved.push(ResourceDescriptor {
                uri: Some(format!("git+{repository_url}@{}", gh.git_ref)),
                digest: digest("gitCommit", &gh.sha),
                annotations: facts.source.as_ref().map(|s| json!({ "dirty": s.dirty })),
                ..Default::default()
            });
            let invocation =
                format!("{repository_url}/actions/runs/{}/attempts/{}", gh.run_id, gh.run_attempt);
            (format!("{}/{}", gh.server_url, gh.workflow_ref), Some(invocation))
        }
    };
    if let Some(sha) = &facts.lockfile_sha256 {
        resolved.push(ResourceDescriptor {
            name: Some("Cargo.lock".into()),
            digest: digest("sha256", sha),
            ..Default::default()
        });
    }
    for (purl, checksum) in &facts.crates {
        resolved.push(ResourceDescriptor {
            uri: Some(purl.clone()),
            digest: checksum.as_deref().map(|c| digest("sha256", c)).unwrap_or_default(),
            ..Default::default()
        });
    }
    let builder = Builder { id: builder_id, version };
    Statement {
        statement_type: STATEMENT_TYPE.into(),
        subject: facts
            .subjects
            .iter()
            .map(|(name, sha)| ResourceDescriptor {
                name: Some(name.clone()),
                digest: digest("sha256", sha),
                ..Default::default()
            })
            .collect(),
        predicate_type: PREDICATE_TYPE.into(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.into(),
                external_parameters: external,
                internal_parameters: internal,
                resolved_dependencies: resolved,
            },
            run_details: RunDetails {
                builder: builder.clone(),
                metadata: RunMetadata {
                    invocation_id,
                    started_on: facts.started_on.clone(),
                    finished_on: facts.finished_on.clone(),
                },
            },
        },
        builder,
    }
}

impl Statement {
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("statement always serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// DSSE pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// One JSON line: the DSSE envelope of `statement`, signed with `key`.
pub fn dsse_envelope(statement: &[u8], key: &dyn Signer) -> Result<String, SignError> {
    let signature = key.try_sign(&pae(DSSE_PAYLOAD_TYPE, statement))?;
    let envelope = json!({
        "payload": BASE64.encode(statement),
        "payloadType": DSSE_PAYLOAD_TYPE,
        "signatures": [{ "keyid": key.public().key_id(), "sig": BASE64.encode(signature) }],
    });
    Ok(format!("{envelope}\n"))
}

/// The remote of a checkout as a URI fit for provenance: credentials
/// stripped, scp-style `host:path` as `ssh://host/path`, and `None` for a
/// local path or `file://` remote (a host path must not leak).
pub fn remote_uri(url: &str) -> Option<String> {
    let url = url.trim();
    if let Some((scheme, _)) = url.split_once("://") {
        let valid =
            !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        return (valid && scheme != "file").then(|| strip_credentials(url));
    }
    let (host, path) = url.split_once(':')?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    // A one-letter "host" is a Windows drive letter.
    let scp_like = host.len() > 1 && !host.contains('/') && !path.is_empty();
    scp_like.then(|| format!("ssh://{host}/{}", path.trim_start_matches('/')))
}

/// Removes `user:password@` from a URL so credentials never reach provenance.
pub fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            match path {
                Some(path) => format!("{scheme}://{host}/{path}"),
                None => format!("{scheme}://{host}"),
            }
        }
        None => url
            .rsplit_once('@')
            .filter(|(user, _)| !user.contains('/'))
            .map_or(url.to_owned(), |(_, rest)| rest.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn remotes_become_uris_without_host_paths() {
        assert_eq!(
            remote_uri("https://tok@github.com/o/r.git").as_deref(),
            Some("https://github.com/o/r.git")
        );
        assert_eq!(remote_uri("git@github.com:o/r.git").as_deref(), Some("ssh://github.com/o/r.git"));
        assert_eq!(remote_uri("ssh://git@example.com/o/r").as_deref(), Some("ssh://example.com/o/r"));
        for local in ["/work/main", "../other", "file:///srv/repo.git", "C:\\repo", "repo"] {
            assert_eq!(remote_uri(local), None, "{local}");
        }
    }

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://x-access-token:ghs_abc@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(strip_credentials("https://github.com/o/r"), "https://github.com/o/r");
        assert_eq!(strip_credentials("git@github.com:o/r.git"), "github.com:o/r.git");
    }

    #[test]
    fn github_environment_is_detected_from_its_variables() {
        let vars = BTreeMap::from([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/echo"),
            ("GITHUB_WORKFLOW_REF", "acme/echo/.github/workflows/skill.yml@refs/tags/v1.0.0"),
            ("GITHUB_RUN_ID", "42"),
        ]);
        let env = Environment::detect(|name| vars.get(name).map(|v| v.to_string()));
        let Environment::GitHub(gh) = &env else { panic!("{env:?}") };
        assert_eq!(gh.server_url, "https://github.com");
        assert_eq!(gh.run_attempt, "1");
        assert_eq!(Environment::detect(|_| None), Environment::Local);
    }
}
