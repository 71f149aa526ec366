//! `run` and the sandbox runtime: the shared vector's exit codes, a hostile
//! module suite (each contained and classified within its limit), the module
//! cache, and the data plane's input and output checks.

use std::time::{Duration, Instant};

use crate::support::*;
use cargo_palyra_skill::runtime::{
    FailureClass, Grants, Limits, Linking, Preopen, RunReport, RunRequest, Runtime, Tier,
};
use predicates::prelude::*;

fn run_wat(name: &str, limits: Limits, preopens: Vec<Preopen>) -> RunReport {
    let wasm = wat::parse_file(fixture(&format!("hostile/{name}.wat"))).unwrap();
    let runtime = Runtime::new(None).unwrap();
    let module = runtime.load_module(&wasm, Tier::Quick).unwrap();
    runtime.run(RunRequest {
        module: &module,
        entrypoint: "run",
        linking: Linking::WasiPreview,
        stdin: b"{}".to_vec(),
        env: vec![
            ("PALYRA_TOOL_ID".into(), "acme.t".into()),
            ("PALYRA_SKILL_ID".into(), "acme.s".into()),
            ("PALYRA_SKILL_VERSION".into(), "1.0.0".into()),
        ],
        program: "acme.s".into(),
        grants: Grants::default(),
        limits,
        preopens,
        profile: None,
    })
}

#[track_caller]
fn fails_with(report: &RunReport, class: FailureClass, message: &str) {
    let failure = report.failure.as_ref().unwrap_or_else(|| panic!("no failure: {report:?}"));
    assert_eq!(failure.class, class, "{}", failure.message);
    assert!(failure.message.contains(message), "{}", failure.message);
}

/// An endless loop says the call never returned, points to the fuel
/// profile that finds the loop, and then to the budget.
#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let report = run_wat("infinite-loop", Limits { fuel: 1_000_000, ..test_limits() }, vec![]);
    fails_with(
        &report,
        FailureClass::OutOfFuel,
        "out of fuel after 1,000,000 units: the call never returned within its fuel budget (a loop that never ends, or more work than that allows; `--fuel-profile` on `run` or `test` shows where the fuel went): raise `capabilities.quotas.fuel_budget`",
    );
    assert_eq!(report.fuel_consumed, 1_000_000);
}

#[test]
fn an_infinite_loop_with_plenty_of_fuel_hits_the_wall_clock() {
    let started = Instant::now();
    let report =
        run_wat("infinite-loop", Limits { fuel: u64::MAX / 2, timeout_ms: 300, ..test_limits() }, vec![]);
    fails_with(
        &report,
        FailureClass::TimedOut,
        "exceeded the wall clock of 300 ms: the call never returned within its time (a loop that never ends, or more work than that allows; `--fuel-profile` on `run` or `test` shows where the fuel went): raise `capabilities.quotas.wall_clock_timeout_ms`",
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_loop_in_the_start_function_is_stopped_too() {
    let report = run_wat("start-loop", Limits { fuel: 1_000_000, ..test_limits() }, vec![]);
    fails_with(&report, FailureClass::OutOfFuel, "out of fuel");
}

#[test]
fn a_memory_grow_bomb_hits_the_memory_quota() {
    let report = run_wat("memory-grow-bomb", test_limits(), vec![]);
    fails_with(&report, FailureClass::MemoryLimit, "memory.grow was refused at the limit");
    assert!(report.failure.as_ref().unwrap().message.contains("over 16,777,216 bytes"));
    assert_eq!(report.failure.as_ref().unwrap().palyra_error_kind.as_str(), "runtime_failure");
    assert!(report.peak_memory_bytes <= 16 * 1024 * 1024);
}

#[test]
fn huge_initial_memory_cannot_instantiate() {
    fails_with(
        &run_wat("huge-initial-memory", test_limits(), vec![]),
        FailureClass::MemoryLimit,
        "max_memory_bytes",
    );
}

#[test]
fn a_huge_table_is_refused() {
    fails_with(&run_wat("huge-table", test_limits(), vec![]), FailureClass::TableLimit, "100,000");
}

#[test]
fn deep_recursion_exhausts_the_stack() {
    fails_with(
        &run_wat("deep-recursion", test_limits(), vec![]),
        FailureClass::StackExhausted,
        "stack is exhausted",
    );
}

#[test]
fn ten_mib_of_stdout_is_cut_off() {
    let report = run_wat("stdout-flood", test_limits(), vec![]);
    fails_with(&report, FailureClass::OutputTooLarge, "more than 1,048,576 bytes to stdout");
    assert_eq!(report.exit_code, None);
    assert!(report.stdout.len() <= 1024 * 1024);
}

#[test]
fn sleeping_in_poll_oneoff_still_hits_the_wall_clock() {
    let started = Instant::now();
    let report = run_wat("sleep", Limits { timeout_ms: 300, ..test_limits() }, vec![]);
    fails_with(&report, FailureClass::TimedOut, "300 ms");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 30 s sleep was not cut short: {:?}",
        started.elapsed()
    );
}

#[test]
fn path_traversal_fails_with_and_without_granted_roots() {
    // No preopen at all: fd 3 is not a directory.
    assert_eq!(run_wat("path-traversal", test_limits(), vec![]).exit_code, Some(100));
    // A granted root: `../` cannot leave it.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state/skills/data");
    std::fs::create_dir_all(&root).unwrap();
    let preopen = Preopen::open_ambient(&root, "skills/data", false).unwrap();
    let report = run_wat("path-traversal", test_limits(), vec![preopen]);
    assert!(report.failure.is_none(), "{report:?}");
    let errno = report.exit_code.unwrap();
    assert!(errno != 0 && errno != 100, "the escape must fail with an errno, got {errno}");
}

#[test]
fn only_the_three_palyra_variables_are_visible() {
    assert_eq!(run_wat("environment", test_limits(), vec![]).exit_code, Some(3));
}

#[test]
fn an_unknown_import_is_a_link_error_naming_it() {
    fails_with(
        &run_wat("unknown-import", test_limits(), vec![]),
        FailureClass::LinkError,
        "evil:host/escape",
    );
}

#[test]
fn proc_exit_is_the_exit_code() {
    let report = run_wat("proc-exit", test_limits(), vec![]);
    assert!(report.failure.is_none(), "{report:?}");
    assert_eq!(report.exit_code, Some(3));
}

#[test]
fn the_vector_module_sees_exactly_the_granted_hosts() {
    let artifact = fixture("vectors/reference-echo.palyra-skill");
    let exit_code = |allow: &[&str]| {
        let mut command = cmd();
        // The host ABI (the default): no input, the exit code is the result.
        command.args(["run", "--no-cache", "--message-format", "json"]);
        for host in allow {
            command.args(["--allow-http", host]);
        }
        let output = command.arg(&artifact).output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (output.status.code(), report["exit_code"].as_i64(), report["palyra_error_kind"].clone())
    };
    assert_eq!(exit_code(&[]), (Some(0), Some(-1), serde_json::Value::Null));
    // The consumer's own figure: 10001 with an http grant.
    assert_eq!(exit_code(&["api.example.com"]), (Some(0), Some(10001), serde_json::Value::Null));
    // Not declared in the manifest: the daemon denies the request.
    assert_eq!(exit_code(&["other.example.com"]), (Some(1), None, "capability_denied".into()));
}

#[test]
fn the_second_run_hits_the_cache_and_a_corrupt_entry_is_replaced() {
    let base = tempfile::tempdir().unwrap();
    let cache = base.path().join("modules");
    let run = || {
        let mut command = cmd();
        command
            .env("PALYRA_SKILL_CACHE_DIR", &cache)
            .env("PALYRA_SKILL_CONFIG_DIR", base.path().join("config"))
            .args(["-v", "run"])
            .arg(fixture("vectors/reference-echo.palyra-skill"))
            .assert()
            .code(0)
    };
    run().stderr(predicate::str::contains("compiled, cached"));
    run().stderr(predicate::str::contains("cache hit"));
    let entry = std::fs::read_dir(&cache).unwrap().flatten().next().unwrap().path();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    }
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    run().stderr(predicate::str::contains("corrupt module cache entry was replaced"));
    run().stderr(predicate::str::contains("cache hit"));
    std::fs::write(&entry, &bytes[..100]).unwrap();
    run().stderr(predicate::str::contains("truncated"));
}

#[test]
fn invalid_input_is_refused_before_the_call() {
    cmd()
        .args(["run", "--abi", "wasi-json", "--no-cache", "--tool", "acme.echo", "--input", "{\"txt\":1}"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("input does not match the tool's input_schema at `/`"));
    cmd()
        .args(["run", "--abi", "wasi-json", "--no-cache", "--tool", "acme.echo", "--input", "{not json"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the input is not valid JSON"));
    cmd()
        .args(["run", "--abi", "wasi-json", "--no-cache", "--tool", "acme.nope", "--input", "{}"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no tool `acme.nope`: pass `--tool` with one of `acme.echo`"));
}

/// A manifest for `acme.fs` with these filesystem roots.
fn fs_manifest(read: &str, write: &str) -> String {
    test_manifest("fs", &format!("[capabilities.filesystem]\nread_roots = [{read}]\nwrite_roots = [{write}]"))
}

#[test]
fn a_symlink_planted_through_a_writable_root_is_never_followed() {
    use cargo_palyra_skill::pack::{self, Parts};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let artifact = |name: &str, manifest: String| {
        let parts = Parts {
            modules: vec![("fs.wasm".into(), wat::parse_file(fixture("hostile/plant-symlink.wat")).unwrap())],
            ..echo_parts(&manifest)
        };
        let (mut entries, manifest) = pack::assemble(parts).unwrap();
        pack::sign(&mut entries, &manifest.publisher, &test_key(), 1_700_000_000_000).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
        path
    };
    let run = |artifact: &std::path::Path| {
        let mut command = cmd();
        command
            .env("PALYRA_SKILL_STATE_DIR", &state)
            .args(["run", "--abi", "wasi-json", "--grant-fs", "--no-cache", "--input", "{}"])
            .arg(artifact);
        command
    };
    // Run 1: the guest replaces `w/escape` with a symlink out of the state
    // directory (its right inside its writable root; the call then fails
    // only because it prints no output).
    std::fs::create_dir_all(state.join("acme.fs/w/escape")).unwrap();
    run(&artifact("plant.palyra-skill", fs_manifest("", "\"w\""))).assert().code(1);
    let planted = state.join("acme.fs/w/escape");
    assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());

    // Run 2, as a write root: refused before the guest runs, naming the symlink.
    run(&artifact("write.palyra-skill", fs_manifest("", "\"w\", \"w/escape\"")))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a symlink"))
        .stderr(predicate::str::contains("w/escape"));
    // Run 2, as a read root inside the write root: refused as an overlap.
    run(&artifact("read.palyra-skill", fs_manifest("\"w/escape\"", "\"w\"")))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("read root `w/escape` lies inside write root `w`"));
    // A read root beneath a symlinked folder is refused too.
    run(&artifact("deeper.palyra-skill", fs_manifest("\"w/escape/etc\"", "\"x\"")))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a symlink"));
    // Nothing outside the state directory was created or opened.
    assert!(!dir.path().join("etc").exists());
}

/// From the command line: an endless loop in a skill's module is reported
/// as a call that never returned, with `--fuel-profile` to find the loop.
#[test]
fn an_endless_loop_in_run_points_to_the_fuel_profile() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(
        dir.path(),
        "loop.palyra-skill",
        wat::parse_file(fixture("host/burn.wat")).unwrap(),
    );
    let out = cmd().arg("run").arg(&artifact).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the call never returned within its fuel budget"), "{stderr}");
    assert!(stderr.contains("`--fuel-profile` on `run` or `test` shows where the fuel went"), "{stderr}");
    assert!(
        stderr.contains("the skill's own quota binds: raise `capabilities.quotas.fuel_budget = 5000000`"),
        "{stderr}"
    );
}
