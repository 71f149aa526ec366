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

/// What the lock file says of each workspace member whose version in its
/// `Cargo.toml` is another: `` (`acme-echo` is 0.2.0, `Cargo.lock` has 0.1.0)``,
/// or nothing when no member's version moved (a dependency changed) or
/// the workspace cannot be read. The lock file sits at the workspace root,
/// beside the workspace's `Cargo.toml`; `cargo metadata --no-deps` reads
/// the members without resolving, so it never touches the lock file.
pub fn stale_versions(lockfile: &Path) -> String {
    let Some(root) = lockfile.parent() else { return String::new() };
    let Ok(locked) = lock_checksums(lockfile) else { return String::new() };
    let mut command = cargo_metadata::MetadataCommand::new();
    command.manifest_path(root.join("Cargo.toml")).no_deps();
    let Ok(metadata) = command.exec() else { return String::new() };
    let mut moved = Vec::new();
    for member in metadata.workspace_packages() {
        let name = member.name.as_str();
        let versions: Vec<&str> = locked
            .values()
            .filter(|p| p.name == name && p.source.is_none())
            .map(|p| p.version.as_str())
            .collect();
        let version = member.version.to_string();
        if !versions.is_empty() && !versions.contains(&version.as_str()) {
            moved.push(format!("`{name}` is {version}, `Cargo.lock` has {}", versions.join(" and ")));
        }
    }
    if moved.is_empty() { String::new() } else { format!(" ({})", moved.join("; ")) }
}

/// The `Cargo.lock` cargo uses for the crate whose `Cargo.toml` is
/// `manifest_path`: the first in its folder or above (only a workspace's
/// root holds one).
pub fn find(manifest_path: &Path) -> Option<std::path::PathBuf> {
    let dir = std::path::absolute(manifest_path).ok()?;
    dir.parent()?.ancestors().map(|d| d.join("Cargo.lock")).find(|l| l.is_file())
}
