//! Helpers shared by the integration tests: fixtures, the test key, the
//! binary under test, and artifacts built in memory.
#![allow(dead_code)]

pub mod attest;
pub mod keytools;
pub mod runner;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::pack::{self, Parts};
use cargo_palyra_skill::runtime::Limits;
use cargo_palyra_skill::signing::SecretKey;

/// The vectors' public test key seed (0x01..0x20); never for real use.
pub const TEST_SEED_HEX: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
pub const TEST_PUBLIC_HEX: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

pub fn read_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

pub fn fixture_text(rel: &str) -> String {
    String::from_utf8(read_fixture(rel)).unwrap()
}

/// The variables of ours and the XDG base directories: none of the user's
/// reaches a command under test.
pub const USER_VARS: [&str; 18] = [
    "PALYRA_SKILL_SIGNING_KEY",
    "PALYRA_SKILL_KEY_PASSPHRASE",
    "PALYRA_SKILL_PKCS11_PIN",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_CACERT",
    "VAULT_CLIENT_TIMEOUT",
    "PALYRA_SKILL_CONFIG_DIR",
    "PALYRA_SKILL_CACHE_DIR",
    "PALYRA_SKILL_STATE_DIR",
    "PALYRA_SKILL_ADVISORY_DB",
    "PALYRA_SKILL_AUDIT_VULN_FEED_HOOK",
    "SOURCE_DATE_EPOCH",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "GITHUB_ACTIONS",
];

/// The binary as a newcomer runs it: a home of its own that nothing has
/// touched (no development key, cache key, module cache or state), none of
/// the user's variables, and the real cargo and rustup installations. A
/// test that wants two commands to share a key or a cache says so with
/// `PALYRA_SKILL_CONFIG_DIR` / `PALYRA_SKILL_CACHE_DIR`.
pub fn cmd() -> Command {
    Command::from_std(std_cmd())
}

/// [`cmd`] as a `std::process::Command`, for tests that spawn several at once.
pub fn std_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-palyra-skill"));
    for var in USER_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", fresh_home()).env("NO_COLOR", "1");
    // A fixture built where it lies is in no git work tree: this
    // repository's state (a commit, uncommitted changes, a tag) never
    // changes a test's build.
    cmd.env("GIT_CEILING_DIRECTORIES", Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    for (var, path) in toolchain_homes() {
        cmd.env(var, path);
    }
    cmd
}

/// `CARGO_HOME` and `RUSTUP_HOME` as cargo and rustup resolve them for
/// the real user, so a command with another `HOME` still finds them.
pub fn toolchain_homes() -> [(&'static str, PathBuf); 2] {
    let home = real_home();
    let or_default =
        |var: &str, dir: &str| std::env::var_os(var).map_or_else(|| home.join(dir), PathBuf::from);
    [
        ("CARGO_HOME", or_default("CARGO_HOME", ".cargo")),
        ("RUSTUP_HOME", or_default("RUSTUP_HOME", ".rustup")),
    ]
}

/// The test process's own `HOME` (never handed to a command under test).
pub fn real_home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).expect("HOME is set")
}

/// A new empty directory under `target/tmp/homes/<pid>/` for one command.
pub fn fresh_home() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| {
        let homes = Path::new(env!("CARGO_TARGET_TMPDIR")).join("homes");
        // Homes of earlier runs of the suite are of no further use.
        if let Ok(old) = std::fs::read_dir(&homes) {
            for entry in old.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        homes.join(std::process::id().to_string())
    });
    let home = base.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir_all(&home).unwrap();
    home
}

pub fn test_key() -> SecretKey {
    SecretKey::decode(TEST_SEED_HEX.as_bytes()).unwrap()
}

/// The vector inputs (echo module, SBOM, provenance) around `manifest_text`.
pub fn echo_parts(manifest_text: &str) -> Parts {
    Parts {
        manifest_text: manifest_text.to_owned(),
        modules: vec![("echo.wasm".into(), read_fixture("vectors/inputs/echo.wasm"))],
        assets: vec![("prompt.txt".into(), read_fixture("vectors/inputs/prompt.txt"))],
        sbom: read_fixture("vectors/inputs/sbom.cdx.json"),
        provenance: read_fixture("vectors/inputs/provenance.json"),
    }
}

/// Packed and signed entries for `manifest_text`.
pub fn signed_entries(manifest_text: &str, key: &SecretKey) -> Entries {
    let (mut entries, manifest) = pack::assemble(echo_parts(manifest_text)).unwrap();
    pack::sign(&mut entries, &manifest.publisher, key, 1_700_000_000_000).unwrap();
    entries
}

/// `manifest_text` with its publisher (and tool ids) renamed.
pub fn with_publisher(manifest_text: &str, publisher: &str) -> String {
    manifest_text
        .replace("publisher = \"acme\"", &format!("publisher = \"{publisher}\""))
        .replace("\"acme.", &format!("\"{publisher}."))
}

/// A CycloneDX SBOM listing `deps` (`(name, version)`) as its components.
pub fn sbom_with(deps: &[(&str, &str)]) -> Vec<u8> {
    let components: Vec<_> = deps
        .iter()
        .map(|(name, version)| {
            serde_json::json!({
                "type": "library", "name": name, "version": version,
                "purl": format!("pkg:cargo/{name}@{version}"),
            })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": components,
    }))
    .unwrap()
}

/// Packs the echo module with `manifest_text` and `sbom`, signs it with
/// `key`, and writes it to `dir/name`.
pub fn write_artifact(
    dir: &std::path::Path,
    name: &str,
    manifest_text: &str,
    sbom: Vec<u8>,
    key: &SecretKey,
) -> PathBuf {
    let parts = Parts { sbom, ..echo_parts(manifest_text) };
    let (mut entries, manifest) = pack::assemble(parts).unwrap();
    pack::sign(&mut entries, &manifest.publisher, key, 1_700_000_000_000).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
    path
}

/// Every encoding of the seed a leak could take.
pub fn encodings(key: &SecretKey) -> Vec<String> {
    use base64::Engine as _;
    let seed = key.seed();
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = key.to_pkcs8_pem();
    // The PEM body's first 64 characters encode the PKCS#8 header and the
    // seed; the rest (if any) encodes the public key, which is public.
    let pem_body: String =
        pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>().chars().take(64).collect();
    vec![hex::encode(*seed), hex::encode(*seed).to_uppercase(), b64.encode(*seed), pem_body]
}

pub fn assert_clean(haystack: &[u8], key: &SecretKey, what: &str) {
    let text = String::from_utf8_lossy(haystack);
    // Any 24 consecutive characters of an encoding count as a leak.
    for encoding in encodings(key) {
        for start in 0..=encoding.len().saturating_sub(24) {
            let needle = &encoding[start..(start + 24).min(encoding.len())];
            assert!(!text.contains(needle), "{what} contains part of the private key: {needle}");
        }
    }
    let seed = key.seed();
    assert!(!haystack.windows(32).any(|w| w == seed.as_slice()), "{what} contains the raw key");
}

/// Runtime limits for tests: 50M fuel, 16 MiB of memory, 2 s, 1 MiB outputs.
pub fn test_limits() -> Limits {
    Limits {
        fuel: 50_000_000,
        max_memory_bytes: 16 * 1024 * 1024,
        timeout_ms: 2_000,
        max_table_elements: cargo_palyra_skill::runtime::MAX_TABLE_ELEMENTS,
        max_instances: cargo_palyra_skill::runtime::MAX_INSTANCES,
        max_stdout_bytes: 1024 * 1024,
        max_stderr_bytes: 1024 * 1024,
    }
}

/// A minimal manifest for skill (and tool) `acme.<name>`, with `sections`
/// (TOML tables such as `[capabilities]`) before `[compat]`.
pub fn test_manifest(name: &str, sections: &str) -> String {
    format!(
        r#"skill_id = "acme.{name}"
name = "Test {name}"
version = "1.0.0"
publisher = "acme"

[[entrypoints.tools]]
id = "acme.{name}"
name = "{name}"
description = "A test skill"
input_schema = {{ type = "object" }}
output_schema = {{ type = "object" }}

{sections}

[compat]
required_protocol_major = 1
min_palyra_version = "0.1.0"
"#
    )
}

/// Copies a directory tree, leaving out any `target/`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if entry.file_name() == "target" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Copies `fixtures/<rel>` (a crate) to `to`.
pub fn copy_fixture_dir(rel: &str, to: &Path) {
    copy_dir(&fixture(rel), to);
}

/// The vector's manifest with `module` as its `modules/echo.wasm`, signed
/// with the test key, written to `dir/name`.
pub fn artifact_with_module(dir: &Path, name: &str, module: Vec<u8>) -> PathBuf {
    let parts = Parts {
        modules: vec![("echo.wasm".into(), module)],
        ..echo_parts(&fixture_text("vectors/inputs/skill.toml"))
    };
    let (mut entries, manifest) = pack::assemble(parts).unwrap();
    pack::sign(&mut entries, &manifest.publisher, &test_key(), 1_700_000_000_000).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
    path
}

/// A git author and committer for commands that commit (a fresh `HOME` has
/// no git identity).
pub const GIT_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Acme"),
    ("GIT_AUTHOR_EMAIL", "skills@example.com"),
    ("GIT_COMMITTER_NAME", "Acme"),
    ("GIT_COMMITTER_EMAIL", "skills@example.com"),
];

/// `git ARGS` in `dir`, which must succeed: with [`GIT_IDENTITY`], a fixed
/// commit time (2026-01-02T03:04:05Z) and `main` as the first branch.
pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .envs(GIT_IDENTITY)
        .envs([("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z"), ("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")])
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
