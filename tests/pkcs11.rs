//! Keys in a PKCS#11 token, on a real SoftHSM2: `keygen --pkcs11` makes
//! the pair inside a fresh token, `build` and `sign` sign with it, `verify`
//! and Python's cryptography accept the result with the `.pub`; each way
//! to get the URI, the PIN or the key wrong is an error that says which.

use std::path::Path;

use crate::support::keytools::*;
use crate::support::*;
use predicates::prelude::*;

const PIN: &str = "1234";

fn uri(object: &str) -> String {
    format!("pkcs11:token=release;object={object};id=%01?module-path={SOFTHSM_MODULE}")
}

/// The binary with the token's configuration and the PIN in the variable.
fn with_token(conf: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command.env("SOFTHSM2_CONF", conf).env("PALYRA_SKILL_PKCS11_PIN", PIN);
    command
}

#[test]
fn a_key_made_in_a_fresh_token_builds_and_signs_what_its_pub_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let conf = softhsm_token(dir.path());
    let public = dir.path().join("acme.pub");
    let out = with_token(&conf)
        .args(["keygen", "--message-format", "json", "--pkcs11", &uri("acme"), "--out"])
        .arg(&public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["private_key_uri"], uri("acme"));
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));

    // The same name again is refused: the token keeps its key.
    with_token(&conf)
        .args(["keygen", "--pkcs11", &uri("acme")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));

    let built = dir.path().join("out");
    build_echo(&built)
        .env("SOFTHSM2_CONF", &conf)
        .env("PALYRA_SKILL_PKCS11_PIN", PIN)
        .args(["--key", &uri("acme")])
        .assert()
        .success();
    assert_verifies_with(&built_artifact(&built), &public);

    // `sign`, the PIN from a file the URI names this time.
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let artifact = unsigned_artifact(dir.path());
    let with_source = format!("{}&pin-source={}", uri("acme"), pin_file.display());
    cmd()
        .env("SOFTHSM2_CONF", &conf)
        .args(["sign", "--key", &with_source])
        .arg(&artifact)
        .assert()
        .success()
        .stderr(predicate::str::contains("from PKCS#11 object `acme` id 01 on token `release`"));
    assert_verifies_with(&artifact, &public);

    // The Action hands the key over in a variable: a URI there works too.
    let again = dir.path().join("again.palyra-skill");
    with_token(&conf)
        .args(["-q", "sign", "--out"])
        .arg(&again)
        .arg(&artifact)
        .env("PALYRA_SKILL_SIGNING_KEY", uri("acme"))
        .assert()
        .success();
    assert_verifies_with(&again, &public);

    // `publish` signs the registry index with the token's key too.
    let registry = dir.path().join("registry");
    with_token(&conf)
        .args(["-q", "publish"])
        .arg(&again)
        .arg("--registry-dir")
        .arg(&registry)
        .args(["--key", &uri("acme")])
        .env("PALYRA_SKILL_CONFIG_DIR", dir.path().join("config"))
        .assert()
        .success();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(registry.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["signature"]["key_id"], report["key_id"], "the index is signed by the token's key");
    cmd().args(["registry", "verify"]).arg(&registry).assert().success();
}

#[test]
fn pin_object_module_and_key_type_errors_each_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let conf = softhsm_token(dir.path());
    with_token(&conf).args(["-q", "keygen", "--pkcs11", &uri("acme")]).assert().success();
    // An ECDSA key in the same token, under its own label.
    let imported = std::process::Command::new("softhsm2-util")
        .args(["--import"])
        .arg(fixture("keys/ec-pkcs8.pem"))
        .args(["--token", "release", "--label", "ecdsa", "--id", "02", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let artifact = unsigned_artifact(dir.path());
    let before = std::fs::read(&artifact).unwrap();
    let ecdsa = format!("pkcs11:token=release;object=ecdsa?module-path={SOFTHSM_MODULE}");
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        ("wrong PIN", uri("acme"), Some("9999"), "token `release` refused the PIN"),
        ("no PIN, no terminal", uri("acme"), None, "set `PALYRA_SKILL_PKCS11_PIN`"),
        ("missing object", uri("nobody"), Some(PIN), "no Ed25519 private key matches object `nobody`"),
        (
            "missing token",
            uri("acme").replace("token=release", "token=other"),
            Some(PIN),
            "no token matches `token=other`",
        ),
        (
            "missing module",
            uri("acme").replace("libsofthsm2.so", "libmissing.so"),
            Some(PIN),
            "could not load the PKCS#11 module",
        ),
        ("no module", "pkcs11:token=release;object=acme".to_owned(), Some(PIN), "names no module"),
        ("ECDSA key", ecdsa, Some(PIN), "is not an Ed25519 key"),
        (
            "both PINs",
            format!("{}&pin-value=1234&pin-source=/x", uri("acme")),
            None,
            "both `pin-value` and `pin-source`",
        ),
        (
            "unknown attribute",
            format!("{}&colour=red", uri("acme")),
            Some(PIN),
            "`colour` is not an attribute",
        ),
    ];
    for (what, key, pin, message) in cases {
        let mut command = cmd();
        command.env("SOFTHSM2_CONF", &conf).args(["sign", "--key", &key]).arg(&artifact);
        if let Some(pin) = pin {
            command.env("PALYRA_SKILL_PKCS11_PIN", pin);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(message), "{what}: expected `{message}` in {stderr}");
        assert!(!stderr.contains("9999") && !stderr.contains(PIN), "{what}: a PIN in {stderr}");
        assert_eq!(std::fs::read(&artifact).unwrap(), before, "{what}: the artifact is untouched");
    }
}
