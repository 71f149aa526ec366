//! Traps that say what panicked: the stack once, named, with the panic's
//! meaning and the skill's own frame (file and line when the named copy
//! has line tables); fuel that runs out names where it went; an import
//! the host lacks names the crate and feature that bring it.

use std::path::Path;

use crate::support::*;
use serde_json::Value;

fn run(artifact: &Path, args: &[&str]) -> std::process::Output {
    cmd().arg("run").arg(artifact).args(args).output().unwrap()
}

/// A module shaped as a Rust panic reaches the host: `run` calls the
/// skill's function, which calls the library's bounds check, which panics.
fn panicking_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
             (func $core::panicking::panic_fmt unreachable)
             (func $core::panicking::panic_bounds_check call $core::panicking::panic_fmt)
             (func $weather::pick (param i32) (result i32)
               (if (i32.gt_u (local.get 0) (i32.const 2)) (then call $core::panicking::panic_bounds_check))
               (local.get 0))
             (func (export "run") (result i32) (call $weather::pick (i32.const 7))))"#,
    )
    .unwrap()
}

#[test]
fn a_panic_is_named_once_with_its_meaning_and_frame() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(dir.path(), "panic.palyra-skill", panicking_module());
    let human = run(&artifact, &[]);
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert_eq!(human.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "panicked: index out of bounds (`core::panicking::panic_bounds_check`) in weather::pick"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("called from the skill's run"), "{stderr}");
    assert!(stderr.contains("(4 frames, shown below)"), "the daemon's words without the backtrace: {stderr}");
    assert_eq!(stderr.matches("core::panicking::panic_fmt").count(), 1, "the stack, once: {stderr}");
    assert!(!stderr.contains("<wasm function"), "{stderr}");

    let report: Value =
        serde_json::from_slice(&run(&artifact, &["--message-format", "json"]).stdout).unwrap();
    let failure = &report["failure"];
    assert_eq!(failure["class"], "trap");
    assert_eq!(failure["panic"], "index out of bounds (`core::panicking::panic_bounds_check`)");
    assert_eq!(failure["at"], "weather::pick");
    let names: Vec<&str> =
        failure["stack"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["core::panicking::panic_fmt", "core::panicking::panic_bounds_check", "weather::pick", "run"]
    );
    assert!(
        report["palyra_error"].as_str().unwrap().contains("wasm backtrace"),
        "the daemon's own text stays whole in the JSON: {report:#}"
    );
}

#[test]
fn fuel_that_runs_out_names_where_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat::parse_str(
        r#"(module
             (func $weather::spin (loop $l (br $l)))
             (func $weather::setup (local i32)
               (loop $l (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                        (br_if $l (i32.lt_u (local.get 0) (i32.const 100)))))
             (func (export "run") (result i32) (call $weather::setup) (call $weather::spin) (i32.const 0)))"#,
    )
    .unwrap();
    let artifact = artifact_with_module(dir.path(), "spin.palyra-skill", module);
    let human = run(&artifact, &["--fuel", "200000"]);
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert_eq!(human.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("out_of_fuel"), "{stderr}");
    assert!(stderr.contains("most fuel: weather::spin spent 9"), "{stderr}");
    assert!(stderr.contains("stopped in weather::spin"), "{stderr}");
    let report: Value =
        serde_json::from_slice(&run(&artifact, &["--fuel", "200000", "--message-format", "json"]).stdout)
            .unwrap();
    assert!(report["failure"]["hottest"].as_str().unwrap().starts_with("weather::spin spent"), "{report:#}");
    assert_eq!(report["fuel_consumed"], 200_000, "the report is the first run's, not the profile's");
}

/// A real Rust panic in a crate whose profile keeps line tables: the
/// skill's frame has its file and line, through inlined code.
#[test]
fn a_rust_panic_points_at_the_skills_line() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let lib = skill.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let source = source.replace(
        "    let granted = i64::from(unsafe { http_count() });",
        "    let granted = i64::from(unsafe { http_count() });\n    let table = std::hint::black_box([1i64, 2, 3]);\n    let granted = granted + table[granted as usize + 5];",
    );
    std::fs::write(&lib, &source).unwrap();
    let line = source.lines().position(|l| l.contains("table[granted as usize + 5]")).unwrap() + 1;
    let manifest = std::fs::read_to_string(skill.join("Cargo.toml")).unwrap();
    std::fs::write(
        skill.join("Cargo.toml"),
        manifest.replace("strip = true", "strip = true\ndebug = \"line-tables-only\""),
    )
    .unwrap();
    let out = cmd().arg("run").arg(&skill).args(["--message-format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let failure = &report["failure"];
    assert_eq!(failure["panic"], "index out of bounds (`core::panicking::panic_bounds_check`)", "{report:#}");
    let frames = failure["stack"].as_array().unwrap();
    let skill_frame = frames
        .iter()
        .find(|f| f["location"].as_str().is_some_and(|l| l.starts_with("src/lib.rs:")))
        .unwrap_or_else(|| panic!("no frame in src/lib.rs: {report:#}"));
    assert_eq!(skill_frame["location"], format!("src/lib.rs:{line}"), "{report:#}");
}

/// An import the host lacks names the crate and feature that bring it:
/// `clocked` depends on `clocky`, whose default feature `wasmbind` turns
/// on an optional `wasm-bindgen` (a stand-in package with JavaScript glue
/// imports, as chrono's `wasmbind` pulls the real one in).
#[test]
fn an_import_the_host_lacks_names_the_feature_that_brings_it() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("clocked");
    copy_fixture_dir("skills/clocked", &skill);
    let out = cmd()
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .args(["build", "--locked"])
        .arg(&skill)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`__wbindgen_placeholder__::__wbindgen_now`"), "{stderr}");
    assert!(stderr.contains("no JavaScript, no clock, no randomness, no input"), "{stderr}");
    assert!(
        stderr.contains(
            "`wasm-bindgen` brings these imports, via clocked → clocky → wasm-bindgen: turn that feature off (the package `wasm-bindgen` is optional in `clocky`, turned on by its feature `wasmbind` (a default feature)), or drop `clocky`"
        ),
        "{stderr}"
    );
}
