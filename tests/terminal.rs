//! Text read from an artifact never reaches the terminal raw: a manifest
//! whose strings carry OSC, cursor and clear-screen sequences is shown by
//! every command with those characters escaped, in colour too.

use crate::support::*;

/// Sequences that would retitle the terminal, clear it, move the cursor or
/// hide text.
const HOSTILE: &str = "\\u001b]0;owned\\u0007\\u001b[2J\\u001b[1A\\r\\u001b[8m\\u009b2J\\u202e";

fn hostile_manifest() -> String {
    fixture_text("vectors/inputs/skill.toml")
        .replacen("name = \"", &format!("name = \"Evil{HOSTILE}"), 1)
        .replacen("description = \"", &format!("description = \"Desc{HOSTILE}"), 1)
}

#[track_caller]
fn assert_no_raw_controls(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    for (needle, name) in [
        ("\u{1b}]", "OSC"),
        ("\u{7}", "BEL"),
        ("\u{1b}[2J", "clear screen"),
        ("\u{1b}[1A", "cursor up"),
        ("\u{1b}[8m", "conceal"),
        ("\r", "carriage return"),
        ("\u{9b}", "CSI"),
        ("\u{202e}", "right-to-left override"),
    ] {
        assert!(!text.contains(needle), "{what}: raw {name} in {text:?}");
    }
}

#[test]
fn manifest_strings_are_escaped_in_every_human_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = hostile_manifest();
    assert!(manifest.contains("Evil\\u001b"), "the fixture changed: {manifest}");
    let artifact = write_artifact(
        dir.path(),
        "hostile.palyra-skill",
        &manifest,
        read_fixture("vectors/inputs/sbom.cdx.json"),
        &test_key(),
    );
    let vector = fixture("vectors/reference-echo.palyra-skill");
    let runs: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["inspect".into(), artifact.clone().into()],
        vec!["inspect".into(), "-v".into(), artifact.clone().into()],
        vec!["verify".into(), artifact.clone().into(), "--allow-tofu".into()],
        vec!["verify".into(), artifact.clone().into()],
        vec!["audit".into(), artifact.clone().into()],
        vec!["diff".into(), vector.into(), artifact.clone().into()],
        vec!["run".into(), artifact.clone().into()],
    ];
    let mut shown = 0;
    for args in runs {
        for color in ["never", "always"] {
            let out = cmd().args(&args).args(["--color", color]).output().unwrap();
            let what = format!("{args:?} --color {color}");
            assert_no_raw_controls(&out.stdout, &what);
            assert_no_raw_controls(&out.stderr, &what);
            let all = [out.stdout, out.stderr].concat();
            if String::from_utf8_lossy(&all).contains("Evil\\u{1b}]0;owned\\u{7}") {
                shown += 1;
            }
        }
    }
    assert!(shown >= 4, "the name was shown (escaped) by only {shown} runs");
}
