//! Files that are not what they seem (the second review's item 9): a
//! symlink where a file of ours belongs, a FIFO or device where a file is
//! read, a lock someone else holds. Each is a clear error or a bounded wait,
//! never a hang, a spin, an unbounded read or a file created elsewhere.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// Every command here must end well within this, whatever it meets.
const BOUND: Duration = Duration::from_secs(60);

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

fn echo_artifact(dir: &Path) -> std::path::PathBuf {
    write_artifact(
        dir,
        "echo.palyra-skill",
        &fixture_text("vectors/inputs/skill.toml"),
        read_fixture("vectors/inputs/sbom.cdx.json"),
        &test_key(),
    )
}

fn publish(registry: &Path, artifact: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command
        .arg("publish")
        .arg(artifact)
        .arg("--registry-dir")
        .arg(registry)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .timeout(BOUND);
    command
}

#[test]
fn a_symlinked_lock_is_refused_and_its_target_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("site");
    std::fs::create_dir_all(&registry).unwrap();
    let target = dir.path().join("elsewhere/created-by-us");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    symlink(&target, dir.path().join("site.lock")).unwrap();
    let out = publish(&registry, &echo_artifact(dir.path())).assert().code(2).get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("site.lock") && stderr.contains("is a symlink"), "{stderr}");
    assert!(!target.exists(), "the lock's symlink was followed");
}

#[test]
fn a_lock_held_by_someone_else_times_out_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("site");
    std::fs::create_dir_all(&registry).unwrap();
    let lock = std::fs::File::create(dir.path().join("site.lock")).unwrap();
    lock.lock().unwrap();
    let out = publish(&registry, &echo_artifact(dir.path()))
        .env("PALYRA_SKILL_LOCK_WAIT_SECS", "1")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another process has held the lock"), "{stderr}");
    assert!(stderr.contains("site.lock"), "{stderr}");
    drop(lock);
    publish(&registry, &echo_artifact(dir.path())).assert().success();
}

/// A dangling symlink, a symlink to a real file and a FIFO at the cache
/// key: `run` warns, runs without the cache, and leaves no temporary file.
#[test]
fn a_cache_key_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = echo_artifact(dir.path());
    for (index, plant) in ["dangling", "symlink", "fifo"].into_iter().enumerate() {
        let config = dir.path().join(format!("config{index}"));
        std::fs::create_dir_all(&config).unwrap();
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let key = config.join("cache-key");
        match plant {
            "dangling" => symlink(dir.path().join("nowhere"), &key).unwrap(),
            "symlink" => {
                std::fs::write(dir.path().join("real-key"), [7u8; 32]).unwrap();
                symlink(dir.path().join("real-key"), &key).unwrap()
            }
            _ => mkfifo(&key),
        }
        let out = cmd()
            .arg("run")
            .arg(&artifact)
            .env("PALYRA_SKILL_CONFIG_DIR", &config)
            .env("PALYRA_SKILL_CACHE_DIR", dir.path().join(format!("cache{index}")))
            .timeout(BOUND)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{plant}: {stderr}");
        assert!(stderr.contains("the module cache is unusable"), "{plant}: {stderr}");
        let expected = if plant == "fifo" { "a FIFO, not a regular file" } else { "is a symlink" };
        assert!(stderr.contains(expected), "{plant}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(&config).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("cache-key")], "{plant}: temporary files left");
    }
}

#[test]
fn key_files_and_artifacts_that_are_fifos_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key.pem");
    mkfifo(&fifo);
    let out = cmd()
        .args(["sign", "--key"])
        .arg(&fifo)
        .arg(echo_artifact(dir.path()))
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a FIFO, not a regular file"));
    let out = cmd().arg("verify").arg(&fifo).timeout(BOUND).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a FIFO, not a regular file"));
    // The development key as a dangling symlink: refused, not created through it.
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    symlink(dir.path().join("planted.pem"), config.join("dev-signing-key.pem")).unwrap();
    let skill = dir.path().join("guard");
    copy_fixture_dir("skills/guard", &skill);
    let out = cmd()
        .arg("build")
        .arg(&skill)
        .env("PALYRA_SKILL_CONFIG_DIR", &config)
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a symlink"));
    assert!(!dir.path().join("planted.pem").exists());
}

/// The advisory database: a FIFO, a symlink to `/dev/zero`, a symlinked
/// crate folder and an empty `crates/` are each an error naming the path.
#[test]
fn an_advisory_database_with_links_fifos_or_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = echo_artifact(dir.path());
    type Plant<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Plant, &str); 4] = [
        ("fifo", &|db: &Path| mkfifo(&db.join("crates/itoa/RUSTSEC-2099-0001.md")), "not a regular file"),
        (
            "dev-zero",
            &|db: &Path| symlink("/dev/zero", db.join("crates/itoa/RUSTSEC-2099-0002.md")).unwrap(),
            "not a regular file",
        ),
        (
            "symlinked crate",
            &|db: &Path| {
                let real = db.parent().unwrap().join("real-crate");
                std::fs::create_dir_all(&real).unwrap();
                symlink(&real, db.join("crates/linked")).unwrap()
            },
            "is a symlink",
        ),
        (
            "empty",
            &|db: &Path| {
                std::fs::remove_dir_all(db.join("crates")).unwrap();
                std::fs::create_dir_all(db.join("crates")).unwrap();
            },
            "holds no advisory at all",
        ),
    ];
    for (index, (what, plant, expected)) in cases.into_iter().enumerate() {
        let db = dir.path().join(format!("db{index}/advisory-db"));
        copy_dir(&fixture("advisory-db"), &db);
        plant(&db);
        let out =
            cmd().args(["audit", "--advisory-db"]).arg(&db).arg(&artifact).timeout(BOUND).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(expected), "{what}: {stderr}");
    }
}
