//! `sign`: signing unsigned artifacts, key rotation, and refusing to bless
//! tampered content.

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::pack;
use cargo_palyra_skill::signing::SecretKey;
use predicates::prelude::*;

fn unsigned(dir: &std::path::Path) -> std::path::PathBuf {
    let (entries, _) = pack::assemble(echo_parts(&fixture_text("manifests/full.toml"))).unwrap();
    let path = dir.join("u.palyra-skill");
    std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
    path
}

fn entries(path: &std::path::Path) -> Entries {
    Entries::read_zip(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn signs_an_unsigned_artifact_in_place_without_changing_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let path = unsigned(dir.path());
    let payload = entries(&path).payload_sha256();
    cmd()
        .args(["sign", "--key-env", "K"])
        .env("K", TEST_SEED_HEX)
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("Signing acme.full_skill 2.10.3 with ed25519:65b60673d6ed884b"));
    assert_eq!(entries(&path).payload_sha256(), payload);
    cmd()
        .args(["verify", "--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}")])
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn re_signing_rotates_the_key_and_keeps_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let path = unsigned(dir.path());
    cmd().args(["-q", "sign", "--key-env", "K"]).env("K", TEST_SEED_HEX).arg(&path).assert().success();
    let before = entries(&path);
    let new_key = SecretKey::from_seed(&[42; 32]);
    let rotated = dir.path().join("rotated.palyra-skill");
    cmd()
        .args(["sign", "--key-env", "K", "--out"])
        .arg(&rotated)
        .env("K", hex::encode(*new_key.seed()))
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "ed25519:65b60673d6ed884b -> {}",
            new_key.public().key_id()
        )));
    let after = entries(&rotated);
    assert_eq!(after.payload_sha256(), before.payload_sha256());
    for (path, entry) in before.iter().filter(|(p, _)| *p != "signature.json") {
        assert_eq!(after.get(path).unwrap().bytes, entry.bytes);
    }
    cmd()
        .args(["verify", "--trusted-publisher", &format!("acme={}", new_key.public().to_hex())])
        .arg(&rotated)
        .assert()
        .success();
}

#[test]
fn refuses_tampered_artifacts_and_leaves_them_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = unsigned(dir.path());
    let mut tampered = entries(&path);
    tampered.set("modules/echo.wasm", b"\0asm\x01\0\0\0".to_vec()).unwrap();
    std::fs::write(&path, tampered.to_zip().unwrap()).unwrap();
    let before = std::fs::read(&path).unwrap();
    cmd().args(["sign", "--key-env", "K"]).env("K", TEST_SEED_HEX).arg(&path).assert().code(2).stderr(
        predicate::str::contains("refusing to sign")
            .and(predicate::str::contains("`modules/echo.wasm` has sha256")),
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A signed artifact whose content changed after signing (integrity rewritten too).
    let signed = dir.path().join("s.palyra-skill");
    let mut entries = signed_entries(&fixture_text("manifests/minimal.toml"), &test_key());
    entries.set("assets/prompt.txt", b"changed".to_vec()).unwrap();
    let text = cargo_palyra_skill::artifact::write_integrity(
        std::str::from_utf8(&entries.get("skill.toml").unwrap().bytes).unwrap(),
        &entries.integrity_files(),
    )
    .unwrap();
    entries.set("skill.toml", text.into_bytes()).unwrap();
    std::fs::write(&signed, entries.to_zip().unwrap()).unwrap();
    cmd().args(["sign", "--key-env", "K"]).env("K", TEST_SEED_HEX).arg(&signed).assert().code(2).stderr(
        predicate::str::contains("existing signature").and(predicate::str::contains("payload hash mismatch")),
    );
}

#[test]
fn needs_a_key() {
    let dir = tempfile::tempdir().unwrap();
    cmd()
        .arg("sign")
        .arg(unsigned(dir.path()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no signing key"));
}
