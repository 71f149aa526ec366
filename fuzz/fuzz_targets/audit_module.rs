//! The audit of an arbitrary module: the analysis, every check, the scan
//! of its `.dep-v0` list and the SARIF rendering, never a panic. Inputs
//! starting with `0x00` (as every real module does) are audited as they
//! are, mutated from the seeds; any other first byte turns the rest into a
//! valid module with wasm-smith, so the analysis of well-formed code gets
//! covered too.
#![no_main]

use std::sync::OnceLock;

use cargo_palyra_skill::audit::{self, AdvisoryDb, Feed, Policy, Subject};
use cargo_palyra_skill::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fn manifest() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        Manifest::parse(include_str!("../../fixtures/manifests/full.toml")).expect("fixture manifest")
    })
}

/// The test database, so each module's `.dep-v0` list is read and scanned.
fn advisory_db() -> &'static AdvisoryDb {
    static DB: OnceLock<AdvisoryDb> = OnceLock::new();
    DB.get_or_init(|| {
        AdvisoryDb::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/advisory-db").as_ref())
            .expect("fixture advisory database")
    })
}

fuzz_target!(|data: &[u8]| {
    let generated;
    let data = match data.split_first() {
        Some((0, _)) | None => data,
        Some((_, rest)) => {
            let mut u = arbitrary::Unstructured::new(rest);
            let Ok(module) = wasm_smith::Module::new(wasm_smith::Config::default(), &mut u) else {
                return;
            };
            generated = module.to_bytes();
            &generated
        }
    };
    // The memory bound: what is kept of a module is capped, whatever it
    // declares, and nothing is read past a validation error.
    let facts = audit::analysis::analyze(data);
    assert!(facts.imports.len() <= audit::analysis::MAX_RECORDED);
    assert!(facts.exports.len() <= audit::analysis::MAX_RECORDED);
    assert!(facts.imports.iter().all(|i| i.ty.len() <= audit::analysis::MAX_SIGNATURE + 40));
    if facts.validation_error.is_some() {
        assert!(facts.imports.is_empty() && facts.exports.is_empty() && facts.memories.is_empty());
    }
    let subject = Subject {
        manifest: Some(manifest()),
        trust_decision: None,
        payload_sha256: "0".repeat(64),
        modules: vec![("modules/fuzz.wasm", data)],
        sbom: None,
        provenance: None,
        operator: None,
    };
    let feed = Feed { hook: None, advisory_db: Some(advisory_db()) };
    let report = audit::audit(&subject, &Policy::default(), &feed, 0);
    let _ = audit::to_sarif(&report, "skill.toml", None);
});
