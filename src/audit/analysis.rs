//! Static facts about one module, read with `wasmparser`: validation with the
//! runtime's feature set, imports and exports with their types, memories,
//! tables, the start function, custom sections and embedded host paths.
//! Malformed input ends the reading with an error, never a panic, and no
//! allocation is sized by a count the module declares.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use serde::Serialize;
use wasmparser::{
    BinaryReaderError, CompositeInnerType, ExternalKind, FuncType, FuncValidatorAllocations, KnownCustom,
    Parser, Payload, TypeRef, ValType, ValidPayload, Validator, WasmFeatures,
};

/// Host path prefixes that betray the build machine (docs/audit.md).
const HOST_PATH_MARKERS: &[&str] = &["/home/", "/Users/", "/root/", "C:\\Users\\"];

/// Imports and exports recorded per module; the rest are counted only, so
/// memory stays proportional to the module whatever it declares.
pub const MAX_RECORDED: usize = 1_000;
/// The longest rendered signature; longer ones end in `...`.
pub const MAX_SIGNATURE: usize = 120;

#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub module: String,
    pub name: String,
    /// `(params) -> (results)` for functions, else the kind.
    pub ty: String,
    pub is_func: bool,
    pub offset: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub name: String,
    pub kind: &'static str,
    /// The signature, for functions.
    pub ty: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Producer {
    pub field: String,
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ModuleFacts {
    pub validation_error: Option<(usize, String)>,
    /// The first [`MAX_RECORDED`] imports.
    pub imports: Vec<Import>,
    /// The first [`MAX_RECORDED`] exports.
    pub exports: Vec<Export>,
    /// Imports and exports past [`MAX_RECORDED`], counted only.
    pub imports_omitted: usize,
    pub exports_omitted: usize,
    /// Exported functions, all of them.
    pub exported_function_count: usize,
    /// Initial and maximum pages of each defined or imported memory.
    pub memories: Vec<(u64, Option<u64>)>,
    pub tables: Vec<u64>,
    pub start_function: Option<u32>,
    /// Name, size and offset of each custom section.
    pub custom_sections: Vec<(String, usize, usize)>,
    pub producers: Vec<Producer>,
    /// Offset and the marker of host paths found in data or custom sections.
    pub host_paths: Vec<(usize, String)>,
}

impl ModuleFacts {
    pub fn exported_functions(&self) -> usize {
        self.exported_function_count
    }
}

fn val(ty: &ValType) -> String {
    ty.to_string()
}

/// `(params) -> (results)`, at most [`MAX_SIGNATURE`] bytes: each list
/// keeps as many types as fit in its half and then says how many there are.
pub fn signature(ty: &FuncType) -> String {
    // "(" + params + ") -> (" + results + ")": 8 bytes around two lists.
    let budget = (MAX_SIGNATURE - 8) / 2;
    let list = |types: &[ValType]| {
        let items: Vec<String> = types.iter().take(budget).map(val).collect();
        let full = items.join(", ");
        if items.len() == types.len() && full.len() <= budget {
            return full;
        }
        let suffix = format!("... {} in all", types.len());
        let mut out = String::new();
        for item in &items {
            let sep = if out.is_empty() { "" } else { ", " };
            let needed =
                [sep.len(), item.len(), 2, suffix.len()].iter().fold(out.len(), |n, m| n.saturating_add(*m));
            if needed > budget {
                break;
            }
            out.push_str(sep);
            out.push_str(item);
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&suffix);
        out
    };
    format!("({}) -> ({})", list(ty.params()), list(ty.results()))
}

/// The features the runtime's engine enables (wasmtime's defaults).
pub fn features() -> WasmFeatures {
    WasmFeatures::default()
}

/// Reads everything the audit needs from `bytes`.
pub fn analyze(bytes: &[u8]) -> ModuleFacts {
    let mut facts = ModuleFacts::default();
    if let Err(error) = validate(bytes) {
        // An invalid module is reported as such; reading it further could
        // only cost memory on what it pretends to declare.
        facts.validation_error = Some((error.offset(), error.message().to_owned()));
        return facts;
    }
    if let Err(error) = read(bytes, &mut facts) {
        facts.validation_error.get_or_insert((error.offset(), error.message().to_owned()));
    }
    facts
}

/// Full validation, with function bodies checked on every core (as
/// `wasm-tools validate` does); the error with the lowest offset wins.
fn validate(bytes: &[u8]) -> wasmparser::Result<()> {
    let mut validator = Validator::new_with_features(features());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let mut batches: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    let mut next: usize = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        if let ValidPayload::Func(func, body) = validator.payload(&payload?)? {
            batches[next.checked_rem(threads).unwrap_or(0)].push((func, body));
            next = next.wrapping_add(1);
        }
    }
    let errors: Vec<BinaryReaderError> = std::thread::scope(|scope| {
        let workers: Vec<_> = batches
            .into_iter()
            .map(|batch| {
                scope.spawn(move || {
                    let mut allocations = FuncValidatorAllocations::default();
                    for (func, body) in batch {
                        let mut validator = func.into_validator(allocations);
                        validator.validate(&body)?;
                        allocations = validator.into_allocations();
                    }
                    Ok::<(), BinaryReaderError>(())
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok().and_then(Result::err)).collect()
    });
    match errors.into_iter().min_by_key(BinaryReaderError::offset) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn read(bytes: &[u8], facts: &mut ModuleFacts) -> wasmparser::Result<()> {
    // Rendered function types by type index; the function index space
    // (imports first).
    let mut types: Vec<Option<String>> = Vec::new();
    let mut functions: Vec<u32> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(signature(f)),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for item in reader.into_imports_with_offsets() {
                    let (offset, import) = item?;
                    let (ty, is_func) = match import.ty {
                        TypeRef::Func(index) | TypeRef::FuncExact(index) => {
                            functions.push(index);
                            let ty = types.get(index as usize).and_then(Option::as_ref);
                            (ty.map_or_else(|| "func".to_owned(), String::clone), true)
                        }
                        TypeRef::Memory(m) => {
                            facts.memories.push((m.initial, m.maximum));
                            ("memory".to_owned(), false)
                        }
                        TypeRef::Table(t) => {
                            facts.tables.push(t.initial);
                            ("table".to_owned(), false)
                        }
                        TypeRef::Global(_) => ("global".to_owned(), false),
                        TypeRef::Tag(_) => ("tag".to_owned(), false),
                    };
                    if facts.imports.len() >= MAX_RECORDED {
                        facts.imports_omitted = facts.imports_omitted.saturating_add(1);
                        continue;
                    }
                    facts.imports.push(Import {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        ty,
                        is_func,
                        offset,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for index in reader {
                    functions.push(index?);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory?;
                    facts.memories.push((memory.initial, memory.maximum));
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    facts.tables.push(table?.ty.initial);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if matches!(export.kind, ExternalKind::Func | ExternalKind::FuncExact) {
                        facts.exported_function_count = facts.exported_function_count.saturating_add(1);
                    }
                    if exports.len() >= MAX_RECORDED {
                        facts.exports_omitted = facts.exports_omitted.saturating_add(1);
                        continue;
                    }
                    exports.push((export.name.to_owned(), export.kind, export.index));
                }
            }
            Payload::StartSection { func, .. } => facts.start_function = Some(func),
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    scan_host_paths(data.data, data.range.start, facts);
                }
            }
            Payload::CustomSection(reader) => {
                facts.custom_sections.push((
                    reader.name().to_owned(),
                    reader.data().len(),
                    reader.range().start,
                ));
                if let KnownCustom::Producers(producers) = reader.as_known() {
                    for field in producers {
                        let field = field?;
                        for value in field.values {
                            let value = value?;
                            facts.producers.push(Producer {
                                field: field.name.to_owned(),
                                name: value.name.to_owned(),
                                version: value.version.to_owned(),
                            });
                        }
                    }
                }
                scan_host_paths(reader.data(), reader.data_offset(), facts);
            }
            _ => {}
        }
    }
    for (name, kind, index) in exports {
        let (kind, ty) = match kind {
            ExternalKind::Func | ExternalKind::FuncExact => {
                let ty = functions
                    .get(index as usize)
                    .and_then(|t| types.get(*t as usize))
                    .and_then(Option::as_ref)
                    .cloned();
                ("func", ty)
            }
            ExternalKind::Memory => ("memory", None),
            ExternalKind::Table => ("table", None),
            ExternalKind::Global => ("global", None),
            ExternalKind::Tag => ("tag", None),
        };
        facts.exports.push(Export { name, kind, ty });
    }
    Ok(())
}

fn scan_host_paths(data: &[u8], base: usize, facts: &mut ModuleFacts) {
    for marker in HOST_PATH_MARKERS {
        if facts.host_paths.len() >= 16 {
            return;
        }
        for at in memchr::memmem::find_iter(data, marker.as_bytes()).take(4) {
            facts.host_paths.push((base.saturating_add(at), marker.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use wasmparser::{FuncType, ValType};

    use super::{MAX_SIGNATURE, signature};

    /// Found by the `audit_module` fuzz target: long parameter and result
    /// lists made a signature of about 290 bytes.
    #[test]
    fn a_signature_never_exceeds_its_bound() {
        let short = FuncType::new([ValType::I32, ValType::I64], [ValType::F32]);
        assert_eq!(signature(&short), "(i32, i64) -> (f32)");
        for n in [0, 1, 10, 26, 27, 200, 5000] {
            let ty = FuncType::new(vec![ValType::I32; n], vec![ValType::F64; n]);
            let text = signature(&ty);
            assert!(text.len() <= MAX_SIGNATURE, "{n}: {} bytes: {text}", text.len());
            if n > 26 {
                assert!(text.contains(&format!("... {n} in all")), "{text}");
            }
        }
    }
}
