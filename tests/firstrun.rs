//! The first run on a machine that never ran the tool: an empty home, no
//! development key, cache key, module cache, trust store or config. Each
//! path that exists only the first time runs here from an empty `HOME`, and
//! the real user's home is never read or written by the suite.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::*;

/// Everything below `dir`, relative, sorted (empty for a missing `dir`).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn guard_copy(into: &Path) -> PathBuf {
    let dir = into.join("guard");
    copy_fixture_dir("skills/guard", &dir);
    dir
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("firstrun-target")
}

/// The first `build` (the development key is made, 0600 in a 0700
/// folder), the first `run` (the cache key and the module cache), from a
/// subdirectory of the crate, then a second `run` that hits the cache.
#[test]
fn first_build_and_run_make_their_keys_in_an_empty_home() {
    let home = fresh_home();
    let work = tempfile::tempdir().unwrap();
    let skill = guard_copy(work.path());
    assert!(tree(&home).is_empty());

    let out = cmd()
        .env("HOME", &home)
        .current_dir(skill.join("src"))
        .args(["build", "--locked", "--target-dir"])
        .arg(target_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let key = home.join(".config/palyra-skill/dev-signing-key.pem");
    assert!(stderr.contains("created your local development key"), "{stderr}");
    assert!(stderr.contains(&key.display().to_string()), "{stderr}");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    let artifact = target_dir().join("palyra-skill/acme.guard-1.2.3.palyra-skill");
    assert!(artifact.is_file());

    for (round, how) in [(1, "compiled, cached"), (2, "cache hit")] {
        let out = cmd()
            .env("HOME", &home)
            .current_dir(skill.join("src"))
            .args(["run", "-v", "--allow-http", "api.example.com"])
            .arg(&artifact)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {round}: {stderr}");
        assert!(stderr.contains(how), "run {round}: {stderr}");
    }
    let cache_key = home.join(".config/palyra-skill/cache-key");
    assert_eq!(mode(&cache_key), 0o600);
    let modules = home.join(".cache/palyra-skill/modules");
    assert!(!tree(&modules).is_empty(), "{:?}", tree(&home));
    // The second build reuses the key it made: no second note.
    let out = cmd()
        .env("HOME", &home)
        .args(["build", "--locked", "--target-dir"])
        .arg(target_dir())
        .arg(&skill)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("created your local"));
}

/// `keygen` into folders that do not exist yet, and the first
/// `verify --allow-tofu` into a trust store whose folder does not exist.
#[test]
fn first_keygen_and_first_pin_create_their_folders() {
    let home = fresh_home();
    let key = home.join(".config/palyra/acme.pem");
    cmd()
        .env("HOME", &home)
        .current_dir(&home)
        .args(["keygen", "--publisher", "acme", "--out"])
        .arg(&key)
        .assert()
        .success();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);

    let artifact = write_artifact(
        &home,
        "echo.palyra-skill",
        &fixture_text("vectors/inputs/skill.toml"),
        read_fixture("vectors/inputs/sbom.cdx.json"),
        &test_key(),
    );
    let store = home.join(".palyra/trust.json");
    let out = cmd()
        .env("HOME", &home)
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&store)
        .arg(&artifact)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pinned: serde_json::Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(pinned["tofu_publishers"]["acme"], TEST_PUBLIC_HEX);
}

/// Outside any crate, `build` says the same thing whether or not the
/// development key exists yet, and creates no key for a build that cannot
/// happen.
#[test]
fn no_crate_reads_the_same_before_and_after_the_first_key() {
    let home = fresh_home();
    let nowhere = tempfile::tempdir().unwrap();
    let run = || {
        let out = cmd().env("HOME", &home).arg("build").current_dir(nowhere.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8(out.stderr).unwrap()
    };
    let before = run();
    assert!(before.starts_with("error: no skill crate here: "), "{before}");
    assert!(tree(&home).is_empty(), "a key was made for a build that could not happen: {:?}", tree(&home));
    cmd().env("HOME", &home).args(["build", "--help"]).assert().success();
    let config = home.join(".config/palyra-skill");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("dev-signing-key.pem"), test_key().to_pkcs8_pem().as_bytes()).unwrap();
    assert_eq!(run(), before);
}

/// The guard: commands under test never see the real user's home, so the
/// tool's folders there are exactly as they were before these commands.
#[test]
fn commands_under_test_leave_the_real_home_alone() {
    let real = real_home();
    let dirs = [
        real.join(".config/palyra-skill"),
        real.join(".cache/palyra-skill"),
        real.join(".local/share/palyra-skill"),
    ];
    let before: Vec<_> = dirs.iter().map(|d| tree(d)).collect();
    let work = tempfile::tempdir().unwrap();
    let skill = guard_copy(work.path());
    let out =
        cmd().args(["build", "--locked", "--target-dir"]).arg(target_dir()).arg(&skill).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let artifact = target_dir().join("palyra-skill/acme.guard-1.2.3.palyra-skill");
    let out = cmd().args(["run", "--allow-http", "api.example.com"]).arg(&artifact).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after: Vec<_> = dirs.iter().map(|d| tree(d)).collect();
    assert_eq!(before, after);
}
