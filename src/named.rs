//! The named copy of a module: the build's own bytes, with the function
//! names (the `name` section) and, where the profile asks for debug info,
//! the line tables kept. The artifact's module is made from those same
//! bytes by removing what the profile's `strip` would have had the linker
//! leave out, so its code, data and fuel are the copy's by construction;
//! the size report, fuel profiles and trap reports read their names from
//! the copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wasmparser::{Encoding, KnownCustom, Name, Parser, Payload};

use crate::fsutil::{Links, read_regular};

/// The largest named copy read beside an artifact (line tables make it
/// many times the module).
pub const MAX_NAMED_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum NamedError {
    #[error("not a readable WebAssembly module: {0}")]
    Parse(#[from] wasmparser::BinaryReaderError),
    #[error("a WebAssembly component, not a core module")]
    NotAModule,
}

/// What the profile's `strip` has the linker leave out, as cargo resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// `strip = "none"` (or `false`): everything stays.
    None,
    /// `strip = "debuginfo"`, cargo's default for a profile without debug
    /// info: wasm-ld's `--strip-debug`, the debug sections.
    Debuginfo,
    /// `strip = "symbols"` (or `true`): wasm-ld's `--strip-all`, also the
    /// function names, the toolchain's `producers` and `target_features`.
    Symbols,
}

impl Strip {
    /// The setting's value as `Cargo.toml` or `CARGO_PROFILE_<NAME>_STRIP`
    /// gives it; `None` for a value cargo would refuse.
    pub fn parse(value: &str) -> Option<Strip> {
        match value.trim() {
            "none" | "false" => Some(Strip::None),
            "debuginfo" => Some(Strip::Debuginfo),
            "symbols" | "true" => Some(Strip::Symbols),
            _ => None,
        }
    }

    /// Whether the artifact's module leaves out the custom section `name`.
    /// Every other custom section (`.dep-v0`, a crate's own
    /// `#[link_section]`) stays.
    pub fn removes(self, name: &str) -> bool {
        let debug = name.starts_with(".debug_") || matches!(name, "sourceMappingURL" | "external_debug_info");
        match self {
            Strip::None => false,
            Strip::Debuginfo => debug,
            Strip::Symbols => debug || matches!(name, "name" | "producers" | "target_features"),
        }
    }
}

/// Whether `strip = true` leaves out the custom section `name`.
pub fn is_removed(name: &str) -> bool {
    Strip::Symbols.removes(name)
}

/// `wasm` without the sections `strip = true` leaves out: every other byte
/// is copied as it is, in its order.
pub fn strip(wasm: &[u8]) -> Result<Vec<u8>, NamedError> {
    strip_as(wasm, Strip::Symbols)
}

/// `wasm` without the sections `how` leaves out: every other byte is
/// copied as it is, in its order.
pub fn strip_as(wasm: &[u8], how: Strip) -> Result<Vec<u8>, NamedError> {
    let mut out = Vec::with_capacity(wasm.len());
    // Sections follow one another: each starts where the one before ended.
    let mut start = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::Version { encoding: Encoding::Module, range, .. } => {
                out.extend_from_slice(&wasm[range.clone()]);
                start = range.end;
            }
            Payload::Version { .. } => return Err(NamedError::NotAModule),
            Payload::CustomSection(custom) => {
                let end = custom.range().end;
                if !how.removes(custom.name()) {
                    out.extend_from_slice(&wasm[start..end]);
                }
                start = end;
            }
            other => {
                if let Some((_, range)) = other.as_section() {
                    out.extend_from_slice(&wasm[start..range.end]);
                    start = range.end;
                }
            }
        }
    }
    out.extend_from_slice(&wasm[start..]);
    Ok(out)
}

/// Whether `named` is the named copy of `module`: stripped as some
/// `strip` setting strips it, the same bytes.
pub fn matches(named: &[u8], module: &[u8]) -> bool {
    named.len() > module.len()
        && [Strip::Symbols, Strip::Debuginfo]
            .into_iter()
            .any(|how| strip_as(named, how).is_ok_and(|stripped| stripped == module))
}

/// The function names of `wasm`'s `name` section by function index, as
/// written there (possibly mangled); a malformed section only costs names.
pub fn function_names(wasm: &[u8]) -> BTreeMap<u32, String> {
    let mut names = BTreeMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        if let Payload::CustomSection(custom) = payload
            && let KnownCustom::Name(reader) = custom.as_known()
        {
            for name in reader.into_iter().flatten() {
                if let Name::Function(map) = name {
                    for naming in map.into_iter().flatten() {
                        names.insert(naming.index, naming.name.to_owned());
                    }
                }
            }
        }
    }
    names
}

/// The folder of an artifact's named copies: `<skill_id>-<version>.named`
/// in `dir`, one `<module>.wasm` per module.
pub fn dir_in(dir: &Path, skill_id: &str, version: &str) -> PathBuf {
    dir.join(format!("{skill_id}-{version}.named"))
}

/// The folder of named copies beside `artifact` (`x.palyra-skill` →
/// `x.named`), where `build` writes them for an artifact at its default place.
pub fn dir_beside(artifact: &Path) -> PathBuf {
    artifact.with_extension("named")
}

/// The named copy of the module entry `entry` (`modules/x.wasm`) in
/// `dir`, when there is one and it is `module`'s.
pub fn find(dir: &Path, entry: &str, module: &[u8]) -> Option<Vec<u8>> {
    let file = entry.strip_prefix("modules/")?;
    if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
        return None;
    }
    let named = read_regular(&dir.join(file), MAX_NAMED_BYTES, Links::Refuse).ok()?;
    matches(&named, module).then_some(named)
}

/// A readable name: demangled (legacy `_ZN` and v0 `_R` symbols), without
/// the `::h0123456789abcdef` hash rustc appends.
pub fn clean(name: &str) -> String {
    let demangled =
        rustc_demangle::try_demangle(name).map(|d| format!("{d:#}")).unwrap_or_else(|_| name.to_owned());
    match demangled.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head.to_owned()
        }
        _ => demangled,
    }
}

/// `text` with every `<wasm function N>` the engine prints for a function
/// without a name replaced by `names`' name for it (demangled, no hash).
pub fn symbolize(text: &str, names: &BTreeMap<u32, String>) -> String {
    const OPEN: &str = "<wasm function ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let tail = &rest[at + OPEN.len()..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        let name = tail[..digits]
            .parse::<u32>()
            .ok()
            .filter(|_| tail[digits..].starts_with('>'))
            .and_then(|index| names.get(&index));
        match name {
            Some(name) => {
                out.push_str(&clean(name));
                rest = &tail[digits + 1..];
            }
            None => {
                out.push_str(OPEN);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMED: &str = r#"(module
        (import "h" "f" (func $imported))
        (func $_ZN10serde_json2de5parse17h0123456789abcdefE (export "run") (result i32) (i32.const 1))
        (func $second (result i32) (i32.const 2))
        (memory 1) (data (i32.const 0) "0123456789")
        (@custom "producers" "p")
        (@custom ".debug_info" "d")
        (@custom ".dep-v0" "deps")
        (@custom "mine" (after code) "kept"))"#;

    fn customs(wasm: &[u8]) -> Vec<String> {
        Parser::new(0)
            .parse_all(wasm)
            .filter_map(|p| match p.unwrap() {
                Payload::CustomSection(c) => Some(c.name().to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn stripping_removes_names_and_debug_info_and_keeps_every_other_byte() {
        let named = wat::parse_str(NAMED).unwrap();
        assert!(customs(&named).contains(&"name".to_owned()), "{:?}", customs(&named));
        let stripped = strip(&named).unwrap();
        assert_eq!(customs(&stripped), ["mine", ".dep-v0"], "kept, in their order");
        assert!(function_names(&stripped).is_empty());
        // Nothing else moved: the rest is the module the text gives without
        // the removed sections.
        let without =
            NAMED.replace(r#"(@custom "producers" "p")"#, "").replace(r#"(@custom ".debug_info" "d")"#, "");
        let expected = strip(&wat::parse_str(&without).unwrap()).unwrap();
        assert_eq!(stripped, expected);
        assert!(wasmparser::validate(&stripped).is_ok());
        assert!(matches(&named, &stripped));
        assert!(!matches(&named, &named), "the copy itself is not its stripped module");
        // `strip = "debuginfo"` keeps the names and the toolchain's sections.
        let debuginfo = strip_as(&named, Strip::Debuginfo).unwrap();
        let without_debug: Vec<String> = customs(&named).into_iter().filter(|c| c != ".debug_info").collect();
        assert_eq!(customs(&debuginfo), without_debug);
        assert!(matches(&named, &debuginfo));
        assert_eq!(strip_as(&named, Strip::None).unwrap(), named);
        assert_eq!(Strip::parse("true"), Some(Strip::Symbols));
        assert_eq!(Strip::parse("debuginfo"), Some(Strip::Debuginfo));
        assert_eq!(Strip::parse("false"), Some(Strip::None));
        assert_eq!(Strip::parse("all"), None);
        assert_eq!(strip(&stripped).unwrap(), stripped, "stripping twice changes nothing");
    }

    #[test]
    fn names_come_from_the_name_section_and_replace_function_numbers() {
        let named = wat::parse_str(NAMED).unwrap();
        let names = function_names(&named);
        assert_eq!(names.get(&2).map(String::as_str), Some("second"));
        let trace = "wasm backtrace:\n    0:   0x2a - <unknown>!<wasm function 1>\n    1: <wasm function 9>";
        assert_eq!(
            symbolize(trace, &names),
            "wasm backtrace:\n    0:   0x2a - <unknown>!serde_json::de::parse\n    1: <wasm function 9>"
        );
        assert_eq!(symbolize("<wasm function 2", &names), "<wasm function 2", "no closing bracket");
    }

    #[test]
    fn a_copy_is_found_only_where_it_strips_to_the_module() {
        let dir = tempfile::tempdir().unwrap();
        let named = wat::parse_str(NAMED).unwrap();
        let module = strip(&named).unwrap();
        std::fs::write(dir.path().join("x.wasm"), &named).unwrap();
        assert_eq!(find(dir.path(), "modules/x.wasm", &module), Some(named.clone()));
        assert_eq!(find(dir.path(), "modules/x.wasm", &named), None, "other bytes");
        assert_eq!(find(dir.path(), "modules/y.wasm", &module), None, "no such file");
        assert_eq!(find(dir.path(), "modules/../x.wasm", &module), None);
        assert_eq!(
            dir_beside(Path::new("t/palyra-skill/acme.guard-1.2.3.palyra-skill")),
            dir_in(Path::new("t/palyra-skill"), "acme.guard", "1.2.3")
        );
    }
}
