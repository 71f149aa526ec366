//! What a module's code is called: function names from its named copy,
//! file and line from the copy's line tables (when the profile kept debug
//! info), and the skill's own crate from the module's `.dep-v0` list. The
//! artifact's module is the copy less those sections, so a function index
//! and an offset in a function are the same in both.

use std::collections::BTreeMap;

use gimli::{EndianSlice, LittleEndian};
use wasmparser::{Parser, Payload};

/// The largest `.dep-v0` list read back for the skill's crate name.
const MAX_DEPENDENCY_LIST: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Symbols {
    pub names: BTreeMap<u32, String>,
    /// The skill's own crate as its paths start (`weather`, `acme_guard`).
    pub skill_crate: Option<String>,
    lines: Option<Lines>,
}

impl Symbols {
    /// The symbols of `module` (a module that ran), from `named`, its named
    /// copy, when there is one.
    pub fn new(module: &[u8], named: Option<&[u8]>) -> Symbols {
        let skill_crate = auditable_info::audit_info_from_slice(module, MAX_DEPENDENCY_LIST)
            .ok()
            .and_then(|info| info.packages.into_iter().find(|p| p.root))
            .map(|root| root.name.replace('-', "_"));
        // Without a named copy, the module's own `name` section, if any.
        let source = named.unwrap_or(module);
        let mut names = crate::named::function_names(source);
        // An export without a name is called by its export's (as the engine does).
        for (index, export) in exported_functions(module) {
            names.entry(index).or_insert(export);
        }
        Symbols { names, skill_crate, lines: Lines::read(source) }
    }

    /// Symbols with names only (no line tables).
    pub fn from_names(names: BTreeMap<u32, String>, skill_crate: Option<String>) -> Symbols {
        Symbols { names, skill_crate, lines: None }
    }

    /// `file:line` of each instruction, `offset` bytes into function
    /// `index`, when the named copy has line tables.
    pub fn locations(&self, probes: &[(u32, u32)]) -> Vec<Option<String>> {
        match &self.lines {
            Some(lines) => lines.find(probes),
            None => vec![None; probes.len()],
        }
    }
}

/// The module's exported functions: index and export name.
fn exported_functions(module: &[u8]) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(module).flatten() {
        if let Payload::ExportSection(exports) = payload {
            for export in exports.into_iter().flatten() {
                if export.kind == wasmparser::ExternalKind::Func {
                    found.push((export.index, export.name.to_owned()));
                }
            }
        }
    }
    found
}

/// A source path as people know it: the build remaps the workspace to
/// `/workspace` and rustc's own sources live under `/rustc/<commit>/`.
fn short_path(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/workspace/") {
        return rest;
    }
    match path.strip_prefix("/rustc/").and_then(|rest| rest.split_once('/')) {
        Some((commit, rest)) if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) => rest,
        _ => path,
    }
}

/// A named copy with line tables: its debug sections, read on demand, and
/// where each function's body starts in the code section (DWARF addresses
/// count from the code section's start).
#[derive(Debug, Clone)]
struct Lines {
    named: std::sync::Arc<[u8]>,
    /// Function index → its body's offset from the code section's start.
    bodies: BTreeMap<u32, u64>,
}

impl Lines {
    fn read(named: &[u8]) -> Option<Lines> {
        let mut bodies = BTreeMap::new();
        let mut code_start = 0u64;
        let mut imported = 0u32;
        let mut position = 0u32;
        let mut has_lines = false;
        for payload in Parser::new(0).parse_all(named) {
            match payload.ok()? {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports().flatten() {
                        if matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                            imported += 1;
                        }
                    }
                }
                Payload::CodeSectionStart { range, .. } => code_start = range.start as u64,
                Payload::CodeSectionEntry(body) => {
                    let start = (body.range().start as u64).saturating_sub(code_start);
                    bodies.insert(imported.saturating_add(position), start);
                    position += 1;
                }
                Payload::CustomSection(custom) if custom.name() == ".debug_line" => has_lines = true,
                _ => {}
            }
        }
        has_lines.then(|| Lines { named: named.into(), bodies })
    }

    /// The location in the function's own source of each `(index, offset)`:
    /// for code inlined into it, the line that called the inlined code.
    fn find(&self, probes: &[(u32, u32)]) -> Vec<Option<String>> {
        let mut sections: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for payload in Parser::new(0).parse_all(&self.named).flatten() {
            if let Payload::CustomSection(custom) = payload
                && custom.name().starts_with(".debug_")
            {
                sections.insert(custom.name(), custom.data());
            }
        }
        let dwarf = gimli::Dwarf::load(|id| -> Result<EndianSlice<'_, LittleEndian>, gimli::Error> {
            Ok(EndianSlice::new(sections.get(id.name()).copied().unwrap_or(&[]), LittleEndian))
        });
        let Some(context) = dwarf.ok().and_then(|d| addr2line::Context::from_dwarf(d).ok()) else {
            return vec![None; probes.len()];
        };
        probes
            .iter()
            .map(|(index, offset)| {
                let address = self.bodies.get(index)? + u64::from(*offset);
                let mut frames = context.find_frames(address).skip_all_loads().ok()?;
                let mut outermost = None;
                while let Ok(Some(frame)) = frames.next() {
                    if let Some(location) = frame.location {
                        outermost = Some(location);
                    }
                }
                let location = outermost?;
                Some(format!("{}:{}", short_path(location.file?), location.line?))
            })
            .collect()
    }
}
