//! The operator's palyrad.toml for `run`, `test` and `audit`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cargo_palyra_skill::host::{OperatorConfig, Requested};
use clap::Args;

use crate::input::read_limited;

/// What a local run assumes without `--operator-config`.
pub const ASSUMED_OPERATOR: &str = "no `--operator-config`: assumed an operator who enabled the runtime (a stock Palyra 0.1.0 ships it disabled: set `[tool_call.wasm_runtime] enabled = true` and `[tool_call] allowed_tools = [\"palyra.plugin.run\"]` in palyrad.toml) and allows what `--allow-*` requests";

#[derive(Debug, Clone, Args)]
pub struct OperatorArgs {
    /// The Palyra daemon's palyrad.toml: `[tool_call] execution_timeout_ms`
    /// and `[tool_call.wasm_runtime]` (enabled, caps, allowlists) [default:
    /// the consumer's defaults with the runtime enabled]
    #[arg(long, value_name = "FILE")]
    pub operator_config: Option<PathBuf>,
}

impl OperatorArgs {
    /// The file's configuration, if one was given.
    pub fn read(&self) -> Result<Option<OperatorConfig>> {
        let Some(path) = &self.operator_config else {
            return Ok(None);
        };
        let bytes = read_limited(path, 4 * 1024 * 1024, "operator config")?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("operator config `{}` is not UTF-8 text", path.display()))?;
        OperatorConfig::from_toml(&text)
            .with_context(|| {
                format!(
                    "invalid operator config `{}`: fix the key named below (palyrad refuses it too)",
                    path.display()
                )
            })
            .map(Some)
    }

    /// The operator for a call: the file's, else the consumer's defaults
    /// with the runtime enabled and `requested` as the allowlists. Returns
    /// notes for the report.
    pub fn operator(&self, requested: &Requested) -> Result<(OperatorConfig, Vec<String>)> {
        Ok(operator_for(self.read()?, requested))
    }
}

/// The operator for a call from an already read config: see [`OperatorArgs::operator`].
pub fn operator_for(config: Option<OperatorConfig>, requested: &Requested) -> (OperatorConfig, Vec<String>) {
    if let Some(config) = config {
        let mut notes = Vec::new();
        if !config.allows_plugin_runs() {
            notes.push(
                    "the operator config's `[tool_call] allowed_tools` does not list `palyra.plugin.run`: the daemon will not offer the tool that runs skills".to_owned(),
                );
        }
        return (config, notes);
    }
    let mut config = OperatorConfig::enabled_defaults();
    let mut notes = vec![ASSUMED_OPERATOR.to_owned()];
    notes.extend(config.allow_from_flags(
        &requested.http_hosts,
        &requested.secrets,
        &requested.storage_prefixes,
        &requested.channels,
    ));
    (config, notes)
}
