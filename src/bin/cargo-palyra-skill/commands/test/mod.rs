//! `test`: run every fixture case of a skill crate against its built module.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use cargo_palyra_skill::baseline::{self, Baseline, Comparison};
use cargo_palyra_skill::cargo::Abi;
use cargo_palyra_skill::case_run::{self, CallSettings, Fixture};
use cargo_palyra_skill::cases::{self, Case, CaseFilter, CaseResult};
use cargo_palyra_skill::host::{HostOutcome, OperatorConfig};
use cargo_palyra_skill::manifest::Tool;
use cargo_palyra_skill::runtime::{Allow, Grants, Limits, LoadedModule, RawProfile, Runtime, ToolCall};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::Outcome;
use crate::operator::OperatorArgs;
use crate::select::PackageArgs;
use crate::shell::{MessageFormat, OutputArgs, Shell};
use crate::skill::{self, AbiArg, BuildArgs, CodeArgs, Skill};

mod summary;
use summary::{show_comparison, verdict};

/// Build the skill crate and run its fixture cases.
///
/// Every `fixtures/<tool name>/*.json` of the crate is one case, named
/// `<tool name>/<file>.json`; `test CASE...` runs the cases whose name is
/// or contains a CASE, as `cargo test` filters. With the
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
///
/// A fixture that is no case (bad JSON, an unknown key, a case for the
/// other ABI) fails as a case, named with its line and column, and the
/// other cases still run. `-q` prints only the failed cases and the
/// summary.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill test\n",
    "  cargo palyra-skill test check/granted.json\n",
    "  cargo palyra-skill test -q granted\n",
    "  cargo palyra-skill test --operator-config palyrad.toml\n",
    "  cargo palyra-skill test skills/guard --message-format json\n",
    "  cargo palyra-skill test --save-baseline\n",
    "  cargo palyra-skill test --baseline\n",
    "  cargo palyra-skill test --fuel-profile target/fuel-profiles\n\n",
    "Exit status:\n  0  every case passed\n  1  a case failed (a malformed fixture too), no case ran, or a case regressed against the baseline\n  2  could not run (build failed, or every fixture malformed)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    /// The skill crate (its directory or its `Cargo.toml`) when the first
    /// is one; then the cases to run: a case's name (`check/granted.json`)
    /// or a part of one [default: the crate here, every case]
    #[arg(value_name = "PATH|CASE")]
    args: Vec<PathBuf>,
    /// Path to the crate's `Cargo.toml` (as cargo takes it); every
    /// positional is then a case
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
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
    /// and its speedscope profile beside it (named from the build's named
    /// copy of the module: the same bytes, so the same fuel)
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
    packages: PackageArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// A fixture as a case, or why it is none (`file` as it is shown).
fn read_case(path: &Path, file: &str, abi: Abi) -> Result<(Case, String), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("could not read the fixture `{file}`: {e}"))?;
    match cases::parse_case(&text, abi) {
        Ok(case) => Ok((case, text)),
        Err(e) => Err(cases::malformed(file, e.position(&text), &e.detail())),
    }
}

/// The verdict on a fixture that is no case.
fn malformed_result(tool: &Tool, problem: String) -> CaseResult {
    CaseResult { tool: tool.id.clone(), problem: Some(problem), malformed: true, ..CaseResult::default() }
}

#[derive(Serialize)]
struct Report {
    abi: &'static str,
    passed: usize,
    failed: usize,
    /// Of the failed, the fixtures that are no case (they did not run).
    malformed: usize,
    /// Cases that `test CASE...` left out.
    filtered_out: usize,
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
        let (manifest_path, filter) = self.crate_and_filter()?;
        if !filter.is_empty() && self.save_baseline.is_some() {
            bail!(
                "`--save-baseline` records every case's fuel, and `{}` runs only some: run it without case names",
                filter.filters().join(" ")
            );
        }
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        if !(self.baseline_tolerance.is_finite() && self.baseline_tolerance >= 0.0) {
            bail!("`--baseline-tolerance` is a percentage of 0 or more, such as 5");
        }
        let members = match crate::select::members_of(&self.packages, &manifest_path, &self.build, shell)? {
            Some(members) if members.several => members,
            Some(members) => {
                let krate = &members.skills[0];
                let one = (krate.package.manifest_path.as_std_path(), Some(krate.package.name.as_str()));
                return self.finish_one(self.test_one(one, &filter, &runtime, shell)?, shell);
            }
            None => {
                return self
                    .finish_one(self.test_one((&manifest_path, None), &filter, &runtime, shell)?, shell);
            }
        };
        for (flag, given) in [("--save-baseline", &self.save_baseline), ("--baseline", &self.baseline)] {
            if let Some(Some(file)) = given {
                bail!(
                    "`{flag} {}` names one file, and {} skills are selected: leave out the file, so each skill's fuel goes to the `fuel-baseline.json` in its own crate",
                    file.display(),
                    members.skills.len()
                );
            }
        }
        crate::select::each_member(
            &members,
            self.output.message_format,
            "skills tested",
            shell,
            |krate, shell| {
                let one = (krate.package.manifest_path.as_std_path(), Some(krate.package.name.as_str()));
                self.test_one(one, &filter, &runtime, shell)
            },
        )
    }

    /// The JSON report of one skill's cases, and the outcome.
    fn finish_one(&self, (report, verdict): (Report, Result<Outcome>), shell: &mut Shell) -> Result<Outcome> {
        if self.output.message_format == MessageFormat::Json {
            shell.print_json(&report)?;
        }
        verdict
    }

    /// Builds one skill (the crate at `manifest_path`, or its workspace's
    /// `package`) and runs its cases: the report, and the verdict.
    fn test_one(
        &self,
        (manifest_path, package): (&Path, Option<&str>),
        filter: &CaseFilter,
        runtime: &Runtime,
        shell: &mut Shell,
    ) -> Result<(Report, Result<Outcome>)> {
        let skill = skill::load(manifest_path, &self.build, Some((&self.packages, package)), shell)?;
        if let Some(dir) = &skill.crate_dir {
            for warning in cargo_palyra_skill::suggest::metadata_table_warnings(dir) {
                shell.warn(warning);
            }
        }
        let abi = skill.abi(AbiArg::abi(self.abi));
        let base = self.operator.read()?;
        let module = match abi {
            Abi::WasiJson => {
                let path = skill::pick_module(&skill.manifest, &skill.entries, None)?;
                let module = skill::compile(&skill, &path, runtime, self.code.tier(), shell)?;
                Some((path, module))
            }
            Abi::PalyraHostV1 => None,
        };
        let crate_dir = skill.crate_dir.clone().unwrap_or_default();
        let fixtures = crate_dir.join("fixtures");
        // A profile goes to `DIR/<tool name>/`: every tool's name must be one
        // safe folder name before any case runs, or nothing is written.
        if self.fuel_profile.is_some() {
            for tool in &skill.manifest.entrypoints.tools {
                cargo_palyra_skill::profile::tool_dir(&tool.id, &tool.name)?;
            }
        }
        let quiet = shell.is_quiet();
        let mut results = Vec::new();
        let mut filtered_out = Vec::new();
        let (found, missing) = case_run::fixtures(&fixtures, &skill.manifest.entrypoints.tools);
        for (tool, dir) in &missing {
            shell.warn(format_args!(
                "tool `{}` has no cases: add JSON files to `{}`",
                tool.id,
                dir.display()
            ));
        }
        for Fixture { tool, name, path } in &found {
            if !filter.matches(name) {
                filtered_out.push(name.clone());
                continue;
            }
            let shown = format!("fixtures/{name}");
            let (mut result, outcome, raw) = match read_case(path, &shown, abi) {
                Err(problem) => (malformed_result(tool, problem), None, None),
                Ok((case, text)) => match &module {
                    Some((module_path, module)) => {
                        let (result, raw) =
                            self.preview_case(runtime, &skill, tool, (module_path, module), &case);
                        (result, None, raw)
                    }
                    None => match self.host_case(runtime, &skill, tool, &case, base.as_ref()) {
                        Ok((result, outcome)) => {
                            let raw = outcome.0.profile.clone();
                            (result, Some(outcome), raw)
                        }
                        Err(detail) => {
                            let at = text.find("\"operator\"").map(|at| cases::line_and_column(&text, at));
                            (malformed_result(tool, cases::malformed(&shown, at, &detail)), None, None)
                        }
                    },
                },
            };
            if let (Some(dir), Some(raw)) = (&self.fuel_profile, &raw) {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                let tool_dir = cargo_palyra_skill::profile::tool_dir(&tool.id, &tool.name)?;
                let svg = dir.join(tool_dir).join(format!("{stem}.svg"));
                result.fuel_profile = Some(cargo_palyra_skill::profile::write(raw, &svg, name)?);
            } else if self.fuel_profile.is_some() && !result.malformed {
                shell.warn(format_args!(
                    "`{name}`: no fuel profile, the call was refused before the module ran"
                ));
            }
            result.case = name.clone();
            let passed = result.problem.is_none();
            result.passed = passed;
            // `-q`: the failures only.
            if self.output.message_format == MessageFormat::Human && !(quiet && passed) {
                let verdict = if passed { Shell::good("ok") } else { Shell::bad("FAILED") };
                shell.print(format_args!("test {} ... {verdict}", result.case))?;
                if let Some(problem) = &result.problem {
                    shell.print(format_args!("    {problem}"))?;
                    let failure = outcome.as_ref().and_then(|(o, _)| o.failure.as_ref());
                    for line in
                        failure.map(|f| crate::failure_out::stack_lines(f, "    ")).unwrap_or_default()
                    {
                        shell.print(line)?;
                    }
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
        let malformed = results.iter().filter(|r| r.malformed).count();
        let ran = results.len() - malformed;
        let default_file = || crate_dir.join(baseline::DEFAULT_FILE);
        let comparison = match &self.baseline {
            Some(file) => {
                let path = file.clone().unwrap_or_else(default_file);
                let base = Baseline::read(&path)?;
                let ran_cases: Vec<CaseResult> = results.iter().filter(|r| !r.malformed).cloned().collect();
                // A case left out by name, or whose fixture is malformed, did
                // not run for a reason already reported: it is not "removed".
                let not_run = |case: &str| {
                    filtered_out.iter().any(|c| c == case)
                        || results.iter().any(|r| r.malformed && r.case == case)
                };
                Some(
                    baseline::compare(
                        &base,
                        &path,
                        &ran_cases,
                        self.baseline_tolerance,
                        skill.warn_at,
                        self.allow_removed_cases,
                    )
                    .without_rows(not_run),
                )
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
            MessageFormat::Json => {}
            MessageFormat::Human => {
                let mut summary = format!("\n{passed} passed, {failed} failed");
                if malformed > 0 {
                    summary.push_str(&format!(" ({malformed} malformed, did not run)"));
                }
                if !filtered_out.is_empty() {
                    summary.push_str(&format!(", {} filtered out", filtered_out.len()));
                }
                shell.print(summary)?;
                if let Some(comparison) = &comparison {
                    show_comparison(shell, comparison, quiet)?;
                }
            }
        }
        let report = Report {
            abi: abi.as_str(),
            passed,
            failed,
            malformed,
            filtered_out: filtered_out.len(),
            cases: results,
            stray_fixture_dirs: stray,
            baseline: comparison,
            saved_baseline: saved,
        };
        Ok((report, verdict(ran, malformed, failed + regressions, filter, &filtered_out, &fixtures, shell)))
    }

    /// The crate's `Cargo.toml` and the case filters: the first positional
    /// is the crate when it is a directory or a `.toml` file (and there is
    /// no `--manifest-path`); every other positional is a case filter.
    fn crate_and_filter(&self) -> Result<(PathBuf, CaseFilter)> {
        let mut args = self.args.iter().peekable();
        let is_crate =
            |p: &PathBuf| p.is_dir() || (p.is_file() && p.extension().is_some_and(|e| e == "toml"));
        let given = match &self.manifest_path {
            Some(path) => Some(path.as_path()),
            None => args.next_if(|p| is_crate(p)).map(PathBuf::as_path),
        };
        let manifest = cargo_palyra_skill::cargo::locate_crate(given)?;
        let filter = CaseFilter::new(args.map(|a| a.to_string_lossy().into_owned()));
        Ok((manifest, filter))
    }
    fn host_case(
        &self,
        runtime: &Runtime,
        skill: &Skill,
        tool: &Tool,
        case: &Case,
        base: Option<&OperatorConfig>,
    ) -> Result<(CaseResult, (HostOutcome, OperatorConfig)), String> {
        let settings =
            CallSettings { tier: self.code.tier(), profile: self.profile(), lift_module_cap: false };
        let (result, outcome, operator) =
            case_run::host_case(runtime, skill, tool, case, base, settings).map_err(|e| e.to_string())?;
        Ok((result, (outcome, operator)))
    }

    fn preview_case(
        &self,
        runtime: &Runtime,
        skill: &Skill,
        tool: &Tool,
        (module_path, module): (&str, &LoadedModule),
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
        let mut outcome = runtime.call_tool(ToolCall {
            manifest,
            tool,
            module,
            input: &input,
            grants,
            limits: Limits::from_manifest(manifest),
            preopens: Vec::new(),
            profile: self.profile(),
        });
        outcome.report.name_from(&skill.symbols(module_path));
        (cases::judge_preview(case, &tool.id, &outcome), outcome.report.profile.clone())
    }

    /// The sample interval of a profiled case (0: chosen from its fuel).
    fn profile(&self) -> Option<u64> {
        self.fuel_profile.as_ref().map(|_| self.fuel_profile_interval.unwrap_or(0))
    }
}
