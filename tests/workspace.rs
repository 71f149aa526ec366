//! Several skills in one workspace (`fixtures/workspaces/trio`: two skill
//! members and a plain library): `build`, `test`, `audit` and `run` from
//! the root, package selection and its errors, a shared target directory
//! that alternating members never invalidate, and `rebuild` of a member.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;
use predicates::prelude::*;
use serde_json::Value;

/// A copy of the trio workspace at `dir/trio`.
fn trio(dir: &Path) -> PathBuf {
    let root = dir.join("trio");
    copy_fixture_dir("workspaces/trio", &root);
    root
}

/// The binary at the workspace root `root`, with the test key, building into `target`.
fn at(root: &Path, target: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut command = cmd();
    command
        .current_dir(root)
        .args(args)
        .arg("--locked")
        .arg("--target-dir")
        .arg(target)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .env("PALYRA_SKILL_CONFIG_DIR", root.join("config"));
    command
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The module's sha256 in an artifact report's entries.
fn module_sha(report: &Value) -> String {
    let entries = report["entries"].as_array().unwrap();
    let module = entries.iter().find(|e| e["path"].as_str().unwrap().starts_with("modules/")).unwrap();
    module["sha256"].as_str().unwrap().to_owned()
}

/// The names of the crates cargo compiled, from its stderr.
fn compiled(stderr: &[u8]) -> Vec<String> {
    let stderr = String::from_utf8_lossy(stderr);
    stderr.lines().filter_map(|l| l.trim_start().strip_prefix("Compiling ")).map(str::to_owned).collect()
}

#[test]
fn from_the_root_one_command_builds_tests_and_audits_every_skill() {
    let dir = tempfile::tempdir().unwrap();
    let root = trio(dir.path());
    let target = dir.path().join("target");

    let out = at(&root, &target, &["build", "--workspace", "--message-format", "json"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("skipping `acme-helper`: not a `cdylib`"), "{stderr}");
    assert_eq!(stderr.matches("Finished `release` profile").count(), 1, "one cargo build: {stderr}");
    let report = json(out.get_output());
    assert_eq!(report["passed"], 2, "{report:#}");
    assert_eq!(report["failed"], 0);
    assert_eq!(report["skipped"][0]["package"], "acme-helper");
    let members = report["members"].as_array().unwrap();
    let packages: Vec<&str> = members.iter().map(|m| m["package"].as_str().unwrap()).collect();
    assert_eq!(packages, ["acme-alpha", "acme-beta"]);
    for (member, id) in members.iter().zip(["acme.alpha", "acme.beta"]) {
        let artifact = target.join(format!("palyra-skill/{id}-1.0.0.palyra-skill"));
        assert_eq!(member["report"]["artifact"], artifact.to_str().unwrap());
        assert!(artifact.is_file());
        let size = &member["report"]["module_sizes"][0];
        assert_eq!(size["cap"], 262_144, "each module against the cap: {member:#}");
    }
    // Human: one line per artifact, then the total.
    let out = at(&root, &target, &["build", "--workspace"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("acme-alpha") && stdout.contains("acme.beta-1.0.0.palyra-skill"), "{stdout}");
    assert!(stdout.contains("of 262,144 bytes"), "{stdout}");

    // The same modules as each skill built on its own, in another target directory.
    let alone = dir.path().join("alone");
    let out = at(&root, &alone, &["build", "-p", "acme-beta", "--message-format", "json"]).assert().success();
    assert_eq!(module_sha(&json(out.get_output())), module_sha(&members[1]["report"]));

    let out = at(&root, &target, &["test", "--workspace", "--message-format", "json"]).assert().success();
    let report = json(out.get_output());
    assert_eq!(report["passed"], 2, "{report:#}");
    for member in report["members"].as_array().unwrap() {
        assert_eq!(member["report"]["passed"], 2, "{member:#}");
    }
    // Each skill's fuel baseline is the `fuel-baseline.json` in its own directory.
    at(&root, &target, &["test", "--workspace", "--save-baseline"]).assert().success();
    for member in ["alpha", "beta"] {
        assert!(root.join(format!("skills/{member}/fuel-baseline.json")).is_file(), "{member}");
    }
    at(&root, &target, &["test", "--workspace", "--baseline"]).assert().success();
    let out = at(&root, &target, &["test"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("Total 2 skills tested: 2 passed, 0 failed"), "the default members: {stderr}");

    let out = at(&root, &target, &["audit", "--workspace", "--message-format", "json"]).assert().success();
    let report = json(out.get_output());
    let verdicts: Vec<&str> = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["report"]["skill_id"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["acme.alpha", "acme.beta"], "{report:#}");

    // `run`: each skill once, the same grants; beta's host is not granted.
    let out = at(&root, &target, &["run", "--workspace", "--allow-http", "api.example.com"])
        .args(["--message-format", "json"])
        .assert()
        .code(1);
    let report = json(out.get_output());
    assert_eq!(report["members"][0]["report"]["exit_code"], 0, "{report:#}");
    assert_eq!(report["members"][1]["ok"], false);

    // One member inside the workspace: the crate there, as cargo picks it.
    let out =
        at(&root.join("skills/alpha"), &target, &["test", "--message-format", "json"]).assert().success();
    assert_eq!(json(out.get_output())["passed"], 2);

    // A member that fails is reported, and the others still build.
    let beta = root.join("skills/beta/skill.toml");
    let good = std::fs::read_to_string(&beta).unwrap();
    std::fs::write(&beta, good.replace("skill_id = \"acme.beta\"", "skill_id = 7")).unwrap();
    let out = at(&root, &target, &["build", "--workspace", "--message-format", "json"]).assert().code(2);
    let report = json(out.get_output());
    assert_eq!(report["members"][0]["ok"], true, "{report:#}");
    assert_eq!(report["members"][1]["ok"], false);
    assert!(report["members"][1]["error"].as_str().unwrap().contains("skill.toml"), "{report:#}");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("1 of 2 skills could not be built"), "{stderr}");
    std::fs::write(&beta, good).unwrap();
}

#[test]
fn selection_errors_name_their_fix() {
    let dir = tempfile::tempdir().unwrap();
    let root = trio(dir.path());
    let target = dir.path().join("target");
    at(&root, &target, &["build", "-p", "nope"]).assert().code(2).stderr(
        predicate::str::contains("no package `nope` in the workspace of")
            .and(predicate::str::contains("`acme-alpha`, `acme-beta`, `acme-helper`")),
    );
    at(&root, &target, &["audit", "-p", "acme-helper"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`acme-helper` is not a `cdylib`"));
    at(&root, &target, &["test", "--workspace", "--exclude", "acme-alpha", "--exclude", "acme-beta"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no skill among the packages selected")
                .and(predicate::str::contains("`acme-helper`: not a `cdylib`")),
        );
    at(&root, &target, &["test", "--workspace", "--save-baseline", "fuel.json"]).assert().code(2).stderr(
        predicate::str::contains("each skill's fuel goes to the `fuel-baseline.json` in its own crate"),
    );
    // Cargo ignores a member's profile: the warning names the root to move it to.
    let beta = root.join("skills/beta/Cargo.toml");
    let text = std::fs::read_to_string(&beta).unwrap();
    std::fs::write(&beta, format!("{text}\n[profile.release]\nopt-level = \"z\"\n")).unwrap();
    at(&root, &target, &["build", "--workspace", "--profile", "palyra-no-such-profile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "`{}` sets `[profile.release]` (`opt-level`), which cargo ignores in a workspace member: move it to the workspace root's `{}`",
            beta.display(),
            root.join("Cargo.toml").display()
        )));
    std::fs::write(&beta, text).unwrap();
    let artifact = dir.path().join("x.palyra-skill");
    std::fs::write(&artifact, b"PK").unwrap();
    cmd()
        .args(["run", "-p", "acme-alpha"])
        .arg(&artifact)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is no crate: drop them, or pass a crate's directory"));
    at(&root, &target, &["build", "--workspace", "--check-reproducible"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pick it with `-p NAME`"));
}

#[test]
fn alternating_members_in_one_target_directory_rebuilds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = trio(dir.path());
    let target = dir.path().join("target");
    let build = |package: &str| {
        let out = at(&root, &target, &["build", "-p", package]).assert().success();
        compiled(&out.get_output().stderr)
    };
    assert!(!build("acme-alpha").is_empty());
    let beta = build("acme-beta");
    assert!(beta.iter().all(|c| c.starts_with("acme-beta ")), "only beta itself: {beta:?}");
    assert_eq!(build("acme-alpha"), Vec::<String>::new(), "fresh: nothing compiles again");
    assert_eq!(build("acme-beta"), Vec::<String>::new());
    let out = at(&root, &target, &["build", "--workspace"]).assert().success();
    assert_eq!(compiled(&out.get_output().stderr), Vec::<String>::new(), "the workspace build too");
    let out = at(&root, &target, &["test", "-p", "acme-alpha"]).assert().success();
    assert_eq!(compiled(&out.get_output().stderr), Vec::<String>::new(), "and `test`'s build");
}

#[test]
fn a_member_built_with_the_workspace_is_reproduced_from_a_clone() {
    let dir = tempfile::tempdir().unwrap();
    let origin = trio(dir.path());
    git(&origin, &["init", "-q"]);
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-qm", "trio"]);
    let target = dir.path().join("target");
    at(&origin, &target, &["build", "--workspace", "-q"]).assert().success();
    let clone = dir.path().join("clone");
    let status = Command::new("git").args(["clone", "-q"]).arg(&origin).arg(&clone).status().unwrap();
    assert!(status.success());
    let artifact = target.join("palyra-skill/acme.beta-1.0.0.palyra-skill");
    let out = cmd()
        .arg("rebuild")
        .arg(&artifact)
        .arg("--manifest-path")
        .arg(clone.join("Cargo.toml"))
        .args(["--message-format", "json"])
        .assert()
        .success();
    let report = json(out.get_output());
    assert_eq!(report["reproduced"], true, "{report:#}");
    assert_eq!(report["recorded"]["package"], "acme-beta");
}
