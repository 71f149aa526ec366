//! Whose data a module's data segments hold, as far as the code tells.
//!
//! The linker merges every crate's statics into a few segments, so the
//! segments themselves name no crate. The code does: a function reaches a
//! static by its address, an `i32.const` (or a load's or store's constant
//! offset) inside a segment. Each address some function uses starts an
//! object that runs to the next such address (or the segment's end); its
//! bytes go to the functions that use that address, shared equally. Bytes
//! before a segment's first used address, in passive segments, or reached
//! only through pointers held in other data stay unattributed.

use std::collections::{BTreeMap, BTreeSet};

use wasmparser::{DataKind, Operator, Parser, Payload};

/// Data bytes by the function (module index) whose code uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataUse {
    /// Bytes of all data segments.
    pub total: u64,
    pub by_function: BTreeMap<u32, u64>,
    /// `total` less what `by_function` holds.
    pub unattributed: u64,
    /// The functions the module exports (`run`): the skill's own code,
    /// whatever its name's path says.
    pub exported: BTreeSet<u32>,
}

/// The data use of `wasm`, a module that parses (a malformed one has
/// none attributed).
pub fn data_use(wasm: &[u8]) -> DataUse {
    read(wasm).unwrap_or_else(|_| DataUse { total: total_only(wasm), ..DataUse::default() })
}

fn total_only(wasm: &[u8]) -> u64 {
    let mut total = 0u64;
    for payload in Parser::new(0).parse_all(wasm).flatten() {
        if let Payload::DataSection(reader) = payload {
            for data in reader.into_iter().flatten() {
                total = total.saturating_add(data.data.len() as u64);
            }
        }
    }
    total
}

fn read(wasm: &[u8]) -> Result<DataUse, wasmparser::BinaryReaderError> {
    // Active segments of memory 0 at a constant address: (start, end).
    let mut segments: Vec<(u64, u64)> = Vec::new();
    let mut total = 0u64;
    let mut imported_functions = 0u32;
    let mut position = 0u32;
    // Address used → the functions using it.
    let mut uses: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
    let mut bodies: Vec<(u32, Vec<u64>)> = Vec::new();
    let mut exported = BTreeSet::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export?;
                    if export.kind == wasmparser::ExternalKind::Func {
                        exported.insert(export.index);
                    }
                }
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import?.ty, wasmparser::TypeRef::Func(_)) {
                        imported_functions += 1;
                    }
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    let len = data.data.len() as u64;
                    total = total.saturating_add(len);
                    if let DataKind::Active { memory_index: 0, offset_expr } = data.kind {
                        let mut ops = offset_expr.get_operators_reader();
                        if let Ok(Operator::I32Const { value }) = ops.read() {
                            let start = u64::from(value as u32);
                            segments.push((start, start + len));
                        }
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let index = imported_functions.saturating_add(position);
                position += 1;
                let mut constants = Vec::new();
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    match ops.read()? {
                        Operator::I32Const { value } => constants.push(u64::from(value as u32)),
                        op => {
                            if let Some(offset) = memory_offset(&op) {
                                constants.push(offset);
                            }
                        }
                    }
                }
                bodies.push((index, constants));
            }
            _ => {}
        }
    }
    segments.sort_unstable();
    let inside = |address: u64| segments.iter().any(|(start, end)| (*start..*end).contains(&address));
    for (index, constants) in bodies {
        for address in constants.into_iter().filter(|a| inside(*a)) {
            uses.entry(address).or_default().insert(index);
        }
    }
    let mut by_function: BTreeMap<u32, u64> = BTreeMap::new();
    for &(start, end) in &segments {
        let used: Vec<(&u64, &BTreeSet<u32>)> = uses.range(start..end).collect();
        for (at, (address, functions)) in used.iter().enumerate() {
            let next = used.get(at + 1).map_or(end, |(next, _)| **next);
            let bytes = next - **address;
            let share = bytes / functions.len() as u64;
            let mut rest = bytes - share * functions.len() as u64;
            for function in functions.iter() {
                let extra = u64::from(rest > 0);
                rest -= extra;
                *by_function.entry(*function).or_default() += share + extra;
            }
        }
    }
    let attributed: u64 = by_function.values().sum();
    Ok(DataUse { total, by_function, unattributed: total.saturating_sub(attributed), exported })
}

/// The constant offset of a load or store (its address when the base is 0).
fn memory_offset(op: &Operator) -> Option<u64> {
    use Operator::*;
    let memarg = match op {
        I32Load { memarg }
        | I64Load { memarg }
        | F32Load { memarg }
        | F64Load { memarg }
        | I32Load8S { memarg }
        | I32Load8U { memarg }
        | I32Load16S { memarg }
        | I32Load16U { memarg }
        | I64Load8S { memarg }
        | I64Load8U { memarg }
        | I64Load16S { memarg }
        | I64Load16U { memarg }
        | I64Load32S { memarg }
        | I64Load32U { memarg }
        | I32Store { memarg }
        | I64Store { memarg }
        | F32Store { memarg }
        | F64Store { memarg }
        | I32Store8 { memarg }
        | I32Store16 { memarg }
        | I64Store8 { memarg }
        | I64Store16 { memarg }
        | I64Store32 { memarg } => memarg,
        _ => return None,
    };
    (memarg.memory == 0 && memarg.offset > 0).then_some(memarg.offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_goes_to_the_functions_that_use_its_address() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "h" "f" (func))
                 (memory 1)
                 (func $table (result i32) (i32.load8_u (i32.add (i32.const 1024) (i32.const 3))))
                 (func $both (result i32) (i32.add (i32.const 1040) (i32.load offset=1024 (i32.const 0))))
                 (func $none (result i32) (i32.const 7))
                 (data (i32.const 1000) "........................")
                 (data (i32.const 1024) "0123456789abcdef0123456789abcdef"))"#,
        )
        .unwrap();
        let used = data_use(&wasm);
        assert_eq!(used.total, 24 + 32);
        // 1024..1040 is used by both (16 bytes, 8 each); 1040..1056 by $both.
        assert_eq!(used.by_function.get(&1), Some(&8));
        assert_eq!(used.by_function.get(&2), Some(&(8 + 16)));
        assert_eq!(used.by_function.get(&3), None);
        assert_eq!(used.unattributed, 24, "the first segment is never addressed");
        assert!(used.exported.is_empty());
    }
}
