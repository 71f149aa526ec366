//! Parsing `skill.toml` (with the field path of a schema error), the
//! validation entry point, runtime compatibility and the consumer's warnings.

use serde::Serialize;

use super::model::*;
use super::rules::{Validator, Violation, looks_secret};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("`skill.toml` is not valid UTF-8")]
    NotUtf8,
    #[error("`skill.toml` does not match the manifest schema{}: {message}", at_path(path))]
    Parse { path: String, message: String },
    #[error("`skill.toml` breaks {} manifest rule{}:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Invalid(Vec<Violation>),
}

fn at_path(path: &str) -> String {
    if path.is_empty() || path == "." { String::new() } else { format!(" at `{path}`") }
}

fn list(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("  - {v}")).collect::<Vec<_>>().join("\n")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompatError {
    #[error(
        "the skill requires protocol major {requested} but the Palyra runtime speaks {current}: lower `compat.required_protocol_major`"
    )]
    ProtocolMajor { requested: u32, current: u32 },
    #[error(
        "the skill requires Palyra {requested} or newer but the runtime is {current}: lower `compat.min_palyra_version`"
    )]
    TooOld { requested: String, current: Version },
    #[error(
        "the skill supports Palyra up to {supported} but the runtime is {current}: raise or remove `compat.max_palyra_version`"
    )]
    TooNew { supported: String, current: Version },
}

/// A non-fatal finding the consumer reports at install time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestWarning {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
}

impl Manifest {
    /// Parses and validates `skill.toml` text exactly as the consumer does.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest = Manifest::parse_unvalidated(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses bytes that must be UTF-8 `skill.toml` text.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::parse(std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?)
    }

    /// Strict schema parse (unknown keys rejected) without the semantic rules.
    pub fn parse_unvalidated(text: &str) -> Result<Manifest, ManifestError> {
        let deserializer = toml::Deserializer::parse(text).map_err(|error| ManifestError::Parse {
            path: String::new(),
            message: error.to_string().trim_end().to_owned(),
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|error| ManifestError::Parse {
            path: error.path().to_string(),
            message: crate::suggest::unknown_field_hint(error.inner().to_string().trim_end()),
        })
    }

    /// Serializes the manifest as TOML (all tables, defaults included).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("manifest model always serializes")
    }

    /// Every semantic rule of docs/manifest.md; all violations are reported at once.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut v = Validator::default();
        v.check(self);
        if v.violations.is_empty() { Ok(()) } else { Err(ManifestError::Invalid(v.violations)) }
    }

    /// Verification step 10: does the consumer runtime (0.1.0, protocol 1) accept it?
    pub fn check_runtime_compat(&self) -> Result<(), CompatError> {
        let compat = &self.compat;
        if compat.required_protocol_major > RUNTIME_PROTOCOL_MAJOR {
            return Err(CompatError::ProtocolMajor {
                requested: compat.required_protocol_major,
                current: RUNTIME_PROTOCOL_MAJOR,
            });
        }
        if Version::parse(&compat.min_palyra_version).is_some_and(|min| min > RUNTIME_VERSION) {
            return Err(CompatError::TooOld {
                requested: compat.min_palyra_version.clone(),
                current: RUNTIME_VERSION,
            });
        }
        if let Some(max) = &compat.max_palyra_version
            && Version::parse(max).is_some_and(|max| RUNTIME_VERSION > max)
        {
            return Err(CompatError::TooNew { supported: max.clone(), current: RUNTIME_VERSION });
        }
        Ok(())
    }

    /// The consumer's warnings (docs/manifest.md, `[operator]`).
    pub fn warnings(&self) -> Vec<ManifestWarning> {
        let mut warnings = Vec::new();
        let mut warn =
            |code, message: String| warnings.push(ManifestWarning { code, severity: "warning", message });
        if self.manifest_version == LEGACY_MANIFEST_VERSION {
            warn(
                "legacy_manifest_version",
                "manifest_version 1 is still accepted, but 2 is recommended: set `manifest_version = 2`"
                    .into(),
            );
        }
        if self.operator.is_empty() {
            warn(
                "missing_operator_metadata",
                "no `[operator]` metadata: operators will see a degraded inventory; add `[operator]` with `display_name` and `summary`".into(),
            );
            return warnings;
        }
        if self.operator.display_name.is_none() {
            warn("missing_operator_display_name", "`operator.display_name` is missing".into());
        }
        if let Some(config) = &self.operator.config {
            if config.properties.is_empty() {
                warn(
                    "empty_operator_config_contract",
                    "`[operator.config]` is present but declares no properties: add properties or remove it"
                        .into(),
                );
            }
            for (name, property) in &config.properties {
                if !property.redacted && looks_secret(name) {
                    warn(
                        "operator_config_redaction_recommended",
                        format!(
                            "`operator.config.properties.{name}` looks secret but is not redacted: set `redacted = true`"
                        ),
                    );
                }
            }
        }
        warnings
    }

    /// The module the runtime runs by default, if the manifest names one.
    pub fn default_module_path(&self) -> Option<&str> {
        self.operator.plugin.default_module_path.as_deref()
    }

    /// The entrypoint export name (`run` unless the operator metadata says otherwise).
    pub fn entrypoint(&self) -> &str {
        self.operator.plugin.default_entrypoint.as_deref().map(str::trim).unwrap_or("run")
    }

    pub fn tool(&self, id: &str) -> Option<&Tool> {
        self.entrypoints.tools.iter().find(|tool| tool.id.trim() == id)
    }
}
