//! One reading of an archive: the layout checks that make every ZIP reader
//! (central-directory readers, streaming readers over local headers,
//! extractors) see the same entries with the same bytes. Each local header
//! must agree with its central directory record; the entries must lie end to
//! end from offset 0 in central-directory order; the central directory must
//! follow the last entry and be followed by exactly one end record and
//! nothing else. An artifact is at most 64 MiB and 256 entries, so ZIP64 is
//! never needed and never accepted; neither is encryption. Every extractor
//! must also write the name that was signed: no extra fields (an Info-ZIP
//! Unicode Path field renames the entry for `unzip` and Python's
//! `zipfile`), and a raw name that is UTF-8, flagged as UTF-8 when it is not
//! ASCII, free of control characters and already in its normalized form.
//!
//! Every number here comes from untrusted bytes: all arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::fmt;

mod entry;
use entry::{check_kind, check_name, check_no_extra, check_normalized};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END_LEN: usize = 22;
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
/// Flag bits: 0 encrypted, 3 sizes in a data descriptor, 6 strong encryption,
/// 13 encrypted central directory.
const ENCRYPTED: u16 = 1 | (1 << 6) | (1 << 13);
const HAS_DESCRIPTOR: u16 = 1 << 3;
/// Flag bit 11: the name (and comment) are UTF-8. Without it, readers such
/// as Python's `zipfile` and `unzip` decode a name as CP437.
const UTF8_NAME: u16 = 1 << 11;

/// Where two readings of the archive could differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguity {
    /// The entry, as the central directory names it (lossy UTF-8).
    pub entry: Option<String>,
    /// The field that disagrees or is out of place.
    pub field: &'static str,
    pub detail: String,
}

impl fmt::Display for Ambiguity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(entry) => write!(f, "entry `{entry}`, {}: {}", self.field, self.detail),
            None => write!(f, "{}: {}", self.field, self.detail),
        }
    }
}

impl std::error::Error for Ambiguity {}

fn at(bytes: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    bytes.get(offset..offset.checked_add(len)?)
}

fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    at(bytes, offset, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    at(bytes, offset, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn ambiguity(entry: Option<&str>, field: &'static str, detail: impl Into<String>) -> Ambiguity {
    Ambiguity { entry: entry.map(str::to_owned), field, detail: detail.into() }
}

/// One central directory record, as far as the layout needs it.
struct Record {
    name: Vec<u8>,
    /// "Version made by": its high byte is the host whose attributes
    /// `external` holds (3 for unix).
    made_by: u16,
    external: u32,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u32,
    /// The extra fields, which an artifact never has.
    extra: Vec<u8>,
}

/// The end record: where it is, and where the central directory is.
fn end_record(bytes: &[u8]) -> Result<(usize, usize, usize, u16), Ambiguity> {
    let truncated =
        || ambiguity(None, "end record", "no end-of-central-directory record at the end of the archive");
    // The only end record a reader may take: the one whose comment runs
    // exactly to the last byte.
    let last = bytes.len().checked_sub(END_LEN).ok_or_else(truncated)?;
    let mut found = None;
    let earliest = last.saturating_sub(usize::from(u16::MAX));
    for start in (earliest..=last).rev() {
        if u32_at(bytes, start) == Some(END) {
            let comment =
                u16_at(bytes, start.checked_add(20).ok_or_else(truncated)?).ok_or_else(truncated)?;
            if start.checked_add(END_LEN).and_then(|e| e.checked_add(usize::from(comment)))
                == Some(bytes.len())
            {
                found = Some(start);
                break;
            }
        }
    }
    let Some(end) = found else {
        return Err(
            if bytes.get(earliest..).is_some_and(|tail| tail.windows(4).any(|w| w == END.to_le_bytes())) {
                ambiguity(
                    None,
                    "end record",
                    "bytes follow the end-of-central-directory record (or its comment length is wrong)",
                )
            } else {
                truncated()
            },
        );
    };
    let field = |o: usize| u16_at(bytes, end.checked_add(o)?);
    let disk = field(4).ok_or_else(truncated)?;
    let cd_disk = field(6).ok_or_else(truncated)?;
    let on_disk = field(8).ok_or_else(truncated)?;
    let total = field(10).ok_or_else(truncated)?;
    let cd_size = u32_at(bytes, end.checked_add(12).ok_or_else(truncated)?).ok_or_else(truncated)?;
    let cd_offset = u32_at(bytes, end.checked_add(16).ok_or_else(truncated)?).ok_or_else(truncated)?;
    if total == u16::MAX || cd_size == u32::MAX || cd_offset == u32::MAX {
        return Err(ambiguity(
            None,
            "zip64",
            "the end record defers to ZIP64, which an artifact never needs",
        ));
    }
    if end.checked_sub(20).and_then(|l| u32_at(bytes, l)) == Some(ZIP64_LOCATOR) {
        return Err(ambiguity(
            None,
            "zip64",
            "a ZIP64 locator precedes the end record; an artifact never needs ZIP64",
        ));
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(ambiguity(None, "end record", "a multi-disk archive"));
    }
    let cd_offset = cd_offset as usize;
    let cd_end = cd_offset.checked_add(cd_size as usize).ok_or_else(truncated)?;
    if cd_end != end {
        return Err(ambiguity(
            None,
            "central directory",
            format!(
                "it spans bytes {cd_offset}..{cd_end}, but the end record is at {end}: bytes between them, or offsets that do not add up"
            ),
        ));
    }
    // A reader that scans backwards from the end for the signature must
    // find this record and no other.
    if bytes
        .get(end.checked_add(4).ok_or_else(truncated)?..)
        .is_some_and(|rest| rest.windows(4).any(|w| w == END.to_le_bytes()))
    {
        return Err(ambiguity(
            None,
            "end record",
            "its comment holds another end-of-central-directory record",
        ));
    }
    Ok((cd_offset, cd_end, end, total))
}

fn central_records(
    bytes: &[u8],
    cd_offset: usize,
    cd_end: usize,
    total: u16,
) -> Result<Vec<Record>, Ambiguity> {
    let mut records = Vec::new();
    let mut offset = cd_offset;
    for index in 0..total {
        let bad = |detail: &str| ambiguity(None, "central directory", format!("record {index}: {detail}"));
        if u32_at(bytes, offset) != Some(CENTRAL) {
            return Err(bad("no central directory header where one must be"));
        }
        let field16 =
            |o: usize| offset.checked_add(o).and_then(|p| u16_at(bytes, p)).ok_or_else(|| bad("truncated"));
        let field32 =
            |o: usize| offset.checked_add(o).and_then(|p| u32_at(bytes, p)).ok_or_else(|| bad("truncated"));
        let name_len = usize::from(field16(28)?);
        let extra_len = usize::from(field16(30)?);
        let comment_len = usize::from(field16(32)?);
        let name_at = offset.checked_add(CENTRAL_LEN).ok_or_else(|| bad("truncated"))?;
        let name = at(bytes, name_at, name_len).ok_or_else(|| bad("truncated name"))?.to_vec();
        let extra_at = name_at.checked_add(name_len).ok_or_else(|| bad("truncated"))?;
        let extra = at(bytes, extra_at, extra_len).ok_or_else(|| bad("truncated extra field"))?.to_vec();
        let record = Record {
            name,
            made_by: field16(4)?,
            external: field32(38)?,
            flags: field16(8)?,
            method: field16(10)?,
            crc: field32(16)?,
            compressed: field32(20)?,
            size: field32(24)?,
            offset: field32(42)?,
            extra,
        };
        if field16(34)? != 0 {
            return Err(bad("the entry starts on another disk"));
        }
        if [record.compressed, record.size, record.offset].contains(&u32::MAX) {
            let entry = String::from_utf8_lossy(&record.name).into_owned();
            return Err(ambiguity(
                Some(&entry),
                "zip64",
                "sizes or offset defer to ZIP64, which an artifact never needs",
            ));
        }
        offset = name_at
            .checked_add(name_len)
            .and_then(|o| o.checked_add(extra_len))
            .and_then(|o| o.checked_add(comment_len))
            .ok_or_else(|| bad("truncated"))?;
        if offset > cd_end {
            return Err(bad("runs past the end of the central directory"));
        }
        records.push(record);
    }
    if offset != cd_end {
        return Err(ambiguity(None, "central directory", "bytes follow its last record"));
    }
    Ok(records)
}

/// Where one entry lies, as both its local header and its central
/// directory record say (they agree, or the archive was refused).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryLayout {
    pub name: String,
    pub local_header_offset: u64,
    pub data_offset: u64,
    pub compressed_size: u64,
    pub size: u64,
    /// 0 stored, 8 deflated.
    pub method: u16,
    pub crc32: u32,
    pub flags: u16,
    /// Sizes and CRC follow the data in a descriptor (bit 3).
    pub data_descriptor: bool,
}

/// The archive's one reading: its entries end to end, then the central
/// directory, then the end record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    pub entries: Vec<EntryLayout>,
    pub central_directory_offset: u64,
    pub central_directory_bytes: u64,
    pub end_record_offset: u64,
    pub comment_bytes: u64,
}

/// Checks that every reader reads the same entries with the same bytes,
/// and says where each lies.
pub fn layout(bytes: &[u8]) -> Result<Layout, Ambiguity> {
    let (cd_offset, cd_end, end, total) = end_record(bytes)?;
    let records = central_records(bytes, cd_offset, cd_end, total)?;
    let mut entries = Vec::with_capacity(records.len());
    let mut expected = 0usize;
    for record in &records {
        let entry = check_name(record)?;
        let name = Some(entry.as_str());
        let truncated = || ambiguity(name, "data", "runs past the end of the archive");
        if record.flags & ENCRYPTED != 0 {
            return Err(ambiguity(name, "flags", "the entry is encrypted"));
        }
        check_kind(record, name)?;
        check_normalized(&entry)?;
        check_no_extra(&entry, "central", &record.extra)?;
        let offset = record.offset as usize;
        if offset != expected {
            return Err(ambiguity(
                name,
                "offset",
                if offset > expected {
                    format!(
                        "{} bytes before it belong to no entry (a prefix or a gap)",
                        offset.saturating_sub(expected)
                    )
                } else {
                    "it overlaps the previous entry, or the central directory lists entries out of order"
                        .to_owned()
                },
            ));
        }
        if u32_at(bytes, offset) != Some(LOCAL) {
            return Err(ambiguity(
                name,
                "local header",
                "no local file header at the central directory's offset",
            ));
        }
        let field16 = |o: usize| offset.checked_add(o).and_then(|p| u16_at(bytes, p)).ok_or_else(truncated);
        let field32 = |o: usize| offset.checked_add(o).and_then(|p| u32_at(bytes, p)).ok_or_else(truncated);
        let flags = field16(6)?;
        if flags != record.flags {
            return Err(ambiguity(
                name,
                "flags",
                format!("local {flags:#06x}, central {:#06x}", record.flags),
            ));
        }
        let method = field16(8)?;
        if method != record.method {
            return Err(ambiguity(name, "method", format!("local {method}, central {}", record.method)));
        }
        let name_len = usize::from(field16(26)?);
        let extra_len = usize::from(field16(28)?);
        let name_at = offset.checked_add(LOCAL_LEN).ok_or_else(truncated)?;
        let local_name = at(bytes, name_at, name_len).ok_or_else(truncated)?;
        if local_name != record.name.as_slice() {
            return Err(ambiguity(
                name,
                "name",
                format!("the local header names it `{}`", String::from_utf8_lossy(local_name)),
            ));
        }
        let extra_at = name_at.checked_add(name_len).ok_or_else(truncated)?;
        check_no_extra(&entry, "local", at(bytes, extra_at, extra_len).ok_or_else(truncated)?)?;
        let (crc, compressed, size) = (field32(14)?, field32(18)?, field32(22)?);
        let descriptor = flags & HAS_DESCRIPTOR != 0;
        if !descriptor {
            for (field, local, central) in [
                ("crc-32", crc, record.crc),
                ("compressed size", compressed, record.compressed),
                ("size", size, record.size),
            ] {
                if local != central {
                    return Err(ambiguity(name, field, format!("local {local}, central {central}")));
                }
            }
        }
        let data_at =
            name_at.checked_add(name_len).and_then(|o| o.checked_add(extra_len)).ok_or_else(truncated)?;
        let data_end = data_at.checked_add(record.compressed as usize).ok_or_else(truncated)?;
        entries.push(EntryLayout {
            name: entry.clone(),
            local_header_offset: offset as u64,
            data_offset: data_at as u64,
            compressed_size: u64::from(record.compressed),
            size: u64::from(record.size),
            method: record.method,
            crc32: record.crc,
            flags: record.flags,
            data_descriptor: descriptor,
        });
        expected = data_end;
        if descriptor {
            // The descriptor, with or without its signature, must repeat the
            // central directory's crc and sizes.
            let start = if u32_at(bytes, data_end) == Some(DESCRIPTOR) {
                data_end.checked_add(4).ok_or_else(truncated)?
            } else {
                data_end
            };
            let values = (
                u32_at(bytes, start),
                start.checked_add(4).and_then(|o| u32_at(bytes, o)),
                start.checked_add(8).and_then(|o| u32_at(bytes, o)),
            );
            if values != (Some(record.crc), Some(record.compressed), Some(record.size)) {
                return Err(ambiguity(
                    name,
                    "data descriptor",
                    "it does not repeat the central directory's crc-32 and sizes",
                ));
            }
            expected = start.checked_add(12).ok_or_else(truncated)?;
        }
        if expected > cd_offset {
            return Err(truncated());
        }
    }
    if expected != cd_offset {
        return Err(ambiguity(
            None,
            "central directory",
            format!(
                "{} bytes between the last entry and the central directory belong to no entry",
                cd_offset.saturating_sub(expected)
            ),
        ));
    }
    Ok(Layout {
        entries,
        central_directory_offset: cd_offset as u64,
        central_directory_bytes: cd_end.saturating_sub(cd_offset) as u64,
        end_record_offset: end as u64,
        comment_bytes: bytes.len().saturating_sub(end).saturating_sub(END_LEN) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One stored entry named `name`, with `flags` and the given local and
    /// central extra fields, in the layout `layout` otherwise accepts.
    fn one_entry(name: &[u8], flags: u16, local_extra: &[u8], central_extra: &[u8]) -> Vec<u8> {
        let data = b"data";
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let common = |out: &mut Vec<u8>, extra: &[u8]| {
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // stored
            out.extend_from_slice(&0u32.to_le_bytes()); // time and date
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        };
        let mut out = LOCAL.to_le_bytes().to_vec();
        common(&mut out, local_extra);
        out.extend_from_slice(name);
        out.extend_from_slice(local_extra);
        out.extend_from_slice(data);
        let cd_offset = out.len() as u32;
        let mut central = CENTRAL.to_le_bytes().to_vec();
        central.extend_from_slice(&((entry::UNIX_HOST << 8) | 20).to_le_bytes());
        common(&mut central, central_extra);
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(name);
        central.extend_from_slice(central_extra);
        out.extend_from_slice(&central);
        out.extend_from_slice(&END.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[track_caller]
    fn refused(bytes: &[u8], field: &str, words: &str) -> Ambiguity {
        let error = layout(bytes).expect_err(words);
        assert_eq!(error.field, field, "{error}");
        assert!(error.to_string().contains(words), "`{words}` in: {error}");
        error
    }

    /// An Info-ZIP Unicode Path field naming `name`: version 1, the CRC-32
    /// of the header's own name, then the name.
    fn unicode_path(header_name: &[u8], name: &[u8]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        crc.update(header_name);
        let mut field = 0x7075u16.to_le_bytes().to_vec();
        field.extend_from_slice(&(name.len().saturating_add(5) as u16).to_le_bytes());
        field.push(1);
        field.extend_from_slice(&crc.sum().to_le_bytes());
        field.extend_from_slice(name);
        field
    }

    #[test]
    fn a_plain_entry_reads() {
        let read = layout(&one_entry(b"modules/echo.wasm", 0, b"", b"")).unwrap();
        assert_eq!(read.entries[0].name, "modules/echo.wasm");
        // A UTF-8 name flagged as UTF-8, as both writers write one.
        let read = layout(&one_entry("assets/café.txt".as_bytes(), UTF8_NAME, b"", b"")).unwrap();
        assert_eq!(read.entries[0].name, "assets/café.txt");
    }

    #[test]
    fn extra_fields_in_either_header_are_refused_by_entry_and_id() {
        let name = b"skill.toml";
        let field = unicode_path(name, b"assets/prompt.txt");
        for (local, central, header) in [(&field[..], &b""[..], "local"), (&b""[..], &field[..], "central")] {
            let error = refused(&one_entry(name, 0, local, central), "extra field", "0x7075");
            assert_eq!(error.entry.as_deref(), Some("skill.toml"));
            assert!(error.detail.contains(&format!("its {header} header")), "{error}");
            assert!(error.detail.contains("Unicode Path"), "{error}");
        }
        // Any field at all, even an unknown or a malformed one.
        refused(&one_entry(name, 0, &[0x55, 0x54, 1, 0, 0], &[]), "extra field", "0x5455");
        refused(&one_entry(name, 0, &[0xfe], &[0xfe]), "extra field", "extra fields (1 bytes)");
    }

    #[test]
    fn a_name_unlike_its_normalized_form_is_refused() {
        for raw in [" skill.toml", "modules/echo.wasm ", "modules/echo.wasm\u{a0}", "assets/\u{3000}x "] {
            let flags = if raw.is_ascii() { 0 } else { UTF8_NAME };
            let error =
                refused(&one_entry(raw.as_bytes(), flags, b"", b""), "name", "surrounding whitespace");
            assert_eq!(error.entry, Some(raw.escape_debug().to_string()), "{error}");
        }
        // A name the path rule refuses outright is left to the reader's rule.
        assert!(layout(&one_entry(b"../evil", 0, b"", b"")).is_ok());
    }

    #[test]
    fn names_that_decode_two_ways_are_refused() {
        refused(&one_entry(b"assets/caf\xe9.txt", 0, b"", b""), "name", "not UTF-8");
        refused(&one_entry(b"assets/caf\xe9.txt", UTF8_NAME, b"", b""), "name", "not UTF-8");
        refused(&one_entry("assets/café.txt".as_bytes(), 0, b"", b""), "name", "flag bit 11");
        refused(&one_entry(b"assets/a\x01b.txt", 0, b"", b""), "name", "control character");
        refused(&one_entry(b"assets/a\x7fb.txt", 0, b"", b""), "name", "control character");
        // An ASCII name reads the same with bit 11 or without it.
        assert!(layout(&one_entry(b"skill.toml", UTF8_NAME, b"", b"")).is_ok());
    }
}
