//! `publish` and `registry verify`: a registry built from several skills and
//! versions verifies, its signed index matches the consumer's format field
//! for field (checked here independently of our serializer), published
//! versions never change, and concurrent publishes lose nothing.

use std::path::{Path, PathBuf};

use crate::support::{
    TEST_PUBLIC_HEX, TEST_SEED_HEX, cmd, fixture_text, sbom_with, std_cmd, test_key, with_publisher,
    write_artifact,
};
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A registry key other than the publishers' test key.
const REGISTRY_SEED_HEX: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

fn manifest(publisher: &str, version: &str) -> String {
    with_publisher(&fixture_text("vectors/inputs/skill.toml"), publisher)
        .replace("version = \"1.0.0\"", &format!("version = \"{version}\""))
}

fn artifact(dir: &Path, publisher: &str, version: &str) -> PathBuf {
    let name = format!("{publisher}-{version}.palyra-skill");
    write_artifact(dir, &name, &manifest(publisher, version), sbom_with(&[]), &test_key())
}

fn publish(registry: &Path, artifact: &Path) -> assert_cmd::assert::Assert {
    cmd()
        .arg("publish")
        .arg(artifact)
        .arg("--registry-dir")
        .arg(registry)
        .env("PALYRA_SKILL_SIGNING_KEY", REGISTRY_SEED_HEX)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        // No development key: an empty config directory beside the registry.
        .env("PALYRA_SKILL_CONFIG_DIR", registry.with_extension("config"))
        .assert()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn a_registry_of_several_skills_and_versions_verifies_and_matches_the_format() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    // Out of order on purpose: 1.10.0 sorts after 1.2.0 (numeric versions).
    for (publisher, version) in [("zeta", "1.0.0"), ("acme", "1.10.0"), ("acme", "1.2.0"), ("acme", "0.9.1")]
    {
        publish(&registry, &artifact(work.path(), publisher, version)).success();
    }
    cmd().args(["registry", "verify"]).arg(&registry).assert().success();

    let file = read_json(&registry.join("index.json"));
    assert_eq!(keys(&file), ["schema_version", "index", "signature"]);
    assert_eq!(file["schema_version"], 1);
    let index = &file["index"];
    assert_eq!(
        keys(index),
        ["schema_version", "generated_at_unix_ms", "entries"],
        "next_page omitted when absent"
    );
    assert_eq!(index["generated_at_unix_ms"], 1_700_000_000_000i64);
    let order: Vec<(&str, &str)> = index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["skill_id"].as_str().unwrap(), e["version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("acme.echo_http", "0.9.1"),
            ("acme.echo_http", "1.2.0"),
            ("acme.echo_http", "1.10.0"),
            ("zeta.echo_http", "1.0.0")
        ]
    );
    for entry in index["entries"].as_array().unwrap() {
        assert_eq!(
            keys(entry),
            ["skill_id", "version", "publisher", "artifact", "artifact_sha256", "artifact_bytes"]
        );
        let relative = entry["artifact"].as_str().unwrap();
        let expected = format!(
            "{0}/{1}/{1}-{2}.palyra-skill",
            entry["publisher"].as_str().unwrap(),
            entry["skill_id"].as_str().unwrap(),
            entry["version"].as_str().unwrap()
        );
        assert_eq!(relative, expected);
        let bytes = std::fs::read(registry.join(relative)).unwrap();
        assert_eq!(entry["artifact_sha256"], hex::encode(Sha256::digest(&bytes)));
        assert_eq!(entry["artifact_bytes"], bytes.len() as u64);
    }

    // The signature: the seven fields, a payload hash over the compact JSON
    // of `index` (serde_json keeps the file's field order), and an Ed25519
    // signature over that hex string by the registry key.
    let signature = &file["signature"];
    assert_eq!(
        keys(signature),
        [
            "algorithm",
            "publisher",
            "key_id",
            "public_key_base64",
            "payload_sha256",
            "signature_base64",
            "signed_at_unix_ms"
        ]
    );
    let compact = serde_json::to_vec(index).unwrap();
    let payload = hex::encode(Sha256::digest(&compact));
    assert_eq!(signature["payload_sha256"], payload.as_str());
    assert_eq!(signature["algorithm"], "ed25519-sha256");
    assert_eq!(signature["publisher"], "registry");
    let seed: [u8; 32] = hex::decode(REGISTRY_SEED_HEX).unwrap().try_into().unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(signature["public_key_base64"], b64.encode(public.as_bytes()));
    assert_eq!(
        signature["key_id"],
        format!("ed25519:{}", hex::encode(&Sha256::digest(public.as_bytes())[..8]))
    );
    let raw: [u8; 64] =
        b64.decode(signature["signature_base64"].as_str().unwrap()).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(public.as_bytes())
        .unwrap()
        .verify(payload.as_bytes(), &Signature::from_bytes(&raw))
        .expect("the index signature verifies independently");
}

#[test]
fn republishing_the_same_bytes_is_a_no_op_and_different_bytes_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    let first = artifact(work.path(), "acme", "1.0.0");
    publish(&registry, &first).success();
    let index = std::fs::read(registry.join("index.json")).unwrap();
    publish(&registry, &first).success().stderr(predicates::str::contains("already published"));
    assert_eq!(std::fs::read(registry.join("index.json")).unwrap(), index, "the index is kept byte for byte");

    // Same version, different bytes (another asset).
    let other_dir = work.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = write_artifact(
        &other_dir,
        "x.palyra-skill",
        &manifest("acme", "1.0.0"),
        sbom_with(&[("serde", "1.0.0")]),
        &test_key(),
    );
    publish(&registry, &other)
        .code(2)
        .stderr(predicates::str::contains("already exists with different bytes"))
        .stderr(predicates::str::contains(
            "bump the version (in `Cargo.toml` for a crate built with `build`",
        ));
    let stored =
        std::fs::read(registry.join("acme/acme.echo_http/acme.echo_http-1.0.0.palyra-skill")).unwrap();
    assert_eq!(stored, std::fs::read(&first).unwrap());
    assert_eq!(std::fs::read(registry.join("index.json")).unwrap(), index);
}

#[test]
fn a_dry_run_writes_nothing_and_says_what_would_change() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    let output = cmd()
        .arg("publish")
        .arg(artifact(work.path(), "acme", "1.0.0"))
        .arg("--registry-dir")
        .arg(&registry)
        .args(["--dry-run", "--message-format", "json"])
        .env("PALYRA_SKILL_SIGNING_KEY", REGISTRY_SEED_HEX)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["copied"], true);
    assert_eq!(report["added"][0]["artifact"], "acme/acme.echo_http/acme.echo_http-1.0.0.palyra-skill");
    assert!(!registry.exists(), "a dry run creates nothing");

    // Into an existing registry: still nothing written, not even a lock file.
    publish(&registry, &artifact(work.path(), "acme", "0.9.0")).success();
    let before: Vec<_> = std::fs::read_dir(&registry).unwrap().map(|e| e.unwrap().file_name()).collect();
    let index = std::fs::read(registry.join("index.json")).unwrap();
    cmd()
        .arg("publish")
        .arg(artifact(work.path(), "acme", "1.0.0"))
        .arg("--registry-dir")
        .arg(&registry)
        .arg("--dry-run")
        .env("PALYRA_SKILL_SIGNING_KEY", REGISTRY_SEED_HEX)
        .assert()
        .success()
        .stderr(predicates::str::contains("Would publish"));
    let after: Vec<_> = std::fs::read_dir(&registry).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after);
    assert_eq!(std::fs::read(registry.join("index.json")).unwrap(), index);
}

#[test]
fn concurrent_publishes_into_one_directory_lose_no_entry() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    let artifacts: Vec<PathBuf> =
        (0..16).map(|i| artifact(work.path(), "acme", &format!("1.{i}.0"))).collect();
    let children: Vec<_> = artifacts
        .iter()
        .map(|path| {
            std_cmd()
                .args(["-q", "publish"])
                .arg(path)
                .arg("--registry-dir")
                .arg(&registry)
                .env("PALYRA_SKILL_SIGNING_KEY", REGISTRY_SEED_HEX)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let index = read_json(&registry.join("index.json"));
    assert_eq!(index["index"]["entries"].as_array().unwrap().len(), 16);
    cmd().args(["registry", "verify"]).arg(&registry).assert().success();
}

#[test]
fn registry_verify_names_every_problem() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    publish(&registry, &artifact(work.path(), "acme", "1.0.0")).success();
    publish(&registry, &artifact(work.path(), "acme", "1.1.0")).success();

    // Trust: the index signer and the publisher must be known when asked.
    let registry_public = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&hex::decode(REGISTRY_SEED_HEX).unwrap().try_into().unwrap())
            .verifying_key()
            .as_bytes(),
    );
    cmd()
        .args(["registry", "verify"])
        .arg(&registry)
        .arg(format!("--trusted-publisher=registry={registry_public}"))
        .arg(format!("--trusted-publisher=acme={TEST_PUBLIC_HEX}"))
        .assert()
        .success();
    let untrusted = cmd()
        .args(["registry", "verify", "--message-format", "json"])
        .arg(&registry)
        .arg(format!("--trusted-publisher=acme={TEST_PUBLIC_HEX}"))
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&untrusted.stdout).unwrap();
    assert_eq!(report["problems"][0]["subject"], "index.json");
    assert_eq!(report["problems"][0]["kind"], "untrusted_publisher");

    // A replaced artifact, an unindexed one, and a tampered index.
    let listed = registry.join("acme/acme.echo_http/acme.echo_http-1.0.0.palyra-skill");
    let mut bytes = std::fs::read(&listed).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 1;
    std::fs::write(&listed, &bytes).unwrap();
    std::fs::copy(artifact(work.path(), "acme", "3.0.0"), registry.join("stray.palyra-skill")).unwrap();
    let out = cmd().args(["registry", "verify", "--message-format", "json"]).arg(&registry).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> =
        report["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"hash_mismatch"), "{kinds:?}");
    assert!(kinds.contains(&"artifact_rejected"), "{kinds:?}");
    assert!(kinds.contains(&"unindexed"), "{kinds:?}");

    let index_path = registry.join("index.json");
    let text = std::fs::read_to_string(&index_path).unwrap().replace("\"1.1.0\"", "\"1.1.1\"");
    std::fs::write(&index_path, text).unwrap();
    let out = cmd().args(["registry", "verify"]).arg(&registry).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the index was changed after signing"));

    std::fs::write(&index_path, b"{\"schema_version\": 1}").unwrap();
    cmd()
        .args(["registry", "verify"])
        .arg(&registry)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("malformed_index"));
}

#[test]
fn publish_refuses_an_invalid_artifact_and_a_missing_key() {
    let work = tempfile::tempdir().unwrap();
    let junk = work.path().join("junk.palyra-skill");
    std::fs::write(&junk, b"PK\x03\x04 not really").unwrap();
    publish(&work.path().join("site"), &junk).code(2).stderr(predicates::str::contains("does not verify"));
    cmd()
        .arg("publish")
        .arg(artifact(work.path(), "acme", "1.0.0"))
        .arg("--registry-dir")
        .arg(work.path().join("site"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no registry signing key"));
    let _ = TEST_SEED_HEX;
}

/// Every file below `dir`, as relative paths.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn publish_leaves_no_lock_file_in_the_registry() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    publish(&registry, &artifact(work.path(), "acme", "1.0.0")).success();
    assert_eq!(
        files_below(&registry),
        ["acme/acme.echo_http/acme.echo_http-1.0.0.palyra-skill", "index.json"]
    );
    assert!(work.path().join("site.lock").exists(), "the lock is beside the directory");
}

#[test]
fn publish_never_writes_outside_the_registry_directory() {
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    let registry = site.join("registry");
    let inputs = work.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    // `..` is a valid publisher to the consumer's packer.
    for publisher in ["..", "acme:x"] {
        let manifest = fixture_text("vectors/inputs/skill.toml")
            .replace("publisher = \"acme\"", &format!("publisher = \"{publisher}\""))
            .replace("\"acme.echo\"", &format!("\"{publisher}.echo\""));
        let path = write_artifact(&inputs, "x.palyra-skill", &manifest, sbom_with(&[]), &test_key());
        publish(&registry, &path)
            .code(2)
            .stderr(predicates::str::contains(format!("publisher `{publisher}` cannot name a folder")));
    }
    assert_eq!(files_below(&site), Vec::<String>::new(), "nothing written anywhere below site/");
    assert!(!work.path().join("acme.echo").exists());
}

#[test]
fn publish_and_registry_verify_follow_no_symlinked_folder() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, registry.join("acme")).unwrap();
    publish(&registry, &artifact(work.path(), "acme", "1.0.0"))
        .code(2)
        .stderr(predicates::str::contains("is a symlink"));
    assert_eq!(files_below(&elsewhere), Vec::<String>::new());

    // A registry whose index lists an artifact behind a symlinked folder.
    std::fs::remove_file(registry.join("acme")).unwrap();
    publish(&registry, &artifact(work.path(), "acme", "1.0.0")).success();
    std::fs::rename(registry.join("acme"), elsewhere.join("moved")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("moved"), registry.join("acme")).unwrap();
    cmd()
        .args(["registry", "verify", "--message-format", "json"])
        .arg(&registry)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("\"symlink\""));
}

#[test]
fn an_artifact_signed_with_the_development_key_needs_allow_dev_key() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    let config = work.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    // The test key is this user's development key here.
    std::fs::write(config.join("dev-signing-key.pem"), test_key().to_pkcs8_pem().as_bytes()).unwrap();
    let artifact = artifact(work.path(), "acme", "1.0.0");
    let publish = |extra: &[&str]| {
        cmd()
            .arg("publish")
            .arg(&artifact)
            .arg("--registry-dir")
            .arg(&registry)
            .args(extra)
            .env("PALYRA_SKILL_SIGNING_KEY", REGISTRY_SEED_HEX)
            .env("PALYRA_SKILL_CONFIG_DIR", &config)
            .assert()
    };
    publish(&[])
        .code(2)
        .stderr(predicates::str::contains("signed with your local development key"))
        .stderr(predicates::str::contains("--allow-dev-key"));
    assert!(!registry.join("index.json").exists(), "nothing published");
    publish(&["--allow-dev-key"]).success();
}

/// The second review's items 3 and 4: someone who can write the registry
/// directory but holds no registry key adds an entry (and its file) to
/// `index.json`; the next legitimate `publish` must not sign it. With
/// `--rebuild-index`, every artifact is re-read, and one outside its
/// canonical path (or a second copy of a version) is listed, not indexed.
#[test]
fn publish_never_signs_entries_it_did_not_verify() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    publish(&registry, &artifact(work.path(), "acme", "1.0.0")).success();

    // A planted file and a forged entry for it in the (now unsigned) index.
    let planted = artifact(work.path(), "evil", "6.6.6");
    std::fs::create_dir_all(registry.join("zz")).unwrap();
    std::fs::copy(&planted, registry.join("zz/evil.palyra-skill")).unwrap();
    let mut index = read_json(&registry.join("index.json"));
    let bytes = std::fs::read(&planted).unwrap();
    index["index"]["entries"].as_array_mut().unwrap().push(serde_json::json!({
        "skill_id": "evil.echo_http", "version": "6.6.6", "publisher": "evil",
        "artifact": "zz/evil.palyra-skill", "artifact_sha256": hex::encode(Sha256::digest(&bytes)),
        "artifact_bytes": bytes.len(),
    }));
    std::fs::write(registry.join("index.json"), serde_json::to_vec_pretty(&index).unwrap()).unwrap();

    let out = publish(&registry, &artifact(work.path(), "acme", "1.1.0")).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("does not verify with this registry key"), "{stderr}");
    assert!(stderr.contains("--rebuild-index"), "{stderr}");
    assert!(!read_json(&registry.join("index.json")).to_string().contains("1.1.0"), "nothing was signed");

    // Re-reading every artifact finds the planted one where no version lives.
    let rebuild = || {
        cmd()
            .args(["publish", "--rebuild-index"])
            .arg(artifact(work.path(), "acme", "1.1.0"))
            .arg("--registry-dir")
            .arg(&registry)
            .env("PALYRA_SKILL_SIGNING_KEY", REGISTRY_SEED_HEX)
            .assert()
    };
    let out = rebuild().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("`zz/evil.palyra-skill` (evil.echo_http 6.6.6 by evil) is not at"), "{stderr}");
    std::fs::remove_dir_all(registry.join("zz")).unwrap();
    rebuild().success();
    let entries = read_json(&registry.join("index.json"))["index"]["entries"].clone();
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries:#}");
    cmd().args(["registry", "verify"]).arg(&registry).assert().success();

    // An index signed by another key is not trusted either.
    let other = cmd()
        .arg("publish")
        .arg(artifact(work.path(), "acme", "1.2.0"))
        .arg("--registry-dir")
        .arg(&registry)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&other.get_output().stderr).into_owned();
    assert!(stderr.contains("not by this key"), "{stderr}");
}

#[test]
fn a_second_artifact_of_one_version_is_refused_and_named() {
    let work = tempfile::tempdir().unwrap();
    let registry = work.path().join("site");
    publish(&registry, &artifact(work.path(), "acme", "0.1.0")).success();
    // The same skill and version, other bytes (another signing time), dropped in `zz/`.
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let twin = write_artifact(
        &other,
        "twin.palyra-skill",
        &manifest("acme", "0.1.0"),
        sbom_with(&[("serde", "1.0.0")]),
        &test_key(),
    );
    std::fs::create_dir_all(registry.join("zz")).unwrap();
    std::fs::copy(&twin, registry.join("zz/acme.echo_http-0.1.0.palyra-skill")).unwrap();
    let out = publish(&registry, &artifact(work.path(), "acme", "0.2.0")).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("are both acme.echo_http 0.1.0"), "{stderr}");
    assert!(stderr.contains("`zz/acme.echo_http-0.1.0.palyra-skill`"), "{stderr}");
    let index = read_json(&registry.join("index.json")).to_string();
    assert!(!index.contains("zz/") && !index.contains("0.2.0"), "{index}");
}
