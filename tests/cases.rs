//! `test` never passes on nothing: a crate whose cases sit in a folder no
//! tool is named after (the tool's id, or a typo) ran no case, and says
//! which folder and what it should be called. Malformed fixtures are all
//! reported in one run, beside the cases that ran; `test CASE...` runs
//! some cases, `-q` shows only failures; a misspelled metadata table is
//! named.

use std::path::{Path, PathBuf};

use crate::support::*;
use serde_json::Value;

fn guard_with_fixtures_in(dir: &Path, folder: &str) -> PathBuf {
    let skill = dir.join("guard");
    copy_fixture_dir("skills/guard", &skill);
    std::fs::rename(skill.join("fixtures/check"), skill.join("fixtures").join(folder)).unwrap();
    skill
}

fn test_cmd(skill: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command
        .arg("test")
        .arg(skill)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("cases-target"));
    command
}

#[test]
fn no_case_run_is_a_failure_that_names_the_folder_to_rename() {
    let dir = tempfile::tempdir().unwrap();
    for (folder, hint) in [
        ("acme.guard", "rename it to `fixtures/check/`"),
        ("chek", "rename it to `fixtures/check/`"),
        ("unrelated", "(tools: `check`)"),
    ] {
        let skill = guard_with_fixtures_in(&dir.path().join(folder), folder);
        let out = test_cmd(&skill).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{folder}: {stdout}{stderr}");
        assert!(stdout.contains("0 passed, 0 failed"), "{folder}: {stdout}");
        assert!(stderr.contains(&format!("`fixtures/{folder}/` matches no tool")), "{folder}: {stderr}");
        assert!(stderr.contains(hint), "{folder}: {stderr}");
        assert!(stderr.contains("Failed no test case ran: add JSON case files"), "{folder}: {stderr}");
        assert!(!stderr.contains("No cases"), "said once: {stderr}");

        let out = test_cmd(&skill).args(["--message-format", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["passed"], 0);
        assert_eq!(report["stray_fixture_dirs"][0]["dir"], folder);
    }
    // The fixture as it is: its cases run and pass.
    let skill = dir.path().join("as-is");
    copy_fixture_dir("skills/guard", &skill);
    test_cmd(&skill).assert().success();
}

fn guard(dir: &Path) -> PathBuf {
    let skill = dir.join("guard");
    copy_fixture_dir("skills/guard", &skill);
    skill
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Four broken fixtures take one run: each is a failed case named with its
/// file, line and column, the good cases still run, and the summary
/// follows; exit 1. With nothing else to run, exit 2 after the same report.
#[test]
fn every_malformed_fixture_is_reported_in_one_run_beside_the_cases() {
    let dir = tempfile::tempdir().unwrap();
    let skill = guard(dir.path());
    let check = skill.join("fixtures/check");
    let broken = [
        ("a-syntax.json", "{\n  \"expect\": { \"exit_code\": 0 }\n  \"grants\": {}\n}\n"),
        ("b-typo.json", "{ \"grant\": { \"http\": [] }, \"expect\": { \"exit_code\": 0 } }"),
        ("c-no-expectation.json", "{\n  \"grants\": {},\n  \"expect\": {}\n}"),
        (
            "d-operator.json",
            "{\n  \"operator\": { \"fuel_budget\": 0 },\n  \"expect\": { \"exit_code\": 0 }\n}",
        ),
    ];
    for (file, json) in broken {
        std::fs::write(check.join(file), json).unwrap();
    }
    let out = test_cmd(&skill).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for line in [
        "test check/a-syntax.json ... FAILED\n    malformed fixture `fixtures/check/a-syntax.json`, line 3, column 3: not a valid test case: expected `,` or `}`",
        "test check/b-typo.json ... FAILED\n    malformed fixture `fixtures/check/b-typo.json`, line 1, column 9: not a valid test case: unknown field `grant` (did you mean `grants`?), expected one of",
        "test check/c-no-expectation.json ... FAILED\n    malformed fixture `fixtures/check/c-no-expectation.json`, line 3, column 3: `expect` needs exactly one of `exit_code` or `error`",
        "test check/d-operator.json ... FAILED\n    malformed fixture `fixtures/check/d-operator.json`, line 2, column 3: invalid `operator`: ",
        "test check/granted.json ... ok",
        "test check/not-granted.json ... ok",
        "\n2 passed, 4 failed (4 malformed, did not run)\n",
    ] {
        assert!(stdout.contains(line), "`{line}` not in:\n{stdout}");
    }
    assert!(!stderr.contains("error:"), "{stderr}");

    let out = test_cmd(&skill).args(["--message-format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["passed"].as_u64(), report["failed"].as_u64()), (Some(2), Some(4)));
    assert_eq!(report["malformed"], 4);
    let cases = report["cases"].as_array().unwrap();
    let malformed: Vec<&str> =
        cases.iter().filter(|c| c["malformed"] == true).map(|c| c["case"].as_str().unwrap()).collect();
    assert_eq!(
        malformed,
        ["check/a-syntax.json", "check/b-typo.json", "check/c-no-expectation.json", "check/d-operator.json"]
    );
    assert!(cases.iter().all(|c| c["passed"] == (c["malformed"] != true)), "{report:#}");

    // Nothing left that could run: the same report, then exit 2.
    for good in ["granted.json", "not-granted.json"] {
        std::fs::remove_file(check.join(good)).unwrap();
    }
    let out = test_cmd(&skill).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert_eq!(stdout.matches("malformed fixture `").count(), 4, "{stdout}");
    assert!(stdout.contains("\n0 passed, 4 failed (4 malformed, did not run)\n"), "{stdout}");
    assert!(stderr.contains("error: no case could run: 4 fixture(s) are malformed"), "{stderr}");
}

/// `test CASE...` runs the cases named, or whose name contains a filter,
/// and says how many it left out; `-q` prints the failures and the summary.
#[test]
fn named_cases_run_alone_and_quiet_shows_only_failures() {
    let dir = tempfile::tempdir().unwrap();
    let skill = guard(dir.path());
    let run = |args: &[&str]| {
        let out = test_cmd(&skill).args(args).output().unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, _) = run(&["check/granted.json"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("test check/granted.json ... ok"), "{stdout}");
    assert!(!stdout.contains("not-granted"), "{stdout}");
    assert!(stdout.contains("\n1 passed, 0 failed, 1 filtered out\n"), "{stdout}");
    // A part of a name, as `cargo test` filters; a fixture's own path too.
    let (code, stdout, _) = run(&["granted"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("\n2 passed, 0 failed\n"), "{stdout}");
    let (_, stdout, _) = run(&["fixtures/check/not-granted.json"]);
    assert!(
        stdout.contains("test check/not-granted.json ... ok") && stdout.contains("1 filtered out"),
        "{stdout}"
    );
    // `--manifest-path`: every positional is a case.
    let out = cmd()
        .args(["test", "--manifest-path"])
        .arg(skill.join("Cargo.toml"))
        .args(["not-granted", "--message-format", "json"])
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("cases-target"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["passed"].as_u64(), report["filtered_out"].as_u64()),
        (Some(1), Some(1)),
        "{report:#}"
    );
    // A filter that matches nothing fails, and says what case names look like.
    let (code, _, stderr) = run(&["granted.jsn"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no case name is or contains `granted.jsn` (2 filtered out)"), "{stderr}");
    assert!(stderr.contains("such as `check/granted.json`"), "{stderr}");
    // A baseline of some cases would drop the others: refused before building.
    let (code, _, stderr) = run(&["granted", "--save-baseline"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("`--save-baseline` records every case's fuel"), "{stderr}");
    // Against the whole baseline, a case left out is not "removed".
    assert_eq!(run(&["--save-baseline"]).0, Some(0));
    let (code, stdout, _) = run(&["check/granted.json", "--baseline"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("REMOVED"), "{stdout}");

    // `-q`: a failing case is shown, a passing one is not, the summary is.
    std::fs::write(skill.join("fixtures/check/wrong.json"), r#"{ "expect": { "exit_code": 1 } }"#).unwrap();
    let out = cmd()
        .args(["-q", "test"])
        .arg(&skill)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("cases-target"))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("test check/wrong.json ... FAILED\n    expected exit code 1, got exit code 20\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("... ok"), "{stdout}");
    assert!(stdout.ends_with("\n2 passed, 1 failed\n"), "{stdout}");
    assert_eq!(text(&out.stderr), "", "-q prints no status");
}

/// A `[package.metadata]` table a typo away from `palyra-skill` is named,
/// with the right spelling; its settings would be silently ignored.
#[test]
fn a_misspelled_metadata_table_is_named_with_the_right_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let skill = guard(dir.path());
    let manifest = skill.join("Cargo.toml");
    let text_before = std::fs::read_to_string(&manifest).unwrap();
    for table in ["palyra_skill", "palyra-skills", "palyraskill"] {
        std::fs::write(
            &manifest,
            format!("{text_before}\n[package.metadata.{table}]\nheadroom-warn = 0.5\n"),
        )
        .unwrap();
        let out = test_cmd(&skill).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(&format!("warning: `[package.metadata.{table}]` in `")), "{table}: {stderr}");
        assert!(
            stderr.contains("is not read (cargo keeps any table there, so its settings are ignored): the table is `[package.metadata.palyra-skill]`, rename it"),
            "{table}: {stderr}"
        );
    }
    std::fs::write(
        &manifest,
        format!("{text_before}\n[package.metadata.palyra-skill]\nheadroom-warn = 0.5\n"),
    )
    .unwrap();
    let out = test_cmd(&skill).output().unwrap();
    assert!(!text(&out.stderr).contains("is not read"), "{}", text(&out.stderr));
}
