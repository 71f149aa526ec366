//! Offline attestation verification on arbitrary bundle bytes, against
//! the built-in roots and a fixed artifact. Hostile JSON, base64, DER,
//! certificates, timestamps and log entries must be refused without a
//! panic, and nothing made up can verify: a verified report names every
//! check as passed and the identity it verified.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use cargo_palyra_skill::attest::{self, Requirements, Roots};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| Roots::built_in().expect("the built-in roots load"));
    let report = attest::verify(Path::new("fuzz.sigstore.json"), data, b"artifact", &Requirements::any_repository(), roots);
    if report.verified {
        assert!(report.error.is_none() && report.checks.iter().all(|c| c.passed));
        assert!(report.identity.as_ref().is_some_and(|i| i.repository.is_some()));
    } else {
        assert!(report.error.is_some());
        assert_eq!(report.checks.iter().filter(|c| !c.passed).count(), 1, "one failed check names the refusal");
    }
});
