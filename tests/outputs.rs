//! Every report as each presenter renders it, pinned by insta snapshots:
//! human, JSON, Markdown and SARIF output of `inspect`, `verify`, `audit`,
//! `diff`, `run`, `publish` and the Action's report. Paths, durations and
//! the wall clock are redacted; everything else is exact, so a change to
//! what users read shows up in review as a snapshot diff.

use std::path::Path;

use crate::support::*;

/// Runs the tool in `cwd` (its config and cache there), expecting `code`.
fn run_in(cwd: &Path, args: &[&str], code: i32) -> std::process::Output {
    let out = cmd()
        .current_dir(cwd)
        .env("PALYRA_SKILL_CONFIG_DIR", cwd.join(".config"))
        .env("PALYRA_SKILL_CACHE_DIR", cwd.join(".cache"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs the tool in `cwd` and returns stdout, with durations redacted.
fn output(cwd: &Path, args: &[&str], code: i32) -> String {
    String::from_utf8(run_in(cwd, args, code).stdout).unwrap()
}

/// A scratch directory holding the vector artifact as `echo.palyra-skill`.
fn with_vector() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("vectors/reference-echo.palyra-skill"), dir.path().join("echo.palyra-skill"))
        .unwrap();
    dir
}

/// A registry signing key in `dir/registry.hex`, readable by its owner only.
fn registry_key(dir: &Path) {
    let path = dir.join("registry.hex");
    std::fs::write(&path, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

macro_rules! redacted {
    ($body:block) => {
        insta::with_settings!({ filters => vec![
            (r"\b\d+(\.\d+)?(ms|s)\b", "[duration]"),
            (r"\b\d+ ms \(limit", "[duration] (limit"),
            (r"time \d+ ms of (\d+) ms \(\d+\.\d%\)", "time [duration] of $1 ms ([share])"),
            (r#""duration_ms": \d+"#, r#""duration_ms": "[duration]""#),
            (r"payload [0-9a-f]{64}, key", "payload [depends on the time], key"),
            (r"/tmp/\.tmp[A-Za-z0-9]+", "[tmp]"),
        ]}, $body)
    };
}

#[test]
fn inspect_human_and_verbose() {
    let dir = with_vector();
    redacted!({
        insta::assert_snapshot!("inspect_human", output(dir.path(), &["inspect", "echo.palyra-skill"], 0));
        insta::assert_snapshot!(
            "inspect_verbose",
            output(dir.path(), &["-v", "inspect", "echo.palyra-skill"], 0)
        );
    });
}

#[test]
fn verify_human_and_json() {
    let dir = with_vector();
    let trusted = format!("--trusted-publisher=acme={TEST_PUBLIC_HEX}");
    redacted!({
        insta::assert_snapshot!(
            "verify_human",
            output(dir.path(), &["verify", "echo.palyra-skill", &trusted], 0)
        );
        insta::assert_json_snapshot!(
            "verify_json",
            json(&output(
                dir.path(),
                &["verify", "echo.palyra-skill", &trusted, "--message-format", "json"],
                0
            ))
        );
        insta::assert_snapshot!(
            "verify_untrusted_human",
            output(dir.path(), &["verify", "echo.palyra-skill"], 1)
        );
    });
}

#[test]
fn audit_human_json_and_sarif() {
    let dir = with_vector();
    let trusted = format!("--trusted-publisher=acme={TEST_PUBLIC_HEX}");
    redacted!({
        insta::assert_snapshot!(
            "audit_human",
            output(dir.path(), &["audit", "echo.palyra-skill", &trusted], 0)
        );
        insta::assert_json_snapshot!(
            "audit_json",
            json(&output(dir.path(), &["audit", "echo.palyra-skill", &trusted, "--message-format", "json"], 0)),
            { ".generated_at_unix_ms" => "[time]" }
        );
        insta::assert_json_snapshot!(
            "audit_sarif",
            json(&output(dir.path(), &["audit", "echo.palyra-skill", &trusted, "--message-format", "sarif"], 0)),
            { ".runs[].invocations[].endTimeUtc" => "[time]" }
        );
    });
}

#[test]
fn diff_human_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let deps = [("serde", "1.0.200"), ("itoa", "1.0.11")];
    write_artifact(dir.path(), "v1.palyra-skill", &fixture_text("diff/v1.toml"), sbom_with(&deps), &key);
    write_artifact(
        dir.path(),
        "v2.palyra-skill",
        &fixture_text("diff/v2-breaking.toml"),
        sbom_with(&deps),
        &key,
    );
    write_artifact(
        dir.path(),
        "v1.1.palyra-skill",
        &fixture_text("diff/v1.1-escalation.toml"),
        sbom_with(&[("serde", "1.0.201")]),
        &key,
    );
    let d = dir.path();
    redacted!({
        insta::assert_snapshot!(
            "diff_breaking_human",
            output(d, &["diff", "v1.palyra-skill", "v2.palyra-skill"], 0)
        );
        insta::assert_snapshot!(
            "diff_escalation_markdown",
            output(d, &["diff", "v1.palyra-skill", "v1.1.palyra-skill", "--message-format", "markdown"], 0)
        );
        insta::assert_json_snapshot!(
            "diff_breaking_json",
            json(&output(d, &["diff", "v1.palyra-skill", "v2.palyra-skill", "--message-format", "json"], 0))
        );
    });
}

#[test]
fn run_json_of_a_host_call() {
    let dir = tempfile::tempdir().unwrap();
    artifact_with_module(dir.path(), "exit.palyra-skill", wat::parse_file(fixture("host/exit.wat")).unwrap());
    redacted!({
        insta::assert_json_snapshot!(
            "run_host_json",
            json(&output(dir.path(), &["run", "exit.palyra-skill", "--message-format", "json"], 0)),
            {
                ".output.duration_ms" => "[duration]",
                ".wall_ms" => "[duration]",
                ".cache" => "[cache]",
                ".budget.time_ms.used" => "[duration]",
                ".budget.time_ms.percent" => "[share]",
            }
        );
    });
}

#[test]
fn publish_json_and_action_report_markdown() {
    let dir = with_vector();
    let d = dir.path();
    registry_key(d);
    redacted!({
        insta::assert_json_snapshot!(
            "publish_json",
            json(&output(
                d,
                &[
                    "publish",
                    "echo.palyra-skill",
                    "--registry-dir",
                    "site",
                    "--key",
                    "registry.hex",
                    "--message-format",
                    "json",
                ],
                0
            )),
            { ".index_payload_sha256" => "[depends on the time]" }
        );
    });

    // The Action's last step, from the reports the earlier steps left.
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let build = serde_json::json!({
        "artifact": "dist/acme.echo-1.2.3.palyra-skill", "skill_id": "acme.echo", "version": "1.2.3",
        "bytes": 1234, "payload_sha256": "ab".repeat(32), "key_id": null, "attestation": null,
    });
    std::fs::write(out.join("build.json"), build.to_string()).unwrap();
    std::fs::write(out.join("test.rc"), "1\n").unwrap();
    let summary = d.join("summary.md");
    let report = cmd()
        .arg("action-report")
        .arg("--dir")
        .arg(&out)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", d.join("outputs"))
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(1));
    insta::assert_snapshot!("action_report_summary", std::fs::read_to_string(&summary).unwrap());
    insta::assert_snapshot!("action_report_annotations", String::from_utf8(report.stdout).unwrap());
}

#[test]
fn test_json_and_human_of_the_guard_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let target = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("outputs-target");
    let run = |format: &str| {
        let out = cmd()
            .current_dir(&skill)
            .env("CARGO_TARGET_DIR", &target)
            .env("PALYRA_SKILL_CONFIG_DIR", dir.path().join(".config"))
            .env("PALYRA_SKILL_CACHE_DIR", dir.path().join(".cache"))
            .args(["test", "--message-format", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    insta::assert_json_snapshot!("test_json", json(&run("json")), {
        ".cases[].wall_ms" => "[duration]",
        ".cases[].budget.time_ms.used" => "[duration]",
        ".cases[].budget.time_ms.percent" => "[share]",
    });
    redacted!({
        insta::assert_snapshot!("test_human", run("human"));
    });
}

/// Status lines (stderr) of a command, durations and paths redacted.
fn status(cwd: &Path, args: &[&str], code: i32) -> String {
    String::from_utf8(run_in(cwd, args, code).stderr).unwrap()
}

#[test]
fn run_and_publish_human() {
    let dir = tempfile::tempdir().unwrap();
    artifact_with_module(dir.path(), "exit.palyra-skill", wat::parse_file(fixture("host/exit.wat")).unwrap());
    registry_key(dir.path());
    let d = dir.path();
    redacted!({
        insta::assert_snapshot!("run_host_stdout", output(d, &["run", "exit.palyra-skill"], 0));
        insta::assert_snapshot!(
            "run_host_status",
            status(d, &["run", "exit.palyra-skill", "--allow-http", "api.example.com"], 0)
        );
        insta::assert_snapshot!(
            "publish_status",
            status(
                d,
                &["publish", "exit.palyra-skill", "--registry-dir", "site", "--key", "registry.hex"],
                0
            )
        );
    });
}
