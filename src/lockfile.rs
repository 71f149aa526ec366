//! `Cargo.lock`: the packages it pins and their checksums, for the SBOM.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::cargo::CargoError;

/// One `[[package]]` of `Cargo.lock`.
#[derive(Debug, Clone, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub source: Option<String>,
    pub checksum: Option<String>,
}

#[derive(Deserialize)]
struct Lockfile {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

/// `(name, version, source)` -> checksum, from `Cargo.lock`.
pub fn lock_checksums(path: &Path) -> Result<BTreeMap<(String, String), LockedPackage>, CargoError> {
    let fail = |message: String| CargoError::Lockfile { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let lock: Lockfile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    Ok(lock.package.into_iter().map(|p| ((p.name.clone(), p.version.clone()), p)).collect())
}
