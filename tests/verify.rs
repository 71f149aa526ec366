//! `verify`: the consumer's verification order and trust decisions, through
//! the binary and the library: vectors, tampering, hostile archives, trust stores.

use std::io::Write;

use crate::support::*;
use cargo_palyra_skill::artifact::{ArtifactError, Entries};
use cargo_palyra_skill::verify::{VerifyError, verify_bytes};
use predicates::prelude::*;
use serde_json::Value;
use zip::write::SimpleFileOptions;

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).unwrap()
}

#[test]
fn vectors_verify_on_first_use_and_allowlisted() {
    let out = cmd()
        .args(["verify", "--allow-tofu", "--message-format", "json"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .arg(fixture("vectors/reference-echo-asset.palyra-skill"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    assert_eq!(report["verified"], 2);
    let first = &report["artifacts"][0];
    assert_eq!(first["trust_decision"], "tofu_newly_pinned");
    assert_eq!(first["payload_sha256"], "831f41b055a5aa8c56e9bc93459807cb3944b0749be8dc77f6d535e4ba41164f");
    assert_eq!(first["key_id"], "ed25519:65b60673d6ed884b");
    // The second artifact of the same publisher meets the pin made by the first.
    assert_eq!(report["artifacts"][1]["trust_decision"], "tofu_pinned");

    cmd()
        .args(["verify", "--trusted-publisher", &format!("acme={TEST_PUBLIC_HEX}")])
        .arg(fixture("vectors/reference-echo-asset.palyra-skill"))
        .assert()
        .success()
        .stdout(predicate::str::contains("(trusted: a key listed for this publisher)"))
        .stdout(predicate::str::contains("634130318b7cff408adf6d2bfecdcd1d2ce4d7c8b1f173f95f0fad1f7cccd8a8"));
}

#[test]
fn untrusted_and_mismatched_keys_are_rejected_with_exit_1() {
    cmd()
        .arg("verify")
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("publisher `acme` is not trusted"))
        .stdout(predicate::str::contains("--allow-tofu"));
    let other = "a9431837b607141acb9090625ae1918ccd924e3ca407bc0f67f2ecd8957e8206";
    cmd()
        .args(["verify", "--allow-tofu", "--trusted-publisher", &format!("acme={other}")])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("is trusted with key ed25519:"))
        .stdout(predicate::str::contains(format!(
            "signed with ed25519:65b60673d6ed884b (public key {TEST_PUBLIC_HEX})"
        )));
}

#[test]
fn trust_store_pins_are_saved_and_then_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("trust.json");
    cmd()
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&store)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success();
    let saved = json(&std::fs::read(&store).unwrap());
    assert_eq!(saved["tofu_publishers"]["acme"], TEST_PUBLIC_HEX);

    // Another key for the same publisher now fails the pin.
    let other_key = cargo_palyra_skill::signing::SecretKey::from_seed(&[7; 32]);
    let entries = signed_entries(&fixture_text("vectors/inputs/skill.toml"), &other_key);
    let artifact = dir.path().join("rotated.palyra-skill");
    std::fs::write(&artifact, entries.to_zip().unwrap()).unwrap();
    cmd()
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&store)
        .arg(&artifact)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "was pinned on first use to key ed25519:65b60673d6ed884b ({TEST_PUBLIC_HEX})"
        )));
}

#[test]
fn invalid_trust_stores_stop_before_verifying_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#"{"trusted_publishers":{},"extra":1}"#, "unknown field `extra`"),
        (r#"{"tofu_publishers":{"acme":"xyz"}}"#, "not 64 hex characters"),
        (r#"{"trusted_publishers":{"acme":[]}}"#, "empty key list"),
        ("{", "EOF while parsing"),
    ];
    for (content, message) in cases {
        let store = dir.path().join("store.json");
        std::fs::write(&store, content).unwrap();
        cmd()
            .args(["verify", "--allow-tofu", "--trust-store"])
            .arg(&store)
            .arg(fixture("vectors/reference-echo.palyra-skill"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
        assert_eq!(std::fs::read_to_string(&store).unwrap(), content, "an invalid store is never rewritten");
    }
    // An empty file is an empty store.
    let store = dir.path().join("empty.json");
    std::fs::write(&store, "  \n").unwrap();
    cmd()
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&store)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success();
}

#[test]
fn concurrent_first_use_pins_from_many_processes_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("trust.json");
    let manifest = fixture_text("vectors/inputs/skill.toml");
    let publishers: Vec<String> = (0..12).map(|i| format!("pub{i}")).collect();
    let artifacts: Vec<_> = publishers
        .iter()
        .map(|publisher| {
            let entries = signed_entries(&with_publisher(&manifest, publisher), &test_key());
            let path = dir.path().join(format!("{publisher}.palyra-skill"));
            std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
            path
        })
        .collect();
    let children: Vec<_> = artifacts
        .iter()
        .map(|artifact| {
            std_cmd()
                .args(["-q", "verify", "--allow-tofu", "--trust-store"])
                .arg(&store)
                .arg(artifact)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let saved = json(&std::fs::read(&store).unwrap());
    let pins = saved["tofu_publishers"].as_object().unwrap();
    assert_eq!(pins.len(), publishers.len(), "every pin survives: {saved}");
    for publisher in &publishers {
        assert_eq!(pins[publisher], TEST_PUBLIC_HEX);
    }
}

/// Every single-byte change of the file is rejected, or accepted with
/// exactly the signed entries; never different content, never a panic.
#[test]
fn every_byte_flip_of_the_vector_is_rejected_or_harmless() {
    let original = read_fixture("vectors/reference-echo.palyra-skill");
    let signed = Entries::read_zip(&original).unwrap();
    let mut accepted = 0;
    for position in 0..original.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bytes = original.clone();
            bytes[position] ^= mask;
            if let Ok((entries, _)) = verify_bytes(&bytes) {
                accepted += 1;
                assert_eq!(entries.len(), signed.len(), "flip at {position}");
                for (path, entry) in entries.iter() {
                    assert_eq!(
                        entry.bytes,
                        signed.get(path).unwrap().bytes,
                        "flip at {position} changed `{path}`"
                    );
                }
            }
        }
    }
    // Flips in ZIP metadata no entry depends on (times, attributes) are harmless.
    assert!(accepted > 0 && accepted < original.len() * 3, "{accepted} accepted");
}

#[test]
fn every_byte_change_to_any_entry_rezipped_is_rejected() {
    let signed = Entries::read_zip(&read_fixture("vectors/reference-echo.palyra-skill")).unwrap();
    let (mut checked, mut unsigned_field) = (0, 0);
    for (path, entry) in signed.iter() {
        for position in 0..entry.bytes.len() {
            let mut tampered = signed.clone();
            let mut bytes = entry.bytes.clone();
            bytes[position] ^= 0x01;
            tampered.set(path, bytes).unwrap();
            let zipped = tampered.to_zip().unwrap();
            match verify_bytes(&zipped) {
                Err(error) => assert!(!error.to_string().is_empty()),
                // The one field the format leaves unsigned (ARTIFACT.md signs only
                // the payload hash): a changed digit of the signing time.
                Ok((_, verified)) => {
                    assert_eq!(path, "signature.json", "`{path}` byte {position} accepted");
                    let text = String::from_utf8_lossy(&entry.bytes);
                    let value_at = text.find("\"signed_at_unix_ms\": ").unwrap() + 21;
                    assert!(
                        (value_at..entry.bytes.len() - 2).contains(&position),
                        "signature.json byte {position} accepted"
                    );
                    assert_eq!(verified.payload_sha256, signed.payload_sha256());
                    unsigned_field += 1;
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 3000, "{checked}");
    assert_eq!(
        unsigned_field, 12,
        "only the 13-digit timestamp's digits (all but the leading 1 flipped to 0) may change"
    );
}

#[test]
fn tampered_entries_name_the_problem() {
    let signed = Entries::read_zip(&read_fixture("vectors/reference-echo.palyra-skill")).unwrap();
    let mut module = signed.clone();
    module.set("modules/echo.wasm", b"\0asm\x01\0\0\0".to_vec()).unwrap();
    let error = verify_bytes(&module.to_zip().unwrap()).unwrap_err();
    assert!(matches!(error, VerifyError::PayloadMismatch { .. }), "{error}");
    assert!(error.to_string().contains("changed after signing"), "{error}");

    let mut unsigned = signed.clone();
    unsigned.remove("signature.json");
    assert!(matches!(verify_bytes(&unsigned.to_zip().unwrap()), Err(VerifyError::Unsigned)));

    let mut no_sbom = signed;
    no_sbom.remove("sbom.cdx.json");
    let error = verify_bytes(&no_sbom.to_zip().unwrap()).unwrap_err();
    assert_eq!(error.to_string(), "the artifact has no `sbom.cdx.json` entry");
}

#[test]
fn a_resigned_artifact_with_a_foreign_integrity_table_is_rejected() {
    // A signer who signs mismatching content still fails step 9.
    let key = test_key();
    let mut entries = Entries::read_zip(&read_fixture("vectors/reference-echo.palyra-skill")).unwrap();
    entries.set("assets/extra.txt", b"unlisted".to_vec()).unwrap();
    cargo_palyra_skill::pack::sign(&mut entries, "acme", &key, 0).unwrap();
    let error = verify_bytes(&entries.to_zip().unwrap()).unwrap_err();
    assert!(error.to_string().contains("`assets/extra.txt` is not listed"), "{error}");
}

fn zip_with(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn read_error(bytes: &[u8]) -> ArtifactError {
    Entries::read_zip(bytes).unwrap_err()
}

#[test]
fn bad_paths_are_rejected() {
    for name in ["../evil", "/etc/passwd", "C:/windows/x", "a//b", "./a", "a/./b", " / x"] {
        let error = read_error(&zip_with(&[(name, b"x".to_vec())]));
        assert!(matches!(error, ArtifactError::Path(_)), "{name}: {error}");
        assert!(error.to_string().starts_with("invalid entry path"), "{error}");
    }
    // A backslash is refused before any path rule: extractors disagree on it.
    let error = read_error(&zip_with(&[("a\\..\\b", b"x".to_vec())]));
    assert!(
        matches!(error, ArtifactError::Ambiguous(_)) && error.to_string().contains("backslash"),
        "{error}"
    );
}

#[test]
fn duplicates_after_normalization_are_rejected() {
    // A stored name that only normalizes to another's is refused for what
    // it is first: extractors would write both files, under both names.
    let error = read_error(&zip_with(&[("assets/a", b"1".to_vec()), (" assets/a ", b"2".to_vec())]));
    assert!(
        matches!(error, ArtifactError::Ambiguous(_))
            && error.to_string().contains("entry ` assets/a `, name:"),
        "{error}"
    );
    // Packing normalizes, and refuses the second.
    let mut entries = Entries::new();
    entries.insert("assets/a", b"1".to_vec()).unwrap();
    let error = entries.insert(" assets/a ", b"2".to_vec()).unwrap_err();
    assert!(matches!(error, ArtifactError::Duplicate { .. }), "{error}");
    // Two entries with the very same raw name (patched in after writing).
    let mut bytes = zip_with(&[("assets/a", b"1".to_vec()), ("assets/b", b"2".to_vec())]);
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(8).position(|w| w == b"assets/b") {
        bytes[i + at + 7] = b'a';
        i += at + 8;
    }
    assert!(matches!(read_error(&bytes), ArtifactError::DuplicateRaw), "{}", read_error(&bytes));
}

#[test]
fn too_many_entries_are_rejected() {
    let files: Vec<(String, Vec<u8>)> = (0..257).map(|i| (format!("assets/{i}"), vec![])).collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    assert!(matches!(read_error(&zip_with(&refs)), ArtifactError::TooManyEntries { count: 257 }));
    assert!(Entries::read_zip(&zip_with(&refs[..256])).is_ok());
}

#[test]
fn a_17_mib_entry_and_zip_bombs_are_stopped() {
    let big = vec![0u8; 17 * 1024 * 1024];
    let bomb = zip_with(&[("modules/bomb.wasm", big)]);
    assert!(bomb.len() < 100 * 1024, "a small file: {}", bomb.len());
    assert!(matches!(read_error(&bomb), ArtifactError::EntryTooLarge { .. }));

    // Entries each under 16 MiB, together over 64 MiB.
    let part = vec![0u8; 15 * 1024 * 1024];
    let names: Vec<String> = (0..5).map(|i| format!("assets/{i}")).collect();
    let files: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (n.as_str(), part.clone())).collect();
    assert!(matches!(read_error(&zip_with(&files)), ArtifactError::TotalTooLarge));
    // Exactly 16 MiB is allowed.
    assert!(Entries::read_zip(&zip_with(&[("assets/max", vec![0u8; 16 * 1024 * 1024])])).is_ok());
}

/// Patches the uncompressed size of every header to `size`.
fn lie_about_size(bytes: &mut [u8], size: u32) {
    for (signature, offset) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
        let mut i = 0;
        while let Some(at) = bytes[i..].windows(4).position(|w| w == signature) {
            let field = i + at + offset;
            bytes[field..field + 4].copy_from_slice(&size.to_le_bytes());
            i += at + 4;
        }
    }
}

#[test]
fn headers_that_lie_about_sizes_do_not_matter() {
    // Claims 100 bytes, inflates to 17 MiB: stopped while inflating.
    let mut small_claim = zip_with(&[("modules/x.wasm", vec![0u8; 17 * 1024 * 1024])]);
    lie_about_size(&mut small_claim, 100);
    let error = read_error(&small_claim);
    assert!(error.to_string().contains("larger than its declared uncompressed size"), "{error}");
    // Claims 4 GiB, holds 3 bytes: refused without reserving anything like it.
    let mut huge_claim = zip_with(&[("modules/x.wasm", b"abc".to_vec())]);
    lie_about_size(&mut huge_claim, u32::MAX);
    assert!(Entries::read_zip(&huge_claim).is_err());
}

#[test]
fn garbage_and_truncated_files_are_clear_errors() {
    assert!(matches!(read_error(b"not a zip"), ArtifactError::NotZip(_)));
    let original = read_fixture("vectors/reference-echo.palyra-skill");
    for cut in [0, 10, original.len() / 2, original.len() - 1] {
        assert!(Entries::read_zip(&original[..cut]).is_err(), "cut at {cut}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.palyra-skill");
    std::fs::write(&path, b"junk").unwrap();
    cmd()
        .args(["verify", "--allow-tofu"])
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not a readable ZIP archive"))
        .stdout(predicate::str::contains("no ZIP end record: a random, truncated or non-ZIP file"))
        .stdout(predicate::str::contains("EOCD").not());
    cmd()
        .args(["verify", "--allow-tofu"])
        .arg(dir.path().join("missing.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("could not read artifact"))
        .stderr(predicate::str::contains("missing.palyra-skill"));
}

/// The vector skill published as `publisher` (tool ids left as they are
/// where the manifest rules allow), signed with `key`.
fn lookalike_artifact(
    dir: &std::path::Path,
    publisher: &str,
    key: &cargo_palyra_skill::signing::SecretKey,
) -> std::path::PathBuf {
    let manifest = fixture_text("vectors/inputs/skill.toml")
        .replace("publisher = \"acme\"", &format!("publisher = \"{publisher}\""));
    let entries = signed_entries(&manifest, key);
    let path = dir.join("lookalike.palyra-skill");
    std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
    path
}

#[test]
fn a_lookalike_publisher_is_refused_and_never_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let attacker = cargo_palyra_skill::signing::SecretKey::from_seed(&[9; 32]);
    let fake = lookalike_artifact(dir.path(), " acme", &attacker);

    // Against an allowlist of `acme`.
    let store = dir.path().join("trust.json");
    std::fs::write(&store, format!(r#"{{"trusted_publishers":{{"acme":["{TEST_PUBLIC_HEX}"]}}}}"#)).unwrap();
    let before = std::fs::read(&store).unwrap();
    cmd()
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&store)
        .arg(&fake)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("looks like publisher `acme`"));
    assert_eq!(std::fs::read(&store).unwrap(), before, "no pin from a rejected artifact");

    // Against a TOFU pin of `acme`: still refused, the store unchanged, and
    // genuine `acme` artifacts keep verifying.
    let pinned = dir.path().join("pinned.json");
    cmd()
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&pinned)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success();
    let before = std::fs::read(&pinned).unwrap();
    cmd().args(["verify", "--allow-tofu", "--trust-store"]).arg(&pinned).arg(&fake).assert().code(1);
    assert_eq!(std::fs::read(&pinned).unwrap(), before);
    cmd()
        .args(["verify", "--allow-tofu", "--trust-store"])
        .arg(&pinned)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success();

    // The JSON report names the reason.
    cmd()
        .args(["verify", "--allow-tofu", "--message-format", "json"])
        .arg(&fake)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("lookalike_publisher"));
}

/// Found by `cargo fuzz run artifact_verify`: a ZIP64 locator whose record
/// offset is near `u64::MAX` (an addition that overflowed and panicked in
/// debug builds). The layout check now refuses it (an artifact never needs
/// ZIP64) with checked arithmetic: no panic, never verified.
#[test]
fn a_zip64_locator_near_u64_max_is_refused_without_a_panic() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds/artifact_verify/zip64-locator-overflow.bin"),
    )
    .unwrap();
    assert_eq!(bytes.len(), 262);
    // Whatever the reader makes of it, it returns, and it never verifies.
    let _ = Entries::read_zip(&bytes);
    assert!(verify_bytes(&bytes).is_err());
}

/// Offsets in a ZIP: each local header by name, the central directory
/// records by name, and the end record.
struct Layout {
    local: Vec<(String, usize)>,
    central: Vec<(String, usize)>,
    end: usize,
}

fn u16_le(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn u32_le(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn layout(b: &[u8]) -> Layout {
    let end = b.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let mut central = Vec::new();
    let mut at = u32_le(b, end + 16);
    for _ in 0..u16_le(b, end + 10) {
        let name_len = u16_le(b, at + 28);
        let name = String::from_utf8(b[at + 46..at + 46 + name_len].to_vec()).unwrap();
        central.push((name, at));
        at += 46 + name_len + u16_le(b, at + 30) + u16_le(b, at + 32);
    }
    let local = central.iter().map(|(name, record)| (name.clone(), u32_le(b, record + 42))).collect();
    Layout { local, central, end }
}

fn reference() -> Vec<u8> {
    read_fixture("vectors/reference-echo.palyra-skill")
}

#[track_caller]
fn ambiguous(bytes: &[u8], entry: Option<&str>, field: &str) {
    match verify_bytes(bytes) {
        Err(error) => {
            assert_eq!(error.kind(), "ambiguous_archive", "{error}");
            let text = error.to_string();
            assert!(
                text.contains(&format!("{field}:")) || text.contains(&format!("{field} ")),
                "{field}: {text}"
            );
            if let Some(entry) = entry {
                assert!(text.contains(&format!("entry `{entry}`")), "{text}");
            }
        }
        Ok(_) => panic!("accepted an ambiguous archive ({field})"),
    }
}

const MODULE: &str = "modules/echo.wasm";

fn local_of(b: &[u8], name: &str) -> usize {
    layout(b).local.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn the_four_variants_that_other_readers_read_differently_are_rejected() {
    let original = reference();
    assert!(verify_bytes(&original).is_ok());

    // A local header whose name differs from the central directory's.
    let mut renamed = original.clone();
    let at = local_of(&renamed, MODULE) + 30 + "modules/".len();
    renamed[at] = b'$';
    ambiguous(&renamed, Some(MODULE), "name");

    // 64 bytes before the first entry, offsets unadjusted.
    let prefixed = [vec![0u8; 64], original.clone()].concat();
    assert!(verify_bytes(&prefixed).is_err());
    if let Err(error) = verify_bytes(&prefixed) {
        assert!(matches!(error.kind(), "ambiguous_archive" | "archive"), "{error}");
    }

    // Bytes after the end record.
    let trailing = [original.clone(), b"trailing".to_vec()].concat();
    ambiguous(&trailing, None, "end record");

    // A local compressed size that disagrees with the central directory.
    let mut resized = original.clone();
    let at = local_of(&resized, MODULE) + 18;
    resized[at] ^= 1;
    ambiguous(&resized, Some(MODULE), "compressed size");
}

#[test]
fn each_layout_rule_rejects_with_the_entry_and_field() {
    let original = reference();
    let patch = |offset: usize, value: &[u8]| {
        let mut b = original.clone();
        b[offset..offset + value.len()].copy_from_slice(value);
        b
    };
    let module = local_of(&original, MODULE);
    let central = layout(&original).central.iter().find(|(n, _)| n == MODULE).unwrap().1;
    let end = layout(&original).end;

    let flags = u16_le(&original, module + 6) as u16 | 0x0002;
    ambiguous(&patch(module + 6, &flags.to_le_bytes()), Some(MODULE), "flags");
    ambiguous(&patch(module + 8, &0u16.to_le_bytes()), Some(MODULE), "method");
    let crc = u32_le(&original, module + 14) as u32 ^ 1;
    ambiguous(&patch(module + 14, &crc.to_le_bytes()), Some(MODULE), "crc-32");
    let size = u32_le(&original, module + 22) as u32 + 1;
    ambiguous(&patch(module + 22, &size.to_le_bytes()), Some(MODULE), "size");

    // Encrypted, in both headers.
    let mut encrypted = original.clone();
    for at in [module + 6, central + 8] {
        let f = u16_le(&encrypted, at) as u16 | 1;
        encrypted[at..at + 2].copy_from_slice(&f.to_le_bytes());
    }
    ambiguous(&encrypted, Some(MODULE), "flags");

    // Two central records pointing at one entry (an overlap).
    let first = layout(&original).central[0].1;
    let second = layout(&original).central[1].1;
    let first_offset = original[first + 42..first + 46].to_vec();
    let overlapped = patch(second + 42, &first_offset);
    assert!(verify_bytes(&overlapped).is_err());

    // Bytes between the last entry and the central directory.
    let cd = u32_le(&original, end + 16);
    let mut gap = [original[..cd].to_vec(), vec![0; 16], original[cd..].to_vec()].concat();
    let new_end = end + 16;
    gap[new_end + 16..new_end + 20].copy_from_slice(&((cd + 16) as u32).to_le_bytes());
    for (_, record) in &layout(&gap).central {
        assert!(u32_le(&gap, record + 42) < cd);
    }
    ambiguous(&gap, None, "central directory");

    // ZIP64 where it is not needed.
    let zip64 = patch(end + 16, &u32::MAX.to_le_bytes());
    assert!(verify_bytes(&zip64).is_err());

    // A comment is fine when its length matches, and not when it hides a
    // second end record.
    let mut commented = [original.clone(), b"note".to_vec()].concat();
    commented[end + 20..end + 22].copy_from_slice(&4u16.to_le_bytes());
    assert!(verify_bytes(&commented).is_ok(), "{:?}", verify_bytes(&commented).err());
    let fake_end = original[end..end + 22].to_vec();
    let mut hidden = [original.clone(), fake_end].concat();
    hidden[end + 20..end + 22].copy_from_slice(&22u16.to_le_bytes());
    assert!(verify_bytes(&hidden).is_err());
}

#[test]
fn what_verify_accepts_a_streaming_reader_reads_alike() {
    // Our writer's output and the consumer's vectors: the local headers,
    // read front to back as an extractor does, give the same names and bytes.
    let ours = signed_entries(&fixture_text("vectors/inputs/skill.toml"), &test_key()).to_zip().unwrap();
    for bytes in [reference(), read_fixture("vectors/reference-echo-asset.palyra-skill"), ours] {
        let (entries, _) = verify_bytes(&bytes).unwrap();
        let mut cursor = std::io::Cursor::new(&bytes);
        let mut streamed = Vec::new();
        while let Some(mut file) = zip::read::read_zipfile_from_stream(&mut cursor).unwrap() {
            let name = file.name().unwrap().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data).unwrap();
            streamed.push((name, data));
        }
        let central: Vec<(String, Vec<u8>)> =
            entries.iter().map(|(p, e)| (p.to_owned(), e.bytes.clone())).collect();
        streamed.sort();
        assert_eq!(streamed, central);
    }
}
