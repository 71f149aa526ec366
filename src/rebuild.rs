//! `rebuild`: what an artifact's provenance says it was built from and
//! with, which toolchain can build it again, and the comparison of the
//! original with the rebuild.

use serde::Serialize;
use serde_json::Value;

use crate::artifact::{Entries, MANIFEST_PATH, PROVENANCE_PATH, SIGNATURE_PATH, write_integrity};
use crate::cargo::Features;
use crate::names::{chars_in, is_date, is_hex, is_rustc_release, is_semver};
use crate::provenance::BUILD_TYPE;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("`provenance.json` is not JSON: {0}")]
    NotJson(String),
    #[error(
        "the artifact was built by another tool (build type `{0}`): `rebuild` rebuilds what `cargo palyra-skill build` made"
    )]
    BuildType(String),
    #[error("`provenance.json` does not record {0}: it cannot say how to build the artifact again")]
    Missing(&'static str),
    #[error(
        "`provenance.json` records {what} `{value}`, which is not {grammar}: the provenance is malformed or crafted, so nothing from it is run or suggested"
    )]
    Invalid { what: &'static str, value: String, grammar: &'static str },
}

/// One field of the provenance held to its grammar before anything of it
/// reaches a command we run or print.
fn checked(what: &'static str, value: &str, grammar: &'static str, ok: bool) -> Result<(), RebuildError> {
    if ok {
        Ok(())
    } else {
        Err(RebuildError::Invalid { what, value: crate::text::escape(value).into_owned(), grammar })
    }
}

/// What the provenance and the signature record about a build.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub package: String,
    pub profile: String,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub target: String,
    pub abi: String,
    pub locked: bool,
    /// `rustc -vV` of the original build.
    pub rustc: String,
    /// The source commit and whether the work tree had changes.
    pub commit: Option<String>,
    pub dirty: bool,
    pub signed_at_unix_ms: i64,
    /// The build's start (`runDetails.metadata.startedOn`), in seconds.
    pub started_on: Option<i64>,
    pub payload_sha256: String,
    /// The modules carry a `.dep-v0` list (else built with `--no-embed-dependencies`).
    pub embeds_dependencies: bool,
    pub builder_id: String,
    /// The `cargo-palyra-skill` version that built it.
    pub tool_version: Option<String>,
    /// The SHA-256 of the `Cargo.lock` it was built with.
    pub lockfile_sha256: Option<String>,
}

impl Recorded {
    pub fn read(
        entries: &Entries,
        signed_at_unix_ms: i64,
        payload_sha256: &str,
    ) -> Result<Recorded, RebuildError> {
        let bytes = entries.get(PROVENANCE_PATH).map(|e| e.bytes.as_slice()).unwrap_or_default();
        let statement: Value =
            serde_json::from_slice(bytes).map_err(|e| RebuildError::NotJson(e.to_string()))?;
        let definition = &statement["predicate"]["buildDefinition"];
        let build_type = definition["buildType"].as_str().unwrap_or_default();
        if build_type != BUILD_TYPE {
            return Err(RebuildError::BuildType(build_type.to_owned()));
        }
        let external = &definition["externalParameters"];
        let internal = &definition["internalParameters"];
        let text = |value: &Value, what| value.as_str().map(str::to_owned).ok_or(RebuildError::Missing(what));
        let source = definition["resolvedDependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["digest"]["gitCommit"].is_string());
        let builder = &statement["predicate"]["runDetails"]["builder"];
        Recorded {
            package: text(&external["package"], "the package")?,
            profile: text(&external["profile"], "the profile")?,
            features: external["features"]
                .as_array()
                .ok_or(RebuildError::Missing("the features"))?
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect(),
            all_features: external["all_features"].as_bool().unwrap_or(false),
            no_default_features: external["no_default_features"].as_bool().unwrap_or(false),
            target: text(&external["target"], "the target")?,
            abi: text(&external["abi"], "the ABI")?,
            locked: internal["locked"].as_bool().unwrap_or(false),
            rustc: text(&internal["rustc"], "the compiler")?,
            commit: source.and_then(|s| s["digest"]["gitCommit"].as_str().map(str::to_owned)),
            dirty: source.is_some_and(|s| s["annotations"]["dirty"].as_bool() == Some(true)),
            signed_at_unix_ms,
            started_on: statement["predicate"]["runDetails"]["metadata"]["startedOn"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second()),
            payload_sha256: payload_sha256.to_owned(),
            embeds_dependencies: entries.modules().any(|(_, m)| crate::auditable::has_section(&m.bytes)),
            builder_id: builder["id"].as_str().unwrap_or_default().to_owned(),
            tool_version: builder["version"][env!("CARGO_PKG_NAME")].as_str().map(str::to_owned),
            lockfile_sha256: definition["resolvedDependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["name"] == "Cargo.lock")
                .and_then(|d| d["digest"]["sha256"].as_str())
                .filter(|sha| is_hex(sha, &[64]))
                .map(str::to_owned),
        }
        .checked()
    }

    /// Every field that reaches a command (run or printed) in its grammar:
    /// cargo package, profile and feature names, the ABI's target, rustc's
    /// release, commit and date, a git commit and the tool's semver.
    fn checked(self) -> Result<Recorded, RebuildError> {
        checked("the package", &self.package, "a cargo package name", chars_in(&self.package, 64, b""))?;
        checked("the profile", &self.profile, "a cargo profile name", chars_in(&self.profile, 64, b""))?;
        for feature in &self.features {
            checked("a feature", feature, "a cargo feature name", chars_in(feature, 128, b"+./:"))?;
        }
        let abi = match self.abi.as_str() {
            "palyra-host-v1" => crate::cargo::Abi::PalyraHostV1,
            "wasi-json" => crate::cargo::Abi::WasiJson,
            _ => {
                return Err(RebuildError::Invalid {
                    what: "the ABI",
                    value: crate::text::escape(&self.abi).into_owned(),
                    grammar: "`palyra-host-v1` or `wasi-json`",
                });
            }
        };
        checked("the target", &self.target, "the target of its ABI", self.target == abi.target())?;
        if let Some(release) = rustc_field(&self.rustc, "release") {
            checked(
                "the rustc release",
                release,
                "a rustc release (`1.N.M`, `-nightly`, `-beta.N`)",
                is_rustc_release(release),
            )?;
        }
        if let Some(hash) = rustc_field(&self.rustc, "commit-hash") {
            checked(
                "the rustc commit",
                hash,
                "a 40-digit commit hash",
                is_hex(hash, &[40]) || hash == "unknown",
            )?;
        }
        if let Some(date) = rustc_field(&self.rustc, "commit-date") {
            checked(
                "the rustc commit date",
                date,
                "a `YYYY-MM-DD` date",
                is_date(date) || date == "unknown",
            )?;
        }
        if let Some(commit) = &self.commit {
            checked("the source commit", commit, "a git commit hash", is_hex(commit, &[40, 64]))?;
        }
        if let Some(version) = &self.tool_version {
            checked("the tool version", version, "a semantic version", is_semver(version))?;
        }
        Ok(self)
    }

    pub fn features(&self) -> Features {
        Features {
            features: self.features.clone(),
            all_features: self.all_features,
            no_default_features: self.no_default_features,
        }
    }

    /// `SOURCE_DATE_EPOCH` of the original build: the signature's time (a
    /// build signs at its start time, which every timestamp uses), unless
    /// the artifact was signed later (`build --unsigned` then `sign`, or a
    /// re-signing): then the start the provenance records.
    pub fn source_date_epoch(&self) -> i64 {
        let signed = self.signed_at_unix_ms.div_euclid(1000);
        self.started_on.filter(|started| *started != signed).unwrap_or(signed)
    }

    /// Whether the signature is later than the build.
    pub fn signed_later(&self) -> bool {
        self.source_date_epoch() != self.signed_at_unix_ms.div_euclid(1000)
    }
}

pub use crate::toolchain::{
    checkout, current_rustc, install_command, installed_toolchain, rustc_field, same_compiler,
};

/// How one entry of the artifact compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    Identical,
    Differs,
    OnlyInOriginal,
    OnlyInRebuild,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryComparison {
    pub path: String,
    pub status: EntryStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_bytes: Option<usize>,
    /// The first byte offset where the two differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<usize>,
    /// For `provenance.json`: the fields that differ (JSON pointers, the
    /// first ten).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub reproduced: bool,
    pub entries: Vec<EntryComparison>,
    pub original_payload_sha256: String,
    /// The rebuild's payload hash with the original's builder-run fields in
    /// its provenance; `None` when the provenance differs elsewhere.
    pub rebuilt_payload_sha256: Option<String>,
}

/// Fields of the provenance that name the builder run rather than what
/// was built: who built it, where, when, and through which checkout.
pub const BUILDER_RUN_FIELDS: &[&str] = &[
    "/builder",
    "/predicate/runDetails",
    "/predicate/buildDefinition/externalParameters/source",
    "/predicate/buildDefinition/externalParameters/workflow",
    "/predicate/buildDefinition/internalParameters/github",
    "/predicate/buildDefinition/resolvedDependencies/*(source): all but its gitCommit",
    "/predicate/buildDefinition/internalParameters/rustc: its `host:` line",
];

/// The provenance without [`BUILDER_RUN_FIELDS`].
fn what_was_built(provenance: &[u8]) -> Option<Value> {
    let mut statement: Value = serde_json::from_slice(provenance).ok()?;
    let object = statement.as_object_mut()?;
    object.remove("builder");
    if let Some(predicate) = object.get_mut("predicate").and_then(Value::as_object_mut) {
        predicate.remove("runDetails");
        let definition = &mut predicate["buildDefinition"];
        for (section, key) in [
            ("externalParameters", "source"),
            ("externalParameters", "workflow"),
            ("internalParameters", "github"),
        ] {
            if let Some(section) = definition[section].as_object_mut() {
                section.remove(key);
            }
        }
        for dependency in definition["resolvedDependencies"].as_array_mut().into_iter().flatten() {
            if let Some(commit) = dependency["digest"]["gitCommit"].as_str() {
                *dependency = serde_json::json!({ "digest": { "gitCommit": commit } });
            }
        }
        // The machine the compiler ran on, not the compiler: wasm output
        // does not depend on it.
        let rustc = &mut definition["internalParameters"]["rustc"];
        if let Some(text) = rustc.as_str() {
            let compiler: Vec<&str> = text.lines().filter(|line| !line.starts_with("host:")).collect();
            *rustc = Value::from(compiler.join("\n"));
        }
    }
    Some(statement)
}

/// The JSON pointers at which `a` and `b` differ, at most `limit`.
fn differences(a: &Value, b: &Value, at: &str, limit: usize, out: &mut Vec<String>) {
    if out.len() >= limit {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(l), Some(r)) => differences(l, r, &path, limit, out),
                    _ if out.len() < limit => out.push(path),
                    _ => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differences(l, r, &format!("{at}/{i}"), limit, out);
            }
        }
        _ if a == b => {}
        _ => out.push(if at.is_empty() { "/".to_owned() } else { at.to_owned() }),
    }
}

/// The provenance fields listed per differing provenance, at most.
const MAX_FIELDS: usize = 10;

/// Compares the provenance apart from its builder-run fields; when that
/// agrees, puts the original's provenance into the rebuild (re-writing the
/// manifest's integrity table, as `build` writes it) and compares every
/// other entry byte for byte, and the payload hash.
pub fn compare(original: &Entries, rebuilt: &Entries, original_payload_sha256: &str) -> Comparison {
    let provenance = |entries: &Entries| entries.get(PROVENANCE_PATH).map(|e| e.bytes.clone());
    let original_provenance = provenance(original);
    let mut provenance_fields = Vec::new();
    let provenance_agrees = match (&original_provenance, provenance(rebuilt)) {
        (Some(a), Some(b)) => match (what_was_built(a), what_was_built(&b)) {
            (Some(x), Some(y)) => {
                differences(&x, &y, "", MAX_FIELDS, &mut provenance_fields);
                provenance_fields.is_empty()
            }
            _ => false,
        },
        _ => false,
    };
    let mut adjusted = rebuilt.clone();
    if let Some(with_original_run) = original_provenance.filter(|_| provenance_agrees) {
        adjusted.set(PROVENANCE_PATH, with_original_run).expect("an existing entry path");
        if let Some(manifest) = rebuilt.get(MANIFEST_PATH)
            && let Ok(text) = std::str::from_utf8(&manifest.bytes)
            && let Ok(text) = write_integrity(text, &adjusted.integrity_files())
        {
            adjusted.set(MANIFEST_PATH, text.into_bytes()).expect("an existing entry path");
        }
    }

    let paths: std::collections::BTreeSet<&str> =
        original.iter().chain(rebuilt.iter()).map(|(p, _)| p).filter(|p| *p != SIGNATURE_PATH).collect();
    let mut entries = Vec::new();
    for path in paths {
        let (a, b) = (original.get(path), adjusted.get(path));
        let mut comparison = EntryComparison {
            path: path.to_owned(),
            status: EntryStatus::Identical,
            original_bytes: a.map(|e| e.bytes.len()),
            rebuilt_bytes: rebuilt.get(path).map(|e| e.bytes.len()),
            first_difference: None,
            fields: Vec::new(),
        };
        match (a, b) {
            (Some(_), Some(_)) if path == PROVENANCE_PATH => {
                if !provenance_agrees {
                    comparison.status = EntryStatus::Differs;
                    comparison.fields = provenance_fields.clone();
                }
            }
            (Some(a), Some(b)) if a.bytes == b.bytes => {}
            (Some(a), Some(b)) => {
                comparison.status = EntryStatus::Differs;
                comparison.first_difference = Some(crate::artifact::first_difference(&a.bytes, &b.bytes));
            }
            (Some(_), None) => comparison.status = EntryStatus::OnlyInOriginal,
            (None, _) => comparison.status = EntryStatus::OnlyInRebuild,
        }
        entries.push(comparison);
    }
    let rebuilt_payload_sha256 = provenance_agrees.then(|| adjusted.payload_sha256());
    let reproduced = entries.iter().all(|e| e.status == EntryStatus::Identical)
        && rebuilt_payload_sha256.as_deref() == Some(original_payload_sha256);
    Comparison {
        reproduced,
        entries,
        original_payload_sha256: original_payload_sha256.to_owned(),
        rebuilt_payload_sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STABLE: &str = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860\ncommit-date: 2026-04-14\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 21.1.0";

    #[test]
    fn toolchains_are_named_as_rustup_installs_them() {
        assert_eq!(
            install_command(STABLE, "wasm32-unknown-unknown").unwrap(),
            "rustup toolchain install 1.95.0 --target wasm32-unknown-unknown"
        );
        let nightly = STABLE.replace("release: 1.95.0", "release: 1.97.0-nightly");
        assert_eq!(
            install_command(&nightly, "wasm32-wasip1").unwrap(),
            "rustup toolchain install nightly-2026-04-14 --target wasm32-wasip1"
        );
        assert!(install_command("unknown", "wasm32-wasip1").is_none());
        assert!(same_compiler(STABLE, &STABLE.replace("x86_64-unknown-linux-gnu", "aarch64-apple-darwin")));
        assert!(!same_compiler(STABLE, &STABLE.replace("release: 1.95.0", "release: 1.94.0")));
        assert!(!same_compiler("unknown", "unknown"));
    }

    #[test]
    fn the_builder_run_is_not_what_was_built() {
        let provenance = |builder: &str, host: &str, commit: &str| {
            serde_json::to_vec(&serde_json::json!({
                "builder": { "id": builder },
                "subject": [{ "name": "m.wasm", "digest": { "sha256": "ab" } }],
                "predicate": { "buildDefinition": {
                    "externalParameters": { "package": "p", "source": format!("git+{builder}") },
                    "internalParameters": { "rustc": STABLE.replace("x86_64-unknown-linux-gnu", host), "locked": true },
                    "resolvedDependencies": [{ "uri": format!("git+{builder}"), "digest": { "gitCommit": commit } }],
                }, "runDetails": { "builder": { "id": builder } } },
            }))
            .unwrap()
        };
        let local = what_was_built(&provenance("urn:local", "x86_64-unknown-linux-gnu", "c1")).unwrap();
        let github =
            what_was_built(&provenance("https://github.com/a/b", "aarch64-apple-darwin", "c1")).unwrap();
        assert_eq!(local, github);
        let other_commit =
            what_was_built(&provenance("urn:local", "x86_64-unknown-linux-gnu", "c2")).unwrap();
        let mut fields = Vec::new();
        differences(&local, &other_commit, "", MAX_FIELDS, &mut fields);
        assert_eq!(fields, ["/predicate/buildDefinition/resolvedDependencies/0/digest/gitCommit"]);
    }

    #[test]
    fn differing_fields_are_named_as_json_pointers() {
        let diff = |a: &Value, b: &Value, limit| {
            let mut out = Vec::new();
            differences(a, b, "", limit, &mut out);
            out
        };
        let a = serde_json::json!({ "a": { "b": [1, 2], "c/d": 1 } });
        let b = serde_json::json!({ "a": { "b": [1, 3], "c/d": 2 }, "e": 0 });
        assert_eq!(diff(&a, &b, 10), ["/a/b/1", "/a/c~1d", "/e"]);
        assert_eq!(diff(&a, &b, 1), ["/a/b/1"]);
        assert_eq!(diff(&a, &serde_json::json!({ "a": { "b": [1] } }), 10), ["/a/b", "/a/c~1d"]);
        assert!(diff(&a, &a, 10).is_empty());
    }
}
