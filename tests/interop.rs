//! Keys cross to and from Palyra's own CLI (`palyra skills package build
//! --signing-key-stdin`, which takes the 32-byte seed raw, as hex or as
//! base64): the README's openssl one-liners are run here as written, and
//! what they make signs with us under the same key.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::keytools::*;
use crate::support::*;
use cargo_palyra_skill::signing::SecretKey;

/// Our key file → the 32 raw bytes Palyra reads on standard input.
const OURS_TO_PALYRA: &str = "openssl pkey -in acme.pem -outform DER | tail -c 32";
/// The same from an encrypted key file, with the passphrase from the variable.
const OURS_TO_PALYRA_ENCRYPTED: &str =
    "openssl pkey -in acme.pem -passin env:PALYRA_SKILL_KEY_PASSPHRASE -outform DER | tail -c 32";
/// Palyra's raw 32-byte key → an encrypted PKCS#8 file of ours (the 16
/// bytes are the fixed PKCS#8 header of an Ed25519 seed).
const PALYRA_TO_OURS: &str = r"(printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20'; cat palyra.key) | openssl pkey -inform DER -aes-256-cbc -out acme.pem";

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// Runs a README line with bash in `dir`, after `extra` is appended.
fn shell(dir: &Path, line: &str, extra: &str, env: &[(&str, &str)]) -> Vec<u8> {
    assert!(readme().contains(line), "the README no longer shows `{line}`");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{line}{extra}"))
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "`{line}`: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Palyra's reading of `--signing-key-stdin`: exactly 32 bytes raw, else
/// trimmed, else hex, else standard base64.
fn palyra_reads(input: &[u8]) -> Option<[u8; 32]> {
    use base64::Engine as _;
    if let Ok(raw) = <[u8; 32]>::try_from(input).or_else(|_| <[u8; 32]>::try_from(input.trim_ascii())) {
        return Some(raw);
    }
    let text = std::str::from_utf8(input.trim_ascii()).ok()?;
    let decoded =
        hex::decode(text).ok().or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())?;
    decoded.try_into().ok()
}

fn sign_from_stdin(artifact: &Path, key: &[u8]) {
    let mut child = std_cmd()
        .args(["-q", "sign", "--key-stdin"])
        .arg(artifact)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(key).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn our_key_goes_to_palyra_as_its_raw_seed_plain_or_encrypted() {
    for (line, passphrase) in [(OURS_TO_PALYRA, None), (OURS_TO_PALYRA_ENCRYPTED, Some("correct horse"))] {
        let dir = tempfile::tempdir().unwrap();
        let mut keygen = cmd();
        keygen.current_dir(dir.path()).args(["-q", "keygen", "--out", "acme.pem"]);
        let env: Vec<(&str, &str)> =
            passphrase.map(|p| ("PALYRA_SKILL_KEY_PASSPHRASE", p)).into_iter().collect();
        keygen.envs(env.iter().copied()).assert().success();
        let bytes = shell(dir.path(), line, "", &env);
        let seed = palyra_reads(&bytes).expect("Palyra reads the 32 bytes");
        let public = dir.path().join("acme.pem.pub");
        let pem = std::fs::read_to_string(&public).unwrap();
        assert_eq!(
            SecretKey::from_seed(&seed).public().to_spki_pem(),
            pem,
            "{line}: the same key on both sides"
        );
        // The bytes handed over sign with us as the file does.
        let artifact = unsigned_artifact(dir.path());
        sign_from_stdin(&artifact, &bytes);
        assert_verifies_with(&artifact, &public);
    }
}

#[test]
fn a_palyra_key_signs_with_us_raw_hex_or_base64_and_converts_to_an_encrypted_file() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let public = dir.path().join("palyra.pub");
    std::fs::write(&public, SecretKey::from_seed(&seed).public().to_spki_pem()).unwrap();
    let forms = [
        seed.to_vec(),
        hex::encode(seed).into_bytes(),
        base64::engine::general_purpose::STANDARD.encode(seed).into_bytes(),
    ];
    for form in forms {
        assert_eq!(palyra_reads(&form), Some(seed), "Palyra takes this form");
        let artifact = unsigned_artifact(dir.path());
        sign_from_stdin(&artifact, &form);
        assert_verifies_with(&artifact, &public);
    }

    std::fs::write(dir.path().join("palyra.key"), seed).unwrap();
    shell(dir.path(), PALYRA_TO_OURS, " -passout env:PW", &[("PW", "correct horse")]);
    let key = dir.path().join("acme.pem");
    let artifact = unsigned_artifact(dir.path());
    cmd()
        .args(["-q", "sign", "--key"])
        .arg(&key)
        .arg(&artifact)
        .env("PALYRA_SKILL_KEY_PASSPHRASE", "correct horse")
        .assert()
        .success();
    assert_verifies_with(&artifact, &public);
}
