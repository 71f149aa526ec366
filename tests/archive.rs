//! No unsigned bytes in an artifact that verifies: archives written by hand,
//! byte by byte, around a correctly signed payload, that an extractor such
//! as `unzip` would read differently from the reader (a directory entry
//! with data, a symlink or device mode, bytes after a deflate stream).

use std::io::Write;

use crate::support::*;
use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::verify::verify_bytes;

/// One entry as written: its raw name, plain bytes, what follows its
/// deflate stream inside the stored size, and its central attributes.
struct Raw {
    name: Vec<u8>,
    data: Vec<u8>,
    trailing: Vec<u8>,
    /// Bytes cut from the end of the deflate stream.
    cut: usize,
    /// "Version made by" (host in the high byte) and external attributes.
    made_by: u16,
    external: u32,
}

impl Raw {
    fn file(name: &str, data: &[u8]) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            trailing: Vec::new(),
            cut: 0,
            made_by: (3 << 8) | 20,
            external: 0o100_644 << 16,
        }
    }
}

/// A ZIP in the layout the reader requires (entries end to end, then the
/// central directory, then the end record), deflated, with the fields `Raw` says.
fn handmade(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflater.write_all(&entry.data).unwrap();
        let mut stored = deflater.finish().unwrap();
        stored.truncate(stored.len() - entry.cut);
        stored.extend_from_slice(&entry.trailing);
        let mut crc = flate2::Crc::new();
        crc.update(&entry.data);
        let offset = out.len() as u32;
        let common = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed
            buf.extend_from_slice(&0u16.to_le_bytes()); // flags
            buf.extend_from_slice(&8u16.to_le_bytes()); // deflate
            buf.extend_from_slice(&0u32.to_le_bytes()); // time and date
            buf.extend_from_slice(&crc.sum().to_le_bytes());
            buf.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(&stored);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&entry.made_by.to_le_bytes());
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&entry.external.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&entry.name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The vector's manifest, packed and signed with the test key, as `Raw` entries.
fn signed() -> Vec<Raw> {
    let entries = signed_entries(&fixture_text("vectors/inputs/skill.toml"), &test_key());
    entries.iter().map(|(path, entry)| Raw::file(path, &entry.bytes)).collect()
}

fn payload(bytes: &[u8]) -> String {
    Entries::read_zip(bytes).unwrap().payload_sha256()
}

#[track_caller]
fn refused(bytes: &[u8], expect: &str) {
    match verify_bytes(bytes) {
        Ok(_) => panic!("verified an archive with unsigned content ({expect})"),
        Err(error) => assert!(error.to_string().contains(expect), "expected `{expect}` in: {error}"),
    }
}

#[test]
fn the_handmade_writer_makes_archives_that_verify() {
    let bytes = handmade(&signed());
    let (entries, _) = verify_bytes(&bytes).unwrap();
    let ours = signed_entries(&fixture_text("vectors/inputs/skill.toml"), &test_key());
    assert_eq!(entries.payload_sha256(), ours.payload_sha256());
    assert_eq!(payload(&bytes), ours.payload_sha256());
}

/// A signed artifact plus an entry whose name ends in `/` or `\` and that
/// carries data: `unzip` writes the data, the old reader skipped it.
#[test]
fn entries_named_as_directories_are_refused() {
    for name in ["assets/extra/", "extra\\", "modules/"] {
        let mut entries = signed();
        entries.push(Raw::file(name, b"#!/bin/sh\necho not signed\n"));
        refused(&handmade(&entries), "names a directory");
    }
    // Even empty, and with the MS-DOS directory attribute.
    let mut entries = signed();
    let mut dir = Raw::file("assets/", b"");
    dir.external = (0o040_755 << 16) | 0x10;
    entries.push(dir);
    refused(&handmade(&entries), "names a directory");
    let mut entries = signed();
    let mut dir = Raw::file("assets/plain", b"");
    dir.external = 0x10 | (0o100_644 << 16);
    entries.push(dir);
    refused(&handmade(&entries), "MS-DOS attributes mark a directory");
}

#[test]
fn backslashes_in_names_are_refused() {
    let mut entries = signed();
    entries.push(Raw::file("assets\\run.sh", b"echo hi"));
    refused(&handmade(&entries), "backslash");
}

/// A signed entry turned into a symlink, a device, a FIFO or a setuid file
/// for `unzip`, or given no attributes at all: the signature still covers
/// the same bytes, so only the reader can refuse it.
#[test]
fn entries_that_are_not_plain_regular_files_are_refused() {
    let cases: [(u16, u32, &str); 7] = [
        (3, 0o120_777 << 16, "not a regular file"),
        (3, 0o040_755 << 16, "not a regular file"),
        (3, 0o020_644 << 16, "not a regular file"),
        (3, 0o010_644 << 16, "not a regular file"),
        (3, 0o104_755 << 16, "setuid"),
        (3, 0, "no unix mode"),
        (0, 0x20, "not unix"),
    ];
    for (host, external, expect) in cases {
        let mut entries = signed();
        let module = entries.iter_mut().find(|e| e.name.starts_with(b"modules/")).unwrap();
        module.made_by = (host << 8) | 20;
        module.external = external;
        let bytes = handmade(&entries);
        refused(&bytes, expect);
        refused(&bytes, "external attributes");
    }
}

/// Bytes after the end of an entry's deflate stream, inside its stored
/// size: a reader that stops at the stream's end and one that reads the
/// stored size disagree, and the signature covers neither extra byte.
#[test]
fn bytes_after_a_deflate_stream_are_refused() {
    for target in ["skill.toml", "modules/echo.wasm", "signature.json"] {
        let mut entries = signed();
        let entry = entries.iter_mut().find(|e| e.name == target.as_bytes()).unwrap();
        entry.trailing = b"PK\x03\x04 unsigned payload".to_vec();
        let bytes = handmade(&entries);
        refused(&bytes, "follow the end of its deflate stream");
        refused(&bytes, target);
    }
    // A stream cut short is refused too, not read as far as it goes.
    let mut entries = signed();
    entries[0].cut = 3;
    assert!(verify_bytes(&handmade(&entries)).is_err());
}
