//! Where a module's bytes go: each section, each function body with its
//! name, and the crates those functions come from, largest first (as
//! twiggy's `top` lists them). Names come from the module's `name` section,
//! or, for an artifact's module (which has none), from its named copy: the
//! same bytes with the `name` section still in (`crate::named`).

use std::collections::BTreeMap;

use serde::Serialize;
use wasmparser::{KnownCustom, Name, Parser, Payload};

pub use crate::named::clean;

#[derive(Debug, thiserror::Error)]
pub enum SizeError {
    #[error("not a readable WebAssembly module: {0}")]
    Parse(#[from] wasmparser::BinaryReaderError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionSize {
    /// `code`, `data`, `type`, ... or `custom:<name>` (`custom:.dep-v0`, `custom:name`).
    pub section: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionSize {
    /// The function's index in the module (imports first, as wasm counts).
    pub index: u32,
    /// The demangled name, without its hash; `None` when no name is known.
    pub name: Option<String>,
    /// The crate the name's path starts with (`[unnamed]` without a name).
    #[serde(rename = "crate")]
    pub krate: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrateSize {
    #[serde(rename = "crate")]
    pub krate: String,
    pub bytes: u64,
    pub functions: usize,
}

/// Where the names came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Names {
    /// The module's own `name` section.
    Module,
    /// The module's named copy: the same bytes with the `name` section.
    NamedCopy,
    /// None: the module has no `name` section and no named copy.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub bytes: u64,
    /// Largest first.
    pub sections: Vec<SectionSize>,
    /// Function bodies, largest first.
    pub functions: Vec<FunctionSize>,
    /// Function bodies by crate, largest first.
    pub crates: Vec<CrateSize>,
    pub names: Names,
}

/// Section sizes, body sizes in order, and the function names a module holds.
struct Facts {
    sections: Vec<SectionSize>,
    imported_functions: u32,
    bodies: Vec<u64>,
    names: BTreeMap<u32, String>,
}

fn read_facts(wasm: &[u8]) -> Result<Facts, SizeError> {
    let mut facts =
        Facts { sections: Vec::new(), imported_functions: 0, bodies: Vec::new(), names: BTreeMap::new() };
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let Some((id, range)) = payload.as_section() {
            let section = match &payload {
                Payload::CustomSection(custom) => format!("custom:{}", custom.name()),
                _ => section_name(id).to_owned(),
            };
            facts.sections.push(SectionSize { section, bytes: range.len() as u64 });
        }
        match payload {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import?.ty, wasmparser::TypeRef::Func(_)) {
                        facts.imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => facts.bodies.push(body.range().len() as u64),
            Payload::CustomSection(custom) => {
                if let KnownCustom::Name(reader) = custom.as_known() {
                    // A malformed name section only costs the names.
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            for naming in map.into_iter().flatten() {
                                facts.names.insert(naming.index, clean(naming.name));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

fn section_name(id: u8) -> &'static str {
    match id {
        1 => "type",
        2 => "import",
        3 => "function",
        4 => "table",
        5 => "memory",
        6 => "global",
        7 => "export",
        8 => "start",
        9 => "element",
        10 => "code",
        11 => "data",
        12 => "data count",
        13 => "tag",
        _ => "unknown",
    }
}

/// The crate a path starts with: `serde_json::de::...` and
/// `<serde_json::Value as core::fmt::Display>::fmt` are `serde_json`;
/// a name without a path is `[no path]`.
pub fn crate_of(name: &str) -> String {
    // `<str as serde_json::value::Index>::index_into`: a type without a
    // path takes the trait's crate.
    if let Some(rest) = name.strip_prefix('<')
        && let Some((ty, tail)) = rest.split_once(" as ")
        && !ty.contains("::")
    {
        return crate_of(tail);
    }
    let trimmed = name.trim_start_matches(['<', '&', '*', ' ']);
    let trimmed = trimmed.strip_prefix("mut ").or_else(|| trimmed.strip_prefix("dyn ")).unwrap_or(trimmed);
    match trimmed.find("::") {
        Some(end) if trimmed[..end].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            trimmed[..end].to_owned()
        }
        _ => "[no path]".to_owned(),
    }
}

/// The report of `wasm`; names from `named`, its named copy, when `wasm`
/// has none and `named` stripped is `wasm` (so every index is the same
/// function).
pub fn report(wasm: &[u8], named: Option<&[u8]>) -> Result<SizeReport, SizeError> {
    let mut facts = read_facts(wasm)?;
    let mut names = if facts.names.is_empty() { Names::None } else { Names::Module };
    if names == Names::None
        && let Some(named) = named.filter(|named| crate::named::matches(named, wasm))
    {
        facts.names = read_facts(named)?.names;
        if !facts.names.is_empty() {
            names = Names::NamedCopy;
        }
    }
    let mut functions: Vec<FunctionSize> = facts
        .bodies
        .iter()
        .enumerate()
        .map(|(position, bytes)| {
            let index = facts.imported_functions.saturating_add(position as u32);
            let name = facts.names.get(&index).cloned();
            let krate = name.as_deref().map_or("[unnamed]".to_owned(), crate_of);
            FunctionSize { index, name, krate, bytes: *bytes }
        })
        .collect();
    functions.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.index.cmp(&b.index)));
    let mut by_crate: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for function in &functions {
        let entry = by_crate.entry(&function.krate).or_default();
        entry.0 = entry.0.saturating_add(function.bytes);
        entry.1 += 1;
    }
    let mut crates: Vec<CrateSize> = by_crate
        .into_iter()
        .map(|(krate, (bytes, functions))| CrateSize { krate: krate.to_owned(), bytes, functions })
        .collect();
    crates.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.krate.cmp(&b.krate)));
    let mut sections = facts.sections;
    sections.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.section.cmp(&b.section)));
    Ok(SizeReport { bytes: wasm.len() as u64, sections, functions, crates, names })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_come_from_the_start_of_the_path() {
        assert_eq!(crate_of("serde_json::de::Deserializer<R>::parse_any"), "serde_json");
        assert_eq!(crate_of("<serde_json::value::Value as core::fmt::Display>::fmt"), "serde_json");
        assert_eq!(crate_of("core::ptr::drop_in_place<alloc::vec::Vec<u8>>"), "core");
        assert_eq!(
            crate_of("<&mut T as core::fmt::Write>::write_str"),
            "core",
            "a generic type takes the trait's crate"
        );
        assert_eq!(crate_of("run"), "[no path]");
        assert_eq!(crate_of("<str as serde_json::value::index::Index>::index_into"), "serde_json");
        assert_eq!(
            crate_of("<&mut serde_json::de::Deserializer<R> as serde_core::de::Deserializer>::f"),
            "serde_json"
        );
        assert_eq!(clean("_ZN10serde_json2de5parse17h0123456789abcdefE"), "serde_json::de::parse");
        assert_eq!(clean("alloc::raw_vec::finish_grow::h0123456789abcdef"), "alloc::raw_vec::finish_grow");
    }

    #[test]
    fn sections_functions_and_names_of_a_module() {
        let wasm = wat::parse_str(
            r#"(module $m
                 (import "h" "f" (func $imported))
                 (func $small (export "run") (result i32) (i32.const 1))
                 (func $serde_json::big (result i32) (i32.add (i32.const 1) (i32.add (i32.const 2) (i32.const 3))))
                 (memory 1) (data (i32.const 0) "0123456789"))"#,
        )
        .unwrap();
        let report = report(&wasm, None).unwrap();
        assert_eq!(report.names, Names::Module);
        assert_eq!(report.functions.len(), 2);
        assert_eq!(report.functions[0].name.as_deref(), Some("serde_json::big"));
        assert_eq!(report.functions[0].index, 2, "imports come first");
        assert_eq!(report.crates[0].krate, "serde_json");
        let total: u64 = report.sections.iter().map(|s| s.bytes).sum();
        assert!(total < report.bytes && report.sections.iter().any(|s| s.section == "custom:name"));
        assert!(report.sections.iter().any(|s| s.section == "data"));

        // The stripped module is named from its copy, and from no other bytes.
        let stripped = crate::named::strip(&wasm).unwrap();
        let bare = super::report(&stripped, None).unwrap();
        assert_eq!(bare.names, Names::None);
        assert!(bare.functions.iter().all(|f| f.name.is_none() && f.krate == "[unnamed]"));
        let named = super::report(&stripped, Some(&wasm)).unwrap();
        assert_eq!(named.names, Names::NamedCopy);
        assert_eq!(named.functions, report.functions, "the same functions, named alike");
        assert_eq!(named.bytes, stripped.len() as u64, "the figures are the module's own");
        let other =
            wat::parse_str(r#"(module (func $f (export "run") (result i32) (i32.const 7)))"#).unwrap();
        assert_eq!(super::report(&stripped, Some(&other)).unwrap().names, Names::None);
    }
}
