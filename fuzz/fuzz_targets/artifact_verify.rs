//! The artifact reader and the consumer's verification order on arbitrary
//! bytes: never a panic, a hang or an allocation past the reader's limits.
//! A ZIP that reads must write back to entries that read the same, and a
//! streaming reader over its local headers must see the same entries.
//! Every entry it accepts is a regular file for every extractor (no
//! directory, no name ending in `/` or `\`, no backslash, a unix mode that
//! says "regular file"), and each deflate stream ends exactly where the
//! entry's stored bytes end, so no unsigned byte hides inside an entry.
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
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).expect("accepted, so a ZIP");
    for index in 0..archive.len() {
        let mut file = archive.by_index_raw(index).expect("accepted, so readable");
        let name = file.name_raw().to_vec();
        let shown = String::from_utf8_lossy(&name).into_owned();
        assert!(!file.is_dir() && !name.ends_with(b"/"), "accepted a directory entry `{shown}`");
        assert!(!name.contains(&b'\\'), "accepted a backslash in `{shown}`");
        let mode = file.unix_mode();
        assert!(
            mode.is_some_and(|m| m & 0o177_000 == 0o100_000),
            "accepted `{shown}` with mode {mode:?}, not a plain regular file"
        );
        let mut stored = Vec::new();
        (&mut file).take(64 << 20).read_to_end(&mut stored).expect("stored bytes read");
        if file.compression() == zip::CompressionMethod::Deflated {
            let mut inflater = flate2::Decompress::new(false);
            let mut out = vec![0u8; 1 << 16];
            loop {
                let before = (inflater.total_in(), inflater.total_out());
                let rest = &stored[inflater.total_in() as usize..];
                let status = inflater.decompress(rest, &mut out, flate2::FlushDecompress::None).expect("valid deflate");
                if status == flate2::Status::StreamEnd || (inflater.total_in(), inflater.total_out()) == before {
                    break;
                }
            }
            assert_eq!(inflater.total_in(), stored.len() as u64, "bytes after the deflate stream of `{shown}`");
        }
    }
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
        // The reader's own path rule applies to both readings.
        let path = cargo_palyra_skill::artifact::normalize_path(&name).unwrap_or(name);
        streamed.push((path, bytes));
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
