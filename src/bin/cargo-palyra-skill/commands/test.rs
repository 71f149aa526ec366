//! `test`: run every fixture case of a skill crate against its built module.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_palyra_skill::cargo::Abi;
use cargo_palyra_skill::cases::{self, Case, CaseResult};
use cargo_palyra_skill::host::{self, HostCall, HostOutcome, OperatorConfig, Overrides, Requested};
use cargo_palyra_skill::manifest::Tool;
use cargo_palyra_skill::runtime::{Allow, Grants, Limits, LoadedModule, Runtime, ToolCall};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::Outcome;
use crate::operator::{OperatorArgs, operator_for};
use crate::shell::{MessageFormat, OutputArgs, Shell};
use crate::skill::{self, AbiArg, BuildArgs, CodeArgs, CratePath, Skill};

/// Build the skill crate and run its fixture cases.
///
/// Every `fixtures/<tool name>/*.json` of the crate is one case. With the
/// Palyra host ABI (the default), a case is a call as the daemon makes it:
/// `{ "grants": { "http": [...], "secrets": [...], "storage": [...],
/// "channels": [...] }, "expect": { "exit_code": N } }`, or `"expect": {
/// "error": "<kind>" }` with a daemon error kind (`disabled`,
/// `invalid_input`, `capability_denied`, `timed_out`, `quota_exceeded`,
/// `runtime_failure`) or one of our classes (`out_of_fuel`,
/// `memory_limit`, `stack_exhausted`, `trap`, `link_error`, ...).
/// Optional: `"max_fuel"` (the case fails if the call uses more) and
/// `"operator"` (palyrad.toml `[tool_call.wasm_runtime]` keys and
/// `execution_timeout_ms` for this case). The grants are the request; the
/// operator allows them unless `--operator-config` or the case says
/// otherwise.
///
/// With the WASI preview (`abi = "wasi-json"`), a case is `{ "input": ...,
/// "expect": { "output": ... } }` or `"expect": { "error": "<class>" }`,
/// with optional `"max_fuel"`, `"allow_http"`, `"allow_secrets"`,
/// `"allow_storage"`.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill test\n",
    "  cargo palyra-skill test --operator-config palyrad.toml\n",
    "  cargo palyra-skill test skills/guard --message-format json\n\n",
    "Exit status:\n  0  every case passed\n  1  a case failed, or no case ran\n  2  could not run (build failed, bad fixture)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    #[command(flatten)]
    location: CratePath,
    /// The module ABI [default: the crate's `abi` setting, else palyra-host-v1]
    #[arg(long, value_enum)]
    abi: Option<AbiArg>,
    #[command(flatten)]
    operator: OperatorArgs,
    #[command(flatten)]
    code: CodeArgs,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn read_case(path: &Path, abi: Abi) -> Result<Case> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("could not read `{}`", path.display()))?;
    cases::parse_case(&text, abi).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))
}

#[derive(Serialize)]
struct Report {
    abi: &'static str,
    passed: usize,
    failed: usize,
    cases: Vec<CaseResult>,
    /// `fixtures/` folders that match no tool: their cases never ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stray_fixture_dirs: Vec<cargo_palyra_skill::cases::StrayFixtures>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        let skill = skill::load(&self.location.locate()?, &self.build, shell)?;
        let abi = skill.abi(AbiArg::abi(self.abi));
        let base = self.operator.read()?;
        let module = match abi {
            Abi::WasiJson => {
                let path = skill::pick_module(&skill.manifest, &skill.entries, None)?;
                Some(skill::compile(&skill, &path, &runtime, self.code.tier(), shell)?)
            }
            Abi::PalyraHostV1 => None,
        };
        let fixtures = skill.crate_dir.clone().unwrap_or_default().join("fixtures");
        let mut results = Vec::new();
        for tool in &skill.manifest.entrypoints.tools {
            let dir = fixtures.join(tool.name.trim());
            let mut cases: Vec<PathBuf> = match std::fs::read_dir(&dir) {
                Ok(entries) => entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect(),
                Err(_) => {
                    shell.warn(format_args!(
                        "tool `{}` has no cases: add JSON files to `{}`",
                        tool.id,
                        dir.display()
                    ));
                    continue;
                }
            };
            cases.sort();
            for path in cases {
                let name = format!(
                    "{}/{}",
                    tool.name.trim(),
                    path.file_name().unwrap_or_default().to_string_lossy()
                );
                let case = read_case(&path, abi)?;
                let (mut result, outcome) = match &module {
                    Some(module) => (self.preview_case(&runtime, &skill, tool, module, &case), None),
                    None => self.host_case(&runtime, &skill, tool, &case, base.as_ref(), &path)?,
                };
                result.case = name;
                let passed = result.problem.is_none();
                result.passed = passed;
                if self.output.message_format == MessageFormat::Human {
                    let verdict = if passed { Shell::good("ok") } else { Shell::bad("FAILED") };
                    shell.print(format_args!("test {} ... {verdict}", result.case))?;
                    if let Some(problem) = &result.problem {
                        shell.print(format_args!("    {problem}"))?;
                    }
                    if let Some(budget) = &result.budget {
                        shell.print(format_args!("    {}", super::run::budget_line(budget)))?;
                    }
                    if let Some((outcome, operator)) = &outcome {
                        super::run::warn_headroom(shell, outcome, skill.warn_at, &skill.manifest, operator);
                    }
                }
                results.push(result);
            }
        }
        let tools = &skill.manifest.entrypoints.tools;
        let stray = cargo_palyra_skill::cases::stray_fixture_dirs(&fixtures, tools);
        for dir in &stray {
            match &dir.did_you_mean {
                Some(name) => shell.warn(format_args!(
                    "`fixtures/{}/` matches no tool, so its cases did not run: cases live under the tool's name, rename it to `fixtures/{name}/`",
                    dir.dir
                )),
                None => shell.warn(format_args!(
                    "`fixtures/{}/` matches no tool, so its cases did not run (tools: {})",
                    dir.dir,
                    tools.iter().map(|t| format!("`{}`", t.name.trim())).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        let passed = results.iter().filter(|r| r.passed).count();
        let failed = results.len() - passed;
        let ran = results.len();
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&Report {
                abi: abi.as_str(),
                passed,
                failed,
                cases: results,
                stray_fixture_dirs: stray,
            })?,
            MessageFormat::Human => shell.print(format_args!("\n{passed} passed, {failed} failed"))?,
        }
        if ran == 0 {
            shell.status_failed(
                "No cases",
                format_args!(
                    "no test case ran: add JSON case files under `{}/<tool name>/`",
                    fixtures.display()
                ),
            );
            return Ok(Outcome::CheckFailed);
        }
        Ok(if failed == 0 { Outcome::Success } else { Outcome::CheckFailed })
    }

    fn host_case(
        &self,
        runtime: &Runtime,
        skill: &Skill,
        tool: &Tool,
        case: &Case,
        base: Option<&OperatorConfig>,
        path: &Path,
    ) -> Result<(CaseResult, Option<(HostOutcome, OperatorConfig)>)> {
        let grants = case.grants.as_ref();
        let requested = Requested {
            http_hosts: grants.map(|g| g.http.clone()).unwrap_or_default(),
            secrets: grants.map(|g| g.secrets.clone()).unwrap_or_default(),
            storage_prefixes: grants.map(|g| g.storage.clone()).unwrap_or_default(),
            channels: grants.map(|g| g.channels.clone()).unwrap_or_default(),
        };
        let (mut operator, _) = operator_for(base.cloned(), &requested);
        if let Some(overrides) = &case.operator {
            operator = operator
                .with_overrides(overrides)
                .with_context(|| format!("`{}`: invalid `operator`", path.display()))?;
        }
        let outcome = host::execute(
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
                tier: self.code.tier(),
            },
        );
        let result = cases::judge_host(case, &tool.id, &outcome, skill.warn_at);
        Ok((result, Some((outcome, operator))))
    }

    fn preview_case(
        &self,
        runtime: &Runtime,
        skill: &Skill,
        tool: &Tool,
        module: &LoadedModule,
        case: &Case,
    ) -> CaseResult {
        let manifest = &skill.manifest;
        let allow = Allow {
            http: case.allow_http.clone().unwrap_or_default(),
            secrets: case.allow_secrets.clone().unwrap_or_default(),
            storage: case.allow_storage.clone().unwrap_or_default(),
        };
        let (grants, _) = Grants::from_manifest(manifest).narrowed(&allow);
        let input = case.input.clone().unwrap_or(Value::Null);
        let outcome = runtime.call_tool(ToolCall {
            manifest,
            tool,
            module,
            input: &input,
            grants,
            limits: Limits::from_manifest(manifest),
            preopens: Vec::new(),
        });
        cases::judge_preview(case, &tool.id, &outcome)
    }
}
