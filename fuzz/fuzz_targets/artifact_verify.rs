//! The artifact reader and the consumer's verification order on arbitrary
//! bytes: never a panic, a hang or an allocation past the reader's limits.
//! A ZIP that reads must write back to entries that read the same, and a
//! streaming reader over its local headers must see the same entries.
#![no_main]

use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::verify;
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = Entries::read_zip(data) else {
        return;
    };
    let _ = verify::verify_entries(&entries);
    // One reading: front to back over the local headers, as an extractor
    // reads, gives the same names and bytes as the central directory.
    let mut cursor = std::io::Cursor::new(data);
    let mut streamed = Vec::new();
    while let Ok(Some(mut file)) = zip::read::read_zipfile_from_stream(&mut cursor) {
        let name = file.name().map(|n| n.into_owned()).unwrap_or_default();
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut (&mut file).take(64 << 20), &mut bytes).is_err() {
            panic!("accepted, but a streaming reader cannot read `{name}`");
        }
        if !name.ends_with('/') {
            // The reader's own path rule applies to both readings.
            let path = cargo_palyra_skill::artifact::normalize_path(&name).unwrap_or(name);
            streamed.push((path, bytes));
        }
    }
    streamed.sort();
    let central: Vec<(String, Vec<u8>)> = entries.iter().map(|(p, e)| (p.to_owned(), e.bytes.clone())).collect();
    assert_eq!(streamed, central, "a streaming reader reads another archive");
    let _ = entries.payload_sha256();
    let rewritten = entries.to_zip().expect("entries that were read can be written");
    let reread = Entries::read_zip(&rewritten).expect("a ZIP we wrote reads back");
    assert_eq!(reread.payload_sha256(), entries.payload_sha256());
    assert_eq!(reread.len(), entries.len());
});
