//! Running a skill's fixture cases as the daemon calls its tools: the
//! fixtures a crate holds, the operator a call gets, and one case's call
//! and verdict. `test` and `tune` both run cases through here.

use std::path::{Path, PathBuf};

use crate::cases::{self, Case, CaseResult};
use crate::host::{self, HostCall, HostOutcome, OperatorConfig, OperatorConfigError, Overrides, Requested};
use crate::manifest::Tool;
use crate::runtime::{Runtime, Tier};
use crate::skill::Skill;

/// What a local run assumes without `--operator-config`.
pub const ASSUMED_OPERATOR: &str = "no `--operator-config`: assumed an operator who enabled the runtime (a stock Palyra 0.1.0 ships it disabled: set `[tool_call.wasm_runtime] enabled = true` and `[tool_call] allowed_tools = [\"palyra.plugin.run\"]` in palyrad.toml) and allows what `--allow-*` requests";

/// The operator for a call: `config`, else the consumer's defaults with
/// the runtime enabled and `requested` as the allowlists; with notes for
/// the report.
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

/// One fixture file of a tool: `fixtures/<tool name>/<file>.json`.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub tool: Tool,
    /// `<tool name>/<file>.json`.
    pub name: String,
    pub path: PathBuf,
}

/// Every tool's fixtures under `fixtures`, by tool then file name; and the
/// tools without a fixture folder.
pub fn fixtures(fixtures: &Path, tools: &[Tool]) -> (Vec<Fixture>, Vec<(Tool, PathBuf)>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for tool in tools {
        let dir = fixtures.join(tool.name.trim());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            missing.push((tool.clone(), dir));
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            found.push(Fixture { tool: tool.clone(), name: format!("{}/{file}", tool.name.trim()), path });
        }
    }
    (found, missing)
}

/// A case that cannot be called as written.
#[derive(Debug, thiserror::Error)]
pub enum CaseRunError {
    /// Its `operator` settings are not palyrad.toml's (the fixture is malformed).
    #[error("invalid `operator`: {0}")]
    Operator(#[from] OperatorConfigError),
}

/// How a case is called.
#[derive(Debug, Clone, Copy)]
pub struct CallSettings {
    pub tier: Tier,
    /// Profile the call's fuel, sampling every this many units (0: chosen from its fuel).
    pub profile: Option<u64>,
    /// Raise the operator's module cap to the skill's largest module, so a
    /// module over it still runs (`tune` measures fuel at every size).
    pub lift_module_cap: bool,
}

/// The call `case` makes of `tool`, as the daemon makes it, and its
/// verdict. `Err` is a case whose `operator` settings are invalid.
pub fn host_case(
    runtime: &Runtime,
    skill: &Skill,
    tool: &Tool,
    case: &Case,
    base: Option<&OperatorConfig>,
    settings: CallSettings,
) -> Result<(CaseResult, HostOutcome, OperatorConfig), CaseRunError> {
    let grants = case.grants.as_ref();
    let requested = Requested {
        http_hosts: grants.map(|g| g.http.clone()).unwrap_or_default(),
        secrets: grants.map(|g| g.secrets.clone()).unwrap_or_default(),
        storage_prefixes: grants.map(|g| g.storage.clone()).unwrap_or_default(),
        channels: grants.map(|g| g.channels.clone()).unwrap_or_default(),
    };
    let (mut operator, _) = operator_for(base.cloned(), &requested);
    if let Some(overrides) = &case.operator {
        // The case's own settings: a bad one makes the fixture malformed.
        operator = operator.with_overrides(overrides)?;
    }
    if settings.lift_module_cap {
        let largest = skill.modules().iter().map(|(_, bytes)| bytes.len() as u64).max().unwrap_or(0);
        operator.max_module_size_bytes = operator.max_module_size_bytes.max(largest);
    }
    let mut outcome = host::execute(
        runtime,
        &HostCall {
            operator: &operator,
            manifest: &skill.manifest,
            modules: skill.modules(),
            module_path: None,
            entrypoint: None,
            tool_id: Some(&tool.id),
            requested: &requested,
            overrides: Overrides::default(),
            tier: settings.tier,
            profile: settings.profile,
        },
    );
    let symbols = outcome.module_path.as_deref().map(|path| skill.symbols(path)).unwrap_or_default();
    outcome.name_from(&symbols);
    let result = cases::judge_host(case, &tool.id, &outcome, skill.warn_at);
    Ok((result, outcome, operator))
}
