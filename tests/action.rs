//! The GitHub Action, run locally the way a runner runs a composite action:
//! `action.yml` is parsed, `${{ inputs.* }}`, `${{ steps.*.outputs.* }}` and
//! `${{ github.action_path }}` are substituted, `if:` conditions evaluated,
//! and each `run` step's bash script executed in order with the `GITHUB_*`
//! environment and real `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files,
//! against the fixture skill. `uses:` steps (the cache, the SARIF upload)
//! need GitHub's services; they are checked to be pinned and skipped.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value as Yaml;
use crate::support::{
    TEST_PUBLIC_HEX, TEST_SEED_HEX, assert_clean, cmd, fixture_text, sbom_with, test_key, write_artifact,
};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

struct Run {
    outputs: BTreeMap<String, String>,
    summary: String,
    /// Everything the steps printed, in order.
    log: Vec<u8>,
    /// The step that failed, and its exit code.
    failed: Option<(String, i32)>,
    runner_temp: PathBuf,
    workspace: PathBuf,
    _dir: tempfile::TempDir,
}

fn yaml_str(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

struct Context<'a> {
    inputs: &'a BTreeMap<String, String>,
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
}

impl Context<'_> {
    /// One expression: `inputs.x`, `steps.id.outputs.x`, `github.action_path`,
    /// a quoted string, or `a == b` / `a != b` / `a && b` over those.
    fn eval(&self, expr: &str) -> String {
        let expr = expr.trim();
        if let Some((a, b)) = expr.split_once("&&") {
            let truthy = |s: String| !s.is_empty() && s != "false";
            return (truthy(self.eval(a)) && truthy(self.eval(b))).to_string();
        }
        for (op, equal) in [("!=", false), ("==", true)] {
            if let Some((a, b)) = expr.split_once(op) {
                return ((self.eval(a) == self.eval(b)) == equal).to_string();
            }
        }
        if let Some(quoted) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return quoted.to_owned();
        }
        if let Some(name) = expr.strip_prefix("inputs.") {
            return self.inputs.get(name).unwrap_or_else(|| panic!("no input `{name}`")).clone();
        }
        if let Some(rest) = expr.strip_prefix("steps.") {
            let (id, output) =
                rest.split_once(".outputs.").unwrap_or_else(|| panic!("bad expression {expr}"));
            return self.steps.get(id).and_then(|o| o.get(output)).cloned().unwrap_or_default();
        }
        match expr {
            "github.action_path" => REPO.to_owned(),
            _ => panic!("the simulated runner does not know `${{{{ {expr} }}}}`"),
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed expression") + start;
            out.push_str(&self.eval(&rest[start + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads them.
fn parse_output_file(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    outputs
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Runs `action.yml` with `with` as the step's inputs under a simulated
/// GitHub event (`git_ref`, `event`).
fn run_action(with: &[(&str, &str)], git_ref: &str, event: &str) -> Run {
    run_action_with(with, git_ref, event, |_| {})
}

/// As [`run_action`], with `adjust` changing the runner's environment.
fn run_action_with(
    with: &[(&str, &str)],
    git_ref: &str,
    event: &str,
    adjust: impl FnOnce(&mut Vec<(&'static str, String)>),
) -> Run {
    let action: Yaml =
        serde_yaml::from_str(&std::fs::read_to_string(Path::new(REPO).join("action.yml")).unwrap())
            .expect("action.yml parses");
    let mut inputs = BTreeMap::new();
    for (name, spec) in action["inputs"].as_mapping().unwrap() {
        inputs.insert(yaml_str(name), spec.get("default").map(yaml_str).unwrap_or_default());
    }
    for (name, value) in with {
        assert!(inputs.contains_key(*name), "action.yml has no input `{name}`");
        inputs.insert((*name).to_owned(), (*value).to_owned());
    }

    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    let runner_temp = dir.path().join("runner-temp");
    let home = dir.path().join("home");
    for d in [&runner_temp, &home] {
        std::fs::create_dir_all(d).unwrap();
    }
    copy_dir(&Path::new(REPO).join("fixtures/skills/guard"), &workspace.join("skills/guard"));
    let summary_path = runner_temp.join("step-summary.md");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cargo-palyra-skill")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let real_home = PathBuf::from(std::env::var("HOME").unwrap());
    let cargo_home = std::env::var("CARGO_HOME").map(PathBuf::from).unwrap_or(real_home.join(".cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME").map(PathBuf::from).unwrap_or(real_home.join(".rustup"));
    let shared_target = Path::new(REPO).join("target/tmp/action-target");
    let mut base_env: Vec<(&'static str, String)> = vec![
        ("PATH", path),
        ("HOME", home.display().to_string()),
        ("CARGO_HOME", cargo_home.display().to_string()),
        ("RUSTUP_HOME", rustup_home.display().to_string()),
        ("CARGO_TARGET_DIR", shared_target.display().to_string()),
        ("PALYRA_SKILL_CACHE_DIR", runner_temp.join("module-cache").display().to_string()),
        ("SOURCE_DATE_EPOCH", "1700000000".into()),
        ("NO_COLOR", "1".into()),
        ("CI", "true".into()),
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_ACTION_PATH", REPO.into()),
        ("GITHUB_WORKSPACE", workspace.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary_path.display().to_string()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_REPOSITORY", "acme/echo-skill".into()),
        ("GITHUB_REPOSITORY_ID", "123456".into()),
        ("GITHUB_REPOSITORY_OWNER_ID", "654321".into()),
        ("GITHUB_WORKFLOW_REF", format!("acme/echo-skill/.github/workflows/skill.yml@{git_ref}")),
        ("GITHUB_REF", git_ref.into()),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567".into()),
        ("GITHUB_EVENT_NAME", event.into()),
        ("GITHUB_RUN_ID", "987654321".into()),
        ("GITHUB_RUN_ATTEMPT", "2".into()),
        ("RUNNER_TEMP", runner_temp.display().to_string()),
        ("RUNNER_OS", "Linux".into()),
        ("RUNNER_ARCH", "X64".into()),
        ("RUNNER_ENVIRONMENT", "github-hosted".into()),
    ];
    adjust(&mut base_env);

    let mut steps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut log = Vec::new();
    let mut failed = None;
    for (index, step) in action["runs"]["steps"].as_sequence().unwrap().iter().enumerate() {
        let context = Context { inputs: &inputs, steps: &steps };
        if let Some(condition) = step.get("if")
            && context.eval(&yaml_str(condition)) != "true"
        {
            continue;
        }
        if let Some(uses) = step.get("uses") {
            let uses = yaml_str(uses);
            let (_, sha) = uses.split_once('@').unwrap();
            assert!(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "`{uses}` is not pinned");
            continue;
        }
        let id = step.get("id").map(yaml_str).unwrap_or_else(|| format!("step{index}"));
        let script = runner_temp.join(format!("{id}.sh"));
        std::fs::write(&script, yaml_str(&step["run"])).unwrap();
        assert_eq!(step.get("shell").map(yaml_str).as_deref(), Some("bash"), "step {id} needs `shell: bash`");
        let output_path = runner_temp.join(format!("{id}.output"));
        std::fs::write(&output_path, "").unwrap();
        let cwd = match step.get("working-directory") {
            Some(wd) => workspace.join(context.substitute(&yaml_str(wd))),
            None => workspace.clone(),
        };
        let mut command = std::process::Command::new("bash");
        command.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(&script).current_dir(cwd).env_clear();
        command.envs(base_env.iter().map(|(k, v)| (*k, v.as_str())));
        command.env("GITHUB_OUTPUT", &output_path);
        for (name, value) in step.get("env").and_then(Yaml::as_mapping).into_iter().flatten() {
            command.env(yaml_str(name), context.substitute(&yaml_str(value)));
        }
        let output = command.output().unwrap();
        log.extend_from_slice(&output.stdout);
        log.extend_from_slice(&output.stderr);
        steps.insert(id.clone(), parse_output_file(&std::fs::read_to_string(&output_path).unwrap()));
        if !output.status.success() {
            failed = Some((id, output.status.code().unwrap_or(-1)));
            break;
        }
    }

    let context = Context { inputs: &inputs, steps: &steps };
    let mut outputs = BTreeMap::new();
    if failed.is_none() {
        for (name, spec) in action["outputs"].as_mapping().unwrap() {
            outputs.insert(yaml_str(name), context.substitute(&yaml_str(&spec["value"])));
        }
    }
    let summary = std::fs::read_to_string(&summary_path).unwrap_or_default();
    Run { outputs, summary, log, failed, runner_temp, workspace, _dir: dir }
}

/// Every file under `dir`, for the secret scan.
fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(&entry.path(), found);
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
}

#[test]
fn a_signed_release_build_reports_outputs_summary_and_a_verifying_artifact() {
    let run = run_action(
        &[
            ("working-directory", "skills/guard"),
            ("signing-key", TEST_SEED_HEX),
            ("tool-version", "preinstalled"),
            ("upload-sarif", "true"),
        ],
        "refs/tags/v1.2.3",
        "push",
    );
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "step {:?} failed:\n{log}", run.failed);

    let o = &run.outputs;
    assert_eq!(o["skill-id"], "acme.guard");
    assert_eq!(o["version"], "1.2.3");
    assert_eq!(o["key-id"], test_key().public().key_id());
    assert_eq!(o["audit-passed"], "true");
    assert_eq!(o["tests-passed"], "true");
    assert_eq!(o["payload-sha256"].len(), 64);
    let artifact = PathBuf::from(&o["artifact"]);
    assert!(artifact.is_file(), "{artifact:?}");
    assert!(Path::new(&o["sarif"]).is_file());
    assert!(o["attestation"].ends_with(".intoto.jsonl") && Path::new(&o["attestation"]).is_file());

    // The summary a reviewer sees.
    for needle in [
        "## `acme.guard` 1.2.3",
        &format!("| Payload SHA-256 | `{}` |", o["payload-sha256"]),
        &format!("| Signing key | `{}` |", o["key-id"]),
        "| Verification | accepted",
        "| Audit | passed",
        "### Audit",
        "| `signature_validity` | pass |",
        "### Tests",
        "| Tests | 2 passed, 0 failed |",
        "| `check/granted.json` | `acme.guard` | passed |",
    ] {
        assert!(run.summary.contains(needle), "summary lacks {needle:?}:\n{}", run.summary);
    }

    // The artifact verifies, and its provenance names the GitHub run.
    cmd()
        .arg("verify")
        .arg(&artifact)
        .arg(format!("--trusted-publisher=acme={TEST_PUBLIC_HEX}"))
        .assert()
        .success();
    let entries =
        cargo_palyra_skill::artifact::Entries::read_zip(&std::fs::read(&artifact).unwrap()).unwrap();
    let provenance: serde_json::Value =
        serde_json::from_slice(&entries.get("provenance.json").unwrap().bytes).unwrap();
    assert_eq!(
        provenance["predicate"]["runDetails"]["builder"]["id"],
        "https://github.com/acme/echo-skill/.github/workflows/skill.yml@refs/tags/v1.2.3"
    );
    let invocation = provenance["predicate"]["runDetails"]["metadata"]["invocationId"].as_str().unwrap();
    assert!(invocation.contains("987654321") && invocation.contains("2"), "{invocation}");
    // `.ci/run` runs the supply-chain validator on this copy.
    let keep = Path::new(REPO).join("target/tmp/action-out");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(&artifact, keep.join("github.palyra-skill")).unwrap();

    // The key appears nowhere: not in any step's output, the summary, the
    // outputs, or any file the action wrote.
    let key = test_key();
    assert_clean(&run.log, &key, "the action's log");
    assert_clean(run.summary.as_bytes(), &key, "the job summary");
    assert_clean(format!("{:?}", run.outputs).as_bytes(), &key, "the outputs");
    let mut files = Vec::new();
    files_under(&run.runner_temp, &mut files);
    files_under(&run.workspace, &mut files);
    assert!(files.len() > 10, "{files:?}");
    for file in &files {
        assert_clean(&std::fs::read(file).unwrap(), &key, &file.display().to_string());
    }
}

#[test]
fn a_pull_request_builds_unsigned_audits_tests_and_annotates() {
    let run = run_action(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled"), ("fail-on", "warning")],
        "refs/pull/7/merge",
        "pull_request",
    );
    let log = String::from_utf8_lossy(&run.log);
    let o = &run.outputs;
    // The fixture skill has audit warnings, so `fail-on: warning` fails the
    // job in the last step, after writing every output and the summary.
    assert_eq!(run.failed.as_ref().map(|(step, code)| (step.as_str(), *code)), Some(("report", 1)), "{log}");
    assert!(log.contains("::notice title=cargo-palyra-skill::no signing-key: building unsigned"), "{log}");
    assert!(log.contains("::warning title="), "{log}");
    assert!(log.contains("::error title=cargo-palyra-skill::the audit failed (fail-on: warning)"), "{log}");
    assert!(o.is_empty(), "outputs are only read from a successful action");
    assert!(run.summary.contains("| Signing key | unsigned |"), "{}", run.summary);
    assert!(run.summary.contains("| Verification | skipped (unsigned) |"), "{}", run.summary);
    assert!(run.summary.contains("### Tests"), "{}", run.summary);

    let passing = run_action(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled")],
        "refs/pull/7/merge",
        "pull_request",
    );
    assert!(passing.failed.is_none(), "{}", String::from_utf8_lossy(&passing.log));
    assert_eq!(passing.outputs["key-id"], "");
    assert_eq!(passing.outputs["audit-passed"], "true");
}

#[test]
fn a_release_without_a_key_fails_with_a_clear_message() {
    let run = run_action(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled")],
        "refs/tags/v1.2.3",
        "push",
    );
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed, Some(("build".to_owned(), 2)), "{log}");
    assert!(log.contains("signing-key is empty, and this build must be signed"), "{log}");
    assert!(log.contains("a release build of refs/tags/v1.2.3"), "{log}");
}

#[test]
fn annotations_for_skill_toml_findings_name_the_file_and_line() {
    // A manifest with a wildcard host: a finding tied to a line of skill.toml.
    let run = run_action(
        &[
            ("working-directory", "skills/guard"),
            ("tool-version", "preinstalled"),
            ("signing-key", TEST_SEED_HEX),
            ("run-tests", "false"),
        ],
        "refs/heads/main",
        "push",
    );
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "{log}");
    let annotated: Vec<&str> = log.lines().filter(|l| l.contains("file=skills/guard/skill.toml")).collect();
    for line in &annotated {
        assert!(
            line.starts_with("::warning ") || line.starts_with("::error ") || line.starts_with("::notice ")
        );
        assert!(line.contains(",line="), "{line}");
    }
    assert!(!annotated.is_empty(), "no annotation names skill.toml:\n{log}");
    assert!(run.summary.contains("| Tests | not run |"), "{}", run.summary);
}

#[test]
fn a_release_can_publish_to_a_registry_and_diff_against_the_previous_release() {
    const REGISTRY_SEED_HEX: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
    // The previous release: version 1.2.2, less fuel, no HTTP host.
    let old = tempfile::tempdir().unwrap();
    let manifest = fixture_text("skills/guard/skill.toml")
        .replace("skill_id = \"acme.guard\"", "skill_id = \"acme.guard\"\nversion = \"1.2.2\"")
        .replace("fuel_budget = 5000000", "fuel_budget = 1000000")
        .replace("http_egress_allowlist = [\"api.example.com\"]", "http_egress_allowlist = []")
        .replace("modules/acme_guard.wasm", "modules/echo.wasm");
    let previous =
        write_artifact(old.path(), "previous.palyra-skill", &manifest, sbom_with(&[]), &test_key());
    let previous = previous.to_str().unwrap();
    let registry = tempfile::tempdir().unwrap();
    let registry_dir = registry.path().to_str().unwrap();
    let run = run_action(
        &[
            ("working-directory", "skills/guard"),
            ("tool-version", "preinstalled"),
            ("signing-key", TEST_SEED_HEX),
            ("registry-dir", registry_dir),
            ("registry-key", REGISTRY_SEED_HEX),
            ("previous-artifact", previous),
            ("fail-on-escalation", "true"),
        ],
        "refs/tags/v1.2.3",
        "push",
    );
    let log = String::from_utf8_lossy(&run.log);
    // The fixture raises the fuel budget over the previous release's and
    // adds an HTTP host: escalations, which fail the job in its last step,
    // after publishing.
    assert_eq!(run.failed, Some(("report".to_owned(), 1)), "{log}");
    assert!(log.contains("2 change(s) since the previous release ask for more privilege"), "{log}");
    assert!(run.summary.contains("### Changes since the previous release"), "{}", run.summary);
    assert!(run.summary.contains("> - `fuel_budget` raised from 1000000 to 5000000"), "{}", run.summary);
    assert!(run.summary.contains("HTTP host `api.example.com`"), "{}", run.summary);
    assert!(
        run.summary.contains("| Registry | published as `acme/acme.guard/acme.guard-1.2.3.palyra-skill`"),
        "{}",
        run.summary
    );
    cmd().args(["registry", "verify"]).arg(registry.path()).assert().success();
    for seed in [TEST_SEED_HEX, REGISTRY_SEED_HEX] {
        let key = cargo_palyra_skill::signing::SecretKey::decode(seed.as_bytes()).unwrap();
        assert_clean(&run.log, &key, "the action's log");
        assert_clean(run.summary.as_bytes(), &key, "the job summary");
    }
}

#[test]
fn the_tool_is_installed_from_the_action_source_once_then_reused() {
    // A runner's HOME that persists between jobs, `~/.cargo/bin` on PATH
    // (as on GitHub's images), and a `cargo` whose `install` is recorded
    // and stands in for the real one by copying the binary under test.
    let persistent = tempfile::tempdir().unwrap();
    let home = persistent.path().join("home");
    let fake = persistent.path().join("fake-bin");
    std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    let real_cargo = String::from_utf8(
        std::process::Command::new("rustup").args(["which", "cargo"]).output().unwrap().stdout,
    )
    .unwrap();
    let log = persistent.path().join("installs.log");
    std::fs::write(
        fake.join("cargo"),
        format!(
            "#!/bin/sh\nif [ \"$1\" = install ]; then\n  echo \"$*\" >> '{log}'\n  cp '{bin}' \"$HOME/.cargo/bin/cargo-palyra-skill\"\n  exit 0\nfi\nexec '{real}' \"$@\"\n",
            log = log.display(),
            bin = env!("CARGO_BIN_EXE_cargo-palyra-skill"),
            real = real_cargo.trim(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fake.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let system_path: Vec<String> = std::env::var("PATH")
        .unwrap()
        .split(':')
        .filter(|dir| {
            !Path::new(dir).join("cargo-palyra-skill").exists() && !Path::new(dir).join("cargo").exists()
        })
        .map(str::to_owned)
        .collect();
    // The toolchain's own directory (rustc beside cargo) and rustup itself.
    let toolchain_bin = Path::new(real_cargo.trim()).parent().unwrap().to_owned();
    let rustup = String::from_utf8(
        std::process::Command::new("sh").args(["-c", "command -v rustup"]).output().unwrap().stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(rustup.trim(), fake.join("rustup")).unwrap();
    let path = format!(
        "{}:{}:{}:{}",
        fake.display(),
        home.join(".cargo/bin").display(),
        toolchain_bin.display(),
        system_path.join(":")
    );
    let run = |home: &Path, path: &str| {
        run_action_with(
            &[("working-directory", "skills/guard"), ("run-tests", "false")],
            "refs/heads/main",
            "push",
            |env| {
                for (name, value) in env.iter_mut() {
                    match *name {
                        "HOME" => *value = home.display().to_string(),
                        "PATH" => *value = path.to_owned(),
                        _ => {}
                    }
                }
            },
        )
    };
    let first = run(&home, &path);
    assert!(first.failed.is_none(), "{}", String::from_utf8_lossy(&first.log));
    let installs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(installs, format!("install --locked --force --path {REPO}\n"));
    let second = run(&home, &path);
    assert!(second.failed.is_none(), "{}", String::from_utf8_lossy(&second.log));
    assert!(String::from_utf8_lossy(&second.log).contains("cargo-palyra-skill restored from the cache"));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), installs, "the second job reuses the binary");
}

#[test]
fn a_step_that_could_not_run_fails_the_report_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let build = serde_json::json!({
        "artifact": "dist/acme.echo-1.2.3.palyra-skill", "skill_id": "acme.echo", "version": "1.2.3",
        "bytes": 1234, "payload_sha256": "ab".repeat(32), "key_id": null, "attestation": null,
    });
    std::fs::write(dir.path().join("build.json"), build.to_string()).unwrap();
    std::fs::write(dir.path().join("audit.rc"), "2\n").unwrap();
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("outputs");
    let out = cmd()
        .arg("action-report")
        .arg("--dir")
        .arg(dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("::error title=cargo-palyra-skill::audit could not run (see its step log)"),
        "{stdout}"
    );
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains("| Audit | could not run |"), "{summary}");
    assert!(summary.contains("| Verification | skipped (unsigned) |"), "{summary}");
    let outputs = std::fs::read_to_string(outputs).unwrap();
    assert!(outputs.contains("audit-passed=false\n") && outputs.contains("key-id=\n"), "{outputs}");

    cmd().args(["action-report", "--print", "colour", "--dir"]).arg(dir.path()).assert().code(2);
    cmd()
        .args(["action-report", "--print", "skill-id", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout("acme.echo\n");
}

/// GitHub's runner evaluates `${{ }}` everywhere in a `run:` script (a
/// backslash does not escape it) and a composite action has no `secrets`
/// context: inputs reach scripts through `env:` only.
#[test]
fn no_run_script_contains_an_expression() {
    let action: Yaml =
        serde_yaml::from_str(&std::fs::read_to_string(Path::new(REPO).join("action.yml")).unwrap()).unwrap();
    for step in action["runs"]["steps"].as_sequence().unwrap() {
        if let Some(script) = step.get("run").and_then(Yaml::as_str) {
            let name = step.get("id").or(step.get("name")).and_then(Yaml::as_str).unwrap_or("?");
            assert!(!script.contains("${{"), "step `{name}` has an expression in its run script");
        }
    }
}
