//! Headroom: each figure against the cap that binds, at 79% (no word), at
//! 80% (a warning) and over the cap (refused, naming the setting), for
//! module size (`build`, `inspect`, `audit`), fuel, memory and wall time
//! (`run`), in human and JSON output. Wall time cannot be set exactly from
//! outside, so its 79% and 80% cases take the figure from the debug build's
//! test clock (`__PALYRA_SKILL_TEST_WALL_MS`); over the cap is a real
//! time-out.

use std::path::{Path, PathBuf};

use crate::support::*;
use serde_json::Value;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("headroom-target")
}

/// An operator config whose only setting is `key = value` (the rest are the defaults).
fn operator(dir: &Path, name: &str, table: &str, key: &str, value: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("[{table}]\nenabled = true\n{key} = {value}\n")).unwrap();
    path
}

fn build(skill: &Path, out: &Path, extra: &[&std::ffi::OsStr]) -> std::process::Output {
    cmd()
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .args(["build", "--locked", "--target-dir"])
        .arg(target_dir())
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg(skill)
        .output()
        .unwrap()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn module_size_against_the_operators_cap_at_79_80_and_over() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let out = dir.path().join("out");
    let first = build(&skill, &out, &["--message-format".as_ref(), "json".as_ref()]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let report = json(&first);
    let size = report["module_sizes"][0]["used"].as_u64().unwrap();
    assert_eq!(report["module_sizes"][0]["cap"], 262_144, "the default operator's cap");
    assert_eq!(report["module_sizes"][0]["level"], "ok");

    let cases = [
        ("79", (size as f64 / 0.79).ceil() as u64, 0, "ok"),
        ("80", (size as f64 / 0.80).floor() as u64, 0, "warn"),
        ("over", size - 1, 1, "over"),
    ];
    for (name, cap, code, level) in cases {
        let config = operator(
            dir.path(),
            &format!("{name}.toml"),
            "tool_call.wasm_runtime",
            "max_module_size_bytes",
            cap,
        );
        let flag = ["--operator-config".as_ref(), config.as_os_str()];
        let human = build(&skill, &out, &flag);
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert_eq!(human.status.code(), Some(code), "{name}: {stderr}");
        match level {
            "ok" => {
                assert!(stderr.contains("of the `--operator-config`'s module cap"), "{stderr}");
                assert!(!stderr.contains("warning"), "{name}: {stderr}");
            }
            "warn" => assert!(
                stderr.contains("little room is left") && stderr.contains("max_module_size_bytes"),
                "{stderr}"
            ),
            _ => {
                assert!(stderr.contains("Palyra refuses it (`quota_exceeded`)"), "{stderr}");
                assert!(stderr.contains("max_module_size_bytes"), "{stderr}");
            }
        }
        let with_json =
            build(&skill, &out, &[flag[0], flag[1], "--message-format".as_ref(), "json".as_ref()]);
        let report = json(&with_json);
        assert_eq!(report["module_sizes"][0]["level"], level, "{name}");
        assert_eq!(report["module_sizes"][0]["cap"], cap);
        // At the warning share and over the cap, the size report comes unasked.
        assert_eq!(report["size_reports"].is_array(), level != "ok", "{name}: {report:#}");

        // inspect and audit give the same figure for the same operator.
        let artifact = out.join("acme.guard-1.2.3.palyra-skill");
        let inspected = cmd()
            .arg("inspect")
            .arg(&artifact)
            .args(flag)
            .args(["--message-format", "json"])
            .output()
            .unwrap();
        assert_eq!(json(&inspected)["module_sizes"][0]["level"], level, "inspect {name}");
        let audited =
            cmd().arg("audit").arg(&artifact).args(flag).args(["--message-format", "json"]).output().unwrap();
        assert_eq!(json(&audited)["modules"][0]["module_size"]["level"], level, "audit {name}");
    }
}

/// A module over the stock 256 KiB: `build` exits 1 under the defaults,
/// and 0 for an operator who raised the cap.
#[test]
fn a_module_over_256_kib_fails_the_build_unless_the_operator_raised_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("big");
    copy_fixture_dir("skills/guard", &skill);
    let lib = skill.join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n/// 300 KB of data that the module keeps.\n#[unsafe(no_mangle)]\npub static BLOB: [u8; 300_000] = [7; 300_000];\n");
    std::fs::write(&lib, source).unwrap();
    let out = dir.path().join("out");
    let refused = build(&skill, &out, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("of the default operator's module cap: Palyra refuses it"), "{stderr}");
    let raised =
        operator(dir.path(), "raised.toml", "tool_call.wasm_runtime", "max_module_size_bytes", 1 << 20);
    let accepted = build(&skill, &out, &["--operator-config".as_ref(), raised.as_os_str()]);
    assert!(accepted.status.success(), "{}", String::from_utf8_lossy(&accepted.stderr));
}

/// A loop of a fixed number of iterations: the same fuel every run.
fn counting_loop() -> Vec<u8> {
    wat::parse_str(
        r#"(module (func (export "run") (result i32) (local i32)
             (loop $l (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                      (br_if $l (i32.lt_u (local.get 0) (i32.const 20000))))
             (i32.const 0)))"#,
    )
    .unwrap()
}

fn run(artifact: &Path, args: &[String]) -> std::process::Output {
    cmd().arg("run").arg(artifact).args(args).output().unwrap()
}

#[test]
fn fuel_and_memory_against_their_limits_at_79_80_and_over() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(dir.path(), "loop.palyra-skill", counting_loop());
    let first = run(&artifact, &["--message-format".into(), "json".into()]);
    let report = json(&first);
    let fuel = report["budget"]["fuel"]["used"].as_u64().unwrap();
    assert!(fuel > 20_000, "{report:#}");
    assert_eq!(report["budget"]["fuel"]["cap"], 5_000_000, "the manifest's quota binds the default operator");
    assert_eq!(report["limit_sources"]["fuel"], "manifest");

    for (name, budget, level) in [
        ("79", (fuel as f64 / 0.79).ceil() as u64, "ok"),
        ("80", (fuel as f64 / 0.80).floor() as u64, "warn"),
    ] {
        let args = vec!["--fuel".to_owned(), budget.to_string()];
        let human = run(&artifact, &args);
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert!(human.status.success(), "{name}: {stderr}");
        assert!(stderr.contains(&format!("fuel {} of {}", thousands(fuel), thousands(budget))), "{stderr}");
        assert_eq!(stderr.contains("warning: fuel used"), level == "warn", "{name}: {stderr}");
        if level == "warn" {
            assert!(stderr.contains("`--fuel` set on the command line binds"), "{stderr}");
        }
        let report = json(&run(&artifact, &[args, vec!["--message-format".into(), "json".into()]].concat()));
        assert_eq!(report["budget"]["fuel"]["level"], level, "{name}");
        assert_eq!(report["limit_sources"]["fuel"], "command_line");
    }
    let over = run(&artifact, &["--fuel".into(), (fuel / 2).to_string()]);
    let stderr = String::from_utf8_lossy(&over.stderr);
    assert_eq!(over.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("out_of_fuel") && stderr.contains("`--fuel` set on the command line binds"),
        "{stderr}"
    );

    // Memory: two pages, 131,072 bytes, from the start.
    let memory = artifact_with_module(
        dir.path(),
        "pages.palyra-skill",
        wat::parse_file(fixture("host/two-pages.wat")).unwrap(),
    );
    for (name, cap, level) in [("79", 165_914u64, "ok"), ("80", 163_840, "warn")] {
        let report = json(&run(
            &memory,
            &["--max-memory".into(), cap.to_string(), "--message-format".into(), "json".into()],
        ));
        assert_eq!(report["budget"]["memory_bytes"]["used"], 131_072, "{name}");
        assert_eq!(report["budget"]["memory_bytes"]["level"], level, "{name}: {report:#}");
        let human = run(&memory, &["--max-memory".into(), cap.to_string()]);
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert_eq!(stderr.contains("warning: peak memory used"), level == "warn", "{name}: {stderr}");
    }
    let over = run(&memory, &["--max-memory".into(), "100000".into()]);
    assert_eq!(over.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&over.stderr);
    assert!(stderr.contains("memory_limit"), "{stderr}");
    assert_eq!(stderr.matches("linear memory would grow").count(), 1, "explained once: {stderr}");
    let bomb = artifact_with_module(
        dir.path(),
        "bomb.palyra-skill",
        wat::parse_file(fixture("hostile/memory-grow-bomb.wat")).unwrap(),
    );
    let over = run(&bomb, &["--max-memory".into(), "1048576".into()]);
    let stderr = String::from_utf8_lossy(&over.stderr);
    assert_eq!(over.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Failed runtime_failure"),
        "the daemon reports a memory bomb as a trap: {stderr}"
    );
    assert_eq!(stderr.matches("memory.grow was refused").count(), 1, "explained once: {stderr}");

    // Time: the figure and its limit are reported; the level follows them.
    let report = json(&run(&artifact, &["--message-format".into(), "json".into()]));
    let time = &report["budget"]["time_ms"];
    assert_eq!(time["cap"], 750, "the operator's 750 ms bind the manifest's 2,000");
    assert_eq!(report["limit_sources"]["timeout"], "operator");
    assert!(time["used"].as_u64().unwrap() <= 750);
}

/// Wall time at 79% (no word) and 80% (a warning naming the setting that
/// binds) of `--timeout-ms`, from the test clock; the real time-out is
/// `fuel_after_a_time_out_is_what_was_consumed`.
#[test]
fn wall_time_against_its_limit_at_79_and_80() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(dir.path(), "loop.palyra-skill", counting_loop());
    let timed = |wall: &str, json: bool| {
        let mut command = cmd();
        command
            .env("__PALYRA_SKILL_TEST_WALL_MS", wall)
            .arg("run")
            .arg(&artifact)
            .args(["--timeout-ms", "1000"]);
        if json {
            command.args(["--message-format", "json"]);
        }
        command.output().unwrap()
    };
    for (wall, level) in [("790", "ok"), ("800", "warn")] {
        let human = timed(wall, false);
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert!(human.status.success(), "{wall}: {stderr}");
        let percent = if level == "ok" { "79.0" } else { "80.0" };
        assert!(stderr.contains(&format!("time {wall} ms of 1,000 ms ({percent}%)")), "{stderr}");
        assert_eq!(stderr.contains("warning: wall time used"), level == "warn", "{wall}: {stderr}");
        if level == "warn" {
            assert!(stderr.contains("`--timeout-ms` set on the command line binds"), "{stderr}");
        }
        let report = json(&timed(wall, true));
        let time = &report["budget"]["time_ms"];
        assert_eq!((time["used"].as_u64(), time["cap"].as_u64()), (Some(wall.parse().unwrap()), Some(1000)));
        assert_eq!(time["level"], level, "{wall}: {report:#}");
        assert_eq!(report["limit_sources"]["timeout"], "command_line");
    }
}

/// The skill asks for more fuel than the operator gives: running out says
/// the operator's cap binds, and raising the skill's quota would not help.
#[test]
fn running_out_names_the_cap_that_binds() {
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        fixture_text("vectors/inputs/skill.toml").replace("fuel_budget = 5000000", "fuel_budget = 20000000");
    let parts = cargo_palyra_skill::pack::Parts {
        modules: vec![("echo.wasm".into(), wat::parse_file(fixture("host/burn.wat")).unwrap())],
        ..echo_parts(&manifest)
    };
    let (mut entries, m) = cargo_palyra_skill::pack::assemble(parts).unwrap();
    cargo_palyra_skill::pack::sign(&mut entries, &m.publisher, &test_key(), 1_700_000_000_000).unwrap();
    let artifact = dir.path().join("burn.palyra-skill");
    std::fs::write(&artifact, entries.to_zip().unwrap()).unwrap();
    let out = cmd().arg("run").arg(&artifact).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("out of fuel after 10,000,000 units"), "{stderr}");
    assert!(
        stderr.contains("the operator's cap binds: `[tool_call.wasm_runtime] fuel_budget = 10000000`"),
        "{stderr}"
    );
    assert!(!stderr.contains("raise `capabilities.quotas.fuel_budget`"), "{stderr}");
}

fn thousands(n: u64) -> String {
    cargo_palyra_skill::runtime::thousands(n)
}

/// A call that runs out of time reports the fuel it really burned, on the
/// quick code `run` starts on and on the optimized code that confirms it.
#[test]
fn fuel_after_a_time_out_is_what_was_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(
        dir.path(),
        "burn.palyra-skill",
        wat::parse_file(fixture("host/burn.wat")).unwrap(),
    );
    for tier in [&["--optimized".to_owned()][..], &[][..]] {
        let args =
            [
                &[
                    "--fuel".to_owned(),
                    "100000000000".to_owned(),
                    "--timeout-ms".to_owned(),
                    "200".to_owned(),
                ][..],
                tier,
                &["--message-format".to_owned(), "json".to_owned()][..],
            ]
            .concat();
        let out = run(&artifact, &args);
        assert_eq!(out.status.code(), Some(1));
        let report = json(&out);
        assert_eq!(report["palyra_error_kind"], "timed_out", "{report:#}");
        let fuel = report["budget"]["fuel"]["used"].as_u64().unwrap();
        // 200 ms of a tight loop burns millions of units on any machine.
        assert!(fuel > 1_000_000, "{tier:?}: {fuel} fuel reported after 200 ms of a loop");
        assert_eq!(report["fuel_consumed"], fuel);
        // Time over its cap: the figure, the limit and the level, in JSON and for people.
        let time = &report["budget"]["time_ms"];
        let used = time["used"].as_u64().unwrap();
        assert!(used >= 200 && time["cap"] == 200, "{report:#}");
        // A call ended at exactly its limit used all of it, not more.
        assert_eq!(time["level"], if used > 200 { "over" } else { "warn" }, "{report:#}");
        let human = run(&artifact, &args[..args.len() - 2]);
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert!(stderr.contains(" ms of 200 ms ("), "{stderr}");
        assert!(stderr.contains("`--timeout-ms` set on the command line binds"), "{stderr}");
    }
}

/// `build --size-report` of a stripped module: sections, and the largest
/// functions and crates by name, the names taken from the module's named
/// copy (the same build, its `name` section kept), not from a second build.
#[test]
fn the_size_report_names_functions_and_crates_of_a_stripped_module() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("budget");
    copy_fixture_dir("skills/budget", &skill);
    let out = dir.path().join("out");
    let built =
        build(&skill, &out, &["--size-report".as_ref(), "--message-format".as_ref(), "json".as_ref()]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let report = &json(&built)["size_reports"][0];
    assert_eq!(report["path"], "modules/acme_budget.wasm");
    assert_eq!(report["names"], "named_copy", "the fixture is built with strip = true");
    let sections: Vec<&str> =
        report["sections"].as_array().unwrap().iter().map(|s| s["section"].as_str().unwrap()).collect();
    assert_eq!(sections[0], "code", "{sections:?}");
    assert!(sections.contains(&"custom:.dep-v0") && sections.contains(&"data"), "{sections:?}");
    let functions = report["functions"].as_array().unwrap();
    assert!(functions.iter().all(|f| f["name"].is_string()), "every function named");
    let sizes: Vec<u64> = functions.iter().map(|f| f["bytes"].as_u64().unwrap()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
    let code: u64 =
        report["sections"].as_array().unwrap().iter().find(|s| s["section"] == "code").unwrap()["bytes"]
            .as_u64()
            .unwrap();
    assert!(sizes.iter().sum::<u64>() <= code && sizes.iter().sum::<u64>() > code * 9 / 10);
    // At least 99% of the code bytes are in functions with a name.
    let named: u64 =
        functions.iter().filter(|f| f["crate"] != "[unnamed]").map(|f| f["bytes"].as_u64().unwrap()).sum();
    assert!(
        named * 100 >= sizes.iter().sum::<u64>() * 99,
        "{named} of {} code bytes named",
        sizes.iter().sum::<u64>()
    );
    let crates: Vec<&str> =
        report["crates"].as_array().unwrap().iter().map(|c| c["crate"].as_str().unwrap()).collect();
    assert!(crates.contains(&"serde_json") && crates.contains(&"core"), "{crates:?}");
    // The human report lists them too.
    let human = build(&skill, &out, &["--size-report".as_ref()]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert!(stdout.contains("largest functions (code)") && stdout.contains("serde_json 1."), "{stdout}");
}
