//! The signing key never reaches a child process: a skill crate whose build
//! script writes out every environment variable it sees is built with the
//! key given each way the tool accepts one, and no encoding of the key
//! appears in what it wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::*;
use cargo_palyra_skill::signing::SecretKey;

const BUILD_RS: &str = r#"
fn main() {
    // Runs again for every report path, so each build of the test reports.
    println!("cargo:rerun-if-env-changed=LEAK_REPORT");
    let mut seen = String::new();
    for (name, value) in std::env::vars_os() {
        seen.push_str(&format!("{}={}\n", name.to_string_lossy(), value.to_string_lossy()));
    }
    for arg in std::env::args_os() {
        seen.push_str(&format!("arg {}\n", arg.to_string_lossy()));
    }
    let mut input = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input);
    seen.push_str(&format!("stdin {input}\n"));
    std::fs::write(std::env::var_os("LEAK_REPORT").unwrap(), seen).unwrap();
}
"#;

/// The guard fixture with the snooping build script.
fn snooping_crate(into: &Path) -> PathBuf {
    let dir = into.join("snoop");
    copy_fixture_dir("skills/guard", &dir);
    std::fs::write(dir.join("build.rs"), BUILD_RS).unwrap();
    dir
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("secrets-target")
}

/// Runs `args` on the crate with `env`, feeding `stdin`; returns what the build script saw.
fn build_and_read_report(
    skill: &Path,
    report: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Vec<u8> {
    let mut command = std_cmd();
    command.args(args).arg(skill).env("LEAK_REPORT", report).env("CARGO_TARGET_DIR", target_dir());
    for (name, value) in env {
        command.env(name, value);
    }
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    // 0, or 1 for an audit with findings: the build itself ran.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(report).unwrap_or_else(|e| panic!("{args:?}: the build script did not run: {e}"))
}

#[test]
fn no_build_script_sees_the_signing_key_however_it_is_given() {
    let work = tempfile::tempdir().unwrap();
    let skill = snooping_crate(work.path());
    let key = SecretKey::generate().unwrap();
    let pem = key.to_pkcs8_pem();
    let hex = hex::encode(*key.seed());
    let key_file = work.path().join("release.pem");
    std::fs::write(&key_file, pem.as_bytes()).unwrap();
    let key_file = key_file.display().to_string();

    // (how, arguments, variables, standard input)
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, Option<&'a [u8]>);
    let cases: Vec<Case> = vec![
        ("default variable", vec!["build"], vec![("PALYRA_SKILL_SIGNING_KEY", pem.as_str())], None),
        ("default variable, hex", vec!["build"], vec![("PALYRA_SKILL_SIGNING_KEY", hex.as_str())], None),
        ("--key-env", vec!["build", "--key-env", "RELEASE_KEY"], vec![("RELEASE_KEY", pem.as_str())], None),
        ("--key-env=", vec!["build", "--key-env=RELEASE_KEY"], vec![("RELEASE_KEY", hex.as_str())], None),
        ("--key FILE", vec!["build", "--key", key_file.as_str()], vec![], None),
        // The key also sits in an unrelated variable, as PEM, as CI
        // secrets often do: it is taken out all the same.
        (
            "--key-stdin",
            vec!["build", "--key-stdin"],
            vec![("SOME_CI_SECRET", pem.as_str())],
            Some(pem.as_bytes()),
        ),
        (
            "registry key variable",
            vec!["build", "--key", key_file.as_str()],
            vec![("PALYRA_SKILL_REGISTRY_KEY", hex.as_str())],
            None,
        ),
        ("audit", vec!["audit"], vec![("PALYRA_SKILL_SIGNING_KEY", pem.as_str())], None),
    ];
    for (index, (how, args, env, stdin)) in cases.into_iter().enumerate() {
        let report = work.path().join(format!("report-{index}.txt"));
        let seen = build_and_read_report(&skill, &report, &args, &env, stdin);
        assert!(String::from_utf8_lossy(&seen).contains("CARGO_PKG_NAME=acme-guard"), "{how}: no report");
        assert_clean(&seen, &key, &format!("what the build script saw with the key given by {how}"));
    }
}

/// What unlocks a key is as secret as the key: an encrypted key file's
/// passphrase, a PKCS#11 PIN and the Vault server and token are all taken
/// out of the environment before cargo runs.
#[test]
fn no_build_script_sees_a_passphrase_pin_or_vault_token() {
    let work = tempfile::tempdir().unwrap();
    let skill = snooping_crate(work.path());
    let key = SecretKey::generate().unwrap();
    let passphrase = "passphrase-5f0c1e";
    let encrypted = cargo_palyra_skill::keyfile::encrypt(&key, passphrase.as_bytes()).unwrap();
    let key_file = work.path().join("release.pem");
    std::fs::write(&key_file, encrypted.as_bytes()).unwrap();
    let secrets = [
        ("PALYRA_SKILL_KEY_PASSPHRASE", passphrase),
        ("PALYRA_SKILL_PKCS11_PIN", "pin-93b1d7"),
        ("VAULT_TOKEN", "s.token-4a7e2c"),
        ("VAULT_ADDR", "http://127.0.0.1:1/vault-addr-8d2f"),
    ];
    let report = work.path().join("report.txt");
    let args = ["build", "--key", key_file.to_str().unwrap()];
    let seen = build_and_read_report(&skill, &report, &args, &secrets, None);
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("CARGO_PKG_NAME=acme-guard"), "no report");
    for (name, value) in secrets {
        assert!(!seen.contains(name) && !seen.contains(value), "the build script saw `{name}`");
    }
    assert_clean(seen.as_bytes(), &key, "what the build script saw with an encrypted key file");
}
