//! Assembling an artifact from its parts (manifest, modules, assets, SBOM,
//! provenance), writing the integrity table, and signing it.

use crate::artifact::{
    ASSETS_DIR, ArtifactError, Entries, IntegrityWriteError, MANIFEST_PATH, MODULES_DIR, PROVENANCE_PATH,
    SBOM_PATH, SIGNATURE_PATH, normalize_path, write_integrity,
};
use crate::manifest::{CompatError, Manifest, ManifestError};
use crate::signing::{SignatureRecord, Signer};
use crate::verify::{check_provenance, check_sbom};

/// Everything an artifact is made of, before packing.
pub struct Parts {
    /// The author's `skill.toml` text; its layout and comments are kept.
    pub manifest_text: String,
    /// Module file names (`echo.wasm`, packed as `modules/echo.wasm`) and bytes.
    pub modules: Vec<(String, Vec<u8>)>,
    /// Asset paths below `assets/` and bytes.
    pub assets: Vec<(String, Vec<u8>)>,
    pub sbom: Vec<u8>,
    pub provenance: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the Palyra runtime would refuse this skill: {0}")]
    Compat(#[from] CompatError),
    #[error("module name `{0}` must be a relative path ending in `.wasm`")]
    ModuleName(String),
    #[error(
        "`{0}` is not a WebAssembly module (it does not start with `\\0asm` version 1): pass the `.wasm` file cargo built"
    )]
    NotWasm(String),
    #[error("at least one module is required: pass `--module PATH.wasm`")]
    NoModule,
    #[error(
        "`operator.plugin.default_module_path` is `{path}` but no such module is packed (modules: {available}): rename the module or fix the manifest"
    )]
    DefaultModuleMissing { path: String, available: String },
    #[error("invalid SBOM: {0}")]
    Sbom(crate::verify::DocumentError),
    #[error("invalid provenance: {0}")]
    Provenance(crate::verify::DocumentError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    IntegrityWrite(#[from] IntegrityWriteError),
}

/// Checks every part, then returns the unsigned entries (with `skill.toml`
/// carrying the integrity table) and the parsed manifest.
pub fn assemble(parts: Parts) -> Result<(Entries, Manifest), PackError> {
    let manifest = Manifest::parse(&parts.manifest_text)?;
    manifest.check_runtime_compat()?;
    check_sbom(&parts.sbom).map_err(PackError::Sbom)?;
    check_provenance(&parts.provenance).map_err(PackError::Provenance)?;
    if parts.modules.is_empty() {
        return Err(PackError::NoModule);
    }

    let mut entries = Entries::new();
    for (name, bytes) in parts.modules {
        let path = normalize_path(&name).map_err(|_| PackError::ModuleName(name.clone()))?;
        if !path.ends_with(".wasm") {
            return Err(PackError::ModuleName(name));
        }
        if !bytes.starts_with(b"\0asm\x01\0\0\0") {
            return Err(PackError::NotWasm(name));
        }
        entries.insert(&format!("{MODULES_DIR}{path}"), bytes)?;
    }
    if let Some(default) = manifest.default_module_path()
        && !entries.contains(default)
    {
        let available: Vec<_> = entries.modules().map(|(path, _)| format!("`{path}`")).collect();
        return Err(PackError::DefaultModuleMissing {
            path: default.to_owned(),
            available: available.join(", "),
        });
    }
    for (path, bytes) in parts.assets {
        entries
            .insert(&format!("{ASSETS_DIR}{}", normalize_path(&path).map_err(ArtifactError::from)?), bytes)?;
    }
    entries.insert(SBOM_PATH, parts.sbom)?;
    entries.insert(PROVENANCE_PATH, parts.provenance)?;

    let text = write_integrity(&parts.manifest_text, &entries.integrity_files())?;
    let manifest = Manifest::parse(&text)?;
    entries.insert(MANIFEST_PATH, text.into_bytes())?;
    Ok((entries, manifest))
}

/// Signs the entries (all but `signature.json`) and stores the record.
pub fn sign(
    entries: &mut Entries,
    publisher: &str,
    key: &dyn Signer,
    signed_at_unix_ms: i64,
) -> Result<SignatureRecord, ArtifactError> {
    entries.remove(SIGNATURE_PATH);
    let record = key.sign_record(publisher, &entries.payload_sha256(), signed_at_unix_ms)?;
    entries.insert(SIGNATURE_PATH, record.to_json())?;
    Ok(record)
}

/// `signed_at_unix_ms`: `SOURCE_DATE_EPOCH` (seconds) when set, else now.
pub fn signed_at_unix_ms() -> Result<i64, crate::clock::ClockError> {
    crate::clock::now().map(|now| now.unix_ms)
}

/// `signed_at_unix_ms` for signing a built artifact: `SOURCE_DATE_EPOCH`
/// when set, else the build's start in its provenance (so signing a
/// rebuilt, identical artifact gives identical bytes), else now.
pub fn signed_at_for(entries: &Entries) -> Result<i64, crate::clock::ClockError> {
    let now = crate::clock::now()?;
    if now.fixed {
        return Ok(now.unix_ms);
    }
    let started = entries
        .get(PROVENANCE_PATH)
        .and_then(|entry| serde_json::from_slice::<serde_json::Value>(&entry.bytes).ok())
        .and_then(|statement| {
            statement["predicate"]["runDetails"]["metadata"]["startedOn"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        })
        .and_then(|t| t.as_second().checked_mul(1000))
        .filter(|ms| *ms >= 0);
    Ok(started.unwrap_or(now.unix_ms))
}
