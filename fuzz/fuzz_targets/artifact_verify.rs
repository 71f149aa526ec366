//! The artifact reader and the consumer's verification order on arbitrary
//! bytes: never a panic, a hang or an allocation past the reader's limits.
//! A ZIP that reads must write back to entries that read the same.
#![no_main]

use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = Entries::read_zip(data) else {
        return;
    };
    let _ = verify::verify_entries(&entries);
    let _ = entries.payload_sha256();
    let rewritten = entries.to_zip().expect("entries that were read can be written");
    let reread = Entries::read_zip(&rewritten).expect("a ZIP we wrote reads back");
    assert_eq!(reread.payload_sha256(), entries.payload_sha256());
    assert_eq!(reread.len(), entries.len());
});
