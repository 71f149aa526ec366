//! No unsigned bytes in an artifact that verifies: archives written by hand,
//! byte by byte, around a correctly signed payload, that an extractor such
//! as `unzip` would read differently from the reader (a directory entry
//! with data, a symlink or device mode, bytes after a deflate stream, an
//! extra field that renames an entry, a name that is not its normalized
//! form), and Python's `zipfile` extracting exactly the signed names and
//! bytes of what verifies.

use std::collections::BTreeMap;
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
    /// General-purpose flags, in both headers.
    flags: u16,
    /// Extra fields of the local header and of the central directory record.
    local_extra: Vec<u8>,
    central_extra: Vec<u8>,
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
            // UTF-8 (bit 11) for a name that is not ASCII, as both writers set it.
            flags: if name.is_ascii() { 0 } else { 1 << 11 },
            local_extra: Vec::new(),
            central_extra: Vec::new(),
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
        let common = |buf: &mut Vec<u8>, extra: &[u8]| {
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed
            buf.extend_from_slice(&entry.flags.to_le_bytes());
            buf.extend_from_slice(&8u16.to_le_bytes()); // deflate
            buf.extend_from_slice(&0u32.to_le_bytes()); // time and date
            buf.extend_from_slice(&crc.sum().to_le_bytes());
            buf.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out, &entry.local_extra);
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(&entry.local_extra);
        out.extend_from_slice(&stored);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&entry.made_by.to_le_bytes());
        common(&mut central, &entry.central_extra);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&entry.external.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&entry.name);
        central.extend_from_slice(&entry.central_extra);
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

/// An Info-ZIP Unicode Path extra field (0x7075) for an entry whose header
/// names it `header_name`: version 1, the CRC-32 of that name (how a reader
/// knows the field belongs to the entry), then the name it extracts under.
fn unicode_path(header_name: &[u8], name: &str) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(header_name);
    let mut field = 0x7075u16.to_le_bytes().to_vec();
    field.extend_from_slice(&((5 + name.len()) as u16).to_le_bytes());
    field.push(1);
    field.extend_from_slice(&crc.sum().to_le_bytes());
    field.extend_from_slice(name.as_bytes());
    field
}

/// An artifact's entries as `Raw`, in the archive's order.
fn raw_entries(bytes: &[u8]) -> Vec<Raw> {
    Entries::read_zip(bytes).unwrap().iter().map(|(path, entry)| Raw::file(path, &entry.bytes)).collect()
}

/// The consumer's `reference-echo-asset` vector, signed by the consumer.
fn asset_vector() -> Vec<u8> {
    read_fixture("vectors/reference-echo-asset.palyra-skill")
}

/// Refused as `ambiguous_archive`, naming the entry and the field.
#[track_caller]
fn ambiguous(bytes: &[u8], entry: &str, field: &str, words: &str) {
    match verify_bytes(bytes) {
        Ok(_) => panic!("verified an archive that extracts differently ({field} of `{entry}`)"),
        Err(error) => {
            let text = error.to_string();
            assert_eq!(error.kind(), "ambiguous_archive", "{text}");
            assert!(text.contains(&format!("entry `{entry}`, {field}:")), "entry `{entry}`, {field}: {text}");
            assert!(text.contains(words), "`{words}` in: {text}");
        }
    }
}

/// Each entry's name as the zip crate reads it (it honours the Unicode
/// Path field, as `unzip` does) and the bytes it reads under that name.
fn as_the_zip_crate_reads(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut file = archive.by_index(index).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data).unwrap();
            (file.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// The vector with a Unicode Path field on `skill.toml` naming
/// `assets/prompt.txt` and one on the prompt naming `skill.toml`: the
/// signed names and bytes are untouched, so the signature holds, but an
/// extractor that honours the field writes the prompt's bytes to
/// `skill.toml` and the manifest to `assets/prompt.txt`. Refused in
/// either header.
#[test]
fn a_unicode_path_field_that_swaps_two_entries_is_refused() {
    let vector = asset_vector();
    assert!(verify_bytes(&handmade(&raw_entries(&vector))).is_ok(), "the handmade copy verifies");
    let signed = Entries::read_zip(&vector).unwrap();
    let swapped = |local: bool, central: bool| {
        let mut entries = raw_entries(&vector);
        for (from, to) in [("skill.toml", "assets/prompt.txt"), ("assets/prompt.txt", "skill.toml")] {
            let entry = entries.iter_mut().find(|e| e.name == from.as_bytes()).unwrap();
            let field = unicode_path(from.as_bytes(), to);
            if local {
                entry.local_extra = field.clone();
            }
            if central {
                entry.central_extra = field;
            }
        }
        handmade(&entries)
    };
    let attack = swapped(true, true);
    // The attack is real: a reader that honours the field swaps the files.
    let read = as_the_zip_crate_reads(&attack);
    let manifest = read.iter().find(|(name, _)| name == "skill.toml").unwrap();
    assert_eq!(
        manifest.1,
        signed.get("assets/prompt.txt").unwrap().bytes,
        "the prompt's bytes as `skill.toml`"
    );
    // `assets/prompt.txt` comes first in the archive, so it is the one named.
    ambiguous(&attack, "assets/prompt.txt", "extra field", "0x7075 (Info-ZIP Unicode Path");
    ambiguous(&swapped(true, false), "assets/prompt.txt", "extra field", "its local header");
    ambiguous(&swapped(false, true), "assets/prompt.txt", "extra field", "its central header");

    // Two modules swapped the same way: the default module's name on the
    // other module's code.
    let mut entries = signed_with_two_modules();
    for (from, to) in
        [("modules/echo.wasm", "modules/other.wasm"), ("modules/other.wasm", "modules/echo.wasm")]
    {
        let entry = entries.iter_mut().find(|e| e.name == from.as_bytes()).unwrap();
        entry.central_extra = unicode_path(from.as_bytes(), to);
    }
    let attack = handmade(&entries);
    let read = as_the_zip_crate_reads(&attack);
    let echo = read.iter().find(|(name, _)| name == "modules/echo.wasm").unwrap();
    assert_eq!(echo.1, other_module(), "the other module's code as `modules/echo.wasm`");
    ambiguous(&attack, "modules/echo.wasm", "extra field", "Unicode Path");

    // Any other extra field is refused too: an artifact has none.
    let mut entries = raw_entries(&vector);
    entries[1].local_extra = [0x5455u16.to_le_bytes(), 5u16.to_le_bytes()].concat();
    entries[1].local_extra.extend_from_slice(&[1, 0, 0, 0, 0]);
    ambiguous(&handmade(&entries), "modules/echo.wasm", "extra field", "0x5455 (extended timestamp)");
}

/// A second module, unlike the echo module.
fn other_module() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "run") (result i32) (i32.const 7)))"#).unwrap()
}

/// The vector's manifest over the echo module and a second one, signed
/// with the test key, as `Raw` entries.
fn signed_with_two_modules() -> Vec<Raw> {
    let parts = cargo_palyra_skill::pack::Parts {
        modules: vec![
            ("echo.wasm".into(), read_fixture("vectors/inputs/echo.wasm")),
            ("other.wasm".into(), other_module()),
        ],
        ..echo_parts(&fixture_text("vectors/inputs/skill.toml"))
    };
    let (mut entries, manifest) = cargo_palyra_skill::pack::assemble(parts).unwrap_or_else(|e| panic!("{e}"));
    cargo_palyra_skill::pack::sign(&mut entries, &manifest.publisher, &test_key(), 1_700_000_000_000)
        .unwrap();
    let raw = raw_entries(&entries.to_zip().unwrap());
    assert!(verify_bytes(&handmade(&raw)).is_ok());
    raw
}

/// Names that verify as one path and extract as another: a trailing or
/// leading space (the path rule trims it, extractors keep it), a name that
/// is not ASCII without the UTF-8 flag (read as CP437), one that is not
/// UTF-8 at all, and a control character (`unzip` drops it).
#[test]
fn a_name_that_is_not_its_normalized_form_is_refused() {
    let module = "modules/echo.wasm";
    for (raw, words) in [
        ("modules/echo.wasm ", "surrounding whitespace trimmed"),
        (" modules/echo.wasm", "surrounding whitespace trimmed"),
    ] {
        let mut entries = signed();
        entries.iter_mut().find(|e| e.name == module.as_bytes()).unwrap().name = raw.as_bytes().to_vec();
        ambiguous(&handmade(&entries), raw, "name", words);
    }
    let cases: [(&[u8], u16, &str, &str); 3] = [
        ("assets/café.txt".as_bytes(), 0, "assets/café.txt", "flag bit 11"),
        (b"assets/caf\xe9.txt", 0, "assets/caf\u{fffd}.txt", "not UTF-8"),
        (b"assets/a\x01.txt", 0, "assets/a\\u{1}.txt", "control character"),
    ];
    for (name, flags, shown, words) in cases {
        let mut entries = signed();
        let mut extra = Raw::file("assets/x", b"unsigned");
        extra.name = name.to_vec();
        extra.flags = flags;
        entries.push(extra);
        ambiguous(&handmade(&entries), shown, "name", words);
    }
}

/// What Python's `zipfile` extracts from `bytes`: each file's path under
/// the extraction folder (with `/`) and its bytes, and the names it lists.
fn python_extracts(bytes: &[u8]) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("artifact.zip");
    let out = dir.path().join("out");
    std::fs::write(&archive, bytes).unwrap();
    let script = "import sys, zipfile, json\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        z.extractall(sys.argv[2])\n\
        print(json.dumps([i.filename for i in z.infolist()]))";
    let python = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&archive)
        .arg(&out)
        .output()
        .expect("python3 runs (the test suite needs it)");
    assert!(python.status.success(), "python: {}", String::from_utf8_lossy(&python.stderr));
    let names: Vec<String> = serde_json::from_slice(&python.stdout).unwrap();
    let mut files = BTreeMap::new();
    let mut pending = vec![out.clone()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(&out).unwrap().to_str().unwrap().replace('\\', "/");
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    (files, names)
}

/// For every artifact verify accepts (ours, packed with a name that is not
/// ASCII and one with an inner space, and both of the consumer's vectors),
/// Python's `zipfile` lists exactly the signed names and extracts exactly
/// the signed bytes; and the archives that extract otherwise are refused.
#[test]
fn python_zipfile_extracts_exactly_what_verify_accepted() {
    let parts = cargo_palyra_skill::pack::Parts {
        assets: vec![
            ("prompt.txt".into(), read_fixture("vectors/inputs/prompt.txt")),
            ("café/menu ß.txt".into(), "crème brûlée".as_bytes().to_vec()),
            ("two words.txt".into(), b"inner spaces are part of the name".to_vec()),
        ],
        ..echo_parts(&fixture_text("vectors/inputs/skill.toml"))
    };
    let (mut ours, manifest) = cargo_palyra_skill::pack::assemble(parts).unwrap();
    cargo_palyra_skill::pack::sign(&mut ours, &manifest.publisher, &test_key(), 1_700_000_000_000).unwrap();
    let accepted = [
        ("ours", ours.to_zip().unwrap()),
        ("reference-echo", read_fixture("vectors/reference-echo.palyra-skill")),
        ("reference-echo-asset", asset_vector()),
    ];
    for (what, bytes) in accepted {
        let (entries, _) = verify_bytes(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        let signed: BTreeMap<String, Vec<u8>> =
            entries.iter().map(|(path, entry)| (path.to_owned(), entry.bytes.clone())).collect();
        let (extracted, mut names) = python_extracts(&bytes);
        names.sort();
        assert_eq!(names, signed.keys().cloned().collect::<Vec<_>>(), "{what}: the names `zipfile` lists");
        assert!(extracted == signed, "{what}: `zipfile` extracts other files or bytes than were signed");
    }

    // A trailing space: `zipfile` writes `modules/echo.wasm ` beside the
    // signed name's place; verify refuses the archive.
    let mut entries = signed();
    entries.iter_mut().find(|e| e.name == b"modules/echo.wasm").unwrap().name =
        b"modules/echo.wasm ".to_vec();
    let attack = handmade(&entries);
    let (extracted, _) = python_extracts(&attack);
    assert!(extracted.contains_key("modules/echo.wasm ") && !extracted.contains_key("modules/echo.wasm"));
    ambiguous(&attack, "modules/echo.wasm ", "name", "extractors write the name as stored");

    // Not ASCII without the UTF-8 flag: `zipfile` reads the bytes as CP437.
    let mut entries = raw_entries(&ours.to_zip().unwrap());
    let menu = entries.iter_mut().find(|e| e.name.starts_with("assets/café".as_bytes())).unwrap();
    menu.flags = 0;
    let attack = handmade(&entries);
    let (extracted, _) = python_extracts(&attack);
    assert!(!extracted.contains_key("assets/café/menu ß.txt"), "{:?}", extracted.keys());
    ambiguous(&attack, "assets/café/menu ß.txt", "name", "flag bit 11");

    // The Unicode Path swap reads the same to Python 3.11 (which ignores
    // the field) and swaps the files for `unzip` and the zip crate: refused.
    let mut entries = raw_entries(&asset_vector());
    for (from, to) in [("skill.toml", "assets/prompt.txt"), ("assets/prompt.txt", "skill.toml")] {
        let entry = entries.iter_mut().find(|e| e.name == from.as_bytes()).unwrap();
        entry.central_extra = unicode_path(from.as_bytes(), to);
        entry.local_extra = entry.central_extra.clone();
    }
    ambiguous(&handmade(&entries), "assets/prompt.txt", "extra field", "Unicode Path");
}
