//! The manifest's data model: every table and key of the consumer schema,
//! parsed strictly (`deny_unknown_fields`), with the consumer's defaults.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The manifest version `new` writes and the consumer recommends.
pub const CURRENT_MANIFEST_VERSION: u32 = 2;
/// The legacy manifest version the consumer still accepts (with a warning).
pub const LEGACY_MANIFEST_VERSION: u32 = 1;
/// The consumer runtime's protocol major (docs/format.md, "What an install checks", step 10).
pub const RUNTIME_PROTOCOL_MAJOR: u32 = 1;
/// The consumer runtime's version (docs/format.md, "What an install checks", step 10).
pub const RUNTIME_VERSION: Version = Version(0, 1, 0);

/// Operator plugin contract kinds the consumer knows (docs/manifest.md `[operator]`).
pub const CONTRACT_KINDS: &[&str] = &[
    "memory_provider",
    "context_engine",
    "routing_strategy",
    "run_lifecycle_hook",
    "compaction_provider",
    "diagnostics_provider",
    "policy_signal_provider",
    "channel_binding_provider",
    "delivery_adapter",
    "scheduler_task_provider",
    "model_auth_provider",
    "connector_adapter",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default = "default_manifest_version")]
    pub manifest_version: u32,
    pub skill_id: String,
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub entrypoints: Entrypoints,
    #[serde(default)]
    pub capabilities: Capabilities,
    pub compat: Compat,
    #[serde(default, skip_serializing_if = "Integrity::is_empty")]
    pub integrity: Integrity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
    #[serde(default, skip_serializing_if = "Operator::is_empty")]
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entrypoints {
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub id: String,
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
    #[serde(default)]
    pub risk: Risk,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    #[serde(default)]
    pub default_sensitive: bool,
    #[serde(default)]
    pub requires_approval: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default)]
    pub filesystem: Filesystem,
    #[serde(default)]
    pub http_egress_allowlist: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretScope>,
    #[serde(default)]
    pub device_capabilities: Vec<String>,
    #[serde(default)]
    pub node_capabilities: Vec<String>,
    #[serde(default)]
    pub quotas: Quotas,
    #[serde(default)]
    pub wildcard_opt_in: WildcardOptIn,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    #[serde(default)]
    pub read_roots: Vec<String>,
    #[serde(default)]
    pub write_roots: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretScope {
    pub scope: String,
    #[serde(default)]
    pub key_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    #[serde(default = "default_timeout_ms")]
    pub wall_clock_timeout_ms: u64,
    #[serde(default = "default_fuel_budget")]
    pub fuel_budget: u64,
    #[serde(default = "default_max_memory")]
    pub max_memory_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            wall_clock_timeout_ms: default_timeout_ms(),
            fuel_budget: default_fuel_budget(),
            max_memory_bytes: default_max_memory(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WildcardOptIn {
    #[serde(default)]
    pub filesystem: bool,
    #[serde(default)]
    pub http_egress: bool,
    #[serde(default)]
    pub secrets: bool,
    #[serde(default)]
    pub device: bool,
    #[serde(default)]
    pub node: bool,
}

impl WildcardOptIn {
    pub fn any(&self) -> bool {
        self.filesystem || self.http_egress || self.secrets || self.device || self.node
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compat {
    #[serde(alias = "min_protocol_major")]
    pub required_protocol_major: u32,
    #[serde(alias = "min_runtime_version")]
    pub min_palyra_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_palyra_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrity {
    #[serde(default)]
    pub files: Vec<IntegrityFile>,
}

impl Integrity {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    pub experimental: bool,
    pub source_kind: String,
    pub source_ref: String,
    pub rollout_flag: String,
    #[serde(default)]
    pub review_status: String,
    pub checklist: BuilderChecklist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderChecklist {
    pub capability_declaration_path: String,
    pub provenance_path: String,
    pub test_harness_path: String,
    #[serde(default)]
    pub review_notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    #[serde(default, skip_serializing_if = "Plugin::is_empty")]
    pub plugin: Plugin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigContract>,
}

impl Operator {
    /// The consumer's notion of "no operator metadata": every field unset.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.summary.is_none()
            && self.description.is_none()
            && self.categories.is_empty()
            && self.tags.is_empty()
            && self.docs_url.is_none()
            && self.plugin.is_empty()
            && self.config.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tool_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_module_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_entrypoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<Contract>,
}

impl Plugin {
    pub fn is_empty(&self) -> bool {
        self.default_tool_id.is_none()
            && self.default_module_path.is_none()
            && self.default_entrypoint.is_none()
            && self.contracts.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub kind: String,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigContract {
    #[serde(default = "default_config_schema_version")]
    pub schema_version: u32,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, ConfigProperty>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigProperty {
    #[serde(rename = "type")]
    pub value_type: ConfigValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default)]
    pub redacted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigValueType {
    String,
    Integer,
    Number,
    Boolean,
    StringList,
}

impl ConfigValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigValueType::String => "string",
            ConfigValueType::Integer => "integer",
            ConfigValueType::Number => "number",
            ConfigValueType::Boolean => "boolean",
            ConfigValueType::StringList => "string_list",
        }
    }
}

fn default_manifest_version() -> u32 {
    CURRENT_MANIFEST_VERSION
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_fuel_budget() -> u64 {
    10_000_000
}
fn default_max_memory() -> u64 {
    64 * 1024 * 1024
}
fn default_config_schema_version() -> u32 {
    1
}

/// A plain `major.minor.patch` version, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses exactly three dot-separated unsigned integers (surrounding
    /// whitespace ignored, no pre-release or build suffix).
    pub fn parse(raw: &str) -> Option<Version> {
        let mut parts = raw.trim().split('.');
        let mut next = || {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse::<u32>().ok()
        };
        let version = Version(next()?, next()?, next()?);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}
