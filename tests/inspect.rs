//! `inspect`: entries, manifest summary and signature, without trust.

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use predicates::prelude::*;

#[test]
fn json_report_of_the_vector() {
    let out = cmd()
        .args(["inspect", "--message-format", "json"])
        .arg(fixture("vectors/reference-echo-asset.palyra-skill"))
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    insta::assert_json_snapshot!(report, { ".artifact" => "[path]" });
}

#[test]
fn human_report_shows_entries_capabilities_and_signature() {
    cmd()
        .arg("inspect")
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success()
        .stdout(predicate::str::contains("modules/echo.wasm"))
        .stdout(predicate::str::contains("http      api.example.com"))
        .stdout(predicate::str::contains("signature valid ed25519:65b60673d6ed884b by acme"))
        .stdout(predicate::str::contains("signed at 2026-11-22T01:50:44Z"))
        .stdout(predicate::str::contains(format!("public key {TEST_PUBLIC_HEX}")))
        .stdout(predicate::str::contains(
            "payload sha256  831f41b055a5aa8c56e9bc93459807cb3944b0749be8dc77f6d535e4ba41164f",
        ));
}

#[test]
fn shows_what_is_wrong_with_a_tampered_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Entries::read_zip(&read_fixture("vectors/reference-echo.palyra-skill")).unwrap();
    entries.set("sbom.cdx.json", br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#.to_vec()).unwrap();
    let path = dir.path().join("t.palyra-skill");
    std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
    cmd()
        .arg("inspect")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("integrity mismatch: the integrity table in `skill.toml` does not match the entries: `sbom.cdx.json` has sha256"))
        .stdout(predicate::str::contains("signature invalid"));
}

#[test]
fn unreadable_artifacts_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.palyra-skill");
    std::fs::write(&path, b"PK\x03\x04garbage").unwrap();
    cmd()
        .arg("inspect")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("could not read artifact"));
}

#[test]
fn verbose_inspect_shows_where_every_entry_lies() {
    let out = cmd()
        .args(["-v", "inspect", "--message-format", "json"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layout = &report["layout"];
    let entries = layout["entries"].as_array().unwrap();
    assert_eq!(entries.len(), report["entries"].as_array().unwrap().len());
    // End to end from offset 0, then the central directory, then the end record.
    let mut next = 0;
    for entry in entries {
        assert_eq!(entry["local_header_offset"], next, "{entry}");
        let data = entry["data_offset"].as_u64().unwrap();
        assert_eq!(data, next + 30 + entry["name"].as_str().unwrap().len() as u64, "no extra field: {entry}");
        next = data + entry["compressed_size"].as_u64().unwrap();
    }
    assert_eq!(layout["central_directory_offset"], next);
    assert_eq!(
        layout["end_record_offset"].as_u64().unwrap(),
        next + layout["central_directory_bytes"].as_u64().unwrap()
    );
    assert_eq!(layout["end_record_offset"].as_u64().unwrap() + 22, report["bytes"].as_u64().unwrap());

    // The same in the human report; without -v, no layout at all.
    cmd()
        .args(["-v", "inspect"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success()
        .stdout(predicate::str::contains("layout (each local header agrees with the central directory):"))
        .stdout(predicate::str::contains(
            "         0          47      120       168  deflate e7cd6d53  modules/echo.wasm",
        ))
        .stdout(predicate::str::contains(
            "central directory at 1971 (299 bytes), end record at 2270, comment 0 bytes",
        ));
    cmd()
        .args(["inspect", "--message-format", "json"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .stdout(predicate::str::contains("\"layout\"").not());
}
