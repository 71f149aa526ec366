//! `test` never passes on nothing: a crate whose cases sit in a folder no
//! tool is named after (the tool's id, or a typo) ran no case, and says
//! which folder and what it should be called.

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
        assert!(stderr.contains("no test case ran"), "{folder}: {stderr}");

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
