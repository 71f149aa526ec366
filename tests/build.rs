//! `build`: real skill crates from `fixtures/skills` compiled for
//! wasm32-wasip1; the artifacts verify, their SBOM and provenance state the
//! facts, builds are reproducible, and every error names its fix.

use std::path::{Path, PathBuf};

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use predicates::prelude::*;
use serde_json::Value;

/// A copy of a fixture crate (without any `target/`) in a fresh directory.
fn copy_crate(name: &str, into: &Path) -> PathBuf {
    let from = fixture(&format!("skills/{name}"));
    let to = into.join(name);
    copy_dir(&from, &to);
    to
}

/// One target directory for the builds that share it, so crates compile once.
fn shared_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-target")
}

fn build_cmd(crate_dir: &Path, target_dir: &Path, out: &Path) -> assert_cmd::Command {
    let mut command = cmd();
    command
        .args(["build", "--locked", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--out")
        .arg(out)
        .env("PALYRA_SKILL_CONFIG_DIR", out.join("config"));
    command
}

fn entries(path: &Path) -> Entries {
    Entries::read_zip(&std::fs::read(path).unwrap()).unwrap()
}

fn json_entry(entries: &Entries, path: &str) -> Value {
    serde_json::from_slice(&entries.get(path).unwrap().bytes).unwrap()
}

#[test]
fn builds_verifies_and_describes_the_real_dependency_graph() {
    // Kept under target/tmp so CI can run the supply-chain validator on it.
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-out");
    let output = build_cmd(&fixture("skills/echo"), &shared_target(), &out)
        .args(["--message-format", "json"])
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .success()
        .get_output()
        .clone();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let artifact = out.join("acme.echo-1.2.3.palyra-skill");
    assert_eq!(report["artifact"], artifact.to_str().unwrap());
    assert_eq!(report["version"], "1.2.3", "the version comes from the crate");
    assert_eq!(report["key_id"], "ed25519:65b60673d6ed884b");
    assert_eq!(report["signed_with"], "key");

    cmd()
        .args(["verify", "--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}")])
        .arg(&artifact)
        .assert()
        .success();

    let entries = entries(&artifact);
    let module = entries.get("modules/acme_echo.wasm").expect("the cdylib is packed under its file name");
    let module_sha = module.sha256_hex();

    // SBOM: every runtime crate with purl and Cargo.lock checksum; no build dependency.
    let sbom = json_entry(&entries, "sbom.cdx.json");
    assert_eq!(sbom["specVersion"], "1.5");
    let lock: toml::Value = toml::from_str(&fixture_text("skills/echo/Cargo.lock")).unwrap();
    let checksum = |name: &str| {
        lock["package"].as_array().unwrap().iter().find(|p| p["name"].as_str() == Some(name)).unwrap()["checksum"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let components = sbom["components"].as_array().unwrap();
    let names: Vec<&str> = components.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for runtime in ["serde_json", "itoa", "memchr"] {
        let c = components
            .iter()
            .find(|c| c["name"] == runtime)
            .unwrap_or_else(|| panic!("{runtime} missing: {names:?}"));
        assert!(c["purl"].as_str().unwrap().starts_with(&format!("pkg:cargo/{runtime}@")));
        assert_eq!(c["hashes"][0]["content"], checksum(runtime));
        assert_eq!(c["scope"], "required");
    }
    assert!(!names.contains(&"autocfg"), "a build dependency is not in the module: {names:?}");
    let file = &sbom["metadata"]["component"]["components"][0];
    assert_eq!(file["hashes"][0]["content"], module_sha);
    assert_eq!(file["mime-type"], "application/wasm");
    assert_eq!(sbom["metadata"]["tools"]["components"][0]["name"], "cargo-palyra-skill");
    let refs: Vec<&str> = components.iter().map(|c| c["bom-ref"].as_str().unwrap()).collect();
    for dependency in sbom["dependencies"].as_array().unwrap() {
        for target in dependency["dependsOn"].as_array().into_iter().flatten() {
            let target = target.as_str().unwrap();
            assert!(
                refs.contains(&target) || target.starts_with("pkg:cargo/acme-echo@"),
                "dangling ref {target}"
            );
        }
    }

    // Provenance: one subject per module, the lockfile and crates resolved.
    let provenance = json_entry(&entries, "provenance.json");
    assert_eq!(provenance["subject"][0]["digest"]["sha256"], module_sha);
    assert_eq!(provenance["builder"], provenance["predicate"]["runDetails"]["builder"]);
    let resolved = provenance["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    assert!(resolved.iter().any(|r| r["name"] == "Cargo.lock"));
    // Every URI is a real URI; a checkout cloned from a local path records no remote.
    for uri in resolved.iter().filter_map(|r| r["uri"].as_str()) {
        let ok = uri.starts_with("pkg:cargo/")
            || uri.strip_prefix("git+").is_some_and(|rest| rest.contains("://"));
        assert!(ok, "not a URI: {uri}");
    }
    assert!(
        resolved.iter().any(|r| r["uri"].as_str().is_some_and(|u| u.starts_with("pkg:cargo/serde_json@")))
    );
    assert_eq!(provenance["predicate"]["buildDefinition"]["internalParameters"]["locked"], true);

    // No host path anywhere in the artifact.
    let home = std::env::var("HOME").unwrap_or_default();
    let forbidden =
        [env!("CARGO_MANIFEST_DIR").to_owned(), shared_target().display().to_string(), home, "/home/".into()];
    for (path, entry) in entries.iter() {
        for needle in forbidden.iter().filter(|n| n.len() > 1) {
            let found = entry.bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "`{needle}` found in `{path}`");
        }
    }
}

#[test]
fn same_epoch_same_bytes_from_different_checkout_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut artifacts = Vec::new();
    for checkout in ["first/place", "second/elsewhere/deeper"] {
        let crate_dir = copy_crate("echo", &dir.path().join(checkout));
        let out = dir.path().join(checkout).join("out");
        build_cmd(&crate_dir, &crate_dir.join("target"), &out)
            .arg("-q")
            .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .assert()
            .success();
        artifacts.push(std::fs::read(out.join("acme.echo-1.2.3.palyra-skill")).unwrap());
    }
    assert!(artifacts[0] == artifacts[1], "artifacts differ between checkout paths");
    let entries = Entries::read_zip(&artifacts[0]).unwrap();
    let sbom = json_entry(&entries, "sbom.cdx.json");
    assert_eq!(sbom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
}

#[test]
fn check_reproducible_builds_twice_and_keeps_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    cmd()
        .args(["build", "--check-reproducible", "--manifest-path"])
        .arg(fixture("skills/echo/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .success()
        .stderr(predicate::str::contains("Reproduced"));
    // Kept in `check/`, never where a build's artifact goes.
    let check = target.join("palyra-skill/check");
    let artifact = entries(&check.join("acme.echo-1.2.3.palyra-skill"));
    assert!(!target.join("palyra-skill/acme.echo-1.2.3.palyra-skill").exists());

    // One build: the named copy is kept beside it, and the artifact's
    // module is those same bytes less what the profile's `strip` leaves
    // out: echo sets none, so cargo's default for a profile without debug
    // info, `debuginfo`, which keeps the names.
    use cargo_palyra_skill::named::{Strip, strip_as};
    let module = &artifact.get("modules/acme_echo.wasm").unwrap().bytes;
    let named = std::fs::read(check.join("acme.echo-1.2.3.named/acme_echo.wasm")).unwrap();
    assert_eq!(&strip_as(&named, Strip::Debuginfo).unwrap(), module);
    let customs = |wasm: &[u8]| -> Vec<String> {
        wasmparser::Parser::new(0)
            .parse_all(wasm)
            .filter_map(|p| match p.unwrap() {
                wasmparser::Payload::CustomSection(c) => Some(c.name().to_owned()),
                _ => None,
            })
            .collect()
    };
    let kept = customs(module);
    assert!(kept.contains(&".dep-v0".to_owned()) && kept.contains(&"name".to_owned()), "{kept:?}");
    assert!(kept.iter().all(|name| !name.starts_with(".debug_")), "{kept:?}");
    assert!(customs(&named).iter().any(|name| name.starts_with(".debug_")), "the copy keeps the line tables");
    assert!(cargo_palyra_skill::named::function_names(&named).len() > 10);
}

#[test]
fn attestation_is_a_dsse_envelope_of_the_packed_provenance() {
    use base64::Engine as _;
    use cargo_palyra_skill::signing::PublicKey;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build_cmd(&fixture("skills/echo"), &shared_target(), &out)
        .arg("--attestation")
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .success();
    let artifact = out.join("acme.echo-1.2.3.palyra-skill");
    let line = std::fs::read_to_string(out.join("acme.echo-1.2.3.palyra-skill.intoto.jsonl")).unwrap();
    assert_eq!(line.lines().count(), 1);
    let envelope: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, entries(&artifact).get("provenance.json").unwrap().bytes);
    let signature = &envelope["signatures"][0];
    assert_eq!(signature["keyid"], "ed25519:65b60673d6ed884b");
    let sig: [u8; 64] = b64.decode(signature["sig"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = PublicKey::from_hex(TEST_PUBLIC_HEX).unwrap();
    let pae = cargo_palyra_skill::provenance::pae("application/vnd.in-toto+json", &payload);
    use ed25519_dalek::Verifier as _;
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(key.bytes()).unwrap();
    verifying.verify(&pae, &ed25519_dalek::Signature::from_bytes(&sig)).expect("the DSSE signature verifies");
}

#[test]
fn github_actions_builds_record_the_workflow_builder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build_cmd(&fixture("skills/echo"), &shared_target(), &out)
        .arg("--unsigned")
        .envs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/echo-skill"),
            ("GITHUB_WORKFLOW_REF", "acme/echo-skill/.github/workflows/skill.yml@refs/tags/v1.2.3"),
            ("GITHUB_REF", "refs/tags/v1.2.3"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_RUN_ID", "987"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REPOSITORY_ID", "11"),
            ("GITHUB_REPOSITORY_OWNER_ID", "22"),
            ("RUNNER_ENVIRONMENT", "github-hosted"),
        ])
        .assert()
        .success();
    let provenance = json_entry(&entries(&out.join("acme.echo-1.2.3.palyra-skill")), "provenance.json");
    let builder_id = "https://github.com/acme/echo-skill/.github/workflows/skill.yml@refs/tags/v1.2.3";
    assert_eq!(provenance["predicate"]["runDetails"]["builder"]["id"], builder_id);
    assert_eq!(provenance["builder"]["id"], builder_id);
    assert_eq!(
        provenance["predicate"]["runDetails"]["metadata"]["invocationId"],
        "https://github.com/acme/echo-skill/actions/runs/987/attempts/2"
    );
    let definition = &provenance["predicate"]["buildDefinition"];
    assert_eq!(definition["externalParameters"]["workflow"]["path"], ".github/workflows/skill.yml");
    assert_eq!(definition["internalParameters"]["github"]["runner_environment"], "github-hosted");
    assert_eq!(
        definition["resolvedDependencies"][0]["digest"]["gitCommit"],
        "0123456789abcdef0123456789abcdef01234567"
    );
}

#[test]
fn without_a_key_the_development_key_signs_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build_cmd(&fixture("skills/echo"), &shared_target(), &out)
        .assert()
        .success()
        .stderr(predicate::str::contains("created your local development key"))
        .stderr(predicate::str::contains("signed with your local development key"));
    let key = out.join("config/dev-signing-key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The second build reuses it.
    build_cmd(&fixture("skills/echo"), &shared_target(), &out)
        .assert()
        .success()
        .stderr(predicate::str::contains("created").not());
}

/// Edits a copy of the echo crate, then expects `build` to fail with `message`.
fn fails_after(edit: impl FnOnce(&Path), message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = copy_crate("echo", dir.path());
    edit(&crate_dir);
    let out = dir.path().join("out");
    build_cmd(&crate_dir, &shared_target(), &out)
        .arg("--unsigned")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(message));
    assert!(!out.join("acme.echo-1.2.3.palyra-skill").exists(), "no artifact after a failure");
}

fn rewrite(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_missing_skill_toml_is_named() {
    fails_after(|dir| std::fs::remove_file(dir.join("skill.toml")).unwrap(), "no `skill.toml` at");
}

#[test]
fn a_version_mismatch_is_named() {
    fails_after(
        |dir| rewrite(&dir.join("skill.toml"), "name = \"Echo\"", "name = \"Echo\"\nversion = \"9.9.9\""),
        "`skill.toml` says `version = \"9.9.9\"` but the crate is 1.2.3",
    );
}

#[test]
fn a_pre_release_crate_version_is_refused() {
    fails_after(
        |dir| {
            rewrite(&dir.join("Cargo.toml"), "version = \"1.2.3\"", "version = \"1.2.3-beta.1\"");
            rewrite(
                &dir.join("Cargo.lock"),
                "name = \"acme-echo\"\nversion = \"1.2.3\"",
                "name = \"acme-echo\"\nversion = \"1.2.3-beta.1\"",
            );
        },
        "crate version `1.2.3-beta.1` is not a plain `major.minor.patch`",
    );
}

#[test]
fn a_crate_that_is_not_a_cdylib_is_refused() {
    fails_after(
        |dir| rewrite(&dir.join("Cargo.toml"), "crate-type = [\"cdylib\"]", "crate-type = [\"rlib\"]"),
        "is not a `cdylib`",
    );
}

#[test]
fn compile_errors_reach_the_user_and_write_nothing() {
    fails_after(
        |dir| {
            rewrite(
                &dir.join("src/lib.rs"),
                "let mut input = String::new();",
                "let mut input = String::new() +;",
            )
        },
        "`cargo build` failed",
    );
}

#[test]
fn a_missing_target_gets_the_rustup_command() {
    // A stand-in cargo that answers `metadata` for real and fails `build`
    // the way cargo does when the target's standard library is missing.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("cargo");
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = metadata ]; then exec '{real}' \"$@\"; fi\necho 'error[E0463]: can'\"'\"'t find crate for `std`' >&2\necho '  = note: the `wasm32-wasip1` target may not be installed' >&2\nexit 101\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    build_cmd(&fixture("skills/echo"), &shared_target(), &dir.path().join("out"))
        .arg("--unsigned")
        .env("CARGO", &fake)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("rustup target add wasm32-wasip1"));
}

#[test]
fn no_crate_no_development_key() {
    let dir = tempfile::tempdir().unwrap();
    cmd()
        .arg("build")
        .current_dir(dir.path())
        .env("PALYRA_SKILL_CONFIG_DIR", dir.path().join("config"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no skill crate here: could not find `Cargo.toml`"));
    assert!(!dir.path().join("config").exists(), "no key is created for a build that cannot happen");
}

/// The module carries its dependency list as `cargo auditable` writes it
/// (`.dep-v0`), read back with `auditable-info` as `cargo audit bin` does;
/// it is the same crate set as the SBOM, and `--no-embed-dependencies`
/// leaves it out.
#[test]
fn the_module_carries_its_dependency_list_for_auditing_tools() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = copy_crate("guard", dir.path());
    let out = dir.path().join("out");
    build_cmd(&crate_dir, &shared_target(), &out)
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .success();
    let artifact = entries(&out.join("acme.guard-1.2.3.palyra-skill"));
    let module = &artifact.get("modules/acme_guard.wasm").unwrap().bytes;
    let info = auditable_info::audit_info_from_slice(module, 1024 * 1024).unwrap();
    let root: Vec<_> = info.packages.iter().filter(|p| p.root).collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0].name, "acme-guard");
    let names: std::collections::BTreeSet<String> =
        info.packages.iter().filter(|p| !p.root).map(|p| format!("{}@{}", p.name, p.version)).collect();
    let sbom = json_entry(&artifact, "sbom.cdx.json");
    let listed: std::collections::BTreeSet<String> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}@{}", c["name"].as_str().unwrap(), c["version"].as_str().unwrap()))
        .collect();
    assert_eq!(names, listed, "the embedded list is the SBOM's crate set");
    assert!(names.iter().any(|n| n.starts_with("serde_json@")), "{names:?}");
    // The SBOM's module hash is of the final bytes, section included.
    let file = &sbom["metadata"]["component"]["components"][0];
    assert_eq!(file["hashes"][0]["content"], artifact.get("modules/acme_guard.wasm").unwrap().sha256_hex());

    let plain = dir.path().join("plain");
    build_cmd(&crate_dir, &shared_target(), &plain)
        .arg("--no-embed-dependencies")
        .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
        .assert()
        .success();
    let plain_entries = entries(&plain.join("acme.guard-1.2.3.palyra-skill"));
    let plain_module = &plain_entries.get("modules/acme_guard.wasm").unwrap().bytes;
    assert!(auditable_info::audit_info_from_slice(plain_module, 1024 * 1024).is_err());
    println!(
        "dependency list: {} bytes in a {}-byte module",
        module.len() - plain_module.len(),
        module.len()
    );
}

#[test]
fn two_builds_of_one_commit_are_byte_identical_with_no_setting_and_a_rerun_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let first = copy_crate("guard", &dir.path().join("checkout-a"));
    git(&first, &["init", "-q"]);
    git(&first, &["add", "-A"]);
    git(&first, &["commit", "-qm", "guard"]);
    let second = dir.path().join("elsewhere/checkout-b");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    git(dir.path(), &["clone", "-q", first.to_str().unwrap(), second.to_str().unwrap()]);

    let build = |crate_dir: &Path, out: &Path, extra: &[&str]| {
        let output = build_cmd(crate_dir, &shared_target(), out)
            .args(["--message-format", "json"])
            .args(extra)
            .env_remove("SOURCE_DATE_EPOCH")
            .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let artifact = PathBuf::from(report["artifact"].as_str().unwrap());
        (report, std::fs::read(artifact).unwrap())
    };
    let (report_a, bytes_a) = build(&first, &dir.path().join("out-a"), &[]);
    assert_eq!(report_a["time_source"], "git_commit");
    assert_eq!(report_a["built_at"], "2026-01-02T03:04:05Z");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (report_b, bytes_b) = build(&second, &dir.path().join("out-b"), &[]);
    assert_eq!(report_b["time_source"], "git_commit");
    assert!(bytes_a == bytes_b, "two builds of one commit, at other times and paths, are byte-identical");

    // A separate signing step (as the Action signs) keeps them identical.
    let signed = |name: &str| {
        let out = dir.path().join(name);
        let (report, _) = build(&second, &out, &["--unsigned"]);
        let artifact = report["artifact"].as_str().unwrap().to_owned();
        cmd()
            .args(["-q", "sign", &artifact])
            .env_remove("SOURCE_DATE_EPOCH")
            .env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX)
            .assert()
            .success();
        std::fs::read(artifact).unwrap()
    };
    let once = signed("unsigned-1");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(once == signed("unsigned-2"), "signing stamps the build's time, not the clock's");
    assert!(once == bytes_a, "and gives what a signed build gives");

    // A re-run release job: publishing the rebuilt, identical artifact again succeeds.
    let registry = dir.path().join("registry");
    for out in ["out-a", "out-b"] {
        cmd()
            .arg("publish")
            .arg(dir.path().join(out).join("acme.guard-1.2.3.palyra-skill"))
            .arg("--registry-dir")
            .arg(&registry)
            .args(["--key-env", "PALYRA_SKILL_REGISTRY_KEY"])
            .env("PALYRA_SKILL_REGISTRY_KEY", TEST_SEED_HEX)
            .env("PALYRA_SKILL_CONFIG_DIR", dir.path().join("registry-config"))
            .assert()
            .success();
    }

    // A modified tracked file: the clock's time, and the JSON says so (a
    // release build, signed with a release key, needs `--allow-dirty`).
    let source = first.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, format!("{text}// changed\n")).unwrap();
    let (dirty, _) = build(&first, &dir.path().join("out-dirty"), &["--allow-dirty"]);
    assert_eq!(dirty["time_source"], "now");
}
