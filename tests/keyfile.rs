//! Passphrase-encrypted key files: `keygen` writes them (from the
//! variable, or asked twice on a terminal), openssl and Python's
//! cryptography read them, `build` and `sign` sign with them, and a wrong
//! or missing passphrase is a clear error that shows no secret.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::keytools::*;
use crate::support::*;
use predicates::prelude::*;

const PASSPHRASE: &str = "correct horse battery staple";
const VAR: &str = "PALYRA_SKILL_KEY_PASSPHRASE";

fn keygen_encrypted(dir: &Path) -> PathBuf {
    let key = dir.join("acme.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key).env(VAR, PASSPHRASE).assert().success();
    key
}

fn pub_of(key: &Path) -> PathBuf {
    key.with_file_name(format!("{}.pub", key.file_name().unwrap().to_string_lossy()))
}

#[test]
fn keygen_encrypts_with_the_variable_and_openssl_and_python_read_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("acme.pem");
    let out = cmd()
        .args(["keygen", "--message-format", "json", "--out"])
        .arg(&key)
        .env(VAR, PASSPHRASE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["encrypted"], true);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{text}");
    let public = std::fs::read_to_string(pub_of(&key)).unwrap();

    let openssl = |pass: &str| {
        Command::new("openssl")
            .args(["pkey", "-pubout", "-passin", &format!("pass:{pass}"), "-in"])
            .arg(&key)
            .output()
            .expect("openssl runs")
    };
    let read = openssl(PASSPHRASE);
    assert!(read.status.success(), "openssl: {}", String::from_utf8_lossy(&read.stderr));
    assert_eq!(String::from_utf8_lossy(&read.stdout), public);
    assert!(!openssl("not the passphrase").status.success(), "openssl must need the passphrase");

    let script = "import sys\nfrom cryptography.hazmat.primitives import serialization as s\n\
        k = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), sys.argv[2].encode())\n\
        sys.stdout.write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())";
    let python =
        Command::new(venv_tool("python")).args(["-c", script]).arg(&key).arg(PASSPHRASE).output().unwrap();
    assert!(python.status.success(), "python: {}", String::from_utf8_lossy(&python.stderr));
    assert_eq!(String::from_utf8_lossy(&python.stdout), public);
}

#[test]
fn no_passphrase_writes_plaintext_even_with_the_variable_set() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ci.pem");
    cmd()
        .args(["keygen", "--no-passphrase", "--out"])
        .arg(&key)
        .env(VAR, PASSPHRASE)
        .assert()
        .success()
        .stderr(predicate::str::contains("encrypted").not());
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));
}

#[test]
fn build_and_sign_with_an_encrypted_key_make_artifacts_its_pub_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_encrypted(dir.path());
    let out = dir.path().join("out");
    build_echo(&out)
        .arg("--key")
        .arg(&key)
        .env(VAR, PASSPHRASE)
        .assert()
        .success()
        .stderr(predicate::str::contains(PASSPHRASE).not());
    assert_verifies_with(&built_artifact(&out), &pub_of(&key));

    let artifact = unsigned_artifact(dir.path());
    cmd().args(["-q", "sign", "--key"]).arg(&key).arg(&artifact).env(VAR, PASSPHRASE).assert().success();
    assert_verifies_with(&artifact, &pub_of(&key));
}

/// openssl's own encrypted PKCS#8 (PBKDF2 and AES-256-CBC) signs as well.
#[test]
fn an_openssl_encrypted_key_signs() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("openssl.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes-256-cbc",
            "-pass",
            &format!("pass:{PASSPHRASE}"),
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let public = dir.path().join("openssl.pem.pub");
    let derived = Command::new("openssl")
        .args(["pkey", "-pubout", "-passin", &format!("pass:{PASSPHRASE}"), "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(derived.status.success());
    let artifact = unsigned_artifact(dir.path());
    cmd().args(["-q", "sign", "--key"]).arg(&key).arg(&artifact).env(VAR, PASSPHRASE).assert().success();
    assert_verifies_with(&artifact, &public);
}

#[test]
fn a_wrong_or_missing_passphrase_is_a_clear_error_that_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_encrypted(dir.path());
    let artifact = unsigned_artifact(dir.path());
    let before = std::fs::read(&artifact).unwrap();

    let wrong = "not-the-passphrase";
    let out = cmd().args(["sign", "--key"]).arg(&key).arg(&artifact).env(VAR, wrong).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(stderr.contains(&key.display().to_string()), "names the key file: {stderr}");
    assert!(!stderr.contains(wrong) && !stderr.contains(PASSPHRASE), "{stderr}");

    // No variable and no terminal (standard input is not one here).
    cmd()
        .args(["sign", "--key"])
        .arg(&key)
        .arg(&artifact)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is encrypted and there is no terminal"))
        .stderr(predicate::str::contains(VAR));
    assert_eq!(std::fs::read(&artifact).unwrap(), before, "the artifact is untouched");
}

/// Runs `command` on a terminal of its own (util-linux `script`), typing
/// each answer once its question is on the screen (and echo had a moment
/// to be switched off); returns whether it succeeded and the screen.
fn on_terminal(command: &str, dialogue: &[(&str, &str)]) -> (bool, String) {
    use std::io::{Read as _, Write as _};
    let mut child = Command::new("script");
    for var in USER_VARS {
        child.env_remove(var);
    }
    let mut child = child
        .env("HOME", fresh_home())
        .env("NO_COLOR", "1")
        .args(["-qefc", command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("util-linux `script` runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut screen = Vec::new();
    for (question, answer) in dialogue {
        while !String::from_utf8_lossy(&screen).contains(question) {
            let mut buf = [0u8; 256];
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "`{question}` never asked: {}", String::from_utf8_lossy(&screen));
            screen.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    stdout.read_to_end(&mut screen).unwrap();
    let status = child.wait().unwrap();
    (status.success(), String::from_utf8_lossy(&screen).into_owned())
}

/// On a terminal `keygen` asks twice and encrypts, `sign` asks once, and
/// nothing typed is echoed.
#[test]
fn on_a_terminal_keygen_asks_twice_and_sign_asks_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("typed.pem");
    let bin = env!("CARGO_BIN_EXE_cargo-palyra-skill");
    let twice = [("Passphrase for the new key", PASSPHRASE), ("same passphrase again", PASSPHRASE)];
    let (ok, screen) = on_terminal(&format!("{bin} -q keygen --out {}", key.display()), &twice);
    assert!(ok, "{screen}");
    assert!(!screen.contains(PASSPHRASE), "the passphrase is not echoed: {screen}");
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    let artifact = unsigned_artifact(dir.path());
    let command = format!("{bin} -q sign --key {} {}", key.display(), artifact.display());
    let (ok, screen) = on_terminal(&command, &[("Passphrase for the signing key", PASSPHRASE)]);
    assert!(ok, "{screen}");
    assert!(!screen.contains(PASSPHRASE), "{screen}");
    assert_verifies_with(&artifact, &pub_of(&key));

    let other = dir.path().join("other.pem");
    let differ = [("Passphrase for the new key", "one"), ("same passphrase again", "two")];
    let (ok, screen) = on_terminal(&format!("{bin} -q keygen --out {}", other.display()), &differ);
    assert!(!ok && screen.contains("the two passphrases differ"), "{screen}");
    assert!(!other.exists());
}
