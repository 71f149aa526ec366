//! `keygen`: key files, permissions, output, and never printing the secret.

mod support;

use cargo_palyra_skill::signing::SecretKey;
use predicates::prelude::*;
use support::cmd;

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn writes_a_private_pem_0600_and_a_public_hex_file() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("acme.pem");
    let out = cmd().args(["keygen", "--message-format", "json", "--out"]).arg(&key_path).assert().success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();

    let pem = std::fs::read(&key_path).unwrap();
    assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    let key = SecretKey::decode(&pem).unwrap();
    let public_hex = std::fs::read_to_string(dir.path().join("acme.pem.pub")).unwrap();
    assert_eq!(public_hex.trim(), key.public().to_hex());
    assert_eq!(report["public_key_hex"], key.public().to_hex());
    assert_eq!(report["key_id"], key.public().key_id());
    #[cfg(unix)]
    {
        assert_eq!(mode(&key_path), 0o600);
        assert_eq!(mode(&dir.path().join("acme.pem.pub")), 0o644);
    }

    // Nothing printed carries the secret in any encoding.
    let seed = key.seed();
    let printed = [out.get_output().stdout.clone(), out.get_output().stderr.clone()].concat();
    let printed = String::from_utf8_lossy(&printed);
    for secret in [hex::encode(*seed), String::from_utf8_lossy(&pem).lines().nth(1).unwrap().to_owned()] {
        assert!(!printed.contains(&secret));
    }
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("k.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key_path).assert().success();
    let before = std::fs::read(&key_path).unwrap();
    cmd()
        .args(["keygen", "--out"])
        .arg(&key_path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists").and(predicate::str::contains("--force")));
    assert_eq!(std::fs::read(&key_path).unwrap(), before);
    cmd().args(["-q", "keygen", "--force", "--out"]).arg(&key_path).assert().success();
    assert_ne!(std::fs::read(&key_path).unwrap(), before);
}

#[test]
fn human_output_shows_the_key_id_and_the_trust_hint() {
    let dir = tempfile::tempdir().unwrap();
    cmd()
        .args(["keygen", "--publisher", "acme", "--out"])
        .arg(dir.path().join("k.pem"))
        .assert()
        .success()
        .stdout(
            predicate::str::is_match("key_id      ed25519:[0-9a-f]{16}\npublic key  [0-9a-f]{64}\n").unwrap(),
        )
        .stderr(predicate::str::contains("--trusted-publisher acme="));
}
