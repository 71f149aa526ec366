//! Fitting a real skill under the caps: `fixtures/skills/weather` is the
//! scaffold with `serde_json`, `regex-lite` and `url`, over the default
//! 256 KiB module cap. Its size report names its functions and its
//! packages with their dependency paths, what each direct dependency
//! costs, what would bring it under the cap, and only the profile settings
//! that are not set.

use std::path::{Path, PathBuf};

use crate::support::*;
use serde_json::Value;

/// One target directory for this file's builds (the fixture's
/// dependencies compile once).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fit-target")
}

fn build(skill: &Path, extra: &[&str]) -> std::process::Output {
    cmd()
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .args(["build", "--locked", "--target-dir"])
        .arg(target_dir())
        .arg("--out")
        .arg(skill.join("out"))
        .args(extra)
        .arg(skill)
        .output()
        .unwrap()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn package<'a>(fit: &'a Value, name: &str) -> &'a Value {
    fit["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package `{name}` in {fit:#}"))
}

#[test]
fn the_size_report_of_a_real_skill_says_what_to_remove() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("weather");
    copy_fixture_dir("skills/weather", &skill);
    let built = build(&skill, &["--message-format", "json"]);
    // Over the cap: a failed check, with the report unasked.
    assert_eq!(built.status.code(), Some(1), "{}", String::from_utf8_lossy(&built.stderr));
    let report = &json(&built)["size_reports"][0];
    assert_eq!(report["names"], "named_copy", "the fixture is built with strip = true");
    let fit = &report["fit"];
    let (bytes, cap) = (fit["bytes"].as_u64().unwrap(), fit["cap"].as_u64().unwrap());
    assert!(bytes > cap && cap == 262_144, "{bytes} of {cap}");
    assert!(fit["named_code_share"].as_f64().unwrap() >= 0.99, "{fit:#}");

    // Packages with their dependency paths, code and data.
    assert_eq!(package(fit, "url")["path"], serde_json::json!(["weather", "url"]));
    assert_eq!(package(fit, "idna")["path"], serde_json::json!(["weather", "url", "idna"]));
    assert_eq!(package(fit, "weather")["kind"], "skill");
    assert_eq!(package(fit, "std")["kind"], "standard");
    let feature = package(fit, "regex-lite")["feature"].as_str().unwrap();
    assert!(
        feature.contains("default features") && feature.contains("default-features = false"),
        "{feature}"
    );
    let packages = fit["packages"].as_array().unwrap();
    let code: u64 = packages.iter().map(|p| p["code"].as_u64().unwrap()).sum();
    assert_eq!(code, fit["code"].as_u64().unwrap(), "every function is someone's");
    let data: u64 = packages.iter().map(|p| p["data"].as_u64().unwrap()).sum();
    assert_eq!(data + fit["data_unattributed"].as_u64().unwrap(), fit["data"].as_u64().unwrap());
    assert!(data * 2 > fit["data"].as_u64().unwrap(), "most data is tied to a package: {fit:#}");
    let sorted: Vec<u64> =
        packages.iter().map(|p| p["code"].as_u64().unwrap() + p["data"].as_u64().unwrap()).collect();
    assert!(sorted.windows(2).all(|w| w[0] >= w[1]), "largest first: {sorted:?}");

    // What each direct dependency costs, and what would fit.
    let removals = fit["removals"].as_array().unwrap();
    let direct: Vec<&str> = removals.iter().map(|r| r["dependency"].as_str().unwrap()).collect();
    assert_eq!(direct.len(), 3, "{direct:?}");
    assert_eq!(direct[0], "url", "url and what only it brings cost the most");
    let url = &removals[0]["packages"];
    assert!(url.as_array().unwrap().iter().any(|p| p == "idna"), "{url}");
    assert!(!url.as_array().unwrap().iter().any(|p| p == "serde_json"));
    assert_eq!(fit["to_fit"], serde_json::json!(["url"]));

    // The profile has every size setting: no advice repeats one.
    assert_eq!(fit["advice"], serde_json::json!([]), "{fit:#}");
    assert_eq!(fit["profile"]["settings"][0]["value"], "\"s\"");

    // People read the same.
    let human = build(&skill, &[]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    for expected in [
        "url 2.",
        "via weather → url → idna",
        "regex_lite::",
        "direct dependencies, each with what only it pulls in",
        "to fit: without `url`",
        "has every size setting; `cargo palyra-skill tune`",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in\n{stdout}");
    }
    assert!(!stdout.contains("function #"), "every function named:\n{stdout}");

    // The artifact's fuel profile counts the run's fuel exactly, under an
    // operator whose cap lets it run.
    let artifact = std::fs::read_dir(skill.join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "palyra-skill"))
        .unwrap();
    let config = skill.join("raised-cap.palyrad.toml");
    let run = |extra: &[&str]| {
        let out = cmd()
            .arg("run")
            .arg(&artifact)
            .arg("--operator-config")
            .arg(&config)
            .args(["--allow-http", "api.example.com", "--message-format", "json"])
            .args(extra)
            .output()
            .unwrap();
        json(&out)
    };
    let plain = run(&[]);
    assert_eq!(plain["exit_code"], 0, "{plain:#}");
    let profiled = run(&["--fuel-profile", dir.path().join("weather.svg").to_str().unwrap()]);
    assert_eq!(profiled["fuel_profile"]["total_fuel"], plain["fuel_consumed"], "{profiled:#}");
}

/// The advice names what the effective profile lacks: the workspace root's
/// settings, a `CARGO_PROFILE_RELEASE_*` override, and a member's own
/// `[profile.release]` that cargo ignores.
#[test]
fn the_advice_reads_the_profile_cargo_builds_with() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let member = root.join("skills/budget");
    copy_fixture_dir("skills/budget", &member);
    std::fs::copy(member.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    let manifest = std::fs::read_to_string(member.join("Cargo.toml")).unwrap();
    let manifest =
        manifest.replace("# Its own workspace: never part of the enclosing repository's.\n[workspace]\n", "");
    std::fs::write(member.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"skills/budget\"]\nresolver = \"3\"\n\n[profile.release]\nopt-level = 3\nlto = \"thin\"\n",
    )
    .unwrap();
    let built = cmd()
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .args(["build", "--size-report", "--message-format", "json", "--target-dir"])
        .arg(target_dir())
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg(&member)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let fit = &json(&built)["size_reports"][0]["fit"];
    let advice: Vec<(&str, &str)> = fit["advice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["key"].as_str().unwrap(), a["now"].as_str().unwrap()))
        .collect();
    assert_eq!(
        advice,
        [("opt-level", "3"), ("lto", "thin"), ("codegen-units", "unset"), ("strip", "unset")],
        "panic comes from the environment; the member's own settings do not count"
    );
    assert_eq!(fit["profile"]["ignored"], serde_json::json!(["[profile.release]"]));
    assert!(fit["profile"]["manifest"].as_str().unwrap().ends_with("ws/Cargo.toml"), "{fit:#}");
}

/// `tune` on the real skill: a table of size against fuel at each level,
/// measured on every case (fuel even where the module is over the cap),
/// "none fits" under the default cap with what binds, and a
/// recommendation that `--apply` writes, comments kept.
#[test]
fn tune_weighs_size_against_fuel_and_applies_the_level() {
    let dir = tempfile::tempdir().unwrap();
    let skill = dir.path().join("weather");
    copy_fixture_dir("skills/weather", &skill);
    let tune = |extra: &[&str]| {
        cmd()
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["tune", "--locked", "--levels", "z,3"])
            .args(extra)
            .arg(&skill)
            .output()
            .unwrap()
    };
    let over = tune(&["--message-format", "json"]);
    assert_eq!(over.status.code(), Some(1), "{}", String::from_utf8_lossy(&over.stderr));
    let report = json(&over);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (z, three) = (&rows[0], &rows[1]);
    assert_eq!(z["opt_level"], "z");
    let size = |row: &Value| row["module_bytes"]["used"].as_u64().unwrap();
    let fuel = |row: &Value| row["fuel"]["used"].as_u64().unwrap();
    assert!(size(z) < size(three), "z is smaller: {report:#}");
    assert!(fuel(z) > fuel(three), "3 is faster: {report:#}");
    assert_eq!(z["module_bytes"]["level"], "over", "even z is over the default cap");
    assert_eq!(z["cases"], 3);
    assert_eq!(z["failed_cases"], serde_json::json!([]), "the cap is lifted to measure fuel");
    assert!(z["worst_case"].as_str().unwrap().starts_with("check/"));
    assert_eq!(report["current"], "s");
    let verdict = report["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("the module cap binds at every level, and the smallest module (opt-level \"z\")"),
        "{verdict}"
    );
    assert!(report["recommended"].is_null());

    // With the cap raised, z leaves the most room; --apply writes it.
    let config = skill.join("raised-cap.palyrad.toml");
    let applied = tune(&["--apply", "--operator-config", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&applied.stdout);
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert!(applied.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("\"s\" (now)") || stdout.contains("\"z\" "), "{stdout}");
    assert!(stdout.contains("recommended: opt-level \"z\" leaves the most room"), "{stdout}");
    assert!(stderr.contains("Applied `opt-level = \"z\"` in `[profile.release]`"), "{stderr}");
    let manifest = std::fs::read_to_string(skill.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[profile.release]\nopt-level = \"z\"\nlto = true"), "{manifest}");
    assert!(manifest.contains("# Small modules load and compile faster"), "comments kept: {manifest}");
}

/// `tune` takes cargo's package selection: at a workspace root, `-p`
/// names the skill; `--workspace` reports per member; `--apply` writes
/// one level, so it refuses several skills.
#[test]
fn tune_selects_packages_in_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trio");
    copy_fixture_dir("workspaces/trio", &root);
    let tune = |extra: &[&str]| {
        cmd()
            .args(["tune", "--locked", "--levels", "s", "--target-dir"])
            .arg(target_dir())
            .args(extra)
            .arg(&root)
            .output()
            .unwrap()
    };
    let one = tune(&["-p", "acme-alpha", "--message-format", "json"]);
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    let report = json(&one);
    assert_eq!(report["recommended"], "s", "{report:#}");
    assert!(
        report["manifest"].as_str().unwrap().ends_with("trio/Cargo.toml"),
        "the root's profile: {report:#}"
    );
    assert!(report["work_dir"].as_str().unwrap().ends_with("palyra-skill/tune/acme-alpha"), "{report:#}");

    let apply = tune(&["--workspace", "--apply"]);
    assert_eq!(apply.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&apply.stderr).contains("`--apply` writes one `opt-level`"));
}
