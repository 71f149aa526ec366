//! Fuel profiles (`run --fuel-profile`, `test --fuel-profile`) and fuel
//! baselines (`test --save-baseline`, `test --baseline`), on the fixture
//! skills built for real.

use std::path::{Path, PathBuf};

use cargo_palyra_skill::text::thousands;
use serde_json::Value;

use crate::support::{copy_fixture_dir, fixture, std_cmd};

fn target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("profile-target")
}

/// `cargo-palyra-skill ARGS` in `dir`, sharing one cargo target directory.
fn tool(dir: &Path, args: &[&str]) -> std::process::Output {
    std_cmd().args(args).current_dir(dir).env("CARGO_TARGET_DIR", target()).output().unwrap()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks a speedscope file against the format's schema and its invariants.
fn check_speedscope(path: &Path, total: u64) {
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_slice(&std::fs::read(fixture("schemas/speedscope.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let frames = doc["shared"]["frames"].as_array().unwrap().len();
    let profile = &doc["profiles"][0];
    let samples = profile["samples"].as_array().unwrap();
    let weights = profile["weights"].as_array().unwrap();
    assert_eq!(samples.len(), weights.len(), "a weight per sample");
    assert!(
        samples.iter().flat_map(|s| s.as_array().unwrap()).all(|f| (f.as_u64().unwrap() as usize) < frames)
    );
    assert_eq!(weights.iter().map(|w| w.as_u64().unwrap()).sum::<u64>(), total);
    assert_eq!(profile["endValue"].as_u64(), Some(total));
}

/// Reads every event of an SVG: an error is malformed XML.
fn check_svg(svg: &[u8]) {
    let mut reader = quick_xml::Reader::from_reader(svg);
    let mut buf = Vec::new();
    let mut elements = 0;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => elements += 1,
            Ok(_) => {}
            Err(e) => panic!("the SVG is not well-formed at {}: {e}", reader.buffer_position()),
        }
        buf.clear();
    }
    assert!(elements > 10, "a drawing, not an empty document");
}

#[test]
fn a_profile_of_guard_names_its_fuel_the_same_every_time_and_totals_the_unprofiled_run() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let plain = tool(&skill, &["run", "--allow-http", "api.example.com", "--message-format", "json"]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let unprofiled = json(&plain)["fuel_consumed"].as_u64().unwrap();

    let mut bytes = Vec::new();
    for round in ["a", "b"] {
        let svg = dir.path().join(format!("{round}/guard.svg"));
        let args = ["run", "--allow-http", "api.example.com", "--message-format", "json", "--fuel-profile"];
        let out = tool(&skill, &[&args[..], &[svg.to_str().unwrap()]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let report = json(&out);
        let profile = &report["fuel_profile"];
        assert_eq!(report["fuel_consumed"].as_u64(), Some(unprofiled), "profiling changes no fuel");
        assert_eq!(profile["total_fuel"].as_u64(), Some(unprofiled));
        assert_eq!(profile["unprofiled_fuel"].as_u64(), Some(unprofiled));
        let named = profile["named_share"].as_f64().unwrap();
        assert!(named >= 95.0, "{named}% of the fuel in named functions");
        let top = profile["top_functions"].as_array().unwrap();
        assert!(
            top.len() > 3 && top.iter().any(|f| f["name"].as_str().unwrap().contains("serde_json")),
            "{top:#?}"
        );
        assert!(profile["top_crates"].as_array().unwrap().iter().any(|c| c["name"] == "serde_json"));
        let svg_bytes = std::fs::read(&svg).unwrap();
        check_svg(&svg_bytes);
        let speedscope = dir.path().join(format!("{round}/guard.speedscope.json"));
        assert_eq!(profile["speedscope"].as_str(), Some(speedscope.to_str().unwrap()));
        check_speedscope(&speedscope, unprofiled);
        bytes.push((svg_bytes, std::fs::read(&speedscope).unwrap()));
    }
    assert!(bytes[0] == bytes[1], "two runs give the same profile, byte for byte");

    // People get the top functions and crates, with fuel and share.
    let svg = dir.path().join("human.svg");
    let human =
        tool(&skill, &["run", "--allow-http", "api.example.com", "--fuel-profile", svg.to_str().unwrap()]);
    let text = stderr(&human);
    assert!(human.status.success(), "{text}");
    assert!(
        text.contains("Profiled") && text.contains("top functions") && text.contains("top crates"),
        "{text}"
    );
    assert!(text.contains("% in named functions"), "{text}");
    assert!(!text.contains("under 95%"), "{text}");

    // The release artifact at its default place: running it counts what the
    // profile of the crate counted, and it is profiled by name from the
    // named copy `build` keeps beside it.
    let artifact = release_artifact(&skill, "acme.guard-1.2.3");
    let args = ["--allow-http", "api.example.com", "--message-format", "json"];
    let released = tool(dir.path(), &[&["run", artifact.to_str().unwrap()][..], &args].concat());
    assert!(released.status.success(), "{}", stderr(&released));
    assert_eq!(json(&released)["fuel_consumed"].as_u64(), Some(unprofiled), "the artifact's own fuel");
    let svg = dir.path().join("artifact.svg");
    let profiled = tool(
        dir.path(),
        &[&["run", artifact.to_str().unwrap()][..], &args, &["--fuel-profile", svg.to_str().unwrap()]]
            .concat(),
    );
    assert!(profiled.status.success(), "{}", stderr(&profiled));
    let profile = &json(&profiled)["fuel_profile"];
    assert_eq!(profile["total_fuel"].as_u64(), Some(unprofiled));
    assert!(profile["named_share"].as_f64().unwrap() >= 95.0, "{profile:#}");
}

/// `build` of the crate at `skill`, to the default place in the shared
/// target directory: the artifact `<stem>.palyra-skill`, with its named
/// copies in `<stem>.named/` beside it.
fn release_artifact(skill: &Path, stem: &str) -> PathBuf {
    let built = tool(skill, &["build", "--locked", "--unsigned"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let artifact = target().join(format!("palyra-skill/{stem}.palyra-skill"));
    let named = std::fs::read_dir(target().join(format!("palyra-skill/{stem}.named"))).unwrap();
    // The fixtures set `strip = true`: the artifact's module is the named
    // copy without what that leaves out, names and debug info.
    let entries =
        cargo_palyra_skill::artifact::Entries::read_zip(&std::fs::read(&artifact).unwrap()).unwrap();
    for copy in named {
        let copy = copy.unwrap();
        let module = &entries.get(&format!("modules/{}", copy.file_name().to_string_lossy())).unwrap().bytes;
        let copy = std::fs::read(copy.path()).unwrap();
        assert_eq!(&cargo_palyra_skill::named::strip(&copy).unwrap(), module);
        assert!(!cargo_palyra_skill::named::function_names(&copy).is_empty());
    }
    artifact
}

/// The budget fixture's real work (millions of units): the profile of the
/// crate totals exactly the fuel the release artifact's run counts, and
/// names nearly all of it. A profile once came from a second build with
/// `strip` off, which was other code: 198,170 units against the run's 198,074.
#[test]
fn a_profile_of_the_budget_fixture_totals_its_artifacts_fuel_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("budget");
    copy_fixture_dir("skills/budget", &skill);
    let artifact = release_artifact(&skill, "acme.budget-0.1.0");
    // The fixture's own quota, on optimized and on quick code alike, with
    // no wall clock to end it early.
    let limits = ["--fuel", "10000000", "--timeout-ms", "120000", "--message-format", "json"];
    let plain = tool(dir.path(), &[&["run", artifact.to_str().unwrap()][..], &limits].concat());
    assert!(plain.status.success(), "{}", stderr(&plain));
    let fuel = json(&plain)["fuel_consumed"].as_u64().unwrap();
    assert!(fuel > 1_000_000, "{fuel}");

    let svg = dir.path().join("budget.svg");
    let out = tool(
        &skill,
        &[&["run", "--locked"][..], &limits, &["--fuel-profile", svg.to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["fuel_consumed"].as_u64(), Some(fuel));
    let profile = &report["fuel_profile"];
    assert_eq!(profile["total_fuel"].as_u64(), Some(fuel), "the profile's total is the artifact's fuel");
    assert!(profile["named_share"].as_f64().unwrap() >= 95.0, "{profile:#}");
    let notes = report["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().unwrap().contains("named copy")), "{notes:#?}");
    check_speedscope(&dir.path().join("budget.speedscope.json"), fuel);
}

#[test]
fn a_stripped_artifact_profiles_by_function_number_and_says_how_to_get_names() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let out_dir = dir.path().join("out");
    let built = tool(&skill, &["build", "--out", out_dir.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    let artifact = out_dir.join("acme.guard-1.2.3.palyra-skill");
    let svg = dir.path().join("stripped.svg");
    let args = ["run", artifact.to_str().unwrap(), "--allow-http", "api.example.com", "--fuel-profile"];
    let out = tool(dir.path(), &[&args[..], &[svg.to_str().unwrap()]].concat());
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("under 95% of the fuel has a function name"), "{text}");
    assert!(text.contains("function #"), "{text}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("function #"));

    // An output path that cannot be written is an error that names it.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let bad = blocked.join("x.svg");
    let out = tool(dir.path(), &[&args[..], &[bad.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("a-file"), "{}", stderr(&out));
}

#[test]
fn test_writes_a_profile_per_case_and_holds_fuel_to_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);

    // A profile pair per case, whose totals are the cases' fuel.
    let profiles = dir.path().join("profiles");
    let out =
        tool(&skill, &["test", "--message-format", "json", "--fuel-profile", profiles.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    for case in report["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap().trim_end_matches(".json");
        let svg = profiles.join(format!("{name}.svg"));
        check_svg(&std::fs::read(&svg).unwrap());
        check_speedscope(
            &profiles.join(format!("{name}.speedscope.json")),
            case["fuel_consumed"].as_u64().unwrap(),
        );
        assert_eq!(case["fuel_profile"]["total_fuel"], case["fuel_consumed"]);
    }

    // No baseline yet: a clear error that says how to make one.
    let missing = tool(&skill, &["test", "--baseline"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("--save-baseline"), "{}", stderr(&missing));

    let saved = tool(&skill, &["test", "--save-baseline"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    let baseline: Value =
        serde_json::from_slice(&std::fs::read(skill.join("fuel-baseline.json")).unwrap()).unwrap();
    assert_eq!(baseline["format"], "cargo-palyra-skill/fuel-baseline/v1");
    let base = baseline["cases"]["check/granted.json"].as_u64().unwrap();
    assert!(base > 1000, "{baseline}");
    let same = tool(&skill, &["test", "--baseline", "--message-format", "json"]);
    assert!(same.status.success(), "{}", stderr(&same));
    assert_eq!(json(&same)["baseline"]["regressions"], 0);

    // The skill now parses its policy five times: more fuel, same verdicts.
    let source = skill.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap().replace(
        "let Ok(policy) = serde_json::from_str::<Value>(POLICY) else {",
        "for _ in 0..4 { let _ = std::hint::black_box(serde_json::from_str::<Value>(std::hint::black_box(POLICY))); }\n    let Ok(policy) = serde_json::from_str::<Value>(POLICY) else {",
    );
    std::fs::write(&source, text).unwrap();
    let grown = tool(&skill, &["test", "--baseline", "--message-format", "json"]);
    assert_eq!(grown.status.code(), Some(1), "{}", stderr(&grown));
    let report = json(&grown);
    assert_eq!(report["passed"], 2, "the cases still pass; the baseline fails them");
    let row = &report["baseline"]["rows"][0];
    assert_eq!(row["case"], "check/granted.json");
    assert_eq!(row["status"], "regressed");
    assert_eq!(row["base"].as_u64(), Some(base));
    let head = row["head"].as_u64().unwrap();
    assert!(head > base * 2, "{row}");
    assert_eq!(row["delta"].as_u64(), Some(head - base));
    assert!(row["delta_percent"].as_f64().unwrap() > 100.0);

    let human = tool(&skill, &["test", "--baseline"]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(1));
    assert!(stdout.contains("REGRESSED") && stdout.contains("check/granted.json"), "{stdout}");
    assert!(stdout.contains(&format!("+{:.1}%", row["delta_percent"].as_f64().unwrap())), "{stdout}");
    assert!(stderr(&human).contains("--save-baseline"), "{}", stderr(&human));

    // A tolerance that covers the growth passes; a bad one is refused.
    let tolerant = tool(&skill, &["test", "--baseline", "--baseline-tolerance", "100000"]);
    assert!(tolerant.status.success(), "{}", stderr(&tolerant));
    let bad = tool(&skill, &["test", "--baseline", "--baseline-tolerance", "-1"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// A tool's name is free text in the manifest, and `test --fuel-profile
/// DIR` wrote `DIR/<tool name>/<case>.svg`: a tool named `../x` (its cases
/// in `x/` beside `fixtures/`) or an absolute path (its cases there) wrote
/// its profiles outside DIR. Such a name is refused before any case runs,
/// and no profile is written anywhere.
#[test]
fn test_never_writes_a_profile_outside_its_folder_whatever_a_tool_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let absolute = dir.path().join("abs");
    for (name, cases) in [("../x", None), (absolute.to_str().unwrap(), Some(absolute.clone()))] {
        let skill = dir.path().join("guard");
        let _ = std::fs::remove_dir_all(&skill);
        copy_fixture_dir("skills/guard", &skill);
        let manifest = std::fs::read_to_string(skill.join("skill.toml")).unwrap();
        std::fs::write(
            skill.join("skill.toml"),
            manifest.replace("name = \"check\"", &format!("name = \"{name}\"")),
        )
        .unwrap();
        // The cases where `fixtures/<tool name>/` leads.
        let cases = cases.unwrap_or_else(|| skill.join("x"));
        copy_fixture_dir("skills/guard/fixtures/check", &cases);
        let profiles = dir.path().join("profiles");
        let out = tool(&skill, &["test", "--fuel-profile", profiles.to_str().unwrap()]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        assert!(text.contains(&format!("tool `acme.guard` is named `{name}`")), "{text}");
        assert!(text.contains("rename the tool"), "{text}");
        let written: Vec<PathBuf> = files_under(dir.path())
            .into_iter()
            .filter(|p| {
                p.extension().is_some_and(|x| x == "svg") || p.to_string_lossy().ends_with(".speedscope.json")
            })
            .collect();
        assert!(written.is_empty(), "{name}: profiles written at {written:?}");
    }
}

/// `--fuel-profile-interval 1` on a deep recursion that picks one of four
/// functions at each level: nearly every sample is a stack never seen
/// before. The profile keeps at most `MAX_PROFILE_STACKS` of them, counts
/// the rest under `[other stacks]`, says so in the JSON and to people, and
/// still adds up to the call's fuel.
#[test]
fn profiling_a_varied_recursion_every_unit_of_fuel_keeps_a_bounded_number_of_stacks() {
    use cargo_palyra_skill::runtime::MAX_PROFILE_STACKS;

    let dir = tempfile::tempdir().unwrap();
    let module = wat::parse_file(fixture("hostile/varied-recursion.wat")).unwrap();
    let artifact = crate::support::artifact_with_module(dir.path(), "recursion.palyra-skill", module);
    let svg = dir.path().join("recursion.svg");
    let args = [
        "run",
        artifact.to_str().unwrap(),
        "--fuel-profile",
        svg.to_str().unwrap(),
        "--fuel-profile-interval",
        "1",
        "--timeout-ms",
        "120000",
    ];
    let out = tool(dir.path(), &[&args[..], &["--message-format", "json"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let profile = &report["fuel_profile"];
    let total = report["fuel_consumed"].as_u64().unwrap();
    assert_eq!(profile["total_fuel"].as_u64(), Some(total), "no fuel lost: {profile:#}");
    assert_eq!(profile["stack_limit_reached"], true, "{profile:#}");
    assert_eq!(profile["stack_limit"].as_u64(), Some(MAX_PROFILE_STACKS as u64));
    assert_eq!(profile["distinct_stacks"].as_u64(), Some(MAX_PROFILE_STACKS as u64));
    let other = profile["other_stacks_fuel"].as_u64().unwrap();
    assert!(other > 0 && other < total, "{profile:#}");
    assert!(profile["other_stacks_samples"].as_u64().unwrap() > 1000, "{profile:#}");
    assert!(profile["samples"].as_u64().unwrap() > MAX_PROFILE_STACKS as u64 * 2, "{profile:#}");
    // The files hold the kept stacks, the other stacks and the tail, and
    // their weights are the call's fuel.
    let speedscope = dir.path().join("recursion.speedscope.json");
    check_speedscope(&speedscope, total);
    let doc: Value = serde_json::from_slice(&std::fs::read(&speedscope).unwrap()).unwrap();
    let samples = doc["profiles"][0]["samples"].as_array().unwrap().len();
    assert!(samples <= MAX_PROFILE_STACKS + 2, "{samples} stacks in the file");
    check_svg(&std::fs::read(&svg).unwrap());
    assert!(String::from_utf8_lossy(&std::fs::read(&svg).unwrap()).contains("[other stacks]"));

    // People are told the bound was reached, and what to do.
    let human = tool(dir.path(), &args);
    let text = stderr(&human);
    assert!(human.status.success(), "{text}");
    assert!(
        text.contains(&format!("kept {} distinct stacks, its limit", thousands(MAX_PROFILE_STACKS as u64))),
        "{text}"
    );
    assert!(text.contains("under `[other stacks]`") && text.contains("--fuel-profile-interval"), "{text}");
    assert!(!text.contains("under 95%"), "the other stacks are not unnamed code: {text}");
}

/// A panic reaches the host as `unreachable`: the engine's frames are
/// `<wasm function N>` for the artifact's module, which has no names, and
/// the report names them from the build's named copy.
#[test]
fn a_trap_in_a_crate_is_reported_with_the_named_copys_function_names() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let source = skill.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap().replace(
        "let granted = i64::from(unsafe { http_count() });",
        "let granted = i64::from(unsafe { http_count() });\n    let table = [1i64, 2, 3];\n    let granted = granted + table[std::hint::black_box(granted as usize + 7)];",
    );
    std::fs::write(&source, text).unwrap();
    let out = tool(&skill, &["run", "--locked", "--message-format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["failure"]["class"], "trap", "{report:#}");
    let engine =
        report["failure"]["engine_error"].as_str().or(report["failure"]["message"].as_str()).unwrap();
    assert!(engine.contains("unreachable"), "{engine}");
    assert!(!engine.contains("<wasm function"), "every frame named: {engine}");
    assert!(engine.contains("core::panicking::"), "{engine}");
    assert!(report["palyra_error"].as_str().is_some_and(|e| !e.contains("<wasm function")), "{report:#}");
}
