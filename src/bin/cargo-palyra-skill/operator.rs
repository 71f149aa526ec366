//! The operator's palyrad.toml for `run`, `test` and `audit`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cargo_palyra_skill::host::{OperatorConfig, Requested};
use clap::Args;

use crate::input::read_limited;

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

pub use cargo_palyra_skill::case_run::operator_for;
