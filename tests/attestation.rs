//! GitHub build attestations, verified offline: real bundles from GitHub's
//! own test data (one Rekor, one RFC 3161 timestamp from GitHub's
//! authority), each refused after one changed byte; and bundles minted
//! here for our own fixture artifacts from a test root (`support::attest`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cargo_palyra_skill::attest::{self, Attestation, Requirements, Roots};
use serde_json::Value;

use crate::support::*;

fn real(name: &str) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/attestations");
    let bundle = dir.join(format!("{name}.sigstore.json"));
    (
        bundle.clone(),
        std::fs::read(&bundle).unwrap(),
        std::fs::read(dir.join(format!("{name}.artifact"))).unwrap(),
    )
}

fn check(bundle: &[u8], artifact: &[u8], required: &Requirements) -> Attestation {
    attest::verify(Path::new("bundle.sigstore.json"), bundle, artifact, required, &Roots::built_in().unwrap())
}

fn failed(report: &Attestation) -> &'static str {
    assert!(!report.verified, "{report:#?}");
    report.checks.iter().find(|c| !c.passed).map(|c| c.name).unwrap_or_else(|| panic!("{report:#?}"))
}

/// `bundle` with the base64 bytes at `pointer` changed by `change`.
fn mutate(bundle: &[u8], pointer: &str, change: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut json: Value = serde_json::from_slice(bundle).unwrap();
    let field = json.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}"));
    let mut bytes = B64.decode(field.as_str().unwrap()).unwrap();
    change(&mut bytes);
    *field = Value::String(B64.encode(bytes));
    serde_json::to_vec(&json).unwrap()
}

fn flip_last(bytes: &mut [u8]) {
    *bytes.last_mut().unwrap() ^= 1;
}

#[test]
fn a_public_repositorys_attestation_verifies_through_rekor_and_fails_on_any_changed_byte() {
    let (_, bundle, artifact) = real("public-rekor");
    let required = Requirements::new("malancas/attest-demo", None, Some("refs/heads/main"), None).unwrap();
    let report = check(&bundle, &artifact, &required);
    assert!(report.verified, "{report:#?}");
    assert_eq!(report.root, "public-good");
    let names: Vec<_> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "bundle",
            "timestamp",
            "certificate",
            "certificate transparency",
            "transparency log",
            "signature",
            "subject",
            "predicate",
            "issuer",
            "repository",
            "ref"
        ]
    );
    let identity = report.identity.as_ref().unwrap();
    assert_eq!(identity.repository.as_deref(), Some("malancas/attest-demo"));
    assert_eq!(identity.visibility.as_deref(), Some("public"));
    // A reusable workflow signed: the caller's workflow is what ran here.
    assert!(
        identity.signer.as_deref().unwrap().contains("github/artifact-attestations-workflows"),
        "{identity:?}"
    );

    let mut other = artifact.clone();
    other[0] ^= 1;
    assert_eq!(failed(&check(&bundle, &other, &required)), "subject");
    let signature = mutate(&bundle, "/dsseEnvelope/signatures/0/sig", flip_last);
    assert_eq!(failed(&check(&signature, &artifact, &required)), "signature");
    let certificate = mutate(&bundle, "/verificationMaterial/certificate/rawBytes", flip_last);
    assert_eq!(failed(&check(&certificate, &artifact, &required)), "certificate");
    let mut later: Value = serde_json::from_slice(&bundle).unwrap();
    let time = &mut later["verificationMaterial"]["tlogEntries"][0]["integratedTime"];
    *time = Value::String((time.as_str().unwrap().parse::<i64>().unwrap() + 1).to_string());
    // The log signed the time (its SET): the log's check refuses it.
    let report = check(&serde_json::to_vec(&later).unwrap(), &artifact, &required);
    assert_eq!(failed(&report), "transparency log");
    assert!(report.error.as_deref().unwrap().contains("SET"), "{report:#?}");
}

#[test]
fn a_private_repositorys_attestation_verifies_through_githubs_timestamp_and_fails_on_any_changed_byte() {
    let (_, bundle, artifact) = real("private-tsa");
    let required = Requirements::new(
        "actions/attest-demo",
        Some(".github/workflows/build-python.yml"),
        Some("refs/heads/*"),
        None,
    )
    .unwrap();
    let report = check(&bundle, &artifact, &required);
    assert!(report.verified, "{report:#?}");
    assert_eq!(report.root, "github");
    assert!(
        report.checks.iter().any(|c| c.name == "timestamp" && c.detail.contains("RFC 3161")),
        "{report:#?}"
    );
    assert!(!report.checks.iter().any(|c| c.name == "transparency log"), "GitHub's instance keeps no log");
    assert_eq!(report.identity.as_ref().unwrap().visibility.as_deref(), Some("private"));

    let mut other = artifact.clone();
    other[100] ^= 1;
    assert_eq!(failed(&check(&bundle, &other, &required)), "subject");
    // GitHub's timestamp signs the signature's bytes: it is the first to notice.
    let signature = mutate(&bundle, "/dsseEnvelope/signatures/0/sig", flip_last);
    assert_eq!(failed(&check(&signature, &artifact, &required)), "timestamp");
    let certificate = mutate(&bundle, "/verificationMaterial/certificate/rawBytes", flip_last);
    assert_eq!(failed(&check(&certificate, &artifact, &required)), "certificate");
    let timestamp = mutate(
        &bundle,
        "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
        flip_last,
    );
    assert_eq!(failed(&check(&timestamp, &artifact, &required)), "timestamp");
}

#[test]
fn a_real_attestation_is_refused_for_another_identity() {
    let (_, bundle, artifact) = real("private-tsa");
    for (required, name) in [
        (Requirements::new("actions/other", None, None, None).unwrap(), "repository"),
        (
            Requirements::new("actions/attest-demo", Some(".github/workflows/release.yml"), None, None)
                .unwrap(),
            "workflow",
        ),
        (Requirements::new("actions/attest-demo", None, Some("refs/tags/v*"), None).unwrap(), "ref"),
        (
            Requirements::new("actions/attest-demo", None, None, Some(&"0".repeat(40))).unwrap(),
            "source commit",
        ),
    ] {
        let report = check(&bundle, &artifact, &required);
        assert_eq!(failed(&report), name);
        // Every signature check passed first; the identity is shown as verified.
        assert!(report.checks.iter().any(|c| c.name == "subject" && c.passed));
    }
    // An enterprise's own token issuer is not GitHub Actions' public one.
    let (_, bundle, artifact) = real("custom-issuer");
    let report = check(&bundle, &artifact, &Requirements::new("too-legit/attest", None, None, None).unwrap());
    assert_eq!(failed(&report), "issuer");
    assert!(report.error.as_deref().unwrap().contains("hammer-time"), "{report:#?}");
}

#[test]
fn what_is_not_a_github_attestation_is_refused_with_the_reason() {
    let (_, _, artifact) = real("public-rekor");
    let required = Requirements::new("malancas/attest-demo", None, None, None).unwrap();
    for (bytes, says) in [(&b"not json"[..], "not a Sigstore bundle"), (&b"{}"[..], "not a Sigstore bundle")]
    {
        let report = check(bytes, &artifact, &required);
        assert_eq!(failed(&report), "bundle");
        assert!(report.error.as_deref().unwrap().contains(says), "{report:#?}");
    }
    // A bundle for a trusted root that does not hold its authorities.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, include_str!("../fixtures/attestations/README.md")).unwrap();
    let error = Roots::from_file(&root).err().unwrap().to_string();
    assert!(error.contains("gh attestation trusted-root"), "{error}");
}

use crate::support::attest::{Claims, TestSigstore, Times, failed_checks};

const WORKFLOW: &str = ".github/workflows/skill.yml";

struct Minted {
    _dir: tempfile::TempDir,
    artifact: PathBuf,
    bundle: PathBuf,
    root: PathBuf,
}

/// A fixture artifact, a bundle for it from the test instance, and that
/// instance's root.
fn minted(claims: &Claims, times: Times, subject: Option<&[u8]>) -> Minted {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(
        dir.path(),
        "acme.echo-0.1.0.palyra-skill",
        wat::parse_str(r#"(module (func (export "run") (result i32) i32.const 0))"#).unwrap(),
    );
    let bytes = std::fs::read(&artifact).unwrap();
    let sigstore = TestSigstore::new(1);
    let bundle = attest::bundle_path_for(&artifact);
    let name = "acme.echo-0.1.0.palyra-skill";
    std::fs::write(&bundle, sigstore.attest(name, subject.unwrap_or(&bytes), claims, times)).unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root()).unwrap();
    Minted { _dir: dir, artifact, bundle, root }
}

fn verify_minted(minted: &Minted, extra: &[&str]) -> std::process::Output {
    cmd()
        .arg("verify")
        .arg(&minted.artifact)
        .args(["--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}"), "--trusted-root"])
        .arg(&minted.root)
        .args(extra)
        .output()
        .unwrap()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn an_attested_fixture_artifact_passes_with_its_repository_and_workflow() {
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let out = verify_minted(
        &minted,
        &["--repo", "acme/echo", "--workflow", WORKFLOW, "--ref", "refs/tags/v*", "-v"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("attested: built in acme/echo, .github/workflows/skill.yml at refs/tags/v0.1.0, commit 0123456789abcdef0123456789abcdef01234567, run https://github.com/acme/echo/actions/runs/1/attempts/1"),
        "{stdout}"
    );
    for check in [
        "timestamp",
        "certificate",
        "transparency log",
        "signature",
        "subject",
        "repository",
        "workflow",
        "ref",
    ] {
        assert!(stderr.contains(&format!("Checked {check}: ")), "{check}: {stderr}");
    }
    // The bundle beside the artifact is found without naming it; JSON names each check.
    let out = verify_minted(&minted, &["--repo", "acme/echo", "--message-format", "json"]);
    let report = json_of(&out);
    let attestation = &report["artifacts"][0]["attestation"];
    assert_eq!(attestation["verified"], true, "{report:#}");
    assert_eq!(attestation["identity"]["repository"], "acme/echo");
    assert_eq!(attestation["identity"]["workflow"], WORKFLOW);
    assert_eq!(attestation["identity"]["ref"], "refs/tags/v0.1.0");
    assert!(attestation["checks"].as_array().unwrap().iter().all(|c| c["passed"] == true));
    // Named explicitly, the same bundle.
    let out =
        verify_minted(&minted, &["--repo", "acme/echo", "--attestation", minted.bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_minted_attestation_fails_for_another_identity_an_expired_certificate_other_bytes_or_an_untrusted_root() {
    let claims = Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0");
    let good = minted(&claims, Times::fresh(), None);
    let refused = |minted: &Minted, extra: &[&str], check: &str, says: &str| {
        let out = verify_minted(minted, &[&["--message-format", "json"][..], extra].concat());
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        let report = json_of(&out);
        let artifact = &report["artifacts"][0];
        assert_eq!(artifact["accepted"], false);
        assert_eq!(artifact["error"]["kind"], "attestation");
        assert_eq!(failed_checks(&artifact["attestation"]), [check], "{extra:?}: {artifact:#}");
        let message = artifact["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{extra:?}: {message}");
        // Human output: the reason, and what the certificate claimed.
        let human = verify_minted(minted, extra);
        let stdout = String::from_utf8_lossy(&human.stdout);
        assert!(stdout.contains("rejected") && stdout.contains(says), "{stdout}");
    };
    refused(&good, &["--repo", "acme/other"], "repository", "built in `acme/echo`, not in `acme/other`");
    refused(
        &good,
        &["--repo", "acme/echo", "--workflow", ".github/workflows/ci.yml"],
        "workflow",
        "not by `.github/workflows/ci.yml`",
    );
    refused(
        &good,
        &["--repo", "acme/echo", "--ref", "refs/tags/v2*"],
        "ref",
        "does not match `refs/tags/v2*`",
    );
    refused(
        &good,
        &["--repo", "acme/echo", "--source-commit", &"f".repeat(40)],
        "source commit",
        "not `ffff",
    );

    let expired = minted(&claims, Times::expired(), None);
    refused(&expired, &["--repo", "acme/echo"], "certificate", "was not valid when it signed");
    let other_bytes = minted(&claims, Times::fresh(), Some(b"another artifact"));
    refused(&other_bytes, &["--repo", "acme/echo"], "subject", "");
    // The same bundle against a root that holds its log but another CA,
    // then against a root that holds neither.
    std::fs::write(&good.root, TestSigstore::new(1).trusted_root_with_ca_of(&TestSigstore::new(2))).unwrap();
    refused(&good, &["--repo", "acme/echo"], "certificate", "certificate chain is invalid");
    std::fs::write(&good.root, TestSigstore::new(2).trusted_root()).unwrap();
    refused(&good, &["--repo", "acme/echo"], "transparency log", "log key");
}

#[test]
fn a_refused_attestation_pins_nothing_and_a_missing_one_says_where_it_was_looked_for() {
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let store = minted.root.with_file_name("trust.json");
    let out = cmd()
        .arg("verify")
        .arg(&minted.artifact)
        .args(["--allow-tofu", "--repo", "acme/other", "--trusted-root"])
        .arg(&minted.root)
        .arg("--trust-store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !store.exists() || !std::fs::read_to_string(&store).unwrap().contains("acme"),
        "a refused artifact was pinned"
    );

    std::fs::remove_file(&minted.bundle).unwrap();
    let out = verify_minted(&minted, &["--repo", "acme/echo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("acme.echo-0.1.0.palyra-skill.sigstore.json` does not exist")
            && stdout.contains("gh release download"),
        "{stdout}"
    );
    // A bundle named but unreadable, or requirements no certificate could meet: exit 2.
    let out = verify_minted(&minted, &["--repo", "acme/echo", "--attestation", "/nonexistent.sigstore.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not read the attestation bundle"));
    let out = verify_minted(&minted, &["--repo", "echo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not `OWNER/NAME`"));
    let out = cmd().arg("verify").arg(&minted.artifact).args(["--attestation", "x.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--attestation needs --repo");
}

/// `verify --attestation` opens no connection: run where there is no
/// network at all (a new network namespace), it verifies the same.
#[test]
fn attestations_verify_with_no_network() {
    if std::process::Command::new("unshare")
        .args(["--net", "--map-root-user", "true"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        eprintln!("skipped: `unshare --net` is not available here");
        return;
    }
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let run = |extra: &[&str]| {
        std::process::Command::new("unshare")
            .args(["--net", "--map-root-user"])
            .arg(assert_cmd::cargo::cargo_bin("cargo-palyra-skill"))
            .arg("verify")
            .arg(&minted.artifact)
            .args(["--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}"), "--repo", "acme/echo"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--trusted-root", minted.root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The built-in roots: a real public-good bundle, for other bytes, is
    // refused on its subject, after its chain, SCT and log checked offline.
    let (real_bundle, _, _) = real("public-rekor");
    let out = run(&["--attestation", real_bundle.to_str().unwrap(), "--message-format", "json"]);
    let report = json_of(&out);
    let attestation = &report["artifacts"][0]["attestation"];
    assert_eq!(failed_checks(attestation), ["subject"], "{report:#}");
    let checks = attestation["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["name"] == "transparency log" && c["passed"] == true));
}

fn verify_with_store(minted: &Minted, store: &Path, extra: &[&str]) -> std::process::Output {
    cmd()
        .arg("verify")
        .arg(&minted.artifact)
        .arg("--trust-store")
        .arg(store)
        .arg("--trusted-root")
        .arg(&minted.root)
        .args(extra)
        .args(["--message-format", "json"])
        .output()
        .unwrap()
}

fn verdict(out: &std::process::Output) -> Value {
    json_of(out)["artifacts"][0].clone()
}

/// `trust.github.json` beside the consumer's store binds a publisher to a
/// repository and workflow: a good key signature is then not enough.
#[test]
fn a_publisher_bound_to_a_repository_needs_an_attestation_from_it() {
    let good = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let store = good.root.with_file_name("trust.json");
    std::fs::write(&store, format!(r#"{{"trusted_publishers": {{"acme": ["{TEST_PUBLIC_HEX}"]}}}}"#))
        .unwrap();
    let policy = good.root.with_file_name("trust.github.json");
    std::fs::write(
        &policy,
        format!(r#"{{"publishers": {{"acme": {{"repository": "acme/echo", "workflow": "{WORKFLOW}"}}}}}}"#),
    )
    .unwrap();
    let out = verify_with_store(&good, &store, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(verdict(&out)["attestation"]["identity"]["repository"], "acme/echo");
    // The consumer's own store is untouched and still in its own format.
    cargo_palyra_skill::trust::TrustStore::load(&store).unwrap();

    let elsewhere = minted(
        &Claims::github("acme/echo", ".github/workflows/other.yml", "refs/tags/v0.1.0"),
        Times::fresh(),
        None,
    );
    let out = verify_with_store(&elsewhere, &store, &[]);
    assert_eq!(out.status.code(), Some(1));
    let message = verdict(&out)["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("binds publisher `acme` to `acme/echo` and `.github/workflows/skill.yml`"),
        "{message}"
    );

    std::fs::remove_file(&good.bundle).unwrap();
    let out = verify_with_store(&good, &store, &[]);
    assert_eq!(out.status.code(), Some(1), "the key signature alone is not enough");
    let message = verdict(&out)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("does not exist") && message.contains("binds publisher `acme`"), "{message}");
}

/// A first use pins the key and the repository it was attested from; a
/// later artifact from elsewhere, or not attested, is refused like a
/// changed key.
#[test]
fn a_first_use_pins_the_repository_and_a_later_change_is_refused_like_a_key_change() {
    let first = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let store = first.root.with_file_name("trust.json");
    let out = verify_with_store(&first, &store, &["--allow-tofu"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pinned publisher `acme` to repository `acme/echo`")
    );
    let policy: Value =
        serde_json::from_slice(&std::fs::read(first.root.with_file_name("trust.github.json")).unwrap())
            .unwrap();
    assert_eq!(policy["tofu_repositories"]["acme"], "acme/echo");
    assert!(
        cargo_palyra_skill::trust::TrustStore::load(&store).unwrap().tofu_publishers.contains_key("acme")
    );

    let moved = minted(&Claims::github("mallory/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    std::fs::copy(&moved.bundle, &first.bundle).unwrap();
    let out = verify_with_store(&first, &store, &["--allow-tofu"]);
    assert_eq!(out.status.code(), Some(1));
    let rejected = verdict(&out);
    assert_eq!(rejected["error"]["kind"], "tofu_repository_mismatch");
    let message = rejected["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "pinned on first use to repository `acme/echo`, but this artifact was built in `mallory/echo`"
        ),
        "{message}"
    );
    std::fs::remove_file(&first.bundle).unwrap();
    let out = verify_with_store(&first, &store, &["--allow-tofu"]);
    assert_eq!(verdict(&out)["error"]["kind"], "tofu_repository_mismatch");
}

#[test]
fn inspect_shows_who_built_it_and_whether_the_bundle_proves_it() {
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let inspect = |bundle: &Path, json: bool| {
        let mut command = cmd();
        command
            .arg("inspect")
            .arg(&minted.artifact)
            .arg("--attestation")
            .arg(bundle)
            .arg("--trusted-root")
            .arg(&minted.root);
        if json {
            command.args(["--message-format", "json"]);
        }
        command.output().unwrap()
    };
    let out = inspect(&minted.bundle, false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for line in [
        "attestation: verified offline",
        "repository  acme/echo",
        "workflow    .github/workflows/skill.yml",
        "ref         refs/tags/v0.1.0",
        "commit      0123456789abcdef0123456789abcdef01234567",
        "run         https://github.com/acme/echo/actions/runs/1/attempts/1",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let report = json_of(&inspect(&minted.bundle, true));
    assert_eq!(report["attestation"]["identity"]["repository"], "acme/echo");
    assert!(report["entries"].is_array(), "the inspect report is still there");
    // A bundle for other bytes: its claims are shown as unproven.
    let other = self::minted(
        &Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"),
        Times::fresh(),
        Some(b"other"),
    );
    std::fs::copy(&other.bundle, &minted.bundle).unwrap();
    let stdout = String::from_utf8_lossy(&inspect(&minted.bundle, false).stdout).into_owned();
    assert!(stdout.contains("attestation: NOT verified: subject") && stdout.contains("unproven"), "{stdout}");
}

fn publish(minted: &Minted, registry: &Path, artifact: &Path, bundle: Option<&Path>) -> std::process::Output {
    let mut command = cmd();
    command
        .arg("publish")
        .arg(artifact)
        .arg("--registry-dir")
        .arg(registry)
        .env("PALYRA_SKILL_SIGNING_KEY", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
        .env("PALYRA_SKILL_CONFIG_DIR", registry.with_extension("config"));
    if let Some(bundle) = bundle {
        command.arg("--attestation").arg(bundle).arg("--trusted-root").arg(&minted.root);
    }
    command.output().unwrap()
}

fn registry_verify(minted: &Minted, registry: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let out = cmd()
        .args(["registry", "verify"])
        .arg(registry)
        .arg("--trusted-root")
        .arg(&minted.root)
        .args(extra)
        .args(["--message-format", "json"])
        .output()
        .unwrap();
    (out.status.code(), json_of(&out))
}

/// `publish --attestation` stores the bundle beside the artifact once it
/// verifies for those bytes; `registry verify` checks every bundle present
/// and, with `--require-attestation`, refuses artifacts without one.
#[test]
fn registries_carry_attestations_and_can_require_them() {
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let registry = minted.root.with_file_name("site");
    let out = publish(&minted, &registry, &minted.artifact, Some(&minted.bundle));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = registry.join("acme/acme.echo_http/acme.echo_http-1.0.0.palyra-skill.sigstore.json");
    assert_eq!(std::fs::read(&stored).unwrap(), std::fs::read(&minted.bundle).unwrap());
    let (code, report) = registry_verify(&minted, &registry, &["--require-attestation"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["attestations_verified"], 1);

    // A bundle for other bytes is never published.
    let other = self::minted(
        &Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"),
        Times::fresh(),
        Some(b"other"),
    );
    let out = publish(&minted, &registry, &minted.artifact, Some(&other.bundle));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not verify"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ... and one swapped in on the server is found.
    std::fs::copy(&other.bundle, &stored).unwrap();
    let (code, report) = registry_verify(&minted, &registry, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["problems"][0]["kind"], "attestation", "{report:#}");

    // An artifact published without one: fine, unless attestations are required.
    std::fs::remove_file(&stored).unwrap();
    let (code, _) = registry_verify(&minted, &registry, &[]);
    assert_eq!(code, Some(0));
    let (code, report) = registry_verify(&minted, &registry, &["--require-attestation"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["problems"][0]["kind"], "missing_attestation", "{report:#}");
}

/// A bundle path that is a FIFO, a directory or too large is refused
/// without blocking or reading it all.
#[cfg(unix)]
#[test]
fn a_bundle_that_is_not_a_plain_file_is_refused_without_blocking() {
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    std::fs::remove_file(&minted.bundle).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&minted.bundle).status().unwrap().success());
    let out = verify_minted(&minted, &["--repo", "acme/echo"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not read the attestation bundle"));
    std::fs::remove_file(&minted.bundle).unwrap();
    let big = std::fs::File::create(&minted.bundle).unwrap();
    big.set_len(attest::MAX_BUNDLE_BYTES + 1).unwrap();
    let out = verify_minted(&minted, &["--repo", "acme/echo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is larger than"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository a first use pins holds for the rest of the same run.
#[test]
fn a_repository_pinned_by_a_run_holds_for_its_later_artifacts() {
    let first = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let moved = minted(&Claims::github("mallory/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let store = first.root.with_file_name("trust.json");
    let out = cmd()
        .arg("verify")
        .arg(&first.artifact)
        .arg(&moved.artifact)
        .arg("--trust-store")
        .arg(&store)
        .arg("--trusted-root")
        .arg(&first.root)
        .args(["--allow-tofu", "--message-format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json_of(&out);
    assert_eq!(report["artifacts"][0]["accepted"], true, "{report:#}");
    assert_eq!(report["artifacts"][1]["error"]["kind"], "tofu_repository_mismatch", "{report:#}");
}

/// A bundle from another Sigstore instance fails on the log's signature
/// over its time, before anything else is checked: no later check is
/// reported as passed, and the message names the root and the fix.
#[test]
fn a_failure_reports_only_the_checks_that_ran() {
    let minted = minted(&Claims::github("acme/echo", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let out = cmd()
        .arg("verify")
        .arg(&minted.artifact)
        .args(["--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}"), "--repo", "acme/echo"])
        .args(["--message-format", "json"])
        .output()
        .unwrap();
    let report = json_of(&out);
    let attestation = &report["artifacts"][0]["attestation"];
    let names: Vec<_> = attestation["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].clone(), c["passed"].clone()))
        .collect();
    assert_eq!(
        names,
        [("bundle".into(), true.into()), ("transparency log".into(), false.into())],
        "{attestation:#}"
    );
    let error = attestation["error"].as_str().unwrap();
    assert!(error.contains("public-good root") && error.contains("--trusted-root"), "{error}");
}

/// Only an in-toto statement is an attestation.
#[test]
fn a_statement_of_another_type_is_refused() {
    let (_, bundle, artifact) = real("public-rekor");
    let mut json: Value = serde_json::from_slice(&bundle).unwrap();
    let payload = json["dsseEnvelope"]["payload"].as_str().unwrap().to_owned();
    let mut statement: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    statement["_type"] = "evil".into();
    json["dsseEnvelope"]["payload"] = B64.encode(serde_json::to_vec(&statement).unwrap()).into();
    let required = Requirements::new("malancas/attest-demo", None, None, None).unwrap();
    let report = check(&serde_json::to_vec(&json).unwrap(), &artifact, &required);
    assert_eq!(failed(&report), "bundle");
    assert!(report.error.as_deref().unwrap().contains("not an in-toto statement type"), "{report:#?}");
}

/// A reusable workflow of another repository, as the certificate's SAN
/// (its Build Signer URI) names it.
const SHARED: &str = "https://github.com/other/shared/.github/workflows/release.yml@refs/heads/main";

/// Built in `acme/weather`, signed by `other/shared`'s reusable workflow.
fn signed_elsewhere() -> Minted {
    let claims = Claims::github("acme/weather", WORKFLOW, "refs/tags/v0.1.0").signed_by(SHARED);
    minted(&claims, Times::fresh(), None)
}

/// As `gh attestation verify --repo`: the signer must be a workflow of the
/// repository, unless `--signer-repo` or `--signer-workflow` names another.
#[test]
fn an_attestation_signed_by_another_repositorys_workflow_needs_that_signer_named() {
    let minted = signed_elsewhere();
    let json = |extra: &[&str]| {
        let out = verify_minted(
            &minted,
            &[&["--repo", "acme/weather", "--message-format", "json"][..], extra].concat(),
        );
        (out.status.code(), json_of(&out)["artifacts"][0].clone())
    };
    let (code, artifact) = json(&[]);
    assert_eq!(code, Some(1), "{artifact:#}");
    assert_eq!(artifact["error"]["kind"], "attestation");
    assert_eq!(failed_checks(&artifact["attestation"]), ["signer"], "{artifact:#}");
    let message = artifact["error"]["message"].as_str().unwrap();
    for says in
        [SHARED, "a workflow of `other/shared`, not of `acme/weather`", "`--signer-repo other/shared`"]
    {
        assert!(message.contains(says), "{says}: {message}");
    }
    // Every signature check passed: only the signer is refused.
    assert!(artifact["attestation"]["checks"].as_array().unwrap().iter().any(|c| c["name"] == "subject"));
    let human = verify_minted(&minted, &["--repo", "acme/weather"]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert!(
        stdout.contains("signer: signed by") && stdout.contains(&format!("signed by {SHARED}")),
        "{stdout}"
    );

    for accepted in [
        &["--signer-repo", "other/shared"][..],
        &["--signer-repo", "Other/Shared"],
        &["--signer-workflow", "other/shared/.github/workflows/release.yml"],
        &["--signer-workflow", "other/shared/.github/workflows/release.yml@refs/heads/main"],
        &["--signer-workflow", "https://github.com/other/shared/.github/workflows/release.yml@refs/heads/*"],
    ] {
        let (code, artifact) = json(accepted);
        assert_eq!(code, Some(0), "{accepted:?}: {artifact:#}");
        let signer =
            artifact["attestation"]["checks"].as_array().unwrap().iter().find(|c| c["name"] == "signer");
        assert!(signer.is_some_and(|c| c["passed"] == true), "{accepted:?}: {artifact:#}");
    }
    for (refused, says) in [
        (&["--signer-repo", "third/party"][..], "not of `third/party`, the signer named"),
        (&["--signer-workflow", "other/shared/.github/workflows/ci.yml"], "not by the signer workflow named"),
        (&["--signer-workflow", "other/shared/.github/workflows/release.yml@refs/tags/v*"], "refs/tags/v*"),
        (
            &["--signer-workflow", "other/shared/.github/workflows/release.yml@refs/heads/mai"],
            "refs/heads/mai`",
        ),
    ] {
        let (code, artifact) = json(refused);
        assert_eq!(code, Some(1), "{refused:?}: {artifact:#}");
        assert_eq!(failed_checks(&artifact["attestation"]), ["signer"], "{refused:?}: {artifact:#}");
        let message = artifact["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{refused:?}: {message}");
    }
    // A value no signer could have, or both at once: exit 2.
    for bad in [
        &["--signer-repo", "shared"][..],
        &["--signer-workflow", "other/shared/release.yml"],
        &["--signer-workflow", "other/shared/.github/workflows/release.yml@main"],
        &["--signer-repo", "other/shared", "--signer-workflow", "other/shared/.github/workflows/release.yml"],
    ] {
        let out = verify_minted(&minted, &[&["--repo", "acme/weather"][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--signer-"), "{bad:?}: {stderr}");
    }
    // The repository's own workflow still signs without any flag.
    let own =
        self::minted(&Claims::github("acme/weather", WORKFLOW, "refs/tags/v0.1.0"), Times::fresh(), None);
    let out = verify_minted(&own, &["--repo", "acme/weather", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Checked signer: `https://github.com/acme/weather/")
    );
}

/// A binding names the signer it accepts; without one, the repository's own.
#[test]
fn a_binding_that_names_the_signer_accepts_it() {
    let minted = signed_elsewhere();
    let store = minted.root.with_file_name("trust.json");
    std::fs::write(&store, format!(r#"{{"trusted_publishers": {{"acme": ["{TEST_PUBLIC_HEX}"]}}}}"#))
        .unwrap();
    let policy = minted.root.with_file_name("trust.github.json");
    let bind = |extra: &str| {
        std::fs::write(
            &policy,
            format!(r#"{{"publishers": {{"acme": {{"repository": "acme/weather"{extra}}}}}}}"#),
        )
        .unwrap();
        let out = verify_with_store(&minted, &store, &[]);
        (out.status.code(), verdict(&out))
    };
    let (code, refused) = bind("");
    assert_eq!(code, Some(1), "{refused:#}");
    assert_eq!(failed_checks(&refused["attestation"]), ["signer"], "{refused:#}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("binds publisher `acme` to `acme/weather`"), "{message}");
    let (code, accepted) = bind(r#", "signer_repo": "other/shared""#);
    assert_eq!(code, Some(0), "{accepted:#}");
    assert_eq!(accepted["attestation"]["identity"]["signer"], SHARED);
    let (code, _) =
        bind(r#", "signer_workflow": "other/shared/.github/workflows/release.yml@refs/heads/main""#);
    assert_eq!(code, Some(0));
    let (code, refused) = bind(r#", "signer_workflow": "other/shared/.github/workflows/nightly.yml""#);
    assert_eq!(code, Some(1));
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("signed by `other/shared/.github/workflows/nightly.yml`"), "{message}");
    // The run's flags do not loosen a binding: it names its own signer.
    std::fs::write(&policy, r#"{"publishers": {"acme": {"repository": "acme/weather"}}}"#).unwrap();
    let out = verify_with_store(&minted, &store, &["--signer-repo", "other/shared"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A first use holds the bundle beside it to the same rule, and the pin it
/// makes holds later artifacts to it; `registry verify` and `inspect` too.
#[test]
fn first_use_registries_and_inspect_hold_the_signer_to_the_same_rule() {
    let minted = signed_elsewhere();
    let store = minted.root.with_file_name("trust.json");
    let out = verify_with_store(&minted, &store, &["--allow-tofu"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(failed_checks(&verdict(&out)["attestation"]), ["signer"]);
    assert!(!store.exists() || !std::fs::read_to_string(&store).unwrap().contains("acme"), "pinned nothing");
    let out = verify_with_store(&minted, &store, &["--allow-tofu", "--signer-repo", "other/shared"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let policy = std::fs::read_to_string(minted.root.with_file_name("trust.github.json")).unwrap();
    assert!(policy.contains(r#""acme": "acme/weather""#), "{policy}");
    // The pin names the repository; the signer is the run's to name again.
    let out = verify_with_store(&minted, &store, &[]);
    assert_eq!(failed_checks(&verdict(&out)["attestation"]), ["signer"]);
    let message = verdict(&out)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("--signer-repo other/shared"), "{message}");
    assert_eq!(verify_with_store(&minted, &store, &["--signer-repo", "other/shared"]).status.code(), Some(0));

    let registry = minted.root.with_file_name("site");
    let out = publish(&minted, &registry, &minted.artifact, Some(&minted.bundle));
    assert_eq!(out.status.code(), Some(2), "publish holds the bundle to the same rule");
    assert!(String::from_utf8_lossy(&out.stderr).contains("signer: signed by"));
    let out = cmd()
        .arg("publish")
        .arg(&minted.artifact)
        .arg("--registry-dir")
        .arg(&registry)
        .env("PALYRA_SKILL_SIGNING_KEY", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
        .env("PALYRA_SKILL_CONFIG_DIR", registry.with_extension("config"))
        .arg("--attestation")
        .arg(&minted.bundle)
        .arg("--trusted-root")
        .arg(&minted.root)
        .args(["--signer-repo", "other/shared"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, report) = registry_verify(&minted, &registry, &[]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["problems"][0]["kind"], "attestation", "{report:#}");
    assert!(report["problems"][0]["message"].as_str().unwrap().starts_with("signer: "), "{report:#}");
    let (code, report) = registry_verify(&minted, &registry, &["--signer-repo", "other/shared"]);
    assert_eq!((code, &report["attestations_verified"]), (Some(0), &Value::from(1)), "{report:#}");

    let inspect = |extra: &[&str]| {
        let out = cmd()
            .arg("inspect")
            .arg(&minted.artifact)
            .arg("--attestation")
            .arg(&minted.bundle)
            .arg("--trusted-root")
            .arg(&minted.root)
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = inspect(&[]);
    assert!(
        stdout.contains("attestation: NOT verified: signer")
            && stdout.contains(&format!("signer      {SHARED}")),
        "{stdout}"
    );
    assert!(inspect(&["--signer-repo", "other/shared"]).contains("attestation: verified offline"));
}
