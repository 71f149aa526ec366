//! The artifact reader and the consumer's verification order on arbitrary
//! bytes: never a panic, a hang or an allocation past the reader's limits.
//! A ZIP that reads must write back to entries that read the same, and a
//! streaming reader over its local headers must see the same entries.
//! Every entry it accepts is a regular file for every extractor (no
//! directory, no name ending in `/` or `\`, no backslash, a unix mode that
//! says "regular file"), and each deflate stream ends exactly where the
//! entry's stored bytes end, so no unsigned byte hides inside an entry.
//! No entry it accepts has an extra field in either header (an Info-ZIP
//! Unicode Path field renames a file for `unzip`), and every raw name is
//! UTF-8, flagged as UTF-8 when not ASCII, free of control characters and
//! equal to its normalized path, so an extractor writes the name signed.
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
        // The headers' own bytes, not the zip crate's reading of them (which
        // applies a Unicode Path field to the name).
        let u16_at = |at: u64| {
            let at = at as usize;
            u16::from_le_bytes([data[at], data[at + 1]])
        };
        let central = file.central_header_start();
        let local = file.header_start();
        assert_eq!(u16_at(central + 30), 0, "accepted an extra field in the central record of `{shown}`");
        assert_eq!(u16_at(local + 28), 0, "accepted an extra field in the local header of `{shown}`");
        let start = central as usize + 46;
        let raw = &data[start..start + usize::from(u16_at(central + 28))];
        assert_eq!(raw, name.as_slice(), "the zip crate renamed `{shown}`");
        let text = std::str::from_utf8(raw).expect("accepted, so a UTF-8 name");
        assert!(
            text.is_ascii() || u16_at(central + 8) & (1 << 11) != 0,
            "`{shown}` is not ASCII, without bit 11"
        );
        assert!(!text.chars().any(char::is_control), "accepted a control character in `{shown}`");
        assert_eq!(
            cargo_palyra_skill::artifact::normalize_path(text).as_deref(),
            Ok(text),
            "accepted a name unlike its normalized path"
        );
        assert!(entries.contains(text), "`{shown}` is not an entry the reader verified under that name");
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
        // A name is its normalized path: both readings name it alike.
        streamed.push((name, bytes));
    }
    streamed.sort();
    let central: Vec<(String, Vec<u8>)> =
        entries.iter().map(|(p, e)| (p.to_owned(), e.bytes.clone())).collect();
    assert_eq!(streamed, central, "a streaming reader reads another archive");
    let _ = entries.payload_sha256();
    let rewritten = entries.to_zip().expect("entries that were read can be written");
    let reread = Entries::read_zip(&rewritten).expect("a ZIP we wrote reads back");
    assert_eq!(reread.payload_sha256(), entries.payload_sha256());
    assert_eq!(reread.len(), entries.len());
});
