//! The GitHub Action, run locally the way a runner runs a composite action:
//! `action.yml` is parsed; every expression the runner evaluates (`run`,
//! `env`, `with`, `if`, `working-directory`, `name`, the action's `outputs`)
//! is parsed and evaluated with exactly a composite action's contexts
//! (`crate::gha`), so `secrets`, `vars` or a syntax error fail the test as
//! they fail the runner; `if:` gets the implicit `success()`; and each `run`
//! step's bash script runs in order with the `GITHUB_*` environment and real
//! `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files, against the fixture skill.
//! `uses:` steps (the cache, the SARIF upload) need GitHub's services: their
//! `with:` is evaluated, they are checked to be pinned, and skipped.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::gha;
use crate::support::runner::{self, files_under, parse_command_file, yaml_str};
use crate::support::{
    GIT_IDENTITY, TEST_PUBLIC_HEX, TEST_SEED_HEX, assert_clean, cmd, copy_dir, fixture_text, git, sbom_with,
    test_key, write_artifact,
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
    run_action_hooked(with, git_ref, event, adjust, &mut |_, _| {})
}

/// As [`run_action_with`], calling `before(step id, runner temp)` before
/// each step that runs: what another step of the job could have done.
fn run_action_hooked(
    with: &[(&str, &str)],
    git_ref: &str,
    event: &str,
    adjust: impl FnOnce(&mut Vec<(&'static str, String)>),
    before: &mut dyn FnMut(&str, &Path),
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
        // The job's token, as github.token hands it to the action (never a real one here).
        ("GITHUB_TOKEN", "ghs_simulated_job_token".into()),
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

    let env_of =
        |name: &str| base_env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut contexts: BTreeMap<&'static str, Value> = BTreeMap::from([
        (
            "github",
            gha::object(
                [
                    ("action_path", "GITHUB_ACTION_PATH"),
                    ("workspace", "GITHUB_WORKSPACE"),
                    ("ref", "GITHUB_REF"),
                    ("event_name", "GITHUB_EVENT_NAME"),
                    ("repository", "GITHUB_REPOSITORY"),
                    ("sha", "GITHUB_SHA"),
                    ("run_id", "GITHUB_RUN_ID"),
                    ("run_attempt", "GITHUB_RUN_ATTEMPT"),
                    ("server_url", "GITHUB_SERVER_URL"),
                    ("token", "GITHUB_TOKEN"),
                ]
                .map(|(key, var)| (key, Value::from(env_of(var)))),
            ),
        ),
        ("inputs", gha::object(inputs.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str()))))),
        (
            "runner",
            gha::object([
                ("os", Value::from(env_of("RUNNER_OS"))),
                ("arch", Value::from(env_of("RUNNER_ARCH"))),
                ("temp", Value::from(env_of("RUNNER_TEMP"))),
                ("environment", Value::from(env_of("RUNNER_ENVIRONMENT"))),
            ]),
        ),
        ("job", gha::object([("status", Value::from("success"))])),
        ("strategy", gha::object([])),
        ("matrix", gha::object([])),
        ("env", gha::object([])),
        ("steps", gha::object([])),
    ]);

    let mut log = Vec::new();
    let mut failed = None;
    for (index, step) in action["runs"]["steps"].as_sequence().unwrap().iter().enumerate() {
        let scope = gha::Scope { contexts: &contexts, failed: failed.is_some(), workspace: &workspace };
        let eval = |text: &Yaml| {
            scope.substitute(&yaml_str(text), &gha::COMPOSITE).unwrap_or_else(|e| panic!("{e}"))
        };
        let id = step.get("id").map(yaml_str).unwrap_or_else(|| format!("__step{index}"));
        let condition = step.get("if").map(yaml_str).unwrap_or_default();
        let run_it = condition.is_empty() && failed.is_none()
            || !condition.is_empty()
                && scope
                    .condition(&condition, &gha::COMPOSITE_IF)
                    .unwrap_or_else(|e| panic!("step {id}: {e}"));
        if let Some(name) = step.get("name") {
            eval(name);
        }
        if !run_it {
            continue;
        }
        before(&id, &runner_temp);
        if let Some(uses) = step.get("uses") {
            let uses = yaml_str(uses);
            let (_, sha) = uses.split_once('@').unwrap();
            assert!(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "`{uses}` is not pinned");
            for (_, value) in step.get("with").and_then(Yaml::as_mapping).into_iter().flatten() {
                eval(value);
            }
            continue;
        }
        assert_eq!(step.get("shell").map(yaml_str).as_deref(), Some("bash"), "step {id} needs `shell: bash`");
        let script = runner_temp.join(format!("{id}.sh"));
        std::fs::write(&script, eval(&step["run"])).unwrap();
        let output_path = runner_temp.join(format!("{id}.output"));
        std::fs::write(&output_path, "").unwrap();
        let cwd = match step.get("working-directory") {
            Some(wd) => workspace.join(eval(wd)),
            None => workspace.clone(),
        };
        let mut command = std::process::Command::new("bash");
        command.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(&script).current_dir(cwd).env_clear();
        command.envs(base_env.iter().map(|(k, v)| (*k, v.as_str())));
        command.env("GITHUB_OUTPUT", &output_path);
        for (name, value) in step.get("env").and_then(Yaml::as_mapping).into_iter().flatten() {
            command.env(yaml_str(name), eval(value));
        }
        let output = command.output().unwrap();
        log.extend_from_slice(&output.stdout);
        log.extend_from_slice(&output.stderr);
        let outcome = if output.status.success() { "success" } else { "failure" };
        let step_outputs: BTreeMap<String, String> =
            parse_command_file(&std::fs::read_to_string(&output_path).unwrap()).into_iter().collect();
        contexts.get_mut("steps").unwrap().as_object_mut().unwrap().insert(
            id.clone(),
            gha::object([
                (
                    "outputs",
                    gha::object(step_outputs.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str())))),
                ),
                ("outcome", Value::from(outcome)),
                ("conclusion", Value::from(outcome)),
            ]),
        );
        if !output.status.success() && failed.is_none() {
            failed = Some((id, output.status.code().unwrap_or(-1)));
        }
    }

    // A failed composite action has no outputs for its caller to read.
    let scope = gha::Scope { contexts: &contexts, failed: failed.is_some(), workspace: &workspace };
    let mut outputs = BTreeMap::new();
    if failed.is_none() {
        for (name, spec) in action["outputs"].as_mapping().unwrap() {
            let value = scope
                .substitute(&yaml_str(&spec["value"]), &gha::COMPOSITE)
                .unwrap_or_else(|e| panic!("{e}"));
            outputs.insert(yaml_str(name), value);
        }
    }
    let summary = std::fs::read_to_string(&summary_path).unwrap_or_default();
    Run { outputs, summary, log, failed, runner_temp, workspace, _dir: dir }
}

/// The action in `mode: build` on one runner, then in `mode: sign` on
/// another that gets only the artifact the first built (as the template's
/// two jobs pass it through the run's artifact storage). `sign_with` adds
/// to the sign step's inputs; `before(step, runner temp)` runs before each
/// step of the sign run.
fn build_then_sign(
    build_with: &[(&str, &str)],
    sign_with: &[(&str, &str)],
    git_ref: &str,
    before: &mut dyn FnMut(&str, &Path),
) -> (Run, Run, tempfile::TempDir) {
    let built = run_action(build_with, git_ref, "push");
    assert!(built.failed.is_none(), "build: {:?}\n{}", built.failed, String::from_utf8_lossy(&built.log));
    let downloaded = tempfile::tempdir().unwrap();
    let unsigned = PathBuf::from(&built.outputs["artifact"]);
    std::fs::copy(&unsigned, downloaded.path().join(unsigned.file_name().unwrap())).unwrap();
    let artifact = downloaded.path().display().to_string();
    let mut with = vec![("mode", "sign"), ("artifact", artifact.as_str()), ("tool-version", "preinstalled")];
    with.extend_from_slice(sign_with);
    let signed = run_action_hooked(&with, git_ref, "push", |_| {}, before);
    (built, signed, downloaded)
}

#[test]
fn a_signed_release_build_reports_outputs_summary_and_a_verifying_artifact() {
    let (built, run, _downloaded) = build_then_sign(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled")],
        &[("signing-key", TEST_SEED_HEX), ("upload-sarif", "true")],
        "refs/tags/v1.2.3",
        &mut |_, _| {},
    );
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "step {:?} failed:\n{log}", run.failed);
    assert_eq!(built.outputs["key-id"], "", "the build job builds unsigned");

    let o = &run.outputs;
    assert_eq!(o["skill-id"], "acme.guard");
    assert_eq!(o["version"], "1.2.3");
    assert_eq!(o["key-id"], test_key().public().key_id());
    assert_eq!(o["audit-passed"], "true");
    assert_eq!(o["tests-passed"], "true", "the sign job runs no tests");
    assert_eq!(o["payload-sha256"], built.outputs["payload-sha256"], "signing changes no signed byte");
    let artifact = PathBuf::from(&o["artifact"]);
    assert!(artifact.is_file(), "{artifact:?}");
    assert!(Path::new(&o["sarif"]).is_file());
    assert!(o["attestation"].ends_with(".intoto.jsonl") && Path::new(&o["attestation"]).is_file());

    // The summaries a reviewer sees: the build job's tests, the sign job's
    // signature and verification.
    for needle in [
        "## `acme.guard` 1.2.3",
        &format!("| Payload SHA-256 | `{}` |", o["payload-sha256"]),
        &format!("| Signing key | `{}` |", o["key-id"]),
        "| Verification | accepted",
        "| Audit | passed",
        "### Audit",
        "| `signature_validity` | pass |",
        "| Tests | not run |",
    ] {
        assert!(run.summary.contains(needle), "summary lacks {needle:?}:\n{}", run.summary);
    }
    for needle in [
        "| Signing key | unsigned |",
        "### Tests",
        "| Tests | 2 passed, 0 failed |",
        "| `check/granted.json` | `acme.guard` | passed |",
    ] {
        assert!(built.summary.contains(needle), "build summary lacks {needle:?}:\n{}", built.summary);
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
    // outputs, or any file either job wrote.
    let key = test_key();
    let mut files = Vec::new();
    for job in [&built, &run] {
        assert_clean(&job.log, &key, "the action's log");
        assert_clean(job.summary.as_bytes(), &key, "the job summary");
        assert_clean(format!("{:?}", job.outputs).as_bytes(), &key, "the outputs");
        files_under(&job.runner_temp, &mut files);
        files_under(&job.workspace, &mut files);
    }
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

/// The build mode never takes a key and the sign mode never compiles:
/// each refuses, before anything runs, what would break that.
#[test]
fn each_mode_refuses_what_it_must_never_do() {
    let refused = |with: &[(&str, &str)], step: &str, message: &str| {
        let mut inputs = vec![("working-directory", "skills/guard"), ("tool-version", "preinstalled")];
        inputs.extend_from_slice(with);
        let run = run_action(&inputs, "refs/tags/v1.2.3", "push");
        let log = String::from_utf8_lossy(&run.log);
        assert_eq!(run.failed, Some((step.to_owned(), 2)), "{with:?}:\n{log}");
        assert!(log.contains(message), "{with:?}: no `{message}` in\n{log}");
        assert!(!run.runner_temp.join("palyra-skill/build.json").exists(), "{with:?}: nothing was built");
        assert_clean(&run.log, &test_key(), "the log");
    };
    refused(&[("signing-key", TEST_SEED_HEX)], "setup", "mode: build never takes signing-key");
    refused(&[("registry-key", TEST_SEED_HEX)], "setup", "mode: build never takes registry-key");
    refused(&[("signing-key-passphrase", "pass")], "setup", "mode: build never takes signing-key-passphrase");
    refused(&[("registry-dir", "registry")], "setup", "set registry-dir on the mode: sign step");
    refused(&[("mode", "release")], "setup", "mode is 'release'");
    refused(
        &[("mode", "sign"), ("signing-key", TEST_SEED_HEX)],
        "setup",
        "mode: sign signs an artifact a build job made",
    );
    refused(
        &[("mode", "sign"), ("artifact", "dist/x.palyra-skill")],
        "setup",
        "mode: sign needs signing-key",
    );
    // A crate given as the artifact: the sign mode compiles nothing.
    refused(
        &[("mode", "sign"), ("artifact", "skills/guard"), ("signing-key", TEST_SEED_HEX)],
        "sign",
        "is a crate: mode: sign never compiles",
    );
    // Signing in the job that built (an honest mistake): refused.
    let built = run_action(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled"), ("run-tests", "false")],
        "refs/tags/v1.2.3",
        "push",
    );
    assert!(built.failed.is_none(), "{}", String::from_utf8_lossy(&built.log));
    let same_job = run_action_with(
        &[
            ("mode", "sign"),
            ("artifact", built.outputs["artifact"].as_str()),
            ("signing-key", TEST_SEED_HEX),
            ("tool-version", "preinstalled"),
        ],
        "refs/tags/v1.2.3",
        "push",
        |env| {
            for (name, value) in env.iter_mut() {
                if *name == "RUNNER_TEMP" {
                    *value = built.runner_temp.display().to_string();
                }
            }
        },
    );
    let log = String::from_utf8_lossy(&same_job.log);
    assert_eq!(same_job.failed, Some(("setup".to_owned(), 2)), "{log}");
    assert!(log.contains("this job already ran the action with mode: build"), "{log}");
    // An artifact that is already signed: not what a keyless build makes.
    let signed = tempfile::tempdir().unwrap();
    let artifact = write_artifact(
        signed.path(),
        "acme.guard-1.2.3.palyra-skill",
        &fixture_text("vectors/inputs/skill.toml"),
        sbom_with(&[]),
        &test_key(),
    );
    refused(
        &[("mode", "sign"), ("artifact", artifact.to_str().unwrap()), ("signing-key", TEST_SEED_HEX)],
        "sign",
        "already holds `signature.json`, and `--require-unsigned` expects the unsigned artifact",
    );
}

#[test]
fn annotations_for_skill_toml_findings_name_the_file_and_line() {
    // A manifest with a wildcard host: a finding tied to a line of skill.toml.
    let run = run_action(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled"), ("run-tests", "false")],
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
    assert!(run.summary.contains("| `vulnerability_feed_hook` | warn |"), "{}", run.summary);
    assert!(!run.summary.contains("#### Dependencies"), "no database, no dependency table");
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
    let (_built, run, _downloaded) = build_then_sign(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled")],
        &[
            ("signing-key", TEST_SEED_HEX),
            ("registry-dir", registry_dir),
            ("registry-key", REGISTRY_SEED_HEX),
            ("previous-artifact", previous),
            ("fail-on-escalation", "true"),
        ],
        "refs/tags/v1.2.3",
        &mut |_, _| {},
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

/// A runner whose HOME persists between jobs, with `~/.cargo/bin` on PATH
/// (as on GitHub's images) and no cargo-palyra-skill installed, and a
/// `cargo` whose `install` is recorded and stands in for the real one by
/// copying the binary under test.
struct InstallRig {
    dir: tempfile::TempDir,
    home: PathBuf,
    path: String,
    installs: PathBuf,
    /// The certificate the runner trusts (`CURL_CA_BUNDLE`).
    ca: Option<PathBuf>,
}

impl InstallRig {
    fn new() -> InstallRig {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let fake = dir.path().join("fake-bin");
        std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
        std::fs::create_dir_all(&fake).unwrap();
        let real_cargo = String::from_utf8(
            std::process::Command::new("rustup").args(["which", "cargo"]).output().unwrap().stdout,
        )
        .unwrap();
        let installs = dir.path().join("installs.log");
        std::fs::write(
            fake.join("cargo"),
            format!(
                "#!/bin/sh\nif [ \"$1\" = install ]; then\n  echo \"$*\" >> '{log}'\n  cp '{bin}' \"$HOME/.cargo/bin/cargo-palyra-skill\"\n  exit 0\nfi\nexec '{real}' \"$@\"\n",
                log = installs.display(),
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
        InstallRig { dir, home, path, installs, ca: None }
    }

    /// The rig trusting `server`'s certificate.
    fn trusting(server: &Server) -> InstallRig {
        InstallRig { ca: Some(server.cert.clone()), ..InstallRig::new() }
    }

    /// Puts a `gh` on PATH that records its arguments and exits with `code`.
    fn with_gh(mut self, code: i32) -> InstallRig {
        let bin = self.dir.path().join("gh-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let gh = bin.join("gh");
        let log = self.dir.path().join("gh.log");
        std::fs::write(&gh, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit {code}\n", log.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.path = format!("{}:{}", bin.display(), self.path);
        self
    }

    fn gh_calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gh.log")).unwrap_or_default()
    }

    fn run(&self, with: &[(&str, &str)]) -> Run {
        let mut inputs = vec![("working-directory", "skills/guard"), ("run-tests", "false")];
        inputs.extend_from_slice(with);
        run_action_with(&inputs, "refs/heads/main", "push", |env| {
            for (name, value) in env.iter_mut() {
                match *name {
                    "HOME" => *value = self.home.display().to_string(),
                    "PATH" => *value = self.path.clone(),
                    _ => {}
                }
            }
            if let Some(ca) = &self.ca {
                env.push(("CURL_CA_BUNDLE", ca.display().to_string()));
            }
        })
    }

    fn installs(&self) -> String {
        std::fs::read_to_string(&self.installs).unwrap_or_default()
    }

    fn installed(&self) -> PathBuf {
        self.home.join(".cargo/bin/cargo-palyra-skill")
    }
}

/// A release of the freshly built binary under `root/v<version>/`
/// (`runner::make_release`): the archive's name and that folder.
fn make_release(root: &Path) -> (String, PathBuf) {
    let dir = root.join(format!("v{}", env!("CARGO_PKG_VERSION")));
    (runner::make_release(&dir), dir)
}

/// A static HTTPS server on loopback for 127.0.0.1 (`runner::serve`). The
/// action downloads over HTTPS only, so the runner trusts its certificate
/// through `CURL_CA_BUNDLE`, as a runner behind a corporate CA would.
struct Server {
    url: String,
    cert: PathBuf,
    inner: runner::Server,
}

impl Server {
    fn seen(&self) -> Vec<String> {
        self.inner.seen()
    }
}

fn serve(root: &Path) -> Server {
    let inner = runner::serve(root, "IP:127.0.0.1");
    Server { url: format!("https://127.0.0.1:{}", inner.port), cert: inner.cert.clone(), inner }
}

#[test]
fn the_action_installs_the_release_of_its_version_checked_against_sha256sums() {
    let releases = tempfile::tempdir().unwrap();
    let (archive, dir) = make_release(releases.path());
    let server = serve(releases.path());
    let url = server.url.clone();
    let rig = InstallRig::trusting(&server);
    let run = rig.run(&[("release-url", &url)]);
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "{log}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        log.contains(&format!("cargo-palyra-skill {version} installed from release v{version} ({archive}")),
        "{log}"
    );
    assert!(
        log.contains("checked: SHA-256 against the release's SHA256SUMS; build attestation not checked (gh is not installed))"),
        "{log}"
    );
    assert_eq!(rig.installs(), "", "nothing is built from source");
    assert_eq!(
        std::fs::read(rig.installed()).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_cargo-palyra-skill")).unwrap(),
        "the binary from the archive"
    );
    assert_eq!(server.seen(), [format!("/v{version}/SHA256SUMS"), format!("/v{version}/{archive}")]);
    assert!(!log.contains("::warning title=cargo-palyra-skill::"), "{log}");

    // A second job on the same runner reuses it.
    let again = rig.run(&[("release-url", &url)]);
    assert!(again.failed.is_none());
    assert!(String::from_utf8_lossy(&again.log).contains("restored from the cache"));
    assert_eq!(server.seen().len(), 2);

    // An archive that does not match SHA256SUMS fails the step and installs nothing.
    let tampered = tempfile::tempdir().unwrap();
    let (_, tampered_dir) = make_release(tampered.path());
    let sums = std::fs::read_to_string(tampered_dir.join("SHA256SUMS")).unwrap();
    std::fs::write(tampered_dir.join("SHA256SUMS"), format!("{}{}", "0".repeat(64), &sums[64..])).unwrap();
    let tampered_server = serve(tampered.path());
    let rig = InstallRig::trusting(&tampered_server);
    let run = rig.run(&[("release-url", &tampered_server.url)]);
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed, Some(("install".to_owned(), 1)), "{log}");
    assert!(
        log.contains(&format!(
            "::error title=cargo-palyra-skill::{archive} does not match the SHA256SUMS of release v{version}"
        )),
        "{log}"
    );
    assert!(log.contains("Nothing was installed"), "{log}");
    assert!(!rig.installed().exists() && rig.installs().is_empty());
    drop(dir);
}

/// Where `gh` is installed, the archive's GitHub build attestation is
/// checked against the tool's repository; one that does not verify fails
/// the install. Plain HTTP is refused before anything is downloaded.
#[test]
fn the_release_download_is_https_only_and_attested_where_gh_exists() {
    let releases = tempfile::tempdir().unwrap();
    let (archive, _dir) = make_release(releases.path());
    let server = serve(releases.path());

    let rig = InstallRig::trusting(&server).with_gh(0);
    let run = rig.run(&[("release-url", &server.url)]);
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "{log}");
    assert!(log.contains("GitHub build attestation of palyra-skill/cargo-palyra-skill"), "{log}");
    let calls = rig.gh_calls();
    assert!(calls.starts_with("attestation verify "), "{calls}");
    assert!(calls.contains(&archive), "{calls}");
    assert!(calls.trim_end().ends_with("--repo palyra-skill/cargo-palyra-skill"), "{calls}");

    let rig = InstallRig::trusting(&server).with_gh(1);
    let run = rig.run(&[("release-url", &server.url)]);
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed, Some(("install".to_owned(), 1)), "{log}");
    assert!(
        log.contains("has no GitHub build attestation from palyra-skill/cargo-palyra-skill that verifies"),
        "{log}"
    );
    assert!(!rig.installed().exists());

    let rig = InstallRig::trusting(&server).with_gh(1);
    let run = rig.run(&[("release-url", &server.url), ("verify-tool-attestation", "false")]);
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "{log}");
    assert!(log.contains("build attestation not checked (verify-tool-attestation: false)"), "{log}");
    assert_eq!(rig.gh_calls(), "");

    // Plain HTTP never reaches the network.
    let seen_before = server.seen().len();
    let rig = InstallRig::trusting(&server);
    let run = rig.run(&[("release-url", &server.url.replace("https://", "http://"))]);
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed, Some(("install".to_owned(), 2)), "{log}");
    assert!(log.contains("is not an https:// URL"), "{log}");
    assert_eq!(server.seen().len(), seen_before);
}

#[test]
fn without_a_matching_release_the_action_builds_from_source_and_says_why() {
    // A server with no release at all.
    let empty = tempfile::tempdir().unwrap();
    let server = serve(empty.path());
    let url = server.url.clone();
    let rig = InstallRig::trusting(&server);
    let run = rig.run(&[("release-url", &url)]);
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_none(), "{log}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        log.contains(&format!(
            "::warning title=cargo-palyra-skill::release v{version} could not be downloaded from {url}/v{version}: building cargo-palyra-skill {version} from source instead"
        )),
        "{log}"
    );
    assert_eq!(rig.installs(), format!("install --locked --force --path {REPO}\n"));
    assert_eq!(server.seen().len(), 1);

    // `tool-version: source` builds from source without asking any server.
    let rig = InstallRig::trusting(&server);
    let run = rig.run(&[("release-url", &url), ("tool-version", "source")]);
    assert!(run.failed.is_none(), "{}", String::from_utf8_lossy(&run.log));
    assert!(!String::from_utf8_lossy(&run.log).contains("::warning title=cargo-palyra-skill::"));
    assert_eq!(rig.installs(), format!("install --locked --force --path {REPO}\n"));
    assert_eq!(server.seen().len(), 1, "no download was tried");
    let second = rig.run(&[("release-url", &url), ("tool-version", "source")]);
    assert!(second.failed.is_none());
    assert!(String::from_utf8_lossy(&second.log).contains("cargo-palyra-skill restored from the cache"));
    assert_eq!(rig.installs().lines().count(), 1, "the second job reuses the binary");
    drop(rig.dir);
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
/// context: inputs reach scripts through `env:` only. The simulator runs
/// the steps that one test or another reaches; this reads them all.
#[test]
fn no_run_script_contains_an_expression_and_every_expression_is_a_composite_one() {
    let action: Yaml =
        serde_yaml::from_str(&std::fs::read_to_string(Path::new(REPO).join("action.yml")).unwrap()).unwrap();
    for step in action["runs"]["steps"].as_sequence().unwrap() {
        let name = step.get("id").or(step.get("name")).and_then(Yaml::as_str).unwrap_or("?");
        if let Some(script) = step.get("run").and_then(Yaml::as_str) {
            assert!(!script.contains("${{"), "step `{name}` has an expression in its run script");
        }
        if let Some(condition) = step.get("if") {
            gha::check_condition(&yaml_str(condition), &gha::COMPOSITE_IF)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for key in ["with", "env"] {
            for (_, value) in step.get(key).and_then(Yaml::as_mapping).into_iter().flatten() {
                gha::check_text(&yaml_str(value), &gha::COMPOSITE).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        for key in ["name", "working-directory", "shell", "uses"] {
            if let Some(value) = step.get(key) {
                gha::check_text(&yaml_str(value), &gha::COMPOSITE).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
    for (_, spec) in action["outputs"].as_mapping().unwrap() {
        gha::check_text(&yaml_str(&spec["value"]), &gha::COMPOSITE).unwrap();
    }
}

/// The workflow `new` writes and the one README shows: every expression
/// uses only the contexts and functions GitHub offers where it sits, no
/// `run:` script holds one, and every action is pinned by commit. The
/// README's copy is left in `target/tmp/readme-workflow.yml`, where `.ci/run`
/// lints it with zizmor, actionlint and action-validator.
#[test]
fn the_workflow_template_and_readme_workflow_use_only_the_contexts_each_key_offers() {
    let template = std::fs::read_to_string(Path::new(REPO).join("templates/skill-workflow.yml")).unwrap();
    check_workflow(&template);
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("README shows a workflow") + "```yaml\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    check_workflow(block);
    let keep = Path::new(REPO).join("target/tmp");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("readme-workflow.yml"), block).unwrap();
    // It fetches the action the way the template does: at a pinned commit.
    let fetch = |text: &str| {
        let at = text.find("          if [ -z \"$PALYRA_SKILL_ACTION_SHA\" ]").expect("the fetch step");
        text[at..at + text[at..].find("FETCH_HEAD\n").unwrap()].to_owned()
    };
    assert_eq!(fetch(block), fetch(&template));
    assert!(!template.contains("git clone") && !block.contains("git clone"), "no unpinned clone");
}

fn check_workflow(text: &str) {
    let workflow: Yaml = serde_yaml::from_str(text).unwrap();
    let mut checked = 0;
    let mut check = |value: &Yaml, place: &gha::Place, at: &str| {
        let text = yaml_str(value);
        checked += gha::expressions(&text).unwrap().len();
        gha::check_text(&text, place).unwrap_or_else(|e| panic!("{at}: {e}"));
    };
    for (name, value) in workflow["env"].as_mapping().into_iter().flatten() {
        check(value, &gha::WORKFLOW_ENV, &format!("env.{}", yaml_str(name)));
    }
    for (job_name, job) in workflow["jobs"].as_mapping().unwrap() {
        let job_name = yaml_str(job_name);
        if let Some(condition) = job.get("if") {
            gha::check_condition(&yaml_str(condition), &gha::JOB_IF)
                .unwrap_or_else(|e| panic!("{job_name}: {e}"));
        }
        for key in ["runs-on", "permissions", "env", "outputs", "strategy", "container", "services"] {
            if let Some(value) = job.get(key) {
                assert!(
                    !serde_yaml::to_string(value).unwrap().contains("${{"),
                    "jobs.{job_name}.{key}: expressions here are not checked by this test; add the key's contexts"
                );
            }
        }
        for (index, step) in job["steps"].as_sequence().unwrap().iter().enumerate() {
            let at = format!("jobs.{job_name}.steps[{index}]");
            if let Some(condition) = step.get("if") {
                gha::check_condition(&yaml_str(condition), &gha::WORKFLOW_STEP_IF)
                    .unwrap_or_else(|e| panic!("{at}: {e}"));
            }
            if let Some(script) = step.get("run") {
                assert!(!yaml_str(script).contains("${{"), "{at}: an expression in a run script");
            }
            if let Some(uses) = step.get("uses").map(yaml_str).filter(|u| !u.starts_with("./")) {
                let sha = uses.split_once('@').map(|(_, sha)| sha).unwrap_or("");
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{at}: `{uses}` is not pinned"
                );
            }
            for key in ["name", "working-directory", "uses"] {
                if let Some(value) = step.get(key) {
                    check(value, &gha::WORKFLOW_STEP, &format!("{at}.{key}"));
                }
            }
            for key in ["with", "env"] {
                for (name, value) in step.get(key).and_then(Yaml::as_mapping).into_iter().flatten() {
                    check(value, &gha::WORKFLOW_STEP, &format!("{at}.{key}.{}", yaml_str(name)));
                }
            }
        }
    }
    assert!(checked >= 3, "only {checked} expressions found");
}

/// `cargo binstall` finds what the release workflow uploads: for every
/// target in `release.yml`'s matrix, `[package.metadata.binstall]` expands
/// to the archive `package.sh` writes and to the binary's path inside it.
#[test]
fn binstall_metadata_names_the_archives_the_release_workflow_makes() {
    let manifest: toml::Table =
        std::fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap().parse().unwrap();
    let package = &manifest["package"];
    let binstall = &package["metadata"]["binstall"];
    let release: Yaml = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(REPO).join(".github/workflows/release.yml")).unwrap(),
    )
    .unwrap();
    let targets: Vec<String> = release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|entry| yaml_str(&entry["target"]))
        .collect();
    assert_eq!(targets.len(), 5, "{targets:?}");
    let version = package["version"].as_str().unwrap();
    let repo = package["repository"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fake_binary = dir.path().join("binary");
    std::fs::write(&fake_binary, b"not really a binary").unwrap();
    for target in &targets {
        let windows = target.contains("windows");
        let setting = |key: &str| {
            binstall["overrides"]
                .get(target.as_str())
                .and_then(|o| o.get(key))
                .unwrap_or(&binstall[key])
                .as_str()
                .unwrap()
        };
        let expand = |template: &str| {
            template
                .replace("{ repo }", repo)
                .replace("{ version }", version)
                .replace("{ name }", "cargo-palyra-skill")
                .replace("{ target }", target)
                .replace("{ bin }", "cargo-palyra-skill")
                .replace("{ binary-ext }", if windows { ".exe" } else { "" })
        };
        let url = expand(setting("pkg-url"));
        assert_eq!(setting("pkg-fmt"), if windows { "zip" } else { "tgz" });
        let out = dir.path().join(target);
        let made = std::process::Command::new(Path::new(REPO).join(".github/release/package.sh"))
            .arg(&fake_binary)
            .args([version, target])
            .arg(&out)
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let archive = PathBuf::from(String::from_utf8(made.stdout).unwrap().trim());
        let name = archive.file_name().unwrap().to_str().unwrap();
        assert_eq!(url, format!("{repo}/releases/download/v{version}/{name}"));
        let listing = if windows {
            std::process::Command::new("python3")
                .args(["-m", "zipfile", "-l"])
                .arg(&archive)
                .output()
                .unwrap()
        } else {
            std::process::Command::new("tar").arg("tzf").arg(&archive).output().unwrap()
        };
        let listing = String::from_utf8(listing.stdout).unwrap();
        let bin_dir = expand(setting("bin-dir"));
        assert!(listing.contains(&bin_dir), "{bin_dir} not in {name}:\n{listing}");
    }
}

#[test]
fn with_an_advisory_database_vulnerable_dependencies_fail_the_audit_and_are_shown() {
    let db = Path::new(REPO).join("fixtures/advisory-db");
    let run = run_action(
        &[
            ("working-directory", "skills/guard"),
            ("tool-version", "preinstalled"),
            ("run-tests", "false"),
            ("advisory-db", db.to_str().unwrap()),
        ],
        "refs/heads/main",
        "push",
    );
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed.as_ref().map(|(step, code)| (step.as_str(), *code)), Some(("report", 1)), "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("::error title=vulnerable_dependency,file=skills/guard/Cargo.lock::")
                && l.contains("RUSTSEC-2026-9001")),
        "{log}"
    );
    assert!(log.contains("::warning title=unmaintained_dependency,file=skills/guard/Cargo.lock::"), "{log}");
    let summary = &run.summary;
    assert!(summary.contains("#### Dependencies"), "{summary}");
    assert!(summary.contains("5 crate(s) scanned against 7 RustSec advisories: 3 match(es)."), "{summary}");
    assert!(
        summary.contains(
            "| [RUSTSEC-2026-9001](https://rustsec.org/advisories/RUSTSEC-2026-9001) | **vulnerability** | `serde_json` |"
        ),
        "{summary}"
    );
    assert!(summary.contains("| `vulnerability_feed_hook` | pass | scanned 5 crate(s)"), "{summary}");
    // Without the input the same build passes: see
    // `annotations_for_skill_toml_findings_name_the_file_and_line`.
}

/// A pull request of the guard skill against a base branch `main` that
/// holds its fuel baseline: `change(skill dir)` makes the pull request's
/// commit, as `actions/checkout` leaves it (`origin` is the repository, the
/// base branch never fetched).
fn pull_request(with: &[(&str, &str)], change: impl FnOnce(&Path)) -> Run {
    let mut inputs = vec![("working-directory", "skills/guard"), ("tool-version", "preinstalled")];
    inputs.extend_from_slice(with);
    run_action_with(&inputs, "refs/pull/9/merge", "pull_request", |env| {
        let var = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap();
        let workspace = PathBuf::from(var("GITHUB_WORKSPACE"));
        let skill = workspace.join("skills/guard");
        let saved = cmd()
            .args(["test", "--save-baseline"])
            .current_dir(&skill)
            .env("CARGO_TARGET_DIR", var("CARGO_TARGET_DIR"))
            .output()
            .unwrap();
        assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
        git(&workspace, &["init", "-q"]);
        git(&workspace, &["add", "-A"]);
        git(&workspace, &["commit", "-qm", "base"]);
        let origin = workspace.parent().unwrap().join("origin.git");
        git(&workspace, &["clone", "-q", "--bare", ".", origin.to_str().unwrap()]);
        git(&workspace, &["remote", "add", "origin", origin.to_str().unwrap()]);
        git(&workspace, &["checkout", "-qb", "change"]);
        change(&skill);
        git(&workspace, &["add", "-A"]);
        git(&workspace, &["commit", "-qm", "change"]);
        env.push(("GITHUB_BASE_REF", "main".into()));
        env.push(("GITHUB_HEAD_REF", "change".into()));
    })
}

/// Five parses of the policy instead of one: the fuel of every case grows.
fn slow_down(skill: &Path) {
    let source = skill.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap().replace(
        "let Ok(policy) = serde_json::from_str::<Value>(POLICY) else {",
        "for _ in 0..4 { let _ = std::hint::black_box(serde_json::from_str::<Value>(std::hint::black_box(POLICY))); }\n    let Ok(policy) = serde_json::from_str::<Value>(POLICY) else {",
    );
    std::fs::write(&source, text).unwrap();
}

#[test]
fn a_pull_request_holds_fuel_to_the_base_branchs_baseline() {
    // The pull request slows every case down and rewrites its own baseline
    // to match; the base's still counts.
    let run = pull_request(&[], |skill| {
        slow_down(skill);
        let base: Value =
            serde_json::from_slice(&std::fs::read(skill.join("fuel-baseline.json")).unwrap()).unwrap();
        let mut inflated = base.clone();
        for fuel in inflated["cases"].as_object_mut().unwrap().values_mut() {
            *fuel = Value::from(fuel.as_u64().unwrap() * 10);
        }
        std::fs::write(skill.join("fuel-baseline.json"), inflated.to_string()).unwrap();
    });
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed.as_ref().map(|(step, code)| (step.as_str(), *code)), Some(("report", 1)), "{log}");
    assert!(log.contains("Fuel is compared with skills/guard/fuel-baseline.json on main"), "{log}");
    assert!(
        log.contains("::error title=fuel regression,file=skills/guard/fixtures/check/granted.json::check/granted.json: "),
        "{log}"
    );
    assert!(log.contains("regressed against the fuel baseline"), "{log}");
    let summary = &run.summary;
    assert!(summary.contains("### Fuel against the baseline"), "{summary}");
    assert!(summary.contains("| Case | Base | Head | Delta | Headroom | Status |"), "{summary}");
    let row = summary.lines().find(|l| l.starts_with("| `check/granted.json` |") && l.contains("regressed"));
    let row = row.unwrap_or_else(|| panic!("{summary}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let (base, head): (u64, u64) = (cells[2].parse().unwrap(), cells[3].parse().unwrap());
    assert!(head > base * 2, "{row}");
    assert!(cells[4].starts_with(&format!("+{} (+", head - base)), "{row}");
    assert!(cells[6].contains("**regressed**"), "{row}");
}

/// A pull request that deletes the baseline is still held to the base
/// branch's, and says so.
#[test]
fn a_pull_request_that_deletes_the_baseline_is_held_to_the_base_branchs() {
    let run = pull_request(&[], |skill| {
        slow_down(skill);
        std::fs::remove_file(skill.join("fuel-baseline.json")).unwrap();
    });
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed.as_ref().map(|(step, code)| (step.as_str(), *code)), Some(("report", 1)), "{log}");
    assert!(log.contains("Fuel is compared with skills/guard/fuel-baseline.json on main"), "{log}");
    assert!(
        log.contains(
            "::warning title=cargo-palyra-skill::this pull request has no fuel-baseline.json, but main has"
        ),
        "{log}"
    );
    assert!(log.contains("regressed against the fuel baseline"), "{log}");
}

/// A renamed case is a removed one and a new one: the removed one fails
/// unless the pull request says it may go, and the summary lists it.
#[test]
fn a_pull_request_that_renames_a_case_fails_unless_removed_cases_are_allowed() {
    let rename = |skill: &Path| {
        let cases = skill.join("fixtures/check");
        std::fs::rename(cases.join("granted.json"), cases.join("granted-renamed.json")).unwrap();
    };
    let run = pull_request(&[], rename);
    let log = String::from_utf8_lossy(&run.log);
    assert_eq!(run.failed.as_ref().map(|(step, code)| (step.as_str(), *code)), Some(("report", 1)), "{log}");
    assert!(
        log.contains("::error title=removed test case,file=skills/guard/fixtures/check/granted.json::check/granted.json: in the baseline"),
        "{log}"
    );
    assert!(log.contains("1 test case(s) of the fuel baseline no longer ran (deleted or renamed)"), "{log}");
    let row = |summary: &str, status: &str| {
        summary
            .lines()
            .any(|l| l.starts_with("| `check/granted.json` |") && l.ends_with(&format!("| {status} |")))
    };
    assert!(row(&run.summary, "**removed**"), "{}", run.summary);
    assert!(run.summary.contains("| `check/granted-renamed.json` |"), "{}", run.summary);

    let allowed = pull_request(&[("allow-removed-cases", "true")], rename);
    let log = String::from_utf8_lossy(&allowed.log);
    assert!(allowed.failed.is_none(), "{log}");
    assert!(row(&allowed.summary, "removed (allowed)"), "{}", allowed.summary);
}

/// A new skill, as `new` leaves it (committed, with its lock file), cloned
/// and released by the Action with no step by hand; a tag that does not
/// name its version is refused before anything is signed.
#[test]
fn a_new_skill_cloned_as_is_releases_through_the_action() {
    let started = std::time::Instant::now();
    let authored = tempfile::tempdir().unwrap();
    let scaffold = |env: &mut Vec<(&'static str, String)>| {
        let var = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap();
        let workspace = PathBuf::from(var("GITHUB_WORKSPACE"));
        let authored = authored.path().join("weather");
        if !authored.exists() {
            cmd()
                .args(["-q", "new", "--publisher", "acme"])
                .arg(&authored)
                .envs(GIT_IDENTITY)
                .env("CARGO_TARGET_DIR", var("CARGO_TARGET_DIR"))
                .assert()
                .success();
        }
        git(&workspace, &["clone", "-q", authored.to_str().unwrap(), "skills/weather"]);
    };
    let build = |git_ref: &str| {
        run_action_with(
            &[("working-directory", "skills/weather"), ("tool-version", "preinstalled")],
            git_ref,
            "push",
            scaffold,
        )
    };
    let built = build("refs/tags/v0.1.0");
    let log = String::from_utf8_lossy(&built.log);
    assert!(built.failed.is_none(), "step {:?} failed:\n{log}", built.failed);
    let o = &built.outputs;
    assert_eq!((o["skill-id"].as_str(), o["version"].as_str()), ("acme.weather", "0.1.0"));
    assert_eq!((o["audit-passed"].as_str(), o["tests-passed"].as_str()), ("true", "true"));
    let signed = run_action(
        &[
            ("mode", "sign"),
            ("artifact", o["artifact"].as_str()),
            ("signing-key", TEST_SEED_HEX),
            ("tool-version", "preinstalled"),
        ],
        "refs/tags/v0.1.0",
        "push",
    );
    let log = String::from_utf8_lossy(&signed.log);
    assert!(signed.failed.is_none(), "step {:?} failed:\n{log}", signed.failed);
    assert_eq!(signed.outputs["key-id"], test_key().public().key_id());
    cmd()
        .args(["verify", "--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}")])
        .arg(&signed.outputs["artifact"])
        .assert()
        .success();
    eprintln!(
        "new to a signed, verified release through the Action: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A tag that does not name the version fails the build job, before
    // anything could be signed.
    let mismatch = build("refs/tags/v0.2.0");
    let log = String::from_utf8_lossy(&mismatch.log);
    assert_eq!(mismatch.failed.as_ref().map(|(s, c)| (s.as_str(), *c)), Some(("tag", 2)), "{log}");
    assert!(log.contains("the tag v0.2.0 does not match the crate's version 0.1.0"), "{log}");
}

/// The release job of the workflow `new` writes has GitHub attest the
/// artifact (keyless, Sigstore) with exactly the permissions that needs,
/// on that job only, and attaches the bundle as `<artifact>.sigstore.json`.
#[test]
fn the_workflow_template_attests_each_release_artifact() {
    let template = std::fs::read_to_string(Path::new(REPO).join("templates/skill-workflow.yml")).unwrap();
    let workflow: Yaml = serde_yaml::from_str(&template).unwrap();
    let jobs = workflow["jobs"].as_mapping().unwrap();
    for (name, job) in jobs {
        let permissions = &job["permissions"];
        let attests = permissions.get("id-token").is_some() || permissions.get("attestations").is_some();
        assert_eq!(
            attests,
            yaml_str(name) == "release",
            "{}: id-token and attestations only where it attests",
            yaml_str(name)
        );
    }
    let release = &workflow["jobs"]["release"];
    assert_eq!(yaml_str(&release["permissions"]["id-token"]), "write");
    assert_eq!(yaml_str(&release["permissions"]["attestations"]), "write");
    let steps = release["steps"].as_sequence().unwrap();
    let attest = steps
        .iter()
        .find(|s| s.get("id").map(yaml_str).as_deref() == Some("attest"))
        .expect("an attest step");
    assert!(yaml_str(&attest["uses"]).starts_with("actions/attest-build-provenance@"));
    assert_eq!(yaml_str(&attest["with"]["subject-path"]), "${{ steps.skill.outputs.artifact }}");
    let at = |id: &str| steps.iter().position(|s| s.get("id").map(yaml_str).as_deref() == Some(id)).unwrap();
    assert!(at("skill") < at("attest"), "the artifact exists before it is attested");
    let named = |name: &str| {
        steps
            .iter()
            .find(|s| s.get("name").map(yaml_str).as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let attach = named("Attach the artifact and its attestations to the release");
    assert_eq!(yaml_str(&attach["env"]["BUNDLE"]), "${{ steps.attest.outputs.bundle-path }}");
    let script = yaml_str(&attach["run"]);
    assert!(script.contains(r#"cp "$BUNDLE" "$ARTIFACT.sigstore.json""#), "{script}");
    assert!(script.contains(r#"files+=("$ARTIFACT.sigstore.json")"#), "{script}");
    assert!(script.contains(r#""${files[@]}" --clobber"#), "{script}");

    // What the runner hands the attest step, and the steps after it, once
    // the skill step has built `dist/acme.echo-1.0.0.palyra-skill` on a tag.
    let artifact = "dist/acme.echo-1.0.0.palyra-skill";
    let bundle = "/home/runner/work/_temp/attestation/bundle.sigstore.json";
    let contexts: BTreeMap<&'static str, Value> = [
        (
            "github",
            gha::object([
                ("ref", Value::from("refs/tags/v1.0.0")),
                ("token", Value::from("ghs_job_token")),
                (
                    "event",
                    gha::object([("repository", gha::object([("visibility", Value::from("public"))]))]),
                ),
            ]),
        ),
        ("vars", gha::object([("PALYRA_SKILL_REGISTRY_BRANCH", Value::from("registry"))])),
        ("secrets", gha::object([])),
        ("inputs", gha::object([])),
        ("needs", gha::object([])),
        ("strategy", gha::object([])),
        ("matrix", gha::object([])),
        ("job", gha::object([])),
        ("runner", gha::object([])),
        ("env", gha::object([])),
        (
            "steps",
            gha::object([
                ("skill", gha::object([("outputs", gha::object([("artifact", Value::from(artifact))]))])),
                ("attest", gha::object([("outputs", gha::object([("bundle-path", Value::from(bundle))]))])),
                (
                    "registry",
                    gha::object([("outputs", gha::object([("dir", Value::from("/tmp/registry"))]))]),
                ),
            ]),
        ),
    ]
    .into_iter()
    .collect();
    let workspace = PathBuf::from("/home/runner/work/echo/echo");
    let scope = gha::Scope { contexts: &contexts, failed: false, workspace: &workspace };
    let eval = |value: &Yaml| scope.substitute(&yaml_str(value), &gha::WORKFLOW_STEP).unwrap();
    assert!(scope.condition(&yaml_str(&release["if"]), &gha::JOB_IF).unwrap(), "a tag runs the release job");
    assert!(
        scope.condition(&yaml_str(&attest["if"]), &gha::WORKFLOW_STEP_IF).unwrap(),
        "a public repository attests"
    );
    assert_eq!(eval(&attest["with"]["subject-path"]), artifact, "the attest step's one input: the artifact");
    assert_eq!(attest["with"].as_mapping().unwrap().len(), 1, "{:?}", attest["with"]);
    assert_eq!(eval(&attach["env"]["BUNDLE"]), bundle);
    assert_eq!(eval(&attach["env"]["ARTIFACT"]), artifact);
    let deploy = named("Deploy the registry");
    assert!(scope.condition(&yaml_str(&deploy["if"]), &gha::WORKFLOW_STEP_IF).unwrap());
    assert_eq!(eval(&deploy["env"]["BUNDLE"]), bundle, "the registry gets the bundle too");
    assert!(yaml_str(&deploy["run"]).contains(r#"cp "$BUNDLE" "$stored.sigstore.json""#));
    // A private repository attests only where the variable says its plan can.
    for (visibility, variable, attests) in [
        ("private", None, false),
        ("private", Some("true"), true),
        ("public", Some("false"), false),
        ("internal", None, false),
    ] {
        let mut contexts = contexts.clone();
        contexts.get_mut("github").unwrap()["event"]["repository"]["visibility"] = Value::from(visibility);
        if let Some(variable) = variable {
            contexts.get_mut("vars").unwrap()["PALYRA_SKILL_ATTEST"] = Value::from(variable);
        }
        let scope = gha::Scope { contexts: &contexts, failed: false, workspace: &workspace };
        assert_eq!(
            scope.condition(&yaml_str(&attest["if"]), &gha::WORKFLOW_STEP_IF).unwrap(),
            attests,
            "{visibility}, PALYRA_SKILL_ATTEST={variable:?}"
        );
    }
}

/// The verify step uses a GitHub build attestation it finds beside the
/// artifact, and requires it to come from this repository: a bundle for
/// other bytes (a real public-good one) fails the job on its subject.
#[test]
fn the_verify_step_holds_a_bundle_beside_the_artifact_to_this_repository() {
    let bundle =
        std::fs::read(Path::new(REPO).join("fixtures/attestations/public-rekor.sigstore.json")).unwrap();
    let (_built, run, _downloaded) = build_then_sign(
        &[("working-directory", "skills/guard"), ("tool-version", "preinstalled")],
        &[("signing-key", TEST_SEED_HEX)],
        "refs/tags/v1.2.3",
        &mut |step, runner_temp| {
            if step != "verify" {
                return;
            }
            let dist = runner_temp.join("palyra-skill/dist");
            for entry in std::fs::read_dir(&dist).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "palyra-skill") {
                    let mut name = path.file_name().unwrap().to_owned();
                    name.push(".sigstore.json");
                    std::fs::write(path.with_file_name(name), &bundle).unwrap();
                }
            }
        },
    );
    let log = String::from_utf8_lossy(&run.log);
    assert!(run.failed.is_some(), "a bundle for other bytes must fail the job:\n{log}");
    let verify: Value =
        serde_json::from_slice(&std::fs::read(run.runner_temp.join("palyra-skill/verify.json")).unwrap())
            .unwrap();
    let artifact = &verify["artifacts"][0];
    assert_eq!(artifact["error"]["kind"], "attestation", "{verify:#}");
    assert_eq!(crate::support::attest::failed_checks(&artifact["attestation"]), ["subject"], "{verify:#}");
}
