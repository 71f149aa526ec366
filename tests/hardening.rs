//! Crash safety (a killed or failing write never leaves a partial file under
//! the final name) and secrecy (no output or written file carries the
//! private key in any encoding).

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::signing::SecretKey;

/// `pack` of a manifest and a large module (so writing takes a while).
fn pack_command(dir: &Path, module: &Path, out: &Path, seed: &str) -> std::process::Command {
    let mut command = std_cmd();
    command
        .args(["-q", "pack", "--manifest"])
        .arg(fixture("vectors/inputs/skill.toml"))
        .arg("--module")
        .arg(format!("echo.wasm={}", module.display()))
        .arg("--sbom")
        .arg(fixture("vectors/inputs/sbom.cdx.json"))
        .arg("--provenance")
        .arg(fixture("vectors/inputs/provenance.json"))
        .arg("--out")
        .arg(out)
        .env("PALYRA_SKILL_SIGNING_KEY", seed)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

#[test]
fn a_killed_pack_leaves_the_previous_artifact_intact() {
    let dir = tempfile::tempdir().unwrap();
    // 15 MiB of incompressible-ish bytes behind a wasm header.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    while module.len() < 15 * 1024 * 1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        module.extend_from_slice(&state.to_le_bytes());
    }
    let module_path = dir.path().join("big.wasm");
    std::fs::write(&module_path, &module).unwrap();
    let out = dir.path().join("skill.palyra-skill");
    let started = std::time::Instant::now();
    assert!(pack_command(dir.path(), &module_path, &out, TEST_SEED_HEX).status().unwrap().success());
    let full = started.elapsed();
    let previous = std::fs::read(&out).unwrap();

    // Kills spread over the whole run, densest near its end, where the write is.
    let other_seed = "2020202020202020202020202020202020202020202020202020202020202020";
    for tenth in [1u32, 3, 5, 6, 7, 8, 9, 10, 11, 12] {
        let mut child = pack_command(dir.path(), &module_path, &out, other_seed).spawn().unwrap();
        let delay_ms = (full * tenth / 10).as_millis() as u64;
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&out).unwrap();
        // Either the old artifact, or the complete new one: never a torn file.
        if now != previous {
            let entries = Entries::read_zip(&now).expect("a complete artifact");
            assert_eq!(entries.get("modules/echo.wasm").unwrap().bytes, module);
        }
        assert!(Entries::read_zip(&now).is_ok(), "killed after {delay_ms} ms: torn artifact");
    }
}

#[test]
fn a_failing_write_keeps_the_previous_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key).assert().success();
    let before = std::fs::read(&key).unwrap();
    // A directory where the final name is: the rename cannot replace it.
    let blocked = dir.path().join("blocked.pem");
    std::fs::create_dir(&blocked).unwrap();
    cmd().args(["keygen", "--force", "--out"]).arg(&blocked).assert().code(2);
    assert!(blocked.is_dir());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".palyra-skill-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // A trust store that cannot be replaced stays as it was.
    let store = dir.path().join("trust.json");
    std::fs::write(&store, "{}").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let ro_store = ro.join("trust.json");
        std::fs::write(&ro_store, "{}").unwrap();
        std::fs::write(ro.join("trust.json.lock"), "").unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let result = cmd()
            .args(["verify", "--allow-tofu", "--trust-store"])
            .arg(&ro_store)
            .arg(fixture("vectors/reference-echo.palyra-skill"))
            .output()
            .unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        // As root the directory is writable anyway; otherwise the save fails cleanly.
        if !result.status.success() {
            assert_eq!(result.status.code(), Some(2));
            assert_eq!(std::fs::read_to_string(&ro_store).unwrap(), "{}");
        }
    }
}

#[test]
fn no_output_or_file_carries_the_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11)));
    let pem = dir.path().join("k.pem");
    std::fs::write(&pem, key.to_pkcs8_pem().as_bytes()).unwrap();
    let seed_hex = hex::encode(*key.seed());
    let out = dir.path().join("a.palyra-skill");
    let mut runs: Vec<std::process::Output> = Vec::new();
    let mut run = |args: &[&str], env: Option<&str>| {
        let mut command = cmd();
        command.current_dir(dir.path()).args(args);
        if let Some(value) = env {
            command.env("PALYRA_SKILL_SIGNING_KEY", value);
        }
        runs.push(command.output().unwrap());
    };
    let m = fixture("vectors/inputs/skill.toml").display().to_string();
    let w = fixture("vectors/inputs/echo.wasm").display().to_string();
    let s = fixture("vectors/inputs/sbom.cdx.json").display().to_string();
    let p = fixture("vectors/inputs/provenance.json").display().to_string();
    let o = out.display().to_string();
    let pack =
        ["-v", "pack", "--manifest", &m, "--module", &w, "--sbom", &s, "--provenance", &p, "--out", &o];
    run(&pack, Some(&seed_hex));
    run(&[&pack[..], &["--message-format", "json"]].concat(), Some(&seed_hex));
    run(&["-v", "sign", &o, "--key", pem.to_str().unwrap()], None);
    run(&["verify", "--allow-tofu", "--message-format", "json", &o], None);
    run(&["inspect", "--message-format", "json", &o], None);
    run(&["audit", "--message-format", "sarif", &o], None);
    // Every signing failure: a truncated key, a wrong-length key, a bad variable.
    run(&pack, Some(&seed_hex[..63]));
    run(&pack, Some(&format!("{seed_hex}00")));
    run(&["sign", &o, "--key-env", "NOPE"], None);
    let broken_pem = dir.path().join("broken.pem");
    let text = key.to_pkcs8_pem();
    std::fs::write(&broken_pem, &text.as_bytes()[..text.len() - 30]).unwrap();
    run(&["sign", &o, "--key", broken_pem.to_str().unwrap()], None);
    for (i, output) in runs.iter().enumerate() {
        assert_clean(&output.stdout, &key, &format!("stdout of run {i}"));
        assert_clean(&output.stderr, &key, &format!("stderr of run {i}"));
    }
    assert!(runs[6].status.code() == Some(2) && runs[9].status.code() == Some(2));
    let artifact = std::fs::read(&out).unwrap();
    assert_clean(&artifact, &key, "the artifact");
    for (path, entry) in Entries::read_zip(&artifact).unwrap().iter() {
        assert_clean(&entry.bytes, &key, path);
    }
}
