//! The consumer's engine, by construction: a compiled Rust skill needs
//! exactly the fuel here that it needs on Palyra's own runtime.

use std::path::{Path, PathBuf};

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::host::{self, HostCall, OperatorConfig, Overrides, Requested};
use cargo_palyra_skill::manifest::Manifest;
use cargo_palyra_skill::runtime::{Runtime, Tier};

/// The least fuel budget with which the `run` export of the budget
/// fixture's module (serde_json round trips, a hash, a sort, a BTreeMap;
/// built by `build` from `fixtures/skills/budget` with rustc 1.95.0: the
/// SHA-256 below) returns, with no grants, on the consumer's own runtime.
/// Measured 2026-12-04 with `palyra-plugins-runtime` of Palyra at 1e2f4d1f
/// (wasmtime =43.0.1 as its lock file has it, its `Config`), built from the
/// fetched source with a ten-line harness that called
/// `WasmRuntime::new_with_limits` and `execute_i32_entrypoint` with budgets
/// bisected between 0 and 2^40 (nothing of it is kept here). A budget one
/// less fails there with fuel exhaustion.
const CONSUMER_LEAST_FUEL: u64 = 3_900_119;
const BUDGET_MODULE_SHA256: &str = "1d7aa5782392af78b84b7aa64256320bdb7423786e03065dd7e4d5cb3d51c2b4";

fn budget_module() -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let target: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("engine-target");
    cmd()
        .args(["build", "--locked", "--unsigned", "-q", "--manifest-path"])
        .arg(fixture("skills/budget/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let bytes = std::fs::read(out.path().join("acme.budget-0.1.0.palyra-skill")).unwrap();
    let entries = Entries::read_zip(&bytes).unwrap();
    entries.get("modules/acme_budget.wasm").unwrap().bytes.clone()
}

#[test]
fn a_compiled_rust_skill_needs_exactly_the_fuel_it_needs_on_the_consumers_runtime() {
    use sha2::Digest;
    let module = budget_module();
    let sha256 = hex::encode(sha2::Sha256::digest(&module));
    assert_eq!(
        sha256, BUDGET_MODULE_SHA256,
        "the budget fixture compiled to another module (another rustc or source?): the pinned figure is for the module above; measure again as the constant's comment says"
    );
    let manifest = Manifest::parse(
        &fixture_text("skills/budget/skill.toml")
            .replace("# `version` is taken from Cargo.toml.", "version = \"0.1.0\""),
    )
    .unwrap();
    let operator = OperatorConfig { enabled: true, fuel_budget: u64::MAX / 4, ..OperatorConfig::default() };
    let runtime = Runtime::new(None).unwrap();
    let requested = Requested::default();
    let least = |tier: Tier| {
        let runs = |fuel: u64| {
            let outcome = host::execute(
                &runtime,
                &HostCall {
                    operator: &operator,
                    manifest: &manifest,
                    modules: vec![("modules/acme_budget.wasm", module.as_slice())],
                    module_path: None,
                    entrypoint: None,
                    tool_id: None,
                    requested: &requested,
                    overrides: Overrides { fuel: Some(fuel), ..Overrides::default() },
                    tier,
                    profile: None,
                },
            );
            outcome.exit_code.is_some()
        };
        let (mut fails, mut passes) = (0u64, 1u64 << 40);
        while fails + 1 < passes {
            let mid = fails + (passes - fails) / 2;
            if runs(mid) { passes = mid } else { fails = mid }
        }
        passes
    };
    // The host's own code, then the quick code `run` and `test` start on.
    for tier in [Tier::Optimized, Tier::Quick] {
        let here = least(tier);
        assert_eq!(
            here, CONSUMER_LEAST_FUEL,
            "{tier:?}: least fuel here {here}, on the consumer's runtime {CONSUMER_LEAST_FUEL}"
        );
    }
}
