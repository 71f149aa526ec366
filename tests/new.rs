//! `new`, then `build`, `test` and `run` on what it wrote, from a fresh
//! directory, as a first-time user would; and `test` reporting failures.

use std::path::Path;

use crate::support::*;
use predicates::prelude::*;

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

/// The imports of a module, as `module::name`.
fn imports(wasm: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(reader) = payload.unwrap() {
            for item in reader.into_imports_with_offsets() {
                let (_, import) = item.unwrap();
                out.push(format!("{}::{}", import.module, import.name));
            }
        }
    }
    out
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
        "fixtures/check/granted.json",
        "fixtures/check/not-granted.json",
        ".gitignore",
        "README.md",
        ".github/workflows/skill.yml",
    ] {
        assert!(demo.join(file).is_file(), "{file}");
    }
    // The workflow fetches the action from this tool's repository at its
    // version's tag (the action then installs that release, or builds it).
    let workflow = std::fs::read_to_string(demo.join(".github/workflows/skill.yml")).unwrap();
    assert!(!workflow.replace("${{", "").contains("{{"), "a placeholder is left:\n{workflow}");
    assert!(workflow.contains(&format!("PALYRA_SKILL_REPOSITORY: \"{}\"", env!("CARGO_PKG_REPOSITORY"))));
    assert!(workflow.contains(&format!("PALYRA_SKILL_VERSION: \"{}\"", env!("CARGO_PKG_VERSION"))));
    tool(home.path(), &demo).arg("build").assert().success().stderr(predicate::str::contains("Finished"));

    // The module is what Palyra 0.1.0 links: host functions only.
    let target = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-skills-target");
    let artifact = target.join("palyra-skill/example.demo-0.1.0.palyra-skill");
    let zip = std::fs::read(&artifact).unwrap();
    let entries = cargo_palyra_skill::artifact::Entries::read_zip(&zip).unwrap();
    let wasm = &entries.get("modules/demo.wasm").unwrap().bytes;
    let imports = imports(wasm);
    assert!(!imports.is_empty());
    for import in &imports {
        assert!(import.starts_with("palyra:plugins/host-capabilities@0.1.0::"), "{import}");
    }
    let provenance: serde_json::Value =
        serde_json::from_slice(&entries.get("provenance.json").unwrap().bytes).unwrap();
    let external = &provenance["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(external["target"], "wasm32-unknown-unknown");
    assert_eq!(external["abi"], "palyra-host-v1");

    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .success()
        .stdout(predicate::str::contains("test check/granted.json ... ok"))
        .stdout(predicate::str::contains("test check/not-granted.json ... ok"))
        .stdout(predicate::str::contains("test check/undeclared-host.json ... ok"))
        .stdout(predicate::str::contains("3 passed, 0 failed"));
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
        assert_eq!(cases.len(), 3);
        assert!(
            cases.iter().filter(|c| c["exit_code"].is_number()).all(|case| case["tier"] == tier),
            "{report}"
        );
    }

    // Granted and not granted, as the daemon answers.
    let run = |flags: &[&str]| -> serde_json::Value {
        let output =
            tool(home.path(), &demo).args(["run", "--message-format", "json"]).args(flags).output().unwrap();
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let granted = run(&["--allow-http", "api.example.com"]);
    assert_eq!(granted["exit_code"], 0, "{granted}");
    assert_eq!(granted["palyra_error_kind"], serde_json::Value::Null);
    assert_eq!(granted["hook_decision"], "continue");
    assert_eq!(granted["output"]["capabilities"]["http_handles"], serde_json::json!([10000]));
    assert_eq!(granted["output"]["skill"]["tool_id"], "example.check");
    // The budget its README states: the whole default fuel cap (which binds:
    // the quota equals it), and time and memory quotas under their caps.
    let budget = &granted["budget"];
    let caps = [&budget["fuel"]["cap"], &budget["time_ms"]["cap"], &budget["memory_bytes"]["cap"]];
    assert_eq!(caps, [10_000_000, 500, 16 * 1024 * 1024], "{granted}");
    let sources = &granted["limit_sources"];
    assert_eq!(
        [&sources["fuel"], &sources["timeout"], &sources["memory"]],
        ["operator", "manifest", "manifest"]
    );
    let refused = run(&[]);
    assert_eq!(refused["exit_code"], 20);
    assert_eq!(refused["hook_decision"], "request_approval");
    let denied = run(&["--allow-http", "other.example.com"]);
    assert_eq!(denied["exit_code"], serde_json::Value::Null);
    assert_eq!(denied["palyra_error_kind"], "capability_denied");
    tool(home.path(), &demo).args(["run", "--allow-http", "api.example.com"]).assert().success();
    tool(home.path(), &demo).args(["run", "--allow-http", "other.example.com"]).assert().code(1);
    tool(home.path(), &demo)
        .args(["run", "--input", "{}"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the Palyra host passes no input"));

    // A stock operator config (runtime disabled) refuses as the daemon does.
    std::fs::write(home.path().join("palyrad.toml"), "[tool_call]\nexecution_timeout_ms = 750\n").unwrap();
    let disabled = run(&["--operator-config", home.path().join("palyrad.toml").to_str().unwrap()]);
    assert_eq!(disabled["palyra_error_kind"], "disabled");

    // The built artifact verifies, and `run` never replaced it with an unsigned one.
    tool(home.path(), &demo).args(["verify", "--allow-tofu"]).arg(&artifact).assert().success();

    // A failing case is reported, with the closing line, and exit 1.
    std::fs::write(demo.join("fixtures/check/wrong.json"), r#"{ "expect": { "exit_code": 1 } }"#).unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("test check/wrong.json ... FAILED"))
        .stdout(predicate::str::contains("expected exit code 1, got exit code 20"))
        .stdout(predicate::str::contains("3 passed, 1 failed"));
    // A malformed fixture fails as a case; the others still run.
    std::fs::write(demo.join("fixtures/check/wrong.json"), r#"{ "expect": {} }"#).unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("`expect` needs exactly one of `exit_code` or `error`"))
        .stdout(predicate::str::contains("3 passed, 1 failed (1 malformed, did not run)"));
    // A WASI-preview case in a host-ABI crate says why and what to do.
    std::fs::write(
        demo.join("fixtures/check/wrong.json"),
        r#"{ "input": { "text": "a" }, "expect": { "output": {} } }"#,
    )
    .unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("the Palyra host passes no input"))
        .stdout(predicate::str::contains("abi = \"wasi-json\""));
    std::fs::write(demo.join("fixtures/check/wrong.json"), r#"{ "expect": { "error": "oops" } }"#).unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("neither a Palyra error kind nor a failure class"));
    std::fs::write(
        demo.join("fixtures/check/wrong.json"),
        r#"{ "grants": { "http": ["api.example.com"] }, "operator": { "max_module_size_bytes": 100 }, "expect": { "error": "quota_exceeded" } }"#,
    )
    .unwrap();
    tool(home.path(), &demo)
        .arg("test")
        .assert()
        .success()
        .stdout(predicate::str::contains("4 passed, 0 failed"));
}

#[test]
fn a_wasi_crate_without_the_setting_is_refused_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    tool(home.path(), &work).args(["new", "wasi-user"]).assert().success();
    let dir = work.join("wasi-user");
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        lib.replace(
            "pub mod host {",
            "#[link(wasm_import_module = \"wasi_snapshot_preview1\")]\nunsafe extern \"C\" { fn proc_exit(code: i32); }\n#[unsafe(no_mangle)]\npub extern \"C\" fn quit() { unsafe { proc_exit(3) } }\n\npub mod host {",
        ),
    )
    .unwrap();
    tool(home.path(), &dir)
        .arg("build")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("imports what the Palyra host cannot link"))
        .stderr(predicate::str::contains("`wasi_snapshot_preview1::proc_exit`"))
        .stderr(predicate::str::contains("abi = \"wasi-json\""));
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
    // A directory holding only `.git`, and `new .` inside it (the name
    // comes from the directory).
    std::fs::create_dir_all(cwd.join("gitdir/.git")).unwrap();
    std::fs::write(cwd.join("gitdir/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
    tool(cwd, &cwd.join("gitdir"))
        .args(["new", ".", "--message-format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"skill_id\": \"example.gitdir\""));
    assert!(cwd.join("gitdir/skill.toml").is_file() && cwd.join("gitdir/.git/HEAD").is_file());
    // `-q` prints no guidance.
    tool(cwd, cwd).args(["-q", "new", "quiet"]).assert().success().stdout("");
    // An existing empty directory is fine.

    std::fs::create_dir_all(cwd.join("empty")).unwrap();
    tool(cwd, cwd)
        .args(["new", "empty", "--publisher", "acme", "--message-format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"skill_id\": \"acme.empty\""));
}

#[test]
fn new_lists_what_it_wrote_and_starts_a_git_repository_unless_told_not_to() {
    let home = tempfile::tempdir().unwrap();
    let out = tool(home.path(), home.path()).args(["new", "fresh"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for file in
        ["Cargo.toml", "skill.toml", "src/lib.rs", "fixtures/check/granted.json", ".gitignore", "README.md"]
    {
        assert!(stdout.contains(&format!("\n  {file}\n")), "{file} not listed:\n{stdout}");
    }
    assert!(stdout.contains("  .github/workflows/skill.yml  (GitHub workflow"), "{stdout}");
    assert!(
        stdout.contains("  .git/ (a new git repository on branch `main`; `--vcs none` skips it)"),
        "{stdout}"
    );
    assert!(stdout.contains("\n  Cargo.lock\n"), "{stdout}");
    assert!(home.path().join("fresh/.git").is_dir());

    // Inside that repository, a second crate gets no repository of its own.
    let out = tool(home.path(), &home.path().join("fresh"))
        .args(["new", "nested", "--message-format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["git"], "existing");
    assert_eq!(report["files"].as_array().unwrap().len(), 9);
    assert_eq!(report["commit"], "skipped", "an existing repository is the author's to commit");
    assert!(!home.path().join("fresh/nested/.git").exists());

    // `--vcs none`, and `-q` prints nothing at all.
    let out = tool(home.path(), home.path()).args(["-q", "new", "plain", "--vcs", "none"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
    assert!(!home.path().join("plain/.git").exists());
}

/// `git ARGS` in `dir` under the git configuration `config`: its stdout.
fn git_with(config: &Path, dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", config)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(GIT_IDENTITY)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whatever git's default branch is (`init.defaultBranch` set to `master`,
/// to `trunk`, or not set), the repository `new` makes starts on `main`,
/// the branch its workflow checks on push, and the first commit is there.
/// Inside a work tree on another branch, `new` says pushes there are never
/// checked, and how to change either side.
#[test]
fn a_new_repository_is_on_the_workflows_branch_whatever_gits_default() {
    let home = tempfile::tempdir().unwrap();
    for default in [None, Some("master"), Some("trunk")] {
        let name = format!("branch-{}", default.unwrap_or("unset"));
        let config = home.path().join(format!("{name}.gitconfig"));
        let setting = default.map(|b| format!("[init]\n\tdefaultBranch = {b}\n")).unwrap_or_default();
        std::fs::write(&config, setting).unwrap();
        // The setting is in force: a plain `git init` takes it.
        let plain = home.path().join(format!("{name}-plain"));
        std::fs::create_dir_all(&plain).unwrap();
        git_with(&config, &plain, &["init", "--quiet"]);
        let expected = default.unwrap_or("master");
        assert_eq!(git_with(&config, &plain, &["symbolic-ref", "--short", "HEAD"]), expected);

        let out = tool(home.path(), home.path())
            .env("GIT_CONFIG_GLOBAL", &config)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .envs(GIT_IDENTITY)
            .args(["new", &name, "--message-format", "json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((report["git"].as_str(), report["branch"].as_str()), (Some("initialized"), Some("main")));
        assert_eq!(report["commit"], "created", "{name}: {stderr}");
        let crate_dir = home.path().join(&name);
        assert_eq!(git_with(&config, &crate_dir, &["rev-parse", "--abbrev-ref", "HEAD"]), "main", "{name}");
        assert_eq!(git_with(&config, &crate_dir, &["branch", "--list", "--format=%(refname:short)"]), "main");
        assert!(!stderr.contains("never checked"), "{name}: {stderr}");
        let workflow = std::fs::read_to_string(crate_dir.join(".github/workflows/skill.yml")).unwrap();
        assert!(workflow.contains("branches: [main]"), "the branch the workflow checks");
    }

    // An existing work tree on `trunk`: no new repository, and a warning.
    let config = home.path().join("branch-trunk.gitconfig");
    let mono = home.path().join("mono");
    std::fs::create_dir_all(&mono).unwrap();
    git_with(&config, &mono, &["init", "--quiet"]);
    let out = tool(home.path(), &mono)
        .env("GIT_CONFIG_GLOBAL", &config)
        .args(["new", "inner", "--message-format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["git"].as_str(), report["branch"].as_str()), (Some("existing"), Some("trunk")));
    for part in [
        "warning: the repository's branch is `trunk`, but `",
        "skill.yml` checks pushes to `main` only (`branches: [main]`), so pushes to `trunk` are never checked",
        "rename the branch (`git branch -m trunk main`)",
        "or change `branches: [main]` and `refs/heads/main` in the workflow to `trunk`",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert_eq!(git_with(&config, &mono, &["symbolic-ref", "--short", "HEAD"]), "trunk", "left as it was");
    // On `main` it says nothing.
    git_with(&config, &mono, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    let out =
        tool(home.path(), &mono).env("GIT_CONFIG_GLOBAL", &config).args(["new", "second"]).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("never checked"));
}

#[test]
fn new_writes_the_lock_file_ignores_keys_and_makes_the_first_commit() {
    let home = tempfile::tempdir().unwrap();

    let out = tool(home.path(), home.path())
        .envs(GIT_IDENTITY)
        .args(["new", "weather", "--publisher", "acme", "--message-format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["lockfile"].as_bool(), report["commit"].as_str()), (Some(true), Some("created")));
    let crate_dir = home.path().join("weather");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(&crate_dir).output().unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(git(&["status", "--porcelain"]), "", "everything is committed");
    let tracked = git(&["ls-files"]);
    assert!(tracked.lines().any(|f| f == "Cargo.lock"), "{tracked}");
    assert!(git(&["log", "--format=%s"]).contains("New Palyra skill acme.weather"));
    // A key written into the crate is ignored, so `git add -A` leaves it out.
    std::fs::write(crate_dir.join("acme.pem"), "secret").unwrap();
    std::fs::write(crate_dir.join("deploy.key"), "secret").unwrap();
    assert_eq!(git(&["status", "--porcelain"]), "");
    // The crate builds `--locked` as CI builds it.
    let built = tool(home.path(), &crate_dir).args(["-q", "build", "--locked"]).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));

    // `--no-commit` leaves the repository without one.
    tool(home.path(), home.path())
        .envs(GIT_IDENTITY)
        .args(["-q", "new", "later", "--no-commit"])
        .assert()
        .success();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .current_dir(home.path().join("later"))
        .output()
        .unwrap();
    assert!(!head.status.success(), "no commit yet");
    assert!(home.path().join("later/Cargo.lock").is_file());
}

#[test]
fn a_locked_build_without_a_lock_file_says_to_make_and_commit_one() {
    let home = tempfile::tempdir().unwrap();
    tool(home.path(), home.path()).args(["-q", "new", "nolock", "--vcs", "none"]).assert().success();
    let crate_dir = home.path().join("nolock");
    std::fs::remove_file(crate_dir.join("Cargo.lock")).unwrap();
    let out = tool(home.path(), &crate_dir).args(["build", "--locked"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Cargo.lock`, and a `--locked` build uses only a committed lock file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cargo generate-lockfile --manifest-path") && stderr.contains("commit it"),
        "{stderr}"
    );
    assert!(!stderr.contains("remove the --locked flag"), "{stderr}");
    assert!(!crate_dir.join("Cargo.lock").exists(), "nothing was compiled or locked");
}

#[test]
fn a_write_root_palyra_refuses_on_every_run_is_named_with_its_fix() {
    let home = tempfile::tempdir().unwrap();
    tool(home.path(), home.path()).args(["-q", "new", "roots", "--vcs", "none"]).assert().success();
    let crate_dir = home.path().join("roots");
    let manifest = crate_dir.join("skill.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[capabilities.filesystem]\nwrite_roots = [\"Skills/Cache\"]\n"),
    )
    .unwrap();
    let fix = "(`skills/cache` would pass); fix it in `skill.toml` (docs/manifest.md)";
    let built = tool(home.path(), &crate_dir).args(["build", "--locked"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "Palyra installs it, so the build succeeds: {stderr}");
    assert!(
        stderr
            .contains("warning: skill.manifest.capabilities contains invalid storage prefix 'Skills/Cache'"),
        "{stderr}"
    );
    assert!(stderr.contains(fix), "{stderr}");
    let tested = tool(home.path(), &crate_dir).args(["test", "--locked"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert_eq!(tested.status.code(), Some(1));
    assert!(stdout.contains("got invalid_input (invalid_grant): skill.manifest.capabilities contains invalid storage prefix 'Skills/Cache': a storage prefix"), "{stdout}");
    assert!(stdout.contains(fix), "{stdout}");
}

#[test]
fn the_workflow_pins_the_action_to_a_commit_or_says_it_cannot() {
    let home = tempfile::tempdir().unwrap();
    let out = tool(home.path(), home.path()).args(["new", "pinned", "--vcs", "none"]).output().unwrap();
    assert!(out.status.success());
    let workflow = std::fs::read_to_string(home.path().join("pinned/.github/workflows/skill.yml")).unwrap();
    let line = workflow.lines().find(|l| l.trim_start().starts_with("PALYRA_SKILL_ACTION_SHA:")).unwrap();
    let sha = line.split('"').nth(1).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if sha.is_empty() {
        assert!(stderr.contains("knows no commit of its own: set `PALYRA_SKILL_ACTION_SHA`"), "{stderr}");
        assert!(workflow.contains("EMPTY: the cargo-palyra-skill that wrote this was built locally"));
    } else {
        assert!(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
        assert!(!stderr.contains("knows no commit"), "{stderr}");
    }
    assert!(!workflow.contains("git clone"), "no unpinned clone of the action");
    assert!(workflow.contains("branches: [main]"), "pushes to main are checked");
}

#[test]
fn test_run_and_audit_find_the_crate_from_its_src_folder() {
    let home = tempfile::tempdir().unwrap();
    tool(home.path(), home.path()).args(["-q", "new", "nested", "--vcs", "none"]).assert().success();
    let src = home.path().join("nested/src");
    for args in [&["test"][..], &["run", "--allow-http", "api.example.com"], &["audit"]] {
        let out = tool(home.path(), &src).args(args).arg("--locked").output().unwrap();
        assert!(out.status.success(), "{args:?} from src/: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn new_inside_a_workspace_joins_it_at_the_root() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("repo");
    copy_fixture_dir("workspaces/trio", &root);
    git(&root, &["init", "-q"]);
    let out = tool(home.path(), &root)
        .args(["new", "skills/gamma", "--publisher", "acme", "--message-format", "json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["git"], "existing", "no repository inside the workspace's: {report:#}");
    assert_eq!(report["workspace"]["member"], "skills/gamma");
    assert_eq!(report["workspace"]["added"], true);
    assert_eq!(report["workspace"]["profile_added"], false, "the root has one");
    let gamma = root.join("skills/gamma");
    assert!(!gamma.join(".git").exists() && !gamma.join(".github").exists());
    let member = std::fs::read_to_string(gamma.join("Cargo.toml")).unwrap();
    assert!(
        !member.lines().any(|l| l.starts_with("[profile")),
        "cargo ignores a member's profile:\n{member}"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(
            "    \"helper\", # not a skill: no `skill.toml`, not a cdylib\n    \"skills/gamma\",\n]"
        ),
        "the comments stay:\n{manifest}"
    );
    let ignored = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignored.lines().any(|l| l == "/target"), "{ignored}");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"gamma\""), "the root's lock file gains the member");
    // It builds from the root, locked, with the root's profile.
    tool(home.path(), &root).args(["build", "-p", "gamma", "--locked", "-q"]).assert().success();

    // A workspace without a profile gets the size profile at its root.
    let bare = home.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::write(bare.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\n").unwrap();
    let out =
        tool(home.path(), &bare).args(["new", "skills/one", "--message-format", "json"]).assert().success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["git"], "none", "no repository at the root, and none made in the member: {report:#}");
    assert_eq!(report["workspace"]["profile_added"], true);
    let manifest: toml::Table = std::fs::read_to_string(bare.join("Cargo.toml")).unwrap().parse().unwrap();
    assert_eq!(manifest["workspace"]["members"].as_array().unwrap()[0].as_str(), Some("skills/one"));
    assert_eq!(manifest["profile"]["release"]["strip"].as_bool(), Some(true));
    assert!(!bare.join("skills/one/.git").exists());
}
