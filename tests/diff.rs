//! `diff`: escalations, breaking changes and dependency changes between
//! versions, in human, JSON and Markdown output.

use crate::support::{cmd, fixture_text, sbom_with, test_key, write_artifact};
use serde_json::Value;

const DEPS: &[(&str, &str)] = &[("serde", "1.0.200"), ("itoa", "1.0.11")];

struct Versions {
    _dir: tempfile::TempDir,
    v1: std::path::PathBuf,
    escalation: std::path::PathBuf,
    dependency: std::path::PathBuf,
    breaking: std::path::PathBuf,
}

fn versions() -> Versions {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let write = |name: &str, fixture: &str, deps: &[(&str, &str)]| {
        write_artifact(dir.path(), name, &fixture_text(fixture), sbom_with(deps), &key)
    };
    Versions {
        v1: write("v1.palyra-skill", "diff/v1.toml", DEPS),
        escalation: write("esc.palyra-skill", "diff/v1.1-escalation.toml", DEPS),
        dependency: write(
            "dep.palyra-skill",
            "diff/v1.0.1-dependency.toml",
            &[("serde", "1.0.201"), ("itoa", "1.0.11")],
        ),
        breaking: write("brk.palyra-skill", "diff/v2-breaking.toml", DEPS),
        _dir: dir,
    }
}

fn json_diff(old: &std::path::Path, new: &std::path::Path) -> Value {
    let out = cmd().args(["diff"]).arg(old).arg(new).args(["--message-format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_new_http_host_and_secret_are_an_escalation() {
    let v = versions();
    let diff = json_diff(&v.v1, &v.escalation);
    assert_eq!(diff["capabilities"]["http_egress"]["added"], serde_json::json!(["tracker.example.net"]));
    assert_eq!(diff["capabilities"]["secrets"]["added"], serde_json::json!(["skill:acme.weather/api_token"]));
    let kinds: Vec<&str> =
        diff["escalations"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["http_egress", "secret"]);
    assert_eq!(diff["breaking"], serde_json::json!([]));

    let out = cmd().arg("diff").arg(&v.v1).arg(&v.escalation).arg("--fail-on-escalation").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("+ HTTP host `tracker.example.net`"), "{text}");
    assert!(text.contains("+ secret `skill:acme.weather/api_token`"), "{text}");
    assert!(text.contains("2 privilege escalations, no breaking change"), "{text}");
    // The reverse direction only drops privilege.
    cmd().arg("diff").arg(&v.escalation).arg(&v.v1).arg("--fail-on-escalation").assert().success();
}

#[test]
fn a_dependency_bump_is_reported_but_is_no_escalation() {
    let v = versions();
    let diff = json_diff(&v.v1, &v.dependency);
    assert_eq!(diff["dependencies"]["changed"], serde_json::json!([["serde", "1.0.200", "1.0.201"]]));
    assert_eq!(diff["escalations"], serde_json::json!([]));
    assert_eq!(diff["breaking"], serde_json::json!([]));
    assert_eq!(diff["version"], serde_json::json!({ "old": "1.0.0", "new": "1.0.1" }));
    let out = cmd().arg("diff").arg(&v.v1).arg(&v.dependency).arg("--fail-on-escalation").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("~ serde 1.0.200 -> 1.0.201"), "{text}");
    assert!(text.contains("no privilege escalation, no breaking change"), "{text}");
}

#[test]
fn a_removed_tool_and_a_newly_required_input_are_breaking() {
    let v = versions();
    let diff = json_diff(&v.v1, &v.breaking);
    assert_eq!(diff["tools"]["removed"], serde_json::json!(["acme.alerts"]));
    assert_eq!(
        diff["breaking"],
        serde_json::json!([
            "tool `acme.alerts` removed",
            "tool `acme.forecast`: input field `days` is now required"
        ])
    );
    assert_eq!(diff["escalations"], serde_json::json!([]));

    let out = cmd()
        .arg("diff")
        .arg(&v.v1)
        .arg(&v.breaking)
        .args(["--message-format", "markdown"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("### `acme.weather` 1.0.0 → 2.0.0"), "{md}");
    assert!(md.contains("> [!CAUTION]\n> **Breaking changes**\n> - tool `acme.alerts` removed\n"), "{md}");
    assert!(md.contains("\n- removed tool `acme.alerts` (breaking)\n"), "{md}");
    assert!(md.contains("\n- version: `1.0.0` → `2.0.0`\n"), "{md}");
    assert!(md.contains("**no privilege escalation, 2 breaking changes**"), "{md}");
}

#[test]
fn identical_versions_have_no_changes_and_bad_input_exits_2() {
    let v = versions();
    let out = cmd().arg("diff").arg(&v.v1).arg(&v.v1).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("No changes"));

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.palyra-skill");
    std::fs::write(&junk, b"not a zip").unwrap();
    cmd()
        .arg("diff")
        .arg(&v.v1)
        .arg(&junk)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("junk.palyra-skill"));
}

#[test]
fn a_crate_directory_is_built_and_compared() {
    // The fixture crate against the artifact built from it: the same skill,
    // so only the signature side differs (a crate builds unsigned).
    let work = tempfile::tempdir().unwrap();
    let crate_dir = crate::support::fixture("skills/echo");
    let target = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diff-target");
    let built = cmd()
        .args(["-q", "build", "--locked", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .arg("--out")
        .arg(work.path())
        .env("PALYRA_SKILL_SIGNING_KEY", crate::support::TEST_SEED_HEX)
        .env("CARGO_TARGET_DIR", &target)
        .assert()
        .success();
    drop(built);
    let artifact = work.path().join("acme.echo-1.2.3.palyra-skill");
    let out = cmd()
        .arg("diff")
        .arg(&artifact)
        .arg(&crate_dir)
        .args(["--message-format", "json", "--locked"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["version"], serde_json::json!({ "old": "1.2.3", "new": "1.2.3" }));
    assert_eq!(diff["modules"], serde_json::json!([]), "the same module bytes");
    assert_eq!(diff["escalations"], serde_json::json!([]));
    assert_eq!(diff["key_id"]["new"], Value::Null, "a crate builds unsigned for a diff");
}

#[test]
fn a_new_signing_key_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = fixture_text("diff/v1.toml");
    let old = write_artifact(dir.path(), "old.palyra-skill", &text, sbom_with(DEPS), &test_key());
    let rotated = cargo_palyra_skill::signing::SecretKey::from_seed(&[9; 32]);
    let new = write_artifact(dir.path(), "new.palyra-skill", &text, sbom_with(DEPS), &rotated);
    let diff = json_diff(&old, &new);
    assert_eq!(diff["key_changed"], true);
    assert_eq!(diff["key_id"]["old"], test_key().public().key_id());
    assert_eq!(diff["key_id"]["new"], rotated.public().key_id());
    let out = cmd().arg("diff").arg(&old).arg(&new).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("signing key changed"), "{text}");
}

#[test]
fn entries_the_manifest_does_not_vouch_for_are_not_compared() {
    let v = versions();
    let mut entries =
        cargo_palyra_skill::artifact::Entries::read_zip(&std::fs::read(&v.dependency).unwrap()).unwrap();
    entries.set("sbom.cdx.json", sbom_with(&[("evil", "6.6.6")])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("tampered.palyra-skill");
    std::fs::write(&tampered, entries.to_zip().unwrap()).unwrap();
    cmd()
        .arg("diff")
        .arg(&v.v1)
        .arg(&tampered)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot compare"))
        .stderr(predicates::str::contains("sbom.cdx.json"));
}
