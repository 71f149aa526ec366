//! `new`, then `build`, `test` and `run` on what it wrote, from a fresh
//! directory, as a first-time user would; and `test` reporting failures.

mod support;

use std::path::Path;

use predicates::prelude::*;
use support::*;

/// The tool with isolated config, cache and state directories under `home`.
fn tool(home: &Path, cwd: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command
        .current_dir(cwd)
        .env("PALYRA_SKILL_CONFIG_DIR", home.join("config"))
        .env("PALYRA_SKILL_CACHE_DIR", home.join("cache"))
        .env("PALYRA_SKILL_STATE_DIR", home.join("state"))
        .env(
            "CARGO_TARGET_DIR",
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-skills-target"),
        );
    command
}

#[test]
fn new_build_test_run_works_out_of_the_box() {
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    tool(home.path(), &work)
        .args(["new", "demo"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cargo palyra-skill build"));
    let demo = work.join("demo");
    for file in [
        "Cargo.toml",
        "skill.toml",
        "src/lib.rs",
        "fixtures/echo/hello.json",
        ".gitignore",
        "README.md",
        ".github/workflows/skill.yml",
    ] {
        assert!(demo.join(file).is_file(), "{file}");
    }
    tool(home.path(), &demo).arg("build").assert().success().stderr(predicate::str::contains("Finished"));
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .success()
        .stdout(predicate::str::contains("test echo/hello.json ... ok"))
        .stdout(predicate::str::contains("2 passed, 0 failed"));
    for (flags, tier) in [(&[][..], "quick"), (&["--optimized"][..], "optimized")] {
        let output = tool(home.path(), &demo)
            .args(["test", "--message-format", "json"])
            .args(flags)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let report: serde_json::Value = serde_json::from_slice(&output).unwrap();
        let cases = report["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        assert!(cases.iter().all(|case| case["tier"] == tier), "{report}");
    }
    tool(home.path(), &demo)
        .args(["run", "--tool", "example.echo", "--input", r#"{"text":"hi"}"#])
        .assert()
        .success()
        .stdout(predicate::str::contains(r#""echo": "hi""#));

    // The built artifact verifies, and `run` never replaced it with an unsigned one.
    let target = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-skills-target");
    let artifact = target.join("palyra-skill/example.demo-0.1.0.palyra-skill");
    tool(home.path(), &demo).args(["verify", "--allow-tofu"]).arg(&artifact).assert().success();

    // A failing case is reported, with the closing line, and exit 1.
    std::fs::write(
        demo.join("fixtures/echo/wrong.json"),
        r#"{ "input": { "text": "a" }, "expect": { "output": { "echo": "b" } } }"#,
    )
    .unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("test echo/wrong.json ... FAILED"))
        .stdout(predicate::str::contains(r#"expected output {"echo":"b"}, got {"echo":"a"}"#))
        .stdout(predicate::str::contains("2 passed, 1 failed"));
    std::fs::write(demo.join("fixtures/echo/wrong.json"), r#"{ "expect": {} }"#).unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`expect` needs exactly one of `output` or `error`"));
}

#[test]
fn new_refuses_bad_names_and_non_empty_directories() {
    let home = tempfile::tempdir().unwrap();
    let cwd = home.path();
    tool(cwd, cwd)
        .args(["new", "Bad Name"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a usable crate name"));
    tool(cwd, cwd)
        .args(["new", "ok", "--publisher", "Acme"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a publisher identifier"));
    std::fs::create_dir_all(cwd.join("taken")).unwrap();
    std::fs::write(cwd.join("taken/keep.txt"), "mine").unwrap();
    tool(cwd, cwd).args(["new", "taken"]).assert().code(2).stderr(predicate::str::contains("not empty"));
    assert_eq!(std::fs::read_to_string(cwd.join("taken/keep.txt")).unwrap(), "mine");
    // An existing empty directory is fine.
    std::fs::create_dir_all(cwd.join("empty")).unwrap();
    tool(cwd, cwd)
        .args(["new", "empty", "--publisher", "acme", "--message-format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"skill_id\": \"acme.empty\""));
}
