//! `skill.toml` parsing and validation on arbitrary bytes. A manifest that
//! validates must serialize to TOML that parses back equal.
#![no_main]

use cargo_palyra_skill::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::parse_bytes(data) else {
        return;
    };
    let _ = manifest.warnings();
    let _ = manifest.check_runtime_compat();
    let text = manifest.to_toml();
    let again = Manifest::parse(&text).unwrap_or_else(|e| panic!("re-parse failed: {e}\n{text}"));
    assert_eq!(again, manifest);
});
