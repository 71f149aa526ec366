//! `keygen`: key files, permissions, output, and never printing the secret.

use crate::support::cmd;
use cargo_palyra_skill::signing::SecretKey;
use predicates::prelude::*;

#[allow(unused_imports)]
use crate::support::*;

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn writes_a_private_pem_0600_and_a_public_spki_pem() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("acme.pem");
    let out = cmd().args(["keygen", "--message-format", "json", "--out"]).arg(&key_path).assert().success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();

    let pem = std::fs::read(&key_path).unwrap();
    assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    let key = SecretKey::decode(&pem).unwrap();
    let public_pem = std::fs::read_to_string(dir.path().join("acme.pem.pub")).unwrap();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{public_pem}");
    assert_eq!(public_pem, key.public().to_spki_pem());
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

/// Every form of public key is refused where a signing key is expected,
/// and `sign` leaves the artifact untouched.
#[test]
fn a_public_key_never_signs() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("acme.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key_path).assert().success();
    let key = SecretKey::decode(&std::fs::read(&key_path).unwrap()).unwrap();
    let spki_pem = key.public().to_spki_pem();
    let der_body: String = spki_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki_der = base64::engine::general_purpose::STANDARD.decode(der_body).unwrap();
    let openssh =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk acme@example";

    // The library refuses each form by its content.
    for (bytes, form) in [
        (spki_pem.as_bytes().to_vec(), "SPKI PEM"),
        (spki_der.clone(), "SPKI DER"),
        (openssh.as_bytes().to_vec(), "OpenSSH public key"),
    ] {
        let error = SecretKey::decode(&bytes).unwrap_err().to_string();
        assert!(error.contains("this is a public key") && error.contains(form), "{form}: {error}");
    }

    // The command line refuses each, `.pub` files whatever they hold (the
    // hex an older keygen wrote would load as a seed), and `sign` leaves the
    // artifact byte for byte as it was.
    let unsigned = dir.path().join("x.palyra-skill");
    let (entries, _) = cargo_palyra_skill::pack::assemble(crate::support::echo_parts(
        &crate::support::fixture_text("vectors/inputs/skill.toml"),
    ))
    .unwrap();
    std::fs::write(&unsigned, entries.to_zip().unwrap()).unwrap();
    let before = std::fs::read(&unsigned).unwrap();
    let files = [
        ("acme.pem.pub", spki_pem.as_bytes().to_vec()),
        ("old.pem.pub", format!("{}\n", key.public().to_hex()).into_bytes()),
        ("public.der", spki_der),
        ("id_ed25519.txt", openssh.as_bytes().to_vec()),
        // 64 hex characters that are the public key of `acme.pem` beside it.
        ("acme.hex", format!("{}\n", key.public().to_hex()).into_bytes()),
    ];
    for (name, bytes) in files {
        let path = dir.path().join(name);
        if !path.exists() {
            std::fs::write(&path, &bytes).unwrap();
        }
        cmd()
            .args(["sign", "--key"])
            .arg(&path)
            .arg(&unsigned)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("public key"))
            .stderr(predicate::str::contains("readable by group").not());
        assert_eq!(std::fs::read(&unsigned).unwrap(), before, "{name}: the artifact was touched");
    }
    cmd()
        .args(["sign", "--key"])
        .arg(dir.path().join("acme.hex"))
        .arg(&unsigned)
        .assert()
        .stderr(predicate::str::contains("acme.hex` holds the public key of `"))
        .stderr(predicate::str::contains("acme.pem`, which cannot sign"));
}

#[test]
fn a_key_of_another_algorithm_is_named_as_such() {
    // Test keys made with `openssl genpkey` (RSA 1024, EC P-256), PKCS#8 PEM.
    for name in ["keys/rsa-pkcs8.pem", "keys/ec-pkcs8.pem"] {
        let error = SecretKey::decode(&crate::support::read_fixture(name)).unwrap_err().to_string();
        assert!(!error.contains("1.3.101.112"), "{name}: {error}");
        assert!(error.contains("this is not an Ed25519 key"), "{name}: {error}");
    }
    let error = SecretKey::decode(b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an Ed25519 key (an RSA key)"), "{error}");
}

#[test]
fn keygen_creates_a_missing_folder_private_to_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("config/palyra/acme.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key).assert().success();
    assert!(key.is_file() && dir.path().join("config/palyra/acme.pem.pub").is_file());
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("config/palyra")), 0o700);
}

#[test]
fn without_out_the_key_goes_to_the_config_directory_never_the_current_one() {
    let home = fresh_home();
    let cwd = tempfile::tempdir().unwrap();
    let out = cmd()
        .env("HOME", &home)
        .current_dir(cwd.path())
        .args(["keygen", "--publisher", "acme", "--message-format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = home.join(".config/palyra-skill/keys/acme.pem");
    assert_eq!(report["private_key_path"].as_str(), Some(key.to_str().unwrap()));
    assert!(key.is_file() && key.with_extension("pem.pub").is_file());
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "nothing in the current directory");
    #[cfg(unix)]
    {
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(key.parent().unwrap()), 0o700);
    }
}

#[test]
fn a_private_key_inside_a_work_tree_must_be_ignored_there() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    let key = repo.path().join("keys/acme.pem");
    let out = cmd().args(["keygen", "--out"]).arg(&key).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("git does not ignore it") && stderr.contains("`*.pem`"), "{stderr}");
    assert!(stderr.contains(".gitignore"), "{stderr}");
    assert!(!key.exists() && !repo.path().join("keys").exists(), "nothing written");

    std::fs::write(repo.path().join(".gitignore"), "*.pem\n").unwrap();
    cmd().args(["-q", "keygen", "--out"]).arg(&key).assert().success();
    assert!(key.is_file());
}

/// The private key is the RFC 8410 form: openssl and Python's cryptography
/// read it, and derive the public key we wrote beside it.
#[test]
fn openssl_and_python_read_the_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("acme.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key).assert().success();
    let public = std::fs::read_to_string(dir.path().join("acme.pem.pub")).unwrap();
    let openssl = std::process::Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key).output();
    match openssl {
        Ok(out) => {
            assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), public);
        }
        Err(_) => eprintln!("openssl is not installed: its half of this test did not run"),
    }
    let script = "import sys\nfrom cryptography.hazmat.primitives import serialization as s\n\
        k = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n\
        sys.stdout.write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())";
    let python = std::process::Command::new("python3").args(["-c", script]).arg(&key).output();
    match python {
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'cryptography'") => {
            eprintln!("Python's cryptography is not installed: its half of this test did not run")
        }
        Ok(out) => {
            assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), public);
        }
        Err(_) => eprintln!("python3 is not installed: its half of this test did not run"),
    }
}
