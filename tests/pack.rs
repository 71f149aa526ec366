//! `pack`: manifests with every optional table round-trip through pack and
//! verify; key sources; reproducibility; errors that name the fix.

use std::path::{Path, PathBuf};

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use predicates::prelude::*;

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `pack` with the vector module, SBOM and provenance around `manifest`.
    fn pack(&self, manifest: &Path, out: &str) -> assert_cmd::Command {
        let mut command = cmd();
        command
            .arg("pack")
            .arg("--manifest")
            .arg(manifest)
            .arg("--module")
            .arg(fixture("vectors/inputs/echo.wasm"))
            .arg("--asset")
            .arg(fixture("vectors/inputs/prompt.txt"))
            .arg("--sbom")
            .arg(fixture("vectors/inputs/sbom.cdx.json"))
            .arg("--provenance")
            .arg(fixture("vectors/inputs/provenance.json"))
            .arg("--out")
            .arg(self.path(out));
        command
    }
}

fn verify_trusting_the_test_key(artifact: &Path) -> assert_cmd::assert::Assert {
    cmd().args(["verify", "--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}")]).arg(artifact).assert()
}

#[test]
fn every_optional_table_round_trips_through_pack_and_verify() {
    let ws = Workspace::new();
    for manifest in ["manifests/full.toml", "manifests/minimal.toml", "vectors/inputs/skill.toml"] {
        ws.pack(&fixture(manifest), "out.palyra-skill")
            .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
            .assert()
            .success();
        verify_trusting_the_test_key(&ws.path("out.palyra-skill"))
            .success()
            .stdout(predicate::str::contains("(trusted: a key listed for this publisher)"));
    }
}

#[test]
fn the_packed_manifest_keeps_the_authors_layout_and_gains_the_integrity_table() {
    let ws = Workspace::new();
    ws.pack(&fixture("manifests/full.toml"), "a.palyra-skill")
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .success();
    let entries = Entries::read_zip(&std::fs::read(ws.path("a.palyra-skill")).unwrap()).unwrap();
    let packed = String::from_utf8(entries.get("skill.toml").unwrap().bytes.clone()).unwrap();
    let original = fixture_text("manifests/full.toml");
    assert!(packed.starts_with(&original), "the author's text comes first, unchanged");
    let tail = &packed[original.len()..];
    assert!(
        tail.contains("[[integrity.files]]\npath = \"assets/prompt.txt\"\nsha256 = \"1fff97b6"),
        "{tail}"
    );
    let paths: Vec<_> = entries.iter().map(|(path, _)| path).collect();
    assert_eq!(
        paths,
        [
            "assets/prompt.txt",
            "modules/echo.wasm",
            "provenance.json",
            "sbom.cdx.json",
            "signature.json",
            "skill.toml"
        ]
    );
}

#[test]
fn an_old_integrity_table_is_replaced() {
    let ws = Workspace::new();
    let stale = format!(
        "{}\n[[integrity.files]]\npath = \"old\"\nsha256 = \"00\"\n",
        fixture_text("manifests/minimal.toml")
    );
    let manifest = ws.write("skill.toml", stale);
    ws.pack(&manifest, "a.palyra-skill").env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX).assert().success();
    verify_trusting_the_test_key(&ws.path("a.palyra-skill")).success();
}

#[test]
fn source_date_epoch_makes_artifacts_byte_identical() {
    let ws = Workspace::new();
    for out in ["1.palyra-skill", "2.palyra-skill"] {
        ws.pack(&fixture("manifests/full.toml"), out)
            .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .assert()
            .success();
    }
    let first = std::fs::read(ws.path("1.palyra-skill")).unwrap();
    assert_eq!(first, std::fs::read(ws.path("2.palyra-skill")).unwrap());
    let entries = Entries::read_zip(&first).unwrap();
    let signature = String::from_utf8_lossy(&entries.get("signature.json").unwrap().bytes).into_owned();
    assert!(signature.contains("\"signed_at_unix_ms\": 1700000000000"), "{signature}");

    ws.pack(&fixture("manifests/full.toml"), "3.palyra-skill")
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`SOURCE_DATE_EPOCH` is `yesterday`"));
    assert!(!ws.path("3.palyra-skill").exists());
}

#[test]
fn every_key_source_and_format_signs_with_the_same_key() {
    let ws = Workspace::new();
    let key = test_key();
    let seed = key.seed();
    let pem = ws.write("k.pem", key.to_pkcs8_pem().as_bytes());
    let raw = ws.write("k.raw", *seed);
    let b64 = base64_seed(&seed);
    let runs: Vec<KeySource> = vec![
        Box::new(|c| {
            c.arg("--key").arg(&pem);
        }),
        Box::new(|c| {
            c.arg("--key").arg(&raw);
        }),
        Box::new(|c| {
            c.args(["--key-env", "MY_KEY"]).env("MY_KEY", TEST_SEED_HEX);
        }),
        Box::new(|c| {
            c.arg("--key-stdin").write_stdin(format!("{b64}\n"));
        }),
        Box::new(|c| {
            c.env("PALYRA_SKILL_SIGNING_KEY", key.to_pkcs8_pem().as_str());
        }),
    ];
    for run in runs {
        let mut command = ws.pack(&fixture("manifests/minimal.toml"), "k.palyra-skill");
        run(&mut command);
        command.assert().success().stderr(predicate::str::contains("ed25519:65b60673d6ed884b"));
        verify_trusting_the_test_key(&ws.path("k.palyra-skill")).success();
    }
}

/// Adds one way of passing the signing key to a command.
type KeySource<'a> = Box<dyn Fn(&mut assert_cmd::Command) + 'a>;

fn base64_seed(seed: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(seed)
}

#[test]
fn unsigned_artifacts_need_a_later_sign() {
    let ws = Workspace::new();
    ws.pack(&fixture("manifests/minimal.toml"), "u.palyra-skill")
        .arg("--unsigned")
        .assert()
        .success()
        .stderr(predicate::str::contains("unsigned"));
    cmd()
        .args(["verify", "--allow-tofu"])
        .arg(ws.path("u.palyra-skill"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not signed"));
}

#[test]
fn errors_name_the_problem_and_write_nothing() {
    let ws = Workspace::new();
    ws.pack(&fixture("manifests/minimal.toml"), "x.palyra-skill")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no signing key").and(predicate::str::contains("--unsigned")));
    ws.pack(&fixture("manifests/minimal.toml"), "x.palyra-skill")
        .args(["--key-env", "NOT_SET_ANYWHERE"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`NOT_SET_ANYWHERE` is not set"));
    let bad_key = ws.write(
        "bad.pem",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    );
    ws.pack(&fixture("manifests/minimal.toml"), "x.palyra-skill")
        .arg("--key")
        .arg(&bad_key)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("could not load the signing key from key file"));

    let broken = ws.write(
        "broken.toml",
        fixture_text("manifests/minimal.toml").replace("version = \"0.1.0\"", "version = \"0.1\""),
    );
    ws.pack(&broken, "x.palyra-skill")
        .arg("--unsigned")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("version: `0.1` is not a plain version"));

    let not_wasm = ws.write("echo.wasm", "hello");
    cmd()
        .args(["pack", "--unsigned", "--manifest"])
        .arg(fixture("manifests/minimal.toml"))
        .arg("--module")
        .arg(&not_wasm)
        .arg("--sbom")
        .arg(fixture("vectors/inputs/sbom.cdx.json"))
        .arg("--provenance")
        .arg(fixture("vectors/inputs/provenance.json"))
        .arg("--out")
        .arg(ws.path("x.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a WebAssembly module"));

    let renamed = fixture_text("manifests/full.toml").replace("modules/echo.wasm", "modules/other.wasm");
    ws.pack(&ws.write("renamed.toml", renamed), "x.palyra-skill").arg("--unsigned").assert().code(2).stderr(
        predicate::str::contains(
            "`modules/other.wasm` but no such module is packed (modules: `modules/echo.wasm`)",
        ),
    );

    let bad_sbom = ws.write("sbom.json", r#"{"bomFormat":"SPDX","specVersion":"1.5"}"#);
    cmd()
        .args(["pack", "--unsigned", "--manifest"])
        .arg(fixture("manifests/minimal.toml"))
        .arg("--module")
        .arg(fixture("vectors/inputs/echo.wasm"))
        .arg("--sbom")
        .arg(&bad_sbom)
        .arg("--provenance")
        .arg(fixture("vectors/inputs/provenance.json"))
        .arg("--out")
        .arg(ws.path("x.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`bomFormat` must be \"CycloneDX\""));
    assert!(!ws.path("x.palyra-skill").exists());
    let leftovers: Vec<_> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".palyra-skill-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let key = ws.write("open.pem", test_key().to_pkcs8_pem().as_bytes());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    ws.pack(&fixture("manifests/minimal.toml"), "k.palyra-skill")
        .arg("--key")
        .arg(&key)
        .assert()
        .success()
        .stderr(predicate::str::contains("readable by group or others (mode 0644): run `chmod 600"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    ws.pack(&fixture("manifests/minimal.toml"), "k.palyra-skill")
        .arg("--key")
        .arg(&key)
        .assert()
        .success()
        .stderr(predicate::str::contains("readable by group").not());
}
