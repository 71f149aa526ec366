//! The operator's side of a run: `[tool_call]` and `[tool_call.wasm_runtime]`
//! of the daemon's palyrad.toml, with the consumer's defaults and grammar
//! (docs/host.md, "The grammar of capability values").

use serde::{Deserialize, Serialize};

use super::grammar::{config_identifier, config_list, host_name, storage_prefix};

/// What the daemon is configured to allow. [`Default`] is a stock Palyra
/// 0.1.0: the runtime disabled, every list empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorConfig {
    pub enabled: bool,
    pub execution_timeout_ms: u64,
    pub max_module_size_bytes: u64,
    pub fuel_budget: u64,
    pub max_memory_bytes: u64,
    pub max_table_elements: u64,
    pub max_instances: u64,
    pub allowed_http_hosts: Vec<String>,
    pub allowed_secrets: Vec<String>,
    pub allowed_storage_prefixes: Vec<String>,
    pub allowed_channels: Vec<String>,
    /// `[tool_call] allowed_tools`, when the file sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            enabled: false,
            execution_timeout_ms: 750,
            max_module_size_bytes: 256 * 1024,
            fuel_budget: 10_000_000,
            max_memory_bytes: 64 * 1024 * 1024,
            max_table_elements: 100_000,
            max_instances: 256,
            allowed_http_hosts: Vec::new(),
            allowed_secrets: Vec::new(),
            allowed_storage_prefixes: Vec::new(),
            allowed_channels: Vec::new(),
            allowed_tools: None,
        }
    }
}

/// The tool name the daemon's `allowed_tools` must list for a skill to run.
pub const PLUGIN_RUN_TOOL: &str = "palyra.plugin.run";

#[derive(Debug, thiserror::Error)]
pub enum OperatorConfigError {
    #[error("not valid palyrad TOML: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("{0}")]
    Value(String),
}

#[derive(Deserialize)]
struct File {
    tool_call: Option<FileToolCall>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToolCall {
    allowed_tools: Option<Vec<String>>,
    #[allow(dead_code)]
    max_calls_per_run: Option<u32>,
    execution_timeout_ms: Option<u64>,
    #[allow(dead_code)]
    process_runner: Option<toml::Value>,
    wasm_runtime: Option<FileWasmRuntime>,
    #[allow(dead_code)]
    http_fetch: Option<toml::Value>,
    #[allow(dead_code)]
    browser_service: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWasmRuntime {
    enabled: Option<bool>,
    #[allow(dead_code)]
    allow_inline_modules: Option<bool>,
    max_module_size_bytes: Option<u64>,
    fuel_budget: Option<u64>,
    max_memory_bytes: Option<u64>,
    max_table_elements: Option<u64>,
    max_instances: Option<u64>,
    allowed_http_hosts: Option<Vec<String>>,
    allowed_secrets: Option<Vec<String>>,
    allowed_storage_prefixes: Option<Vec<String>>,
    allowed_channels: Option<Vec<String>>,
}

fn positive(value: Option<u64>, name: &str, into: &mut u64) -> Result<(), OperatorConfigError> {
    match value {
        Some(0) => Err(OperatorConfigError::Value(format!("{name} must be greater than 0"))),
        Some(v) => {
            *into = v;
            Ok(())
        }
        None => Ok(()),
    }
}

fn ident(candidate: &str) -> Option<String> {
    config_identifier(candidate).then(|| candidate.to_owned())
}

fn storage(candidate: &str) -> Option<String> {
    storage_prefix(candidate).then(|| candidate.to_owned())
}

impl OperatorConfig {
    /// A local run's operator: the consumer's defaults, but with the
    /// runtime enabled (a stock Palyra ships it disabled).
    pub fn enabled_defaults() -> OperatorConfig {
        OperatorConfig { enabled: true, ..OperatorConfig::default() }
    }

    /// Reads palyrad.toml as the daemon does: `[tool_call]` and
    /// `[tool_call.wasm_runtime]` (unknown keys refused), every other table
    /// ignored; numbers must be positive, lists follow the operator grammar.
    pub fn from_toml(text: &str) -> Result<OperatorConfig, OperatorConfigError> {
        let file: File = toml::from_str(text)?;
        let mut config = OperatorConfig::default();
        let Some(tool_call) = file.tool_call else {
            return Ok(config);
        };
        positive(
            tool_call.execution_timeout_ms,
            "tool_call.execution_timeout_ms",
            &mut config.execution_timeout_ms,
        )?;
        config.allowed_tools = tool_call.allowed_tools;
        if let Some(wasm) = tool_call.wasm_runtime {
            config.apply(wasm)?;
        }
        Ok(config)
    }

    /// This configuration with some keys replaced: a JSON object of
    /// `[tool_call.wasm_runtime]` keys, plus `execution_timeout_ms` and
    /// `allowed_tools` of `[tool_call]` (a test case's `operator`).
    pub fn with_overrides(
        &self,
        overrides: &serde_json::Value,
    ) -> Result<OperatorConfig, OperatorConfigError> {
        let mut object = overrides
            .as_object()
            .cloned()
            .ok_or_else(|| OperatorConfigError::Value("`operator` must be an object".into()))?;
        let mut config = self.clone();
        let bad = |key: &str, e: serde_json::Error| OperatorConfigError::Value(format!("`{key}`: {e}"));
        if let Some(value) = object.remove("execution_timeout_ms") {
            let value = serde_json::from_value(value).map_err(|e| bad("execution_timeout_ms", e))?;
            positive(Some(value), "tool_call.execution_timeout_ms", &mut config.execution_timeout_ms)?;
        }
        if let Some(value) = object.remove("allowed_tools") {
            config.allowed_tools = Some(serde_json::from_value(value).map_err(|e| bad("allowed_tools", e))?);
        }
        let wasm: FileWasmRuntime =
            serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| bad("operator", e))?;
        config.apply(wasm)?;
        Ok(config)
    }

    fn apply(&mut self, wasm: FileWasmRuntime) -> Result<(), OperatorConfigError> {
        let config = self;
        let w = "tool_call.wasm_runtime";
        config.enabled = wasm.enabled.unwrap_or(config.enabled);
        positive(
            wasm.max_module_size_bytes,
            &format!("{w}.max_module_size_bytes"),
            &mut config.max_module_size_bytes,
        )?;
        positive(wasm.fuel_budget, &format!("{w}.fuel_budget"), &mut config.fuel_budget)?;
        positive(wasm.max_memory_bytes, &format!("{w}.max_memory_bytes"), &mut config.max_memory_bytes)?;
        positive(
            wasm.max_table_elements,
            &format!("{w}.max_table_elements"),
            &mut config.max_table_elements,
        )?;
        positive(wasm.max_instances, &format!("{w}.max_instances"), &mut config.max_instances)?;
        let list = |raw: Option<Vec<String>>, key: &str, check: fn(&str) -> Option<String>, label: &str| {
            raw.map(|raw| config_list(&raw, check, &format!("{w}.{key}"), label))
                .transpose()
                .map(Option::unwrap_or_default)
                .map_err(|e| OperatorConfigError::Value(e.to_string()))
        };
        if wasm.allowed_http_hosts.is_some() {
            config.allowed_http_hosts =
                list(wasm.allowed_http_hosts, "allowed_http_hosts", host_name, "host")?;
        }
        if wasm.allowed_secrets.is_some() {
            config.allowed_secrets = list(wasm.allowed_secrets, "allowed_secrets", ident, "secret handle")?;
        }
        if wasm.allowed_storage_prefixes.is_some() {
            config.allowed_storage_prefixes =
                list(wasm.allowed_storage_prefixes, "allowed_storage_prefixes", storage, "storage prefix")?;
        }
        if wasm.allowed_channels.is_some() {
            config.allowed_channels =
                list(wasm.allowed_channels, "allowed_channels", ident, "channel handle")?;
        }
        Ok(())
    }

    /// Sets the allowlists from values given on the command line, as an
    /// operator would write them in palyrad.toml. Values the daemon's
    /// config grammar refuses (a secret with `/`, say) cannot be allowed by
    /// any operator: they are left out and returned, with the reason.
    pub fn allow_from_flags(
        &mut self,
        http: &[String],
        secrets: &[String],
        storage_prefixes: &[String],
        channels: &[String],
    ) -> Vec<String> {
        let mut refused = Vec::new();
        let mut take = |raw: &[String], check: fn(&str) -> Option<String>, key: &str| {
            let mut out: Vec<String> = Vec::new();
            for candidate in raw.join(",").split(',').map(str::trim).filter(|v| !v.is_empty()) {
                match check(candidate) {
                    Some(value) if !out.contains(&value) => out.push(value),
                    Some(_) => {}
                    None => refused.push(format!(
                        "`{candidate}` cannot be listed in `tool_call.wasm_runtime.{key}` (the daemon refuses it at start)"
                    )),
                }
            }
            out
        };
        self.allowed_http_hosts = take(http, host_name, "allowed_http_hosts");
        self.allowed_secrets = take(secrets, ident, "allowed_secrets");
        self.allowed_storage_prefixes = take(storage_prefixes, storage, "allowed_storage_prefixes");
        self.allowed_channels = take(channels, ident, "allowed_channels");
        refused
    }

    /// Whether `[tool_call] allowed_tools` lets skills run at all (unset
    /// counts as the default, which must be changed too).
    pub fn allows_plugin_runs(&self) -> bool {
        self.allowed_tools.as_ref().is_some_and(|tools| tools.iter().any(|t| t.trim() == PLUGIN_RUN_TOOL))
    }

    /// The palyrad.toml lines that allow these values for a skill.
    pub fn toml_lines(http: &[String], secrets: &[String], storage: &[String]) -> Vec<String> {
        let quoted =
            |items: &[String]| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
        let mut lines = vec![
            "[tool_call]".to_owned(),
            format!("allowed_tools = [\"{PLUGIN_RUN_TOOL}\"]"),
            "[tool_call.wasm_runtime]".to_owned(),
            "enabled = true".to_owned(),
        ];
        if !http.is_empty() {
            lines.push(format!("allowed_http_hosts = [{}]", quoted(http)));
        }
        if !secrets.is_empty() {
            lines.push(format!("allowed_secrets = [{}]", quoted(secrets)));
        }
        if !storage.is_empty() {
            lines.push(format!("allowed_storage_prefixes = [{}]", quoted(storage)));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_stock_palyra() {
        let config = OperatorConfig::from_toml("[daemon]\nport = 7142\n").unwrap();
        assert_eq!(config, OperatorConfig::default());
        assert!(!config.enabled);
        assert_eq!(config.max_module_size_bytes, 262_144);
        assert_eq!(config.execution_timeout_ms, 750);
    }

    #[test]
    fn reads_every_key() {
        let config = OperatorConfig::from_toml(
            r#"
            [tool_call]
            allowed_tools = ["palyra.plugin.run"]
            execution_timeout_ms = 2000
            [tool_call.wasm_runtime]
            enabled = true
            max_module_size_bytes = 1048576
            fuel_budget = 5
            max_memory_bytes = 65536
            max_table_elements = 10
            max_instances = 2
            allowed_http_hosts = ["API.example.com.", "b.example.com,c.example.com"]
            allowed_secrets = ["db_password"]
            allowed_storage_prefixes = ["cache"]
            allowed_channels = ["cli"]
            "#,
        )
        .unwrap();
        assert!(config.enabled && config.allows_plugin_runs());
        assert_eq!(config.execution_timeout_ms, 2000);
        assert_eq!(config.max_module_size_bytes, 1_048_576);
        assert_eq!((config.fuel_budget, config.max_memory_bytes), (5, 65_536));
        assert_eq!((config.max_table_elements, config.max_instances), (10, 2));
        assert_eq!(config.allowed_http_hosts, ["api.example.com", "b.example.com", "c.example.com"]);
        assert_eq!(config.allowed_secrets, ["db_password"]);
        assert_eq!(config.allowed_storage_prefixes, ["cache"]);
        assert_eq!(config.allowed_channels, ["cli"]);
    }

    #[test]
    fn refuses_what_the_daemon_refuses() {
        for (text, needle) in [
            (
                "[tool_call.wasm_runtime]\nfuel_budget = 0",
                "tool_call.wasm_runtime.fuel_budget must be greater than 0",
            ),
            (
                "[tool_call]\nexecution_timeout_ms = 0",
                "tool_call.execution_timeout_ms must be greater than 0",
            ),
            (
                "[tool_call.wasm_runtime]\nallowed_secrets = [\"global/key\"]",
                "invalid secret handle 'global/key'",
            ),
            ("[tool_call.wasm_runtime]\nallowed_http_hosts = [\"*.a.com\"]", "invalid host '*.a.com'"),
            (
                "[tool_call.wasm_runtime]\nallowed_storage_prefixes = [\"../x\"]",
                "invalid storage prefix '../x'",
            ),
            ("[tool_call.wasm_runtime]\nfuel = 1", "unknown field `fuel`"),
            ("[tool_call.wasm_runtime]\nfuel_budget = -1", "fuel_budget"),
            ("[tool_call.wasm_runtime]\nenabled = \"yes\"", "enabled"),
            ("[tool_call", "TOML"),
        ] {
            let error = OperatorConfig::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn overrides_replace_only_the_keys_given() {
        let base = OperatorConfig::from_toml(
            "[tool_call.wasm_runtime]\nenabled = true\nallowed_http_hosts = [\"a.com\"]",
        )
        .unwrap();
        let changed = base
            .with_overrides(&serde_json::json!({ "fuel_budget": 7, "execution_timeout_ms": 9, "allowed_channels": ["cli"] }))
            .unwrap();
        assert_eq!((changed.fuel_budget, changed.execution_timeout_ms), (7, 9));
        assert_eq!(changed.allowed_http_hosts, ["a.com"]);
        assert_eq!(changed.allowed_channels, ["cli"]);
        assert!(
            base.with_overrides(&serde_json::json!({ "fuel": 1 }))
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
        assert!(base.with_overrides(&serde_json::json!({ "fuel_budget": 0 })).is_err());
    }

    #[test]
    fn flags_that_no_operator_could_list_are_refused() {
        let mut config = OperatorConfig::enabled_defaults();
        let refused = config.allow_from_flags(
            &["API.example.com".into()],
            &["global/key".into()],
            &["cache".into()],
            &["cli".into()],
        );
        assert_eq!(config.allowed_http_hosts, ["api.example.com"]);
        assert!(config.allowed_secrets.is_empty());
        assert_eq!(refused.len(), 1);
        assert!(refused[0].contains("`global/key`"));
    }
}
