//! The sandbox runtime on arbitrary valid modules: wasm-smith turns the
//! fuzzer's bytes into a module that may import WASI preview1 and the
//! Palyra host functions and must export `run: () -> i32`; it is compiled,
//! linked and called under tight limits. Every outcome must be a report:
//! never a panic, a hang past the wall clock, or memory past the limit.
//! A deterministic module must also do the same on quick and on optimized
//! code: the same fuel, exit code, output, memory and failure class.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Unstructured;
use cargo_palyra_skill::runtime::{
    FailureClass, Grants, Limits, Linking, MAX_INSTANCES, MAX_TABLE_ELEMENTS, RunRequest, Runtime, Tier,
};
use libfuzzer_sys::fuzz_target;

const IMPORTS: &str = r#"(module
  (import "palyra:plugins/host-capabilities@0.1.0" "http-count" (func (result i32)))
  (import "palyra:plugins/host-capabilities@0.1.0" "http-handle" (func (param i32) (result i32)))
  (import "palyra:plugins/host-capabilities@0.1.0" "secret-handle" (func (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func (param i32 i32) (result i32)))
)"#;

const EXPORTS: &str = r#"(module (func (export "run") (result i32) unreachable))"#;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(None).expect("engine"))
}

fn config() -> wasm_smith::Config {
    wasm_smith::Config {
        available_imports: Some(wat::parse_str(IMPORTS).expect("imports")),
        exports: Some(wat::parse_str(EXPORTS).expect("exports")),
        // Proposals the engine is built without (or the consumer does not
        // enable) only ever fail to compile; keep the fuzzer on the rest.
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        max_instructions: 1000,
        // NaN bit patterns may differ between any two compilations (the
        // spec allows it); canonical NaNs keep the tier comparison exact.
        canonicalize_nans: true,
        ..wasm_smith::Config::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(module) = wasm_smith::Module::new(config(), &mut Unstructured::new(data)) else {
        return;
    };
    let wasm = module.to_bytes();
    let runtime = runtime();
    let Ok(module) = runtime.load_module(&wasm, Tier::Quick) else {
        return;
    };
    let limits = Limits {
        fuel: 500_000,
        max_memory_bytes: 16 * 1024 * 1024,
        timeout_ms: 300,
        max_table_elements: MAX_TABLE_ELEMENTS,
        max_instances: MAX_INSTANCES,
        max_stdout_bytes: 64 * 1024,
        max_stderr_bytes: 64 * 1024,
    };
    // Both ways of linking: the Palyra host's (host functions only) and the
    // WASI preview's.
    let linking = if data.len() % 2 == 0 { Linking::PalyraHost } else { Linking::WasiPreview };
    let request = |module, profile| RunRequest {
        module,
        entrypoint: "run",
        linking,
        stdin: br#"{"text":"fuzz"}"#.to_vec(),
        env: vec![("PALYRA_TOOL_ID".into(), "fuzz.run".into())],
        program: "fuzz".into(),
        grants: Grants { http: vec!["api.example.com".into()], ..Grants::default() },
        limits,
        preopens: Vec::new(),
        profile,
    };
    let report = runtime.run(request(&module, None));
    assert!(report.fuel_consumed <= limits.fuel, "fuel past the budget: {report:?}");
    assert!(report.peak_memory_bytes <= limits.max_memory_bytes, "memory past the limit: {report:?}");
    assert!(report.stdout.len() <= limits.max_stdout_bytes, "stdout past the cap");
    // Generous: a loaded 2-core machine, plus compile-free teardown.
    assert!(report.wall_ms < limits.timeout_ms + 2_000, "wall clock not enforced: {} ms", report.wall_ms);

    // Clocks, randomness and sleeping make a run differ from the next; the
    // import names are in the bytes whenever the module imports them.
    let nondeterministic = ["clock_time_get", "random_get", "poll_oneoff"]
        .iter()
        .any(|name| wasm.windows(name.len()).any(|w| w == name.as_bytes()));
    let speed_bound = |r: &cargo_palyra_skill::runtime::RunReport| {
        r.quick_failure.is_some()
            || r.failure.as_ref().is_some_and(|f| {
                matches!(f.class, FailureClass::TimedOut | FailureClass::StackExhausted)
            })
    };
    if nondeterministic || speed_bound(&report) {
        return;
    }
    let Ok(optimized) = runtime.load_module(&wasm, Tier::Optimized) else {
        panic!("compiles as quick code but not as optimized code");
    };
    let other = runtime.run(request(&optimized, None));
    if speed_bound(&other) {
        return;
    }
    // A fuel profile changes nothing the guest sees, and accounts for every
    // unit of fuel the call consumed.
    let profiled = runtime.run(request(&optimized, Some(u64::from(data.first().copied().unwrap_or(0)) + 1)));
    if !speed_bound(&profiled) {
        let profile = profiled.profile.as_ref().expect("a profiled call has a profile");
        assert_eq!(profile.total(), profiled.fuel_consumed, "the profile's fuel is the call's");
        assert_eq!(profiled.fuel_consumed, other.fuel_consumed, "profiling changed the fuel");
        assert_eq!(profiled.exit_code, other.exit_code, "profiling changed the exit code");
    }
    assert_eq!(report.tier, Tier::Quick);
    assert_eq!(other.tier, Tier::Optimized);
    assert_eq!(report.fuel_consumed, other.fuel_consumed, "fuel differs between tiers");
    assert_eq!(report.exit_code, other.exit_code, "exit code differs between tiers");
    assert_eq!(report.stdout, other.stdout, "stdout differs between tiers");
    assert_eq!(report.peak_memory_bytes, other.peak_memory_bytes, "memory differs between tiers");
    assert_eq!(
        report.failure.as_ref().map(|f| f.class),
        other.failure.as_ref().map(|f| f.class),
        "failure differs between tiers"
    );
});
