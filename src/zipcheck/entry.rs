//! The entry rules of the one reading: each entry is a regular file that
//! every extractor writes under exactly the name that was signed (no extra
//! fields, a UTF-8 name already in its normalized form).
#![deny(clippy::arithmetic_side_effects)]

use super::{Ambiguity, Record, UTF8_NAME, ambiguity, u16_at};

pub(super) const UNIX_HOST: u16 = 3;
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
/// The MS-DOS attribute bit extractors read as "directory".
const DOS_DIRECTORY: u32 = 0x10;

/// Every entry is a regular file that every extractor writes as one: no
/// directory entries, no name an extractor reads as a directory or a
/// Windows path, and unix attributes that say "regular file" and nothing
/// more (no symlink, device or FIFO, no setuid, setgid or sticky bit, and
/// never no attributes at all). The consumer's writer and ours both write
/// `0o100644` from a unix host.
pub(super) fn check_kind(record: &Record, name: Option<&str>) -> Result<(), Ambiguity> {
    if record.name.last().is_some_and(|b| *b == b'/' || *b == b'\\') {
        return Err(ambiguity(
            name,
            "name",
            "it names a directory (it ends in `/` or `\\`); an artifact holds files only",
        ));
    }
    if record.name.contains(&b'\\') {
        return Err(ambiguity(
            name,
            "name",
            "it holds a backslash, which extractors on Windows read as a path separator",
        ));
    }
    let host = record.made_by >> 8;
    let mode = record.external >> 16;
    let problem = if host != UNIX_HOST {
        Some(format!("attributes of host {host}, not unix: nothing says it is a regular file"))
    } else if mode == 0 {
        Some("no unix mode: nothing says it is a regular file".to_owned())
    } else if mode & S_IFMT != S_IFREG {
        Some(format!(
            "unix mode {mode:06o} is not a regular file (a symlink, directory or device for `unzip`)"
        ))
    } else if mode & !(S_IFMT | 0o777) != 0 {
        Some(format!("unix mode {mode:06o} sets setuid, setgid or sticky bits"))
    } else if record.external & DOS_DIRECTORY != 0 {
        Some("its MS-DOS attributes mark a directory".to_owned())
    } else {
        None
    };
    match problem {
        Some(detail) => Err(ambiguity(name, "external attributes", detail)),
        None => Ok(()),
    }
}

/// The raw name as every extractor writes it, and as it was signed: UTF-8
/// (never decoded lossily), flagged as UTF-8 (bit 11) when it is not ASCII
/// as the consumer's writer and ours flag it (both write ASCII names
/// unflagged), without control characters, which `unzip` drops from the
/// name it writes. Returns the name.
pub(super) fn check_name(record: &Record) -> Result<String, Ambiguity> {
    let Ok(name) = std::str::from_utf8(&record.name) else {
        let shown = String::from_utf8_lossy(&record.name).into_owned();
        return Err(ambiguity(
            Some(&shown),
            "name",
            "it is not UTF-8: readers decode such bytes as CP437 or another code page, each to another name than the one signed",
        ));
    };
    if !name.is_ascii() && record.flags & UTF8_NAME == 0 {
        return Err(ambiguity(
            Some(name),
            "name",
            "it is not ASCII, but general-purpose flag bit 11 (UTF-8) is not set: Python's `zipfile` and `unzip` decode it as CP437, another name than the one signed",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ambiguity(
            Some(&name.escape_debug().to_string()),
            "name",
            "it holds a control character, which `unzip` leaves out of the name it writes",
        ));
    }
    Ok(name.to_owned())
}

/// An artifact's entries carry no extra fields, in either header: `unzip`
/// and the zip crate take an entry's name from an Info-ZIP Unicode Path
/// field (0x7075) and its times and sizes from others, none of which the
/// signature covers. The consumer's writer and ours write none.
pub(super) fn check_no_extra(name: &str, header: &str, extra: &[u8]) -> Result<(), Ambiguity> {
    if extra.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut rest = extra;
    while let (Some(id), Some(len)) = (u16_at(rest, 0), u16_at(rest, 2)) {
        ids.push(match id {
            0x7075 => "0x7075 (Info-ZIP Unicode Path, a name `unzip` extracts the entry under)".to_owned(),
            0x6375 => "0x6375 (Info-ZIP Unicode Comment)".to_owned(),
            0x0001 => "0x0001 (ZIP64 sizes)".to_owned(),
            0x5455 => "0x5455 (extended timestamp)".to_owned(),
            0x7875 => "0x7875 (Info-ZIP unix owner)".to_owned(),
            other => format!("{other:#06x}"),
        });
        rest = rest.get(usize::from(len).saturating_add(4)..).unwrap_or_default();
    }
    let what = if ids.is_empty() { String::new() } else { format!(": {}", ids.join(", ")) };
    Err(ambiguity(
        Some(name),
        "extra field",
        format!(
            "its {header} header holds extra fields ({} bytes{what}); extractors read names and attributes from them that the signature does not cover, and an artifact has none",
            extra.len()
        ),
    ))
}

/// The name as stored must be the path the reader verifies: extractors
/// write it as stored, while the path rule trims surrounding whitespace,
/// so `modules/echo.wasm ` would verify as `modules/echo.wasm` and extract
/// as another file. A name the path rule refuses is left to the reader,
/// which names the rule it breaks.
pub(super) fn check_normalized(name: &str) -> Result<(), Ambiguity> {
    match crate::paths::normalize_path(name) {
        Ok(normal) if normal != name => Err(ambiguity(
            Some(&name.escape_debug().to_string()),
            "name",
            format!(
                "the path rule reads it as `{normal}` (surrounding whitespace trimmed), but extractors write the name as stored; a name must be its normalized form"
            ),
        )),
        _ => Ok(()),
    }
}
