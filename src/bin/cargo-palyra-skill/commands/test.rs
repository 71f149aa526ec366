//! `test`: run every fixture case of a skill crate against its built module.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::baseline::{self, Baseline, Comparison, Status};
use cargo_palyra_skill::cargo::Abi;
use cargo_palyra_skill::cases::{self, Case, CaseResult};
use cargo_palyra_skill::host::{self, HostCall, HostOutcome, OperatorConfig, Overrides, Requested};
use cargo_palyra_skill::manifest::Tool;
use cargo_palyra_skill::runtime::{Allow, Grants, Limits, LoadedModule, RawProfile, Runtime, ToolCall};
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
///
/// Fuel is deterministic, so it can be held to a baseline:
/// `--save-baseline` writes each case's fuel to `fuel-baseline.json` (commit
/// it), and `--baseline` fails a case whose fuel grew more than
/// `--baseline-tolerance` percent or reached the `headroom-warn` share of
/// its budget, with a table of base, head, delta and headroom.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill test\n",
    "  cargo palyra-skill test --operator-config palyrad.toml\n",
    "  cargo palyra-skill test skills/guard --message-format json\n",
    "  cargo palyra-skill test --save-baseline\n",
    "  cargo palyra-skill test --baseline\n",
    "  cargo palyra-skill test --fuel-profile target/fuel-profiles\n\n",
    "Exit status:\n  0  every case passed\n  1  a case failed, no case ran, or a case regressed against the baseline\n  2  could not run (build failed, bad fixture)",
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
    /// Write each case's fuel to FILE, to commit [default FILE: `fuel-baseline.json` in the crate]
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "baseline")]
    save_baseline: Option<Option<PathBuf>>,
    /// Compare each case's fuel with FILE; a case that grew fails [default FILE: `fuel-baseline.json` in the crate]
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    baseline: Option<Option<PathBuf>>,
    /// How much a case's fuel may grow over the baseline, in percent
    #[arg(long, value_name = "PERCENT", default_value_t = baseline::DEFAULT_TOLERANCE_PERCENT, requires = "baseline")]
    baseline_tolerance: f64,
    /// Let a case of the baseline that no longer runs (deleted or renamed)
    /// pass; without it, such a case fails the comparison
    #[arg(long, requires = "baseline")]
    allow_removed_cases: bool,
    /// Profile each case's fuel: a flame graph `DIR/<tool name>/<case>.svg`
    /// and its speedscope profile beside it (the crate is built with its
    /// function names kept, the same code)
    #[arg(long, value_name = "DIR")]
    fuel_profile: Option<PathBuf>,
    /// Fuel between two samples of `--fuel-profile` [default: about 5,000 samples a case]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), requires = "fuel_profile")]
    fuel_profile_interval: Option<u64>,
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
    /// Each case against `--baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<Comparison>,
    /// Where `--save-baseline` wrote the fuel.
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_baseline: Option<String>,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        if !(self.baseline_tolerance.is_finite() && self.baseline_tolerance >= 0.0) {
            bail!("`--baseline-tolerance` is a percentage of 0 or more, such as 5");
        }
        let skill = skill::load(&self.location.locate()?, &self.build, self.fuel_profile.is_some(), shell)?;
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
        // A profile goes to `DIR/<tool name>/`: every tool's name must be one
        // safe folder name before any case runs, or nothing is written.
        if self.fuel_profile.is_some() {
            for tool in &skill.manifest.entrypoints.tools {
                cargo_palyra_skill::profile::tool_dir(&tool.id, &tool.name)?;
            }
        }
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
                let (mut result, outcome, raw) = match &module {
                    Some(module) => {
                        let (result, raw) = self.preview_case(&runtime, &skill, tool, module, &case);
                        (result, None, raw)
                    }
                    None => {
                        let (result, outcome) =
                            self.host_case(&runtime, &skill, tool, &case, base.as_ref(), &path)?;
                        let raw = outcome.as_ref().and_then(|(outcome, _)| outcome.profile.clone());
                        (result, outcome, raw)
                    }
                };
                if let (Some(dir), Some(raw)) = (&self.fuel_profile, &raw) {
                    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                    let tool_dir = cargo_palyra_skill::profile::tool_dir(&tool.id, &tool.name)?;
                    let svg = dir.join(tool_dir).join(format!("{stem}.svg"));
                    result.fuel_profile = Some(cargo_palyra_skill::profile::write(raw, &svg, &name)?);
                } else if self.fuel_profile.is_some() {
                    shell.warn(format_args!(
                        "`{name}`: no fuel profile, the call was refused before the module ran"
                    ));
                }
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
                    if let Some(summary) = &result.fuel_profile {
                        crate::profile_out::show(shell, summary, "    ");
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
        let crate_dir = skill.crate_dir.clone().unwrap_or_default();
        let default_file = || crate_dir.join(baseline::DEFAULT_FILE);
        let comparison = match &self.baseline {
            Some(file) => {
                let path = file.clone().unwrap_or_else(default_file);
                let base = Baseline::read(&path)?;
                Some(baseline::compare(
                    &base,
                    &path,
                    &results,
                    self.baseline_tolerance,
                    skill.warn_at,
                    self.allow_removed_cases,
                ))
            }
            None => None,
        };
        let saved = match &self.save_baseline {
            Some(_) if failed > 0 || ran == 0 => {
                shell.warn("the fuel baseline was not saved: save it once every case passes");
                None
            }
            Some(file) => {
                let path = file.clone().unwrap_or_else(default_file);
                Baseline::of(&skill.manifest.skill_id, &results).write(&path)?;
                shell.status("Saved", format_args!("the fuel of {ran} case(s) to `{}`", path.display()));
                Some(path.display().to_string())
            }
            None => None,
        };
        let regressions = comparison.as_ref().map_or(0, |c| c.regressions);
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&Report {
                abi: abi.as_str(),
                passed,
                failed,
                cases: results,
                stray_fixture_dirs: stray,
                baseline: comparison,
                saved_baseline: saved,
            })?,
            MessageFormat::Human => {
                shell.print(format_args!("\n{passed} passed, {failed} failed"))?;
                if let Some(comparison) = &comparison {
                    show_comparison(shell, comparison)?;
                }
            }
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
        Ok(if failed == 0 && regressions == 0 { Outcome::Success } else { Outcome::CheckFailed })
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
                profile: self.profile(),
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
    ) -> (CaseResult, Option<RawProfile>) {
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
            profile: self.profile(),
        });
        (cases::judge_preview(case, &tool.id, &outcome), outcome.report.profile.clone())
    }

    /// The sample interval of a profiled case (0: chosen from its fuel).
    fn profile(&self) -> Option<u64> {
        self.fuel_profile.as_ref().map(|_| self.fuel_profile_interval.unwrap_or(0))
    }
}

/// Base, head, delta and headroom of every case, and what failed.
fn show_comparison(shell: &mut Shell, c: &Comparison) -> Result<()> {
    use cargo_palyra_skill::text::thousands;
    shell.print(format_args!(
        "\nfuel against `{}` (a case fails over +{:.1}%, or at {:.0}% of its fuel budget)",
        c.baseline, c.tolerance_percent, c.warn_percent
    ))?;
    shell.print(format_args!(
        "  {:<40} {:>12} {:>12} {:>10} {:>9}  status",
        "case", "base", "head", "delta", "headroom"
    ))?;
    let fuel = |v: Option<u64>| v.map_or("-".to_owned(), thousands);
    for row in &c.rows {
        let delta = row.delta_percent.map_or("-".to_owned(), |p| format!("{p:+.1}%"));
        let headroom = row.headroom_percent.map_or("-".to_owned(), |p| format!("{p:.1}%"));
        let status = match row.status {
            Status::Ok => Shell::good("ok"),
            Status::Regressed => Shell::bad("REGRESSED"),
            Status::LowHeadroom => Shell::bad("LOW HEADROOM"),
            Status::New => "new".to_owned(),
            Status::Removed => Shell::bad("REMOVED"),
            Status::RemovedAllowed => "removed (allowed)".to_owned(),
        };
        shell.print(format_args!(
            "  {:<40} {:>12} {:>12} {delta:>10} {headroom:>9}  {status}",
            row.case,
            fuel(row.base),
            fuel(row.head)
        ))?;
    }
    let grown = c.regressions.saturating_sub(c.removed);
    if grown > 0 {
        shell.status_failed(
            "Regressed",
            format_args!(
                "{grown} case(s) against the baseline: make them cheaper, or accept the new figures with `--save-baseline`"
            ),
        );
    }
    if c.removed > 0 {
        shell.status_failed(
            "Removed",
            format_args!(
                "{} case(s) of the baseline did not run (deleted or renamed): restore them, or pass `--allow-removed-cases` and then save the new baseline with `--save-baseline`",
                c.removed
            ),
        );
    }
    Ok(())
}
