//! Quick and optimized code: both tiers meter the same fuel and give the
//! same results; a time-out or stack exhaustion on quick code is confirmed
//! on optimized code; runs that may write state start on optimized code;
//! optimized code compiled for a confirmation is cached and preferred.

use std::path::PathBuf;

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::runtime::{
    CacheKey, CacheOutcome, FailureClass, Grants, Limits, Linking, LoadedModule, ModuleCache, Preopen,
    RunReport, RunRequest, Runtime, Tier,
};
use serde_json::Value;

fn request<'a>(
    module: &'a LoadedModule,
    stdin: &[u8],
    limits: Limits,
    preopens: Vec<Preopen>,
) -> RunRequest<'a> {
    RunRequest {
        module,
        entrypoint: "run",
        linking: Linking::WasiPreview,
        stdin: stdin.to_vec(),
        env: vec![
            ("PALYRA_TOOL_ID".into(), "acme.echo".into()),
            ("PALYRA_SKILL_ID".into(), "acme.echo".into()),
            ("PALYRA_SKILL_VERSION".into(), "1.0.0".into()),
        ],
        program: "acme.echo".into(),
        grants: Grants { http: vec!["api.example.com".into()], ..Grants::default() },
        limits,
        preopens,
        profile: None,
    }
}

fn wat(rel: &str) -> Vec<u8> {
    wat::parse_file(fixture(rel)).unwrap()
}

/// The Rust echo fixture skill's module (wasm32-wasip1, std and serde_json),
/// built in the target directory the build tests share.
fn rust_echo_module() -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    cmd()
        .args(["-q", "build", "--locked", "--manifest-path"])
        .arg(fixture("skills/echo/Cargo.toml"))
        .arg("--target-dir")
        .arg(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-target"))
        .arg("--out")
        .arg(out.path())
        .env("PALYRA_SKILL_CONFIG_DIR", out.path().join("config"))
        .assert()
        .success();
    let bytes = std::fs::read(out.path().join("acme.echo-1.2.3.palyra-skill")).unwrap();
    let entries = Entries::read_zip(&bytes).unwrap();
    entries.get("modules/acme_echo.wasm").unwrap().bytes.clone()
}

/// Everything a run's result is made of, except timing.
fn result(report: &RunReport) -> (Option<i32>, u64, u64, Vec<u8>, Vec<u8>, Option<FailureClass>) {
    (
        report.exit_code,
        report.fuel_consumed,
        report.peak_memory_bytes,
        report.stdout.clone(),
        report.stderr.clone(),
        report.failure.as_ref().map(|f| f.class),
    )
}

#[test]
fn both_tiers_meter_the_same_fuel_and_give_the_same_results() {
    let runtime = Runtime::new(None).unwrap();
    let small_fuel = Limits { fuel: 1_000_000, ..test_limits() };
    let cases: Vec<(String, Vec<u8>, &[u8], Limits)> = vec![
        ("Rust echo".into(), rust_echo_module(), br#"{"text":"tiers"}"#, test_limits()),
        ("Rust echo, not JSON".into(), rust_echo_module(), b"{not json", test_limits()),
        (
            "Rust echo, little fuel".into(),
            rust_echo_module(),
            br#"{"text":"x"}"#,
            Limits { fuel: 5_000, ..test_limits() },
        ),
        ("vector module".into(), read_fixture("vectors/inputs/echo.wasm"), b"{}", test_limits()),
        ("infinite loop".into(), wat("hostile/infinite-loop.wat"), b"{}", small_fuel),
        ("loop in start".into(), wat("hostile/start-loop.wat"), b"{}", small_fuel),
        ("memory.grow bomb".into(), wat("hostile/memory-grow-bomb.wat"), b"{}", test_limits()),
        ("huge initial memory".into(), wat("hostile/huge-initial-memory.wat"), b"{}", test_limits()),
        ("huge table".into(), wat("hostile/huge-table.wat"), b"{}", test_limits()),
        ("stdout flood".into(), wat("hostile/stdout-flood.wat"), b"{}", test_limits()),
        ("environment".into(), wat("hostile/environment.wat"), b"{}", test_limits()),
        ("unknown import".into(), wat("hostile/unknown-import.wat"), b"{}", test_limits()),
        ("proc_exit".into(), wat("hostile/proc-exit.wat"), b"{}", test_limits()),
        ("path traversal".into(), wat("hostile/path-traversal.wat"), b"{}", test_limits()),
        ("fat frames".into(), wat("tiers/fat-frames.wat"), b"{}", Limits { fuel: 20_000, ..test_limits() }),
    ];
    for (name, wasm, stdin, limits) in cases {
        let module = runtime.load_module(&wasm, Tier::Quick).unwrap();
        let quick = runtime.run_on(Tier::Quick, &request(&module, stdin, limits, vec![]));
        let optimized = runtime.run_on(Tier::Optimized, &request(&module, stdin, limits, vec![]));
        assert_eq!((quick.tier, optimized.tier), (Tier::Quick, Tier::Optimized));
        assert!(quick.fuel_consumed > 0 || quick.failure.is_some(), "{name}: nothing ran: {quick:?}");
        assert_eq!(result(&quick), result(&optimized), "{name}: the tiers disagree");
    }
}

#[test]
fn a_time_out_on_quick_code_is_confirmed_on_optimized_code() {
    let runtime = Runtime::new(None).unwrap();
    let module = runtime.load_module(&wat("hostile/infinite-loop.wat"), Tier::Quick).unwrap();
    assert_eq!(module.tier(), Tier::Quick);
    let limits = Limits { fuel: u64::MAX / 2, timeout_ms: 200, ..test_limits() };
    let report = runtime.run(request(&module, b"{}", limits, vec![]));
    assert_eq!(report.tier, Tier::Optimized, "{report:?}");
    assert_eq!(report.quick_failure.as_ref().map(|f| f.class), Some(FailureClass::TimedOut));
    assert_eq!(report.failure.as_ref().map(|f| f.class), Some(FailureClass::TimedOut));
    // Later runs of the module start on the optimized code.
    assert_eq!(module.tier(), Tier::Optimized);
    let again = runtime.run(request(&module, b"{}", limits, vec![]));
    assert_eq!((again.tier, again.quick_failure.is_none()), (Tier::Optimized, true));
}

#[test]
fn stack_only_quick_frames_exhaust_is_not_reported_as_exhausted() {
    let runtime = Runtime::new(None).unwrap();
    let wasm = wat("tiers/fat-frames.wat");
    let probe = runtime.load_module(&wasm, Tier::Quick).unwrap();
    let exhausts = |tier, fuel| {
        let report = runtime.run_on(tier, &request(&probe, b"", Limits { fuel, ..test_limits() }, vec![]));
        match report.failure.as_ref().map(|f| f.class) {
            Some(FailureClass::StackExhausted) => true,
            Some(FailureClass::OutOfFuel) => false,
            other => panic!("neither out of fuel nor out of stack: {other:?}"),
        }
    };
    // The least fuel that lets quick code recurse until its stack is gone
    // (fuel bounds the depth the same way on both tiers).
    let (mut enough, mut short) = (1_000_000_000u64, 1u64);
    assert!(exhausts(Tier::Quick, enough));
    while enough - short > 1 {
        let mid = short + (enough - short) / 2;
        if exhausts(Tier::Quick, mid) { enough = mid } else { short = mid }
    }
    assert!(!exhausts(Tier::Optimized, enough), "optimized frames should be smaller than quick ones");

    // A fresh load runs quick code first, then confirms on optimized code.
    let module = runtime.load_module(&wasm, Tier::Quick).unwrap();
    let report = runtime.run(request(&module, b"", Limits { fuel: enough, ..test_limits() }, vec![]));
    assert_eq!(report.quick_failure.as_ref().map(|f| f.class), Some(FailureClass::StackExhausted));
    assert_eq!(report.tier, Tier::Optimized);
    assert_eq!(report.failure.as_ref().map(|f| f.class), Some(FailureClass::OutOfFuel), "{report:?}");
    assert_eq!(report.fuel_consumed, enough);
}

#[test]
fn a_run_that_can_write_state_runs_once_on_optimized_code() {
    let runtime = Runtime::new(None).unwrap();
    let module = runtime.load_module(&wat("hostile/deep-recursion.wat"), Tier::Quick).unwrap();
    let state = tempfile::tempdir().unwrap();
    let preopen = Preopen::open_ambient(state.path(), "data", true).unwrap();
    let report = runtime.run(request(&module, b"{}", test_limits(), vec![preopen]));
    assert_eq!(report.failure.as_ref().map(|f| f.class), Some(FailureClass::StackExhausted));
    assert_eq!((report.tier, report.quick_failure.is_none()), (Tier::Optimized, true), "{report:?}");
}

#[test]
fn optimized_code_compiled_for_a_confirmation_is_cached_and_preferred() {
    let dir = tempfile::tempdir().unwrap();
    let cache =
        || Some(ModuleCache::open(&dir.path().join("modules"), CacheKey::from_bytes([7; 32])).unwrap());
    let wasm = wat("hostile/deep-recursion.wat");
    let entries = || std::fs::read_dir(dir.path().join("modules")).unwrap().count();

    let runtime = Runtime::new(cache()).unwrap();
    let module = runtime.load_module(&wasm, Tier::Quick).unwrap();
    assert_eq!((module.tier(), &module.cache), (Tier::Quick, &CacheOutcome::Miss));
    assert_eq!(entries(), 1);
    let again = Runtime::new(cache()).unwrap().load_module(&wasm, Tier::Quick).unwrap();
    assert_eq!((again.tier(), &again.cache), (Tier::Quick, &CacheOutcome::Hit));

    let report = runtime.run(request(&module, b"{}", test_limits(), vec![]));
    assert_eq!(report.quick_failure.as_ref().map(|f| f.class), Some(FailureClass::StackExhausted));
    assert_eq!(entries(), 2, "quick and optimized code are separate entries");
    let later = Runtime::new(cache()).unwrap().load_module(&wasm, Tier::Quick).unwrap();
    assert_eq!((later.tier(), &later.cache), (Tier::Optimized, &CacheOutcome::Hit));
}

#[test]
fn a_corrupt_optimized_entry_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = || Some(ModuleCache::open(dir.path(), CacheKey::from_bytes([7; 32])).unwrap());
    let wasm = wat("hostile/proc-exit.wat");
    let runtime = Runtime::new(cache()).unwrap();
    runtime.load_module(&wasm, Tier::Optimized).unwrap();
    let entry = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();

    let runtime = Runtime::new(cache()).unwrap();
    let module = runtime.load_module(&wasm, Tier::Quick).unwrap();
    assert_eq!(module.tier(), Tier::Quick, "the altered optimized code must not be used");
    assert!(
        matches!(module.cache, CacheOutcome::Replaced(ref reason) if reason.contains("authentication tag"))
    );
    assert_eq!(runtime.run(request(&module, b"{}", test_limits(), vec![])).exit_code, Some(3));
}

#[test]
fn run_reports_the_code_it_ran_and_optimized_starts_there() {
    let artifact = fixture("vectors/reference-echo.palyra-skill");
    let report = |extra: &[&str]| -> (Value, String) {
        let output = cmd()
            .args(["-v", "run", "--no-cache", "--allow-http", "api.example.com"])
            .args(["--message-format", "json"])
            .args(extra)
            .arg(&artifact)
            .output()
            .unwrap();
        (serde_json::from_slice(&output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
    };
    let (quick, log) = report(&[]);
    assert_eq!(quick["tier"], "quick");
    assert_eq!(quick["quick_failure"], Value::Null);
    assert!(log.contains("quick code, compiled, cache off"), "{log}");
    let (optimized, log) = report(&["--optimized"]);
    assert_eq!(optimized["tier"], "optimized");
    assert!(log.contains("optimized code, compiled, cache off"), "{log}");
    assert_eq!(quick["fuel_consumed"], optimized["fuel_consumed"]);
    assert_eq!(quick["exit_code"], optimized["exit_code"]);
    assert_eq!(quick["exit_code"], 10001);
}

#[test]
fn run_says_when_optimized_code_decided_the_result() {
    use cargo_palyra_skill::pack::{self, Parts};
    let dir = tempfile::tempdir().unwrap();
    let parts = Parts {
        modules: vec![("echo.wasm".into(), wat("hostile/deep-recursion.wat"))],
        ..echo_parts(&fixture_text("vectors/inputs/skill.toml"))
    };
    let (mut entries, manifest) = pack::assemble(parts).unwrap();
    pack::sign(&mut entries, &manifest.publisher, &test_key(), 1_700_000_000_000).unwrap();
    let artifact = dir.path().join("recursion.palyra-skill");
    std::fs::write(&artifact, entries.to_zip().unwrap()).unwrap();
    let run = || {
        let mut command = cmd();
        command.args(["run", "--no-cache"]).arg(&artifact);
        command
    };
    run()
        .assert()
        .code(1)
        .stderr(predicates::str::contains("stack_exhausted: the wasm stack is exhausted"))
        .stderr(predicates::str::contains(
            "quick code stack_exhausted; this is the result of running again on optimized code",
        ));
    let output = run().args(["--message-format", "json"]).assert().code(1).get_output().stdout.clone();
    let report: Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(report["tier"], "optimized");
    assert_eq!(report["quick_failure"]["class"], "stack_exhausted");
    assert_eq!(report["failure"]["class"], "stack_exhausted");
}

/// Whether the tests run as root, so files can be given to another uid.
#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid() == 0
}

/// Compiled code of `planted`, stored by another user's cache (another
/// key) under the entry name of `genuine` in `victim`.
fn plant(victim: &std::path::Path, genuine: &[u8], planted: &[u8]) -> std::path::PathBuf {
    use sha2::Digest;
    let attacker = tempfile::tempdir().unwrap();
    let theirs = ModuleCache::open(attacker.path(), CacheKey::from_bytes([9; 32])).unwrap();
    let runtime = Runtime::new(Some(theirs.clone())).unwrap();
    runtime.load_module(planted, Tier::Quick).unwrap();
    let evil = std::fs::read_dir(attacker.path()).unwrap().next().unwrap().unwrap().path();
    let ours = ModuleCache::open(victim, CacheKey::from_bytes([7; 32])).unwrap();
    let sha: [u8; 32] = sha2::Sha256::digest(genuine).into();
    let target = ours.entry(runtime.engine(Tier::Quick), &sha).path;
    std::fs::copy(evil, &target).unwrap();
    target
}

#[test]
fn compiled_code_planted_under_a_genuine_modules_entry_is_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let genuine = wat("hostile/proc-exit.wat"); // exits 3
    let planted = wat::parse_str(r#"(module (func (export "run") (result i32) i32.const 66))"#).unwrap();
    let entry = plant(dir.path(), &genuine, &planted);
    let cache = || Some(ModuleCache::open(dir.path(), CacheKey::from_bytes([7; 32])).unwrap());
    let runtime = Runtime::new(cache()).unwrap();
    let module = runtime.load_module(&genuine, Tier::Quick).unwrap();
    assert!(
        matches!(module.cache, CacheOutcome::Replaced(ref reason) if reason.contains("authentication tag")),
        "{:?}",
        module.cache
    );
    assert_eq!(runtime.run(request(&module, b"{}", test_limits(), vec![])).exit_code, Some(3));

    // A symlinked entry is refused too, whatever it points at.
    std::fs::remove_file(&entry).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, b"x").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let module = Runtime::new(cache()).unwrap().load_module(&genuine, Tier::Quick).unwrap();
    assert!(
        matches!(module.cache, CacheOutcome::Replaced(ref reason) if reason.contains("symlink")),
        "{:?}",
        module.cache
    );
}

/// The attack of the second review: no key needed, only the right to
/// rename in the cache directory. Module X's genuine entry (made with the
/// victim's own key) copied over module Y's entry name must not run as Y.
#[test]
fn a_genuine_entry_of_another_module_is_never_run_in_its_place() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let cache = || Some(ModuleCache::open(dir.path(), CacheKey::from_bytes([7; 32])).unwrap());
    let genuine = wat("hostile/proc-exit.wat"); // exits 3
    let other = wat::parse_str(r#"(module (func (export "run") (result i32) i32.const 66))"#).unwrap();
    let runtime = Runtime::new(cache()).unwrap();
    runtime.load_module(&other, Tier::Quick).unwrap();
    let ours = cache().unwrap();
    let engine = runtime.engine(Tier::Quick);
    let from = ours.entry(engine, &sha2::Sha256::digest(&other).into()).path;
    let to = ours.entry(engine, &sha2::Sha256::digest(&genuine).into()).path;
    assert_ne!(from, to);
    std::fs::copy(&from, &to).unwrap();

    let victim = Runtime::new(cache()).unwrap();
    let module = victim.load_module(&genuine, Tier::Quick).unwrap();
    assert!(
        matches!(module.cache, CacheOutcome::Replaced(ref reason) if reason.contains("another module's entry")),
        "{:?}",
        module.cache
    );
    assert_eq!(victim.run(request(&module, b"{}", test_limits(), vec![])).exit_code, Some(3));
    // The replaced entry is genuine now: the next load is a hit, and still Y.
    let again = Runtime::new(cache()).unwrap();
    let module = again.load_module(&genuine, Tier::Quick).unwrap();
    assert_eq!(module.cache, CacheOutcome::Hit);
    assert_eq!(again.run(request(&module, b"{}", test_limits(), vec![])).exit_code, Some(3));
}

#[test]
fn a_cache_reached_through_a_symlink_or_owned_by_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let error = ModuleCache::open(&link, CacheKey::from_bytes([7; 32])).unwrap_err().to_string();
    assert!(error.contains("is a symlink"), "{error}");

    if !is_root() {
        eprintln!("not root: the other-uid cases need chown and are checked in CI, which runs as root");
        return;
    }
    // A directory of another user, with the mode the old check accepted.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let error = ModuleCache::open(&theirs, CacheKey::from_bytes([7; 32])).unwrap_err().to_string();
    assert!(error.contains("belongs to uid 65534"), "{error}");

    // In our own directory, an entry another user planted (even with a
    // valid tag for our key) is refused for its owner.
    let ours = dir.path().join("ours");
    let genuine = wat("hostile/proc-exit.wat");
    let cache = || Some(ModuleCache::open(&ours, CacheKey::from_bytes([7; 32])).unwrap());
    Runtime::new(cache()).unwrap().load_module(&genuine, Tier::Quick).unwrap();
    let entry = std::fs::read_dir(&ours).unwrap().next().unwrap().unwrap().path();
    std::os::unix::fs::chown(&entry, Some(65534), Some(65534)).unwrap();
    let module = Runtime::new(cache()).unwrap().load_module(&genuine, Tier::Quick).unwrap();
    assert!(
        matches!(module.cache, CacheOutcome::Replaced(ref reason) if reason.contains("belongs to uid 65534")),
        "{:?}",
        module.cache
    );
}

#[test]
fn the_cache_key_is_private_and_made_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config/cache-key");
    CacheKey::load_or_create(&path).unwrap();
    let first = std::fs::read(&path).unwrap();
    assert_eq!(first.len(), 32);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    CacheKey::load_or_create(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first, "the key is reused");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = CacheKey::load_or_create(&path).unwrap_err().to_string();
    assert!(error.contains("readable or writable by others"), "{error}");
}
