//! The release path of a new author (#35): a version bump without its
//! lock file is named with the fix; a release from a dirty work tree is
//! refused; a publisher key `keygen` wrote is named, never picked;
//! `--check-reproducible` never replaces what it checks; typos in our
//! `Cargo.toml` table are named.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;
use cargo_palyra_skill::artifact::{Entries, PROVENANCE_PATH};
use predicates::prelude::*;
use serde_json::Value;

/// The target directory the guard fixture's builds share.
fn shared_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-target")
}

/// `fixtures/skills/guard` committed (with its `Cargo.lock`) at `dir/origin`.
fn committed_guard(dir: &Path) -> PathBuf {
    let origin = dir.join("origin");
    copy_fixture_dir("skills/guard", &origin);
    git(&origin, &["init", "-q"]);
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-qm", "guard"]);
    origin
}

/// `build` of the crate at `krate` into `out`, with the development key of `dir/config`.
fn build(dir: &Path, krate: &Path, out: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command
        .args(["build", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(shared_target())
        .arg("--out")
        .arg(out)
        .env("PALYRA_SKILL_CONFIG_DIR", dir.join("config"));
    command
}

fn provenance(artifact: &Path) -> Value {
    let entries = Entries::read_zip(&std::fs::read(artifact).unwrap()).unwrap();
    serde_json::from_slice(&entries.get(PROVENANCE_PATH).unwrap().bytes).unwrap()
}

fn git_status(dir: &Path) -> String {
    let out = Command::new("git").args(["status", "--porcelain"]).current_dir(dir).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

const FIX: &str = "commit Cargo.lock after changing the version (`cargo update -w`)";

/// #35 item 1: the version bumped and committed, `Cargo.lock` not.
#[test]
fn a_version_bump_without_its_lock_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let origin = committed_guard(dir.path());
    let out = dir.path().join("out");
    build(dir.path(), &origin, &out).arg("-q").assert().success();
    let artifact = out.join("acme.guard-1.2.3.palyra-skill");

    let manifest = origin.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("version = \"1.2.3\"", "version = \"1.2.4\"")).unwrap();
    git(&origin, &["commit", "-qam", "1.2.4"]);
    let moved = "(`acme-guard` is 1.2.4, `Cargo.lock` has 1.2.3)";

    // Locked, as the Action builds, and a release (a release key): refused
    // before cargo builds, with our fix instead of cargo's.
    for release in [false, true] {
        let mut command = build(dir.path(), &origin, &out);
        if release {
            command.env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX);
        } else {
            command.arg("--locked");
        }
        command
            .assert()
            .code(2)
            .stderr(predicate::str::contains(FIX))
            .stderr(predicate::str::contains(moved))
            .stderr(predicate::str::contains("remove the --locked flag").not())
            .stderr(predicate::str::contains("Compiling").not());
        assert_eq!(git_status(&origin), "", "the lock file is never rewritten");
    }
    assert!(!out.join("acme.guard-1.2.4.palyra-skill").exists());

    // `rebuild` of the earlier artifact in this checkout says the same.
    cmd()
        .arg("rebuild")
        .arg(&artifact)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--allow-dirty")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(FIX))
        .stderr(predicate::str::contains("remove the --locked flag").not());

    // A local build warns and builds: cargo rewrites the lock file, and
    // the artifact says so (not locked, dirty).
    build(dir.path(), &origin, &out)
        .assert()
        .success()
        .stderr(predicate::str::contains(FIX))
        .stderr(predicate::str::contains("which `rebuild` cannot reproduce"));
    let statement = provenance(&out.join("acme.guard-1.2.4.palyra-skill"));
    assert_eq!(statement["predicate"]["buildDefinition"]["internalParameters"]["locked"], false);
    assert_eq!(git_status(&origin), " M Cargo.lock\n");
}

/// #35 item 1: `rebuild` in a checkout without `Cargo.lock` names it.
#[test]
fn rebuild_without_a_lock_file_names_the_missing_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let origin = committed_guard(dir.path());
    let out = dir.path().join("out");
    build(dir.path(), &origin, &out).arg("-q").assert().success();
    std::fs::remove_file(origin.join("Cargo.lock")).unwrap();
    cmd()
        .arg("rebuild")
        .arg(out.join("acme.guard-1.2.3.palyra-skill"))
        .arg("--manifest-path")
        .arg(origin.join("Cargo.toml"))
        .arg("--allow-dirty")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no `Cargo.lock` beside"))
        .stderr(predicate::str::contains("the artifact was built with one of sha256 "))
        .stderr(predicate::str::contains("remove the --locked flag").not())
        .stderr(predicate::str::contains("Compiling").not());
    assert!(!origin.join("Cargo.lock").exists(), "a rebuild never writes a lock file");
}

/// #35 item 1: a release (a release key, or a tag) from a dirty work tree
/// is refused unless `--allow-dirty`; a local build warns.
#[test]
fn a_release_from_a_dirty_work_tree_is_refused_unless_allow_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let origin = committed_guard(dir.path());
    let out = dir.path().join("out");
    let lib = origin.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}// an uncommitted change\n")).unwrap();
    let artifact = out.join("acme.guard-1.2.3.palyra-skill");
    let refused = "has uncommitted changes and this is a release build";

    build(dir.path(), &origin, &out)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(refused))
        .stderr(predicate::str::contains("--allow-dirty"));
    assert!(!artifact.exists());
    build(dir.path(), &origin, &out)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .arg("--allow-dirty")
        .assert()
        .success()
        .stderr(predicate::str::contains("the work tree has uncommitted changes"));
    std::fs::remove_file(&artifact).unwrap();

    // A tag at the commit makes a release too, signed or not.
    git(&origin, &["tag", "v1.2.3"]);
    build(dir.path(), &origin, &out)
        .arg("--unsigned")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("(a tag points at its commit)"));
    assert!(!artifact.exists());
    git(&origin, &["tag", "-d", "v1.2.3"]);

    // A local build warns, and says what the artifact records.
    let output = build(dir.path(), &origin, &out)
        .args(["--message-format", "json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: the work tree has uncommitted changes"));
    let report: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    assert_eq!(report["time_source"], "now");
    assert!(artifact.exists());
}

/// #35 item 5: `--check-reproducible` builds elsewhere; the key-signed
/// artifact in `target/palyra-skill/` stays byte for byte.
#[test]
fn check_reproducible_never_replaces_the_artifact_it_checks() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &krate);
    let target = dir.path().join("target");
    let build_in_target = || {
        let mut command = cmd();
        command
            .args(["build", "-q", "--manifest-path"])
            .arg(krate.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("PALYRA_SKILL_CONFIG_DIR", dir.path().join("config"));
        command
    };
    build_in_target().env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX).assert().success();
    let artifact = target.join("palyra-skill/acme.guard-1.2.3.palyra-skill");
    let named = target.join("palyra-skill/acme.guard-1.2.3.named/acme_guard.wasm");
    let (signed, named_copy) = (std::fs::read(&artifact).unwrap(), std::fs::read(&named).unwrap());

    let output =
        build_in_target().args(["--check-reproducible", "--message-format", "json"]).assert().success();
    let report: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    assert_eq!(report["reproducible"], true);
    let checked = target.join("palyra-skill/check/acme.guard-1.2.3.palyra-skill");
    assert_eq!(report["artifact"], checked.display().to_string(), "{report:#}");
    assert!(checked.is_file() && target.join("palyra-skill/check/acme.guard-1.2.3.named").is_dir());
    assert!(std::fs::read(&artifact).unwrap() == signed, "the signed artifact was replaced");
    assert!(std::fs::read(&named).unwrap() == named_copy, "its named copy was replaced");
}

/// #35 item 4: after `keygen --publisher acme`, `build` names the key and
/// the two ways to sign with it, signs with the development key still, and
/// signs with it once `signing-key` names it.
#[test]
fn a_publisher_key_from_keygen_is_named_and_used_only_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &krate);
    let config = dir.path().join("config");
    let keygen = cmd()
        .args(["keygen", "--publisher", "acme", "--message-format", "json"])
        .env("PALYRA_SKILL_CONFIG_DIR", &config)
        .assert()
        .success();
    let key: Value = serde_json::from_slice(&keygen.get_output().stdout).unwrap();
    let path = config.join("keys/acme.pem");
    assert_eq!(key["private_key_path"], path.display().to_string());

    let out = dir.path().join("out");
    let built = build(dir.path(), &krate, &out)
        .args(["--message-format", "json"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "`{}` holds a key for publisher `acme` (`keygen` wrote it there); to sign with it pass `--key {}`, or set `signing-key = \"{}\"` in `[package.metadata.palyra-skill]`",
            path.display(),
            path.display(),
            path.display()
        )));
    let report: Value = serde_json::from_slice(&built.get_output().stdout).unwrap();
    assert_eq!(report["signed_with"], "development-key", "never picked silently");
    assert_ne!(report["key_id"], key["key_id"]);

    // Set, relative to the crate: the key signs, and nothing is hinted.
    let relative = Path::new("..").join("config/keys/acme.pem");
    let manifest = krate.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "[dependencies]",
            &format!(
                "[package.metadata.palyra-skill]\nsigning-key = \"{}\"\n\n[dependencies]",
                relative.display()
            ),
        ),
    )
    .unwrap();
    let built = build(dir.path(), &krate, &out)
        .args(["--message-format", "json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("development key").not());
    let report: Value = serde_json::from_slice(&built.get_output().stdout).unwrap();
    assert_eq!(report["signed_with"], "key");
    assert_eq!(report["key_id"], key["key_id"]);

    // The Action's build job (`--locked --unsigned`) has no such file: the
    // setting is not read there.
    std::fs::remove_file(&path).unwrap();
    build(dir.path(), &krate, &out).args(["--locked", "--unsigned", "-q"]).assert().success();
}

/// #35 item 7: an unknown key of our table gets the name a typo away; a
/// table a typo away from ours gets a warning from `build`.
#[test]
fn typos_in_the_metadata_table_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &krate);
    let manifest = krate.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let with = |table: &str| text.replace("[dependencies]", &format!("{table}\n\n[dependencies]"));
    let out = dir.path().join("out");

    std::fs::write(&manifest, with("[package.metadata.palyra-skill]\nheadroom-warm = 0.5")).unwrap();
    build(dir.path(), &krate, &out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown field `headroom-warm` (did you mean `headroom-warn`?)"));

    std::fs::write(&manifest, with("[package.metadata.palyra_skill]\nheadroom-warn = 0.5")).unwrap();
    build(dir.path(), &krate, &out)
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: `[package.metadata.palyra_skill]` in "));
}
