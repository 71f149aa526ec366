//! Our settings in `Cargo.toml`, `[package.metadata.palyra-skill]`: the
//! manifest's path, the ABI, the warning share and the signing key file;
//! read from cargo's metadata, or from the file itself before a build.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cargo::{Abi, CargoError};

/// Settings of ours in `[package.metadata.palyra-skill]` (never in `skill.toml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ToolSettings {
    /// `skill.toml` path relative to the crate (default `skill.toml`).
    pub manifest: Option<PathBuf>,
    /// The module ABI (default `palyra-host-v1`).
    pub abi: Option<Abi>,
    /// The share of a cap (module size, fuel, time, memory) at which a
    /// figure is a warning, in (0, 1] (default 0.8).
    pub headroom_warn: Option<f64>,
    /// The key `build` signs with when no key option is given: a path
    /// relative to the crate (`~/` is the home directory).
    pub signing_key: Option<PathBuf>,
}

impl ToolSettings {
    /// The settings of the crate whose `Cargo.toml` is `manifest_path`, read
    /// without cargo (before a build decides which key signs): none when
    /// the file has no such table or is not TOML (the build then says why).
    pub fn read(manifest_path: &Path) -> Result<ToolSettings, CargoError> {
        let Ok(text) = std::fs::read_to_string(manifest_path) else { return Ok(ToolSettings::default()) };
        let Ok(mut document) = text.parse::<toml::Table>() else { return Ok(ToolSettings::default()) };
        let table = document
            .remove("package")
            .and_then(|mut p| p.as_table_mut()?.remove("metadata"))
            .and_then(|mut m| m.as_table_mut()?.remove("palyra-skill"));
        match table {
            None => Ok(ToolSettings::default()),
            Some(value) => value.try_into().map_err(|e: toml::de::Error| CargoError::Metadata {
                manifest: manifest_path.display().to_string(),
                message: format!(
                    "invalid `[package.metadata.palyra-skill]`: {}",
                    crate::suggest::unknown_field_hint(e.message())
                ),
            }),
        }
    }

    /// `signing-key` as a path: relative to `crate_dir`, `~/` the home directory.
    pub fn signing_key_path(&self, crate_dir: &Path) -> Option<PathBuf> {
        let path = self.signing_key.as_deref()?;
        match path.strip_prefix("~") {
            Ok(rest) => crate::env::os(crate::env::Var::Home).map(|home| PathBuf::from(home).join(rest)),
            Err(_) => Some(crate_dir.join(path)),
        }
    }

    /// `headroom-warn`, or the default.
    pub fn warn_at(&self) -> f64 {
        self.headroom_warn.unwrap_or(crate::headroom::DEFAULT_WARN_AT)
    }
}
