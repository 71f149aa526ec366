//! Keys in a Vault transit engine (`hashivault://KEY`), against a real
//! OpenBao dev server on loopback: `build` and `sign` sign with an
//! `ed25519` key, `verify` and Python's cryptography accept the result
//! with its public key; a wrong token, a missing key, a key of another
//! type and a server that never answers are each a clear error, no hang.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::keytools::*;
use crate::support::*;
use cargo_palyra_skill::signing::PublicKey;
use predicates::prelude::*;

/// The binary pointed at `server` with `token`.
fn with_server(server: &BaoServer, token: &str) -> assert_cmd::Command {
    let mut command = cmd();
    command.env("VAULT_ADDR", &server.address).env("VAULT_TOKEN", token).env_remove("VAULT_CACERT");
    if let Some(ca) = &server.ca_cert {
        command.env("VAULT_CACERT", ca);
    }
    command
}

/// The key's public half as `keygen` writes one: SPKI PEM in `dir/NAME.pub`.
fn pub_file(server: &BaoServer, name: &str, dir: &Path) -> PathBuf {
    let public = PublicKey::from_bytes(&server.public_key(name)).unwrap();
    let path = dir.join(format!("{name}.pub"));
    std::fs::write(&path, public.to_spki_pem()).unwrap();
    path
}

#[test]
fn build_and_sign_with_a_transit_key_make_artifacts_its_public_key_verifies() {
    let server = BaoServer::start(false);
    server.create_key("release", "ed25519");
    let dir = tempfile::tempdir().unwrap();
    let public = pub_file(&server, "release", dir.path());

    let out = dir.path().join("out");
    build_echo(&out)
        .env("VAULT_ADDR", &server.address)
        .env("VAULT_TOKEN", BaoServer::TOKEN)
        .args(["--key", "hashivault://release"])
        .assert()
        .success()
        .stderr(predicate::str::contains(BaoServer::TOKEN).not());
    assert_verifies_with(&built_artifact(&out), &public);

    let artifact = unsigned_artifact(dir.path());
    with_server(&server, BaoServer::TOKEN)
        .args(["sign", "--key", "hashivault://release"])
        .arg(&artifact)
        .assert()
        .success()
        .stderr(predicate::str::contains("from transit key `release` (version 1)"));
    assert_verifies_with(&artifact, &public);
}

/// Over TLS with the dev server's own CA in `VAULT_CACERT`; without it,
/// the certificate is refused.
#[test]
fn a_private_ca_is_trusted_through_vault_cacert() {
    let server = BaoServer::start(true);
    server.create_key("release", "ed25519");
    let dir = tempfile::tempdir().unwrap();
    let public = pub_file(&server, "release", dir.path());
    let artifact = unsigned_artifact(dir.path());
    with_server(&server, BaoServer::TOKEN)
        .env_remove("VAULT_CACERT")
        .args(["sign", "--key", "hashivault://release"])
        .arg(&artifact)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("UnknownIssuer"))
        .stderr(predicate::str::contains("`VAULT_CACERT` for a private CA"));
    with_server(&server, BaoServer::TOKEN)
        .args(["-q", "sign", "--key", "hashivault://release"])
        .arg(&artifact)
        .assert()
        .success();
    assert_verifies_with(&artifact, &public);
}

#[test]
fn token_key_type_and_address_errors_each_say_what_is_wrong() {
    let server = BaoServer::start(false);
    server.create_key("release", "ed25519");
    server.create_key("rsa", "rsa-2048");
    let dir = tempfile::tempdir().unwrap();
    let artifact = unsigned_artifact(dir.path());
    let before = std::fs::read(&artifact).unwrap();
    let wrong_token = "s.not-the-token-7c1d";
    let cases: Vec<(&str, &str, Option<&str>, &str)> = vec![
        ("wrong token", "hashivault://release", Some(wrong_token), "refused the token"),
        ("missing key", "hashivault://nokey", Some(BaoServer::TOKEN), "has no key `nokey`"),
        ("RSA key", "hashivault://rsa", Some(BaoServer::TOKEN), "is of type `rsa-2048`, not `ed25519`"),
        ("no token", "hashivault://release", None, "need `VAULT_TOKEN`"),
        ("bad name", "hashivault://a/b", Some(BaoServer::TOKEN), "is not a transit key name"),
    ];
    for (what, key, token, message) in cases {
        let mut command = with_server(&server, token.unwrap_or(""));
        if token.is_none() {
            command.env_remove("VAULT_TOKEN");
        }
        let out = command.args(["sign", "--key", key]).arg(&artifact).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(message), "{what}: expected `{message}` in {stderr}");
        assert!(
            !stderr.contains(wrong_token) && !stderr.contains(BaoServer::TOKEN),
            "{what}: a token in {stderr}"
        );
        assert_eq!(std::fs::read(&artifact).unwrap(), before, "{what}: the artifact is untouched");
    }
    cmd()
        .env_remove("VAULT_ADDR")
        .args(["sign", "--key", "hashivault://release"])
        .arg(&artifact)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("need `VAULT_ADDR`"));
}

/// A server that accepts the connection and never answers: the call
/// gives up after `VAULT_CLIENT_TIMEOUT` with a message that says so.
#[test]
fn a_server_that_never_answers_times_out_with_a_clear_error() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let artifact = unsigned_artifact(dir.path());
    let started = Instant::now();
    cmd()
        .env("VAULT_ADDR", &address)
        .env("VAULT_TOKEN", "t")
        .env("VAULT_CLIENT_TIMEOUT", "2")
        .args(["sign", "--key", "hashivault://release"])
        .arg(&artifact)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "the Vault server at `{address}` did not answer within 2 s"
        )));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "gave up only after {took:?}");
    drop(silent);
}
