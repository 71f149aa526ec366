//! The Palyra daemon's `execute_module` as `run` and `test` reproduce it
//! (HOST.md sections 1 to 3): one test per rule, through the library.

use crate::support::*;
use cargo_palyra_skill::host::{self, HostCall, HostOutcome, OperatorConfig, Overrides, Requested};
use cargo_palyra_skill::manifest::Manifest;
use cargo_palyra_skill::runtime::{FailureClass, Runtime, Tier};

const CAPS: &str = r#"http_egress_allowlist = ["b.example.com", "c.example.com"]"#;

/// A manifest with `caps` as the body of `[capabilities]` and `extra` appended.
fn manifest_with(caps: &str, quotas: (u64, u64, u64), extra: &str) -> Manifest {
    let (timeout, fuel, memory) = quotas;
    let text = test_manifest(
        "probe",
        &format!(
            "[capabilities]\n{caps}\n\n[capabilities.quotas]\nwall_clock_timeout_ms = {timeout}\nfuel_budget = {fuel}\nmax_memory_bytes = {memory}"
        ),
    ) + extra;
    Manifest::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn manifest() -> Manifest {
    manifest_with(CAPS, (2_000, 50_000_000, 16 * 1024 * 1024), "")
}

fn wat(name: &str) -> Vec<u8> {
    wat::parse_file(fixture(&format!("host/{name}.wat"))).unwrap()
}

/// An operator who enabled the runtime and allows `a` and `b.example.com`,
/// storage `cache` and channel `cli`.
fn operator() -> OperatorConfig {
    OperatorConfig::from_toml(
        r#"
        [tool_call.wasm_runtime]
        enabled = true
        allowed_http_hosts = ["a.example.com", "b.example.com"]
        allowed_secrets = ["key"]
        allowed_storage_prefixes = ["cache"]
        allowed_channels = ["cli"]
        "#,
    )
    .unwrap()
}

fn http(hosts: &[&str]) -> Requested {
    Requested { http_hosts: hosts.iter().map(|h| h.to_string()).collect(), ..Requested::default() }
}

struct Call<'a> {
    operator: OperatorConfig,
    manifest: Manifest,
    modules: Vec<(&'a str, Vec<u8>)>,
    module: Option<&'a str>,
    entrypoint: Option<&'a str>,
    requested: Requested,
    overrides: Overrides,
}

impl<'a> Call<'a> {
    fn new(module: &str) -> Call<'a> {
        Call {
            operator: operator(),
            manifest: manifest(),
            modules: vec![("modules/probe.wasm", wat(module))],
            module: None,
            entrypoint: None,
            requested: Requested::default(),
            overrides: Overrides::default(),
        }
    }

    fn run(&self) -> HostOutcome {
        let runtime = Runtime::new(None).unwrap();
        host::execute(
            &runtime,
            &HostCall {
                operator: &self.operator,
                manifest: &self.manifest,
                modules: self.modules.iter().map(|(p, b)| (*p, b.as_slice())).collect(),
                module_path: self.module,
                entrypoint: self.entrypoint,
                tool_id: None,
                requested: &self.requested,
                overrides: self.overrides,
                tier: Tier::Quick,
                profile: None,
            },
        )
    }
}

#[track_caller]
fn exits(outcome: &HostOutcome, code: i32) {
    assert_eq!(outcome.exit_code, Some(code), "{outcome:#?}");
    assert_eq!(outcome.palyra_error_kind, None);
}

#[track_caller]
fn fails(outcome: &HostOutcome, kind: &str, message: &str) {
    let got = outcome.palyra_error_kind.unwrap_or_else(|| panic!("no error: {outcome:#?}"));
    assert_eq!(got.as_str(), kind, "{outcome:#?}");
    assert_eq!(outcome.exit_code, None);
    let text = outcome.palyra_error.as_deref().unwrap_or_default();
    assert!(text.contains(message), "{text}");
}

#[test]
fn a_disabled_runtime_refuses_before_anything_else() {
    let mut call = Call::new("probe");
    call.operator = OperatorConfig::default();
    call.entrypoint = Some("NOT VALID");
    fails(&call.run(), "disabled", "wasm plugin runtime is disabled by runtime policy");
}

#[test]
fn granted_capabilities_get_the_abi_handles() {
    let mut call = Call::new("probe");
    call.requested = http(&["B.example.com."]);
    call.requested.storage_prefixes = vec![];
    let outcome = call.run();
    exits(&outcome, 1100);
    let output = outcome.output.unwrap();
    assert_eq!(output["capabilities"]["http_handles"], serde_json::json!([10000]));
    assert_eq!(output["capabilities"]["granted_http_hosts"], serde_json::json!(["b.example.com"]));
    assert_eq!(output["resolved_from"], "installed_skill_artifact");
    assert_eq!(output["skill"]["module_path"], "modules/probe.wasm");
    assert_eq!(output["entrypoint"], "run");
    assert_eq!(outcome.hook_decision.unwrap().as_str(), "fail_run");
}

#[test]
fn nothing_requested_means_no_handles() {
    exits(&Call::new("probe").run(), 0);
}

#[test]
fn the_intersection_of_operator_and_skill_is_allowed() {
    // Operator: a, b. Skill: b, c. Only b is allowed.
    for (host, allowed) in [("b.example.com", true), ("a.example.com", false), ("c.example.com", false)] {
        let mut call = Call::new("probe");
        call.requested = http(&[host]);
        let outcome = call.run();
        if allowed {
            exits(&outcome, 1100);
        } else {
            fails(&outcome, "capability_denied", &format!("capability denied for http_hosts: {host}"));
            assert_eq!(outcome.failure.unwrap().class, FailureClass::CapabilityDenied);
        }
    }
}

#[test]
fn every_requested_item_must_be_allowed() {
    let mut call = Call::new("probe");
    call.requested = http(&["b.example.com", "c.example.com"]);
    fails(&call.run(), "capability_denied", "http_hosts: c.example.com");
}

#[test]
fn secrets_and_channels_are_never_granted() {
    let mut call = Call::new("probe");
    call.manifest = manifest_with(
        "[[capabilities.secrets]]\nscope = \"global\"\nkey_names = [\"key\"]",
        (2_000, 50_000_000, 16 * 1024 * 1024),
        "",
    );
    call.requested = Requested { secrets: vec!["global/key".into()], ..Requested::default() };
    fails(&call.run(), "capability_denied", "secrets: global/key");
    call.requested = Requested { secrets: vec!["key".into()], ..Requested::default() };
    fails(&call.run(), "capability_denied", "secrets: key");
    call.requested = Requested { channels: vec!["cli".into()], ..Requested::default() };
    fails(&call.run(), "capability_denied", "channels: cli");
}

#[test]
fn storage_is_granted_from_write_roots() {
    let mut call = Call::new("probe");
    call.manifest = manifest_with(
        "[capabilities.filesystem]\nwrite_roots = [\"cache\"]",
        (2_000, 50_000_000, 16 << 20),
        "",
    );
    call.requested = Requested { storage_prefixes: vec!["cache".into()], ..Requested::default() };
    exits(&call.run(), 10);
}

#[test]
fn requested_values_outside_the_grammar_are_invalid_input() {
    for (requested, message) in [
        (http(&["*.example.com"]), "capabilities.http_hosts contains invalid host '*.example.com'"),
        (http(&["b.example.com:443"]), "invalid host"),
        (Requested { secrets: vec!["Global/Key".into()], ..Requested::default() }, "invalid secret handle"),
        (
            Requested { storage_prefixes: vec!["../up".into()], ..Requested::default() },
            "invalid storage prefix",
        ),
        (Requested { channels: vec!["c h".into()], ..Requested::default() }, "invalid channel handle"),
    ] {
        let mut call = Call::new("probe");
        call.requested = requested;
        let outcome = call.run();
        fails(&outcome, "invalid_input", message);
        assert_eq!(outcome.failure.unwrap().class, FailureClass::InvalidGrant);
    }
}

#[test]
fn manifest_values_outside_the_grammar_fail_every_run() {
    // Each passes the manifest validator, and fails the daemon's run-time
    // normalisation of the skill's grants even when nothing is requested.
    for (caps, message) in [
        (
            "[[capabilities.secrets]]\nscope = \"skill:acme\"\nkey_names = [\"token\"]",
            "invalid secret handle 'skill:acme/token'",
        ),
        ("[capabilities.filesystem]\nwrite_roots = [\"Data\"]", "invalid storage prefix 'Data'"),
    ] {
        let mut call = Call::new("probe");
        call.manifest = manifest_with(caps, (2_000, 50_000_000, 16 << 20), "");
        let outcome = call.run();
        fails(&outcome, "invalid_input", message);
        assert!(outcome.palyra_error.unwrap().starts_with("skill.manifest.capabilities"));
    }
}

#[test]
fn fuel_is_the_lesser_of_manifest_and_operator() {
    for (manifest_fuel, operator_fuel) in [(400_000, 900_000), (900_000, 300_000)] {
        let mut call = Call::new("burn");
        call.manifest = manifest_with(CAPS, (60_000, manifest_fuel, 16 << 20), "");
        call.operator.fuel_budget = operator_fuel;
        let outcome = call.run();
        fails(&outcome, "quota_exceeded", "exceeded wasm runtime quota");
        let expected = manifest_fuel.min(operator_fuel);
        assert_eq!(outcome.limits.fuel, expected);
        assert_eq!(outcome.fuel_consumed, expected);
        assert_eq!(outcome.failure.unwrap().class, FailureClass::OutOfFuel);
    }
}

#[test]
fn the_wall_clock_is_the_lesser_of_manifest_and_execution_timeout() {
    let mut call = Call::new("burn");
    call.manifest = manifest_with(CAPS, (5_000, u64::MAX / 2, 16 << 20), "");
    // Under the default fuel cap (10,000,000) a loop runs out of fuel first.
    call.operator.fuel_budget = u64::MAX / 2;
    call.operator.execution_timeout_ms = 150;
    let outcome = call.run();
    fails(&outcome, "timed_out", "palyra.plugin.run execution timed out");
    assert_eq!(outcome.limits.timeout_ms, 150);
    assert!(outcome.wall_ms < 3_000, "{}", outcome.wall_ms);

    call.manifest = manifest_with(CAPS, (120, u64::MAX / 2, 16 << 20), "");
    call.operator.execution_timeout_ms = 750;
    assert_eq!(call.run().limits.timeout_ms, 120);
}

#[test]
fn memory_is_the_lesser_of_manifest_and_operator() {
    // Two pages (131,072 bytes) at instantiation: "exceeds memory limits",
    // which the daemon counts as a quota.
    let mut call = Call::new("two-pages");
    call.manifest = manifest_with(CAPS, (2_000, 50_000_000, 65_536), "");
    let outcome = call.run();
    fails(&outcome, "quota_exceeded", "quota");
    assert_eq!(outcome.limits.max_memory_bytes, 65_536);
    assert_eq!(outcome.failure.unwrap().class, FailureClass::MemoryLimit);

    call.manifest = manifest();
    call.operator.max_memory_bytes = 65_536;
    fails(&call.run(), "quota_exceeded", "quota");
    call.operator.max_memory_bytes = 131_072;
    exits(&call.run(), 0);
}

#[test]
fn a_memory_bomb_is_a_runtime_failure() {
    let mut call = Call::new("burn");
    call.modules = vec![("modules/bomb.wasm", read_fixture_wat("hostile/memory-grow-bomb.wat"))];
    let outcome = call.run();
    fails(&outcome, "runtime_failure", "execution failed");
    let failure = outcome.failure.unwrap();
    assert_eq!(failure.class, FailureClass::MemoryLimit);
    assert!(failure.message.contains("memory.grow was refused at the limit"), "{}", failure.message);
}

#[test]
fn tables_come_from_the_operator() {
    let mut call = Call::new("table-50");
    exits(&call.run(), 0);
    call.operator.max_table_elements = 10;
    let outcome = call.run();
    // "table minimum size ... exceeds table limits" is not one of the
    // daemon's quota messages: an instantiation failure, `invalid_input`.
    fails(&outcome, "invalid_input", "host capability import contract");
    assert_eq!(outcome.limits.max_table_elements, 10);
}

#[test]
fn a_trap_is_a_runtime_failure() {
    let mut call = Call::new("burn");
    call.modules = vec![(
        "modules/t.wasm",
        wat::parse_str(r#"(module (func (export "run") (result i32) unreachable))"#).unwrap(),
    )];
    let outcome = call.run();
    fails(&outcome, "runtime_failure", "palyra.plugin.run execution failed");
    assert_eq!(outcome.failure.unwrap().class, FailureClass::Trap);
}

#[test]
fn a_start_function_trap_is_invalid_input() {
    fails(
        &Call::new("start-trap").run(),
        "invalid_input",
        "does not satisfy host capability import contract",
    );
}

#[test]
fn wasi_imports_are_invalid_input() {
    let outcome = Call::new("wasi").run();
    fails(&outcome, "invalid_input", "unknown import");
    let failure = outcome.failure.unwrap();
    assert_eq!(failure.class, FailureClass::LinkError);
    assert!(failure.message.contains("wasi_snapshot_preview1::fd_write"), "{}", failure.message);
}

#[test]
fn a_module_that_does_not_compile_is_invalid_input() {
    let mut call = Call::new("probe");
    call.modules = vec![("modules/x.wasm", b"\0asm\x01\0\0\0\x05".to_vec())];
    let outcome = call.run();
    fails(&outcome, "invalid_input", "failed to compile module");
    assert_eq!(outcome.failure.unwrap().class, FailureClass::InvalidModule);
    call.modules = vec![("modules/x.wasm", Vec::new())];
    fails(&call.run(), "invalid_input", "module payload cannot be empty");
}

#[test]
fn wat_text_in_a_module_entry_runs_as_in_the_host() {
    let mut call = Call::new("probe");
    call.modules =
        vec![("modules/x.wasm", br#"(module (func (export "run") (result i32) i32.const 4))"#.to_vec())];
    exits(&call.run(), 4);
}

#[test]
fn modules_over_the_operator_cap_are_quota_exceeded() {
    let mut call = Call::new("probe");
    call.operator.max_module_size_bytes = 100;
    let outcome = call.run();
    fails(&outcome, "quota_exceeded", "exceeds max_module_size_bytes=100 bytes");
    assert_eq!(outcome.failure.unwrap().class, FailureClass::ModuleTooLarge);
}

#[test]
fn module_choice_follows_the_daemon() {
    let mut call = Call::new("probe");
    call.modules = vec![("modules/a.wasm", wat("exit")), ("modules/b.wasm", wat("probe"))];
    fails(&call.run(), "invalid_input", "skill artifact contains multiple modules; specify module_path");
    call.module = Some("modules/a.wasm");
    exits(&call.run(), 30);
    call.module = Some("modules/c.wasm");
    fails(&call.run(), "invalid_input", "skill artifact does not contain module_path 'modules/c.wasm'");
    call.module = Some("../a.wasm");
    fails(&call.run(), "invalid_input", "must reference a modules/*.wasm artifact entry");
    call.module = None;
    call.manifest = manifest_with(
        CAPS,
        (2_000, 50_000_000, 16 << 20),
        "[operator.plugin]\ndefault_module_path = \"modules/b.wasm\"",
    );
    exits(&call.run(), 0);
}

#[test]
fn entrypoint_choice_follows_the_daemon() {
    let mut call = Call::new("exit");
    exits(&call.run(), 30);
    call.entrypoint = Some("other");
    exits(&call.run(), 7);
    call.entrypoint = Some("Other");
    fails(&call.run(), "invalid_input", "entrypoint 'Other' contains invalid characters");
    call.entrypoint = Some("missing");
    fails(&call.run(), "invalid_input", "missing exported entrypoint 'missing'");
    call.entrypoint = Some("wrong");
    let outcome = call.run();
    fails(&outcome, "invalid_input", "missing exported entrypoint 'wrong'");
    assert_eq!(outcome.failure.unwrap().class, FailureClass::MissingEntrypoint);
    call.entrypoint = None;
    call.manifest = manifest_with(
        CAPS,
        (2_000, 50_000_000, 16 << 20),
        "[operator.plugin]\ndefault_entrypoint = \"other\"",
    );
    exits(&call.run(), 7);
}

#[test]
fn overrides_replace_the_minimums_and_say_so() {
    let mut call = Call::new("burn");
    call.overrides = Overrides { fuel: Some(1_234), max_memory_bytes: None, timeout_ms: None };
    let outcome = call.run();
    assert_eq!(outcome.limits.fuel, 1_234);
    assert_eq!(outcome.overridden, ["fuel"]);
    assert_eq!(outcome.fuel_consumed, 1_234);
}

fn read_fixture_wat(rel: &str) -> Vec<u8> {
    wat::parse_file(fixture(rel)).unwrap()
}

/// An artifact of the vector manifest around `module`, signed with the test key.
fn artifact_with(dir: &std::path::Path, module: Vec<u8>) -> std::path::PathBuf {
    artifact_with_module(dir, "skill.palyra-skill", module)
}

#[test]
fn a_300_kib_module_is_refused_by_default_and_runs_when_the_operator_raises_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let data = "x".repeat(300 * 1024);
    let module = wat::parse_str(format!(
        r#"(module (memory (export "memory") 8) (data (i32.const 0) "{data}") (func (export "run") (result i32) i32.const 5))"#
    ))
    .unwrap();
    assert!(module.len() > 300 * 1024);
    let artifact = artifact_with(dir.path(), module);
    let run = |extra: &[&std::ffi::OsStr]| -> (Option<i32>, serde_json::Value) {
        let output = cmd()
            .args(["run", "--no-cache", "--message-format", "json"])
            .args(extra)
            .arg(&artifact)
            .output()
            .unwrap();
        (output.status.code(), serde_json::from_slice(&output.stdout).unwrap())
    };
    let (code, report) = run(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["palyra_error_kind"], "quota_exceeded");
    assert_eq!(report["exit_code"], serde_json::Value::Null);
    assert_eq!(report["failure"]["class"], "module_too_large");

    let config = dir.path().join("palyrad.toml");
    std::fs::write(&config, "[tool_call.wasm_runtime]\nenabled = true\nmax_module_size_bytes = 1048576\n")
        .unwrap();
    let (code, report) = run(&["--operator-config".as_ref(), config.as_os_str()]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["exit_code"], 5);
    assert_eq!(report["palyra_error_kind"], serde_json::Value::Null);
    assert_eq!(report["limits"]["timeout_ms"], 750);

    // A bad operator config is an error naming the key, before any run.
    std::fs::write(&config, "[tool_call.wasm_runtime]\nmax_module_size_bytes = 0\n").unwrap();
    cmd().args(["run", "--operator-config"]).arg(&config).arg(&artifact).assert().code(2).stderr(
        predicates::str::contains("tool_call.wasm_runtime.max_module_size_bytes must be greater than 0"),
    );
}

#[test]
fn quick_code_never_passes_a_recursion_the_hosts_stack_cannot_hold() {
    // Measured against the consumer's own runtime: 10,000 frames fit its
    // 512 KiB stack, 12,000 do not (runtime_failure), though they would fit
    // 512 KiB of quick code's smaller frames.
    let text = std::fs::read_to_string(fixture("host/recursion.wat")).unwrap();
    for (depth, fits) in [(10_000, true), (12_000, false)] {
        let mut call = Call::new("probe");
        call.modules =
            vec![("modules/r.wasm", wat::parse_str(text.replace("DEPTH", &depth.to_string())).unwrap())];
        let outcome = call.run();
        if fits {
            exits(&outcome, depth);
        } else {
            fails(&outcome, "runtime_failure", "execution failed");
            assert_eq!(outcome.failure.unwrap().class, FailureClass::StackExhausted);
            assert_eq!(outcome.tier, Some(Tier::Optimized), "confirmed on the host's code");
        }
    }
}
