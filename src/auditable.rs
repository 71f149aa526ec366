//! The dependency list inside the module, in cargo-auditable's format: a
//! `.dep-v0` custom section holding the zlib-compressed JSON of
//! `auditable_serde::VersionInfo`, built from the same resolved graph as the
//! SBOM. `cargo audit bin`, `rust-audit-info` and `auditable-info` read it.

use std::collections::BTreeMap;

use auditable_serde::{DependencyKind, Package, Source, VersionInfo};
use cargo_metadata::PackageId;
use wasm_encoder::Section as _;

use crate::cargo::SkillCrate;
use crate::sbom::{SbomError, runtime_packages};

/// The custom section's name, as cargo-auditable writes it.
pub const SECTION: &str = ".dep-v0";

fn source(package: &cargo_metadata::Package) -> Source {
    match package.source.as_ref().map(|s| s.repr.as_str()) {
        None => Source::Local,
        Some(s) if s.starts_with("git+") => Source::Git,
        Some(s) if crate::sbom::is_crates_io(s) => Source::CratesIo,
        Some(_) => Source::Registry,
    }
}

/// The skill crate and every crate that goes into its module, sorted by
/// name and version, each with the indices of its dependencies.
pub fn version_info(krate: &SkillCrate) -> Result<VersionInfo, SbomError> {
    let mut graph = runtime_packages(krate)?;
    graph.sort_by(|(a, _), (b, _)| (&a.name, &a.version, &a.id).cmp(&(&b.name, &b.version, &b.id)));
    let index: BTreeMap<&PackageId, usize> = graph.iter().enumerate().map(|(i, (p, _))| (&p.id, i)).collect();
    let packages = graph
        .iter()
        .map(|(package, edges)| {
            let mut dependencies: Vec<usize> = edges.iter().filter_map(|id| index.get(id).copied()).collect();
            dependencies.sort_unstable();
            dependencies.dedup();
            Package {
                name: package.name.to_string(),
                version: package.version.clone(),
                source: source(package),
                kind: DependencyKind::Runtime,
                dependencies,
                root: package.id == krate.package.id,
            }
        })
        .collect();
    Ok(VersionInfo { packages, format: 0 })
}

/// `wasm` with the `.dep-v0` section appended; unchanged when it already
/// has one (built with `cargo auditable`).
pub fn embed(wasm: &[u8], info: &VersionInfo) -> Vec<u8> {
    if has_section(wasm) {
        return wasm.to_vec();
    }
    let json = serde_json::to_vec(info).expect("a dependency list always serializes");
    let mut compressed = Vec::new();
    {
        use std::io::Write as _;
        let mut encoder = flate2::write::ZlibEncoder::new(&mut compressed, flate2::Compression::best());
        encoder.write_all(&json).expect("writing to memory");
        encoder.finish().expect("writing to memory");
    }
    let mut out = wasm.to_vec();
    wasm_encoder::CustomSection { name: SECTION.into(), data: compressed.into() }.append_to(&mut out);
    out
}

/// Whether `wasm` already carries a `.dep-v0` section.
pub fn has_section(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(reader)) if reader.name() == SECTION)
    })
}
