//! `run`: call a skill as the Palyra daemon does, or (`--abi wasi-json`)
//! call a tool of the WASI preview with JSON.

use std::cell::RefCell;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::cargo::Abi;
use cargo_palyra_skill::headroom::Level;
use cargo_palyra_skill::host::{
    self, Budget, Budgeted, HostCall, HostOutcome, Overrides, PalyraErrorKind, Requested,
};
use cargo_palyra_skill::runtime::{Allow, CacheOutcome, FailureClass, Grants, Limits, ToolCall, ToolOutcome};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::Outcome;
use crate::operator::OperatorArgs;
use crate::profile_out;
use crate::select::PackageArgs;
use crate::shell::{MessageFormat, OutputArgs, Shell, human_size};
use crate::skill::{self, AbiArg, BuildArgs, CodeArgs, Skill, TargetPath};
use cargo_palyra_skill::profile::ProfileSummary;

mod preview;

/// Run a skill as the Palyra daemon runs it, and show what it would answer.
///
/// PATH is a `.palyra-skill` artifact, or a crate (built first).
/// By default the module is called as Palyra 0.1.0's daemon calls it (host
/// ABI v1): linked against the eight host functions only, no input, the
/// exit code as the result; capabilities are granted only when requested
/// (`--allow-*`), allowed by the operator (`--operator-config`, else the
/// requests themselves) and declared by the skill; limits are the lesser of
/// the manifest's and the operator's. The daemon's output JSON goes to
/// stdout, the report to stderr. A non-zero exit code is a result, not a
/// failure.
///
/// `--abi wasi-json` (or a crate that opts in) runs the WASI preview: a
/// tool called with JSON on stdin that answers JSON on stdout. Palyra 0.1.0
/// cannot run such a module; the report says so.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill run\n",
    "  cargo palyra-skill run acme.guard-0.1.0.palyra-skill --allow-http api.example.com\n",
    "  cargo palyra-skill run . --operator-config /etc/palyra/palyrad.toml --allow-http api.example.com\n",
    "  cargo palyra-skill run . --message-format json --optimized\n",
    "  cargo palyra-skill run --fuel-profile guard.svg\n",
    "  cargo palyra-skill run echo.palyra-skill --abi wasi-json --input '{\"text\":\"hi\"}'\n\n",
    "Exit status:\n  0  the call returned an exit code (whatever it is)\n  1  the call failed (the daemon's error kind is reported)\n  2  could not run (bad arguments, unreadable artifact, I/O error)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    #[command(flatten)]
    target: TargetPath,
    /// The module ABI [default: the crate's `abi` setting, else palyra-host-v1]
    #[arg(long, value_enum)]
    abi: Option<AbiArg>,
    /// The tool (its `id` in `skill.toml`) [default: `operator.plugin.default_tool_id`, else the only tool]
    #[arg(long, value_name = "ID")]
    tool: Option<String>,
    /// The input JSON (WASI preview only) [default: read from stdin]
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input JSON from FILE (WASI preview only)
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
    /// Request an HTTP host handle; repeatable
    #[arg(long = "allow-http", value_name = "HOST")]
    allow_http: Vec<String>,
    /// Request a secret handle (`SCOPE/KEY`); repeatable
    #[arg(long = "allow-secret", value_name = "SCOPE/KEY")]
    allow_secret: Vec<String>,
    /// Request a storage handle (a write root); repeatable
    #[arg(long = "allow-storage", value_name = "PREFIX")]
    allow_storage: Vec<String>,
    /// Request a channel handle; repeatable
    #[arg(long = "allow-channel", value_name = "CHANNEL")]
    allow_channel: Vec<String>,
    #[command(flatten)]
    operator: OperatorArgs,
    /// Preopen the declared filesystem roots (WASI preview only)
    #[arg(long)]
    grant_fs: bool,
    /// Fuel budget [default: the lesser of `quotas.fuel_budget` and the operator's]
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Linear memory limit in bytes [default: the lesser of `quotas.max_memory_bytes` and the operator's]
    #[arg(long, value_name = "BYTES")]
    max_memory: Option<u64>,
    /// Wall-clock limit in ms [default: the lesser of `quotas.wall_clock_timeout_ms` and `execution_timeout_ms`]
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// The module entry to run, such as `modules/guard.wasm` [default: `operator.plugin.default_module_path`, else the only one]
    #[arg(long, value_name = "ENTRY")]
    module: Option<String>,
    /// The export to call [default: `operator.plugin.default_entrypoint`, else `run`]
    #[arg(long, value_name = "NAME")]
    entrypoint: Option<String>,
    /// Profile where the fuel goes: a flame graph to FILE.svg, and the same
    /// profile for speedscope or the Firefox Profiler to
    /// FILE.speedscope.json. The artifact's own module runs, named from the
    /// named copy its build keeps (`<artifact stem>.named/` beside it); an
    /// artifact without one shows function numbers
    #[arg(long, value_name = "FILE.svg")]
    fuel_profile: Option<PathBuf>,
    /// Fuel between two samples of `--fuel-profile` [default: about 5,000
    /// samples in all, from an unprofiled call first]
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
    /// With several skills, where a run's JSON report goes instead of stdout.
    #[arg(skip)]
    collected: Option<RefCell<Option<serde_json::Value>>>,
}

/// The JSON report of a host-ABI run.
#[derive(Serialize)]
struct HostReport<'a> {
    skill_id: &'a str,
    version: &'a str,
    abi: &'static str,
    #[serde(flatten)]
    outcome: &'a HostOutcome,
    requested: &'a Requested,
    operator_config: Option<String>,
    notes: &'a [String],
    /// Fuel, wall time and peak memory against the limits of the call.
    budget: Budget,
    /// The files `--fuel-profile` wrote and what spends the fuel.
    #[serde(skip_serializing_if = "Option::is_none")]
    fuel_profile: Option<&'a ProfileSummary>,
    #[serde(flatten)]
    cache: Option<&'a CacheOutcome>,
}

impl Opts {
    fn requested(&self) -> Requested {
        Requested {
            http_hosts: self.allow_http.clone(),
            secrets: self.allow_secret.clone(),
            storage_prefixes: self.allow_storage.clone(),
            channels: self.allow_channel.clone(),
        }
    }

    pub fn run(mut self, shell: &mut Shell) -> Result<Outcome> {
        let target = self.target.path()?;
        let members = match skill::is_crate(&target) {
            true => crate::select::members_of(&self.packages, &target, &self.build, shell)?,
            false => {
                self.packages.refuse_for_file(&target)?;
                None
            }
        };
        match members {
            Some(members) if members.several => {
                self.collected = Some(RefCell::new(None));
                let format = self.output.message_format;
                crate::select::each_member(&members, format, "skills run", shell, |krate, shell| {
                    let one = (krate.package.manifest_path.as_std_path(), Some(krate.package.name.as_str()));
                    let outcome = self.run_one(one, shell);
                    let report = self.collected.as_ref().and_then(|c| c.take()).unwrap_or_default();
                    Ok((report, outcome))
                })
            }
            Some(members) => {
                let krate = &members.skills[0];
                self.run_one(
                    (krate.package.manifest_path.as_std_path(), Some(krate.package.name.as_str())),
                    shell,
                )
            }
            None => self.run_one((&target, None), shell),
        }
    }

    /// A JSON report: to stdout, or kept for the report of several skills.
    fn emit_json(&self, shell: &mut Shell, report: &impl Serialize) -> Result<()> {
        match &self.collected {
            Some(cell) => *cell.borrow_mut() = Some(serde_json::to_value(report)?),
            None => shell.print_json(report)?,
        }
        Ok(())
    }

    /// Runs one skill: an artifact, or a crate (its workspace's `package`), built first.
    fn run_one(&self, (target, package): (&Path, Option<&str>), shell: &mut Shell) -> Result<Outcome> {
        let skill = skill::load(target, &self.build, Some((&self.packages, package)), shell)?;
        if let Some(dir) = &skill.crate_dir {
            for warning in cargo_palyra_skill::suggest::metadata_table_warnings(dir) {
                shell.warn(warning);
            }
        }
        match skill.abi(AbiArg::abi(self.abi)) {
            Abi::PalyraHostV1 => self.run_host(&skill, shell),
            Abi::WasiJson => self.run_preview(&skill, shell),
        }
    }

    fn run_host(&self, skill: &Skill, shell: &mut Shell) -> Result<Outcome> {
        if self.input.is_some() || self.input_file.is_some() {
            bail!(
                "the Palyra host passes no input to a module (it calls `() -> i32`): drop `--input`/`--input-file`, or run the WASI preview with `--abi wasi-json`"
            );
        }
        if self.grant_fs {
            bail!(
                "`--grant-fs` is for the WASI preview: the Palyra host gives a module storage handles, never files (request one with `--allow-storage PREFIX`)"
            );
        }
        // A tool the skill does not have is a bad argument, not a failed call.
        if let Some(tool) = &self.tool
            && let Err(error) = host::select_tool(&skill.manifest, Some(tool))
        {
            bail!("`--tool {}`: {}", cargo_palyra_skill::text::escape(tool), error.fix);
        }
        let requested = self.requested();
        let (operator, mut notes) = self.operator.operator(&requested)?;
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        let manifest = &skill.manifest;
        let module = skill::module_arg(self.module.as_deref());
        shell.status(
            "Running",
            format_args!("{} {} as the Palyra host runs it", manifest.skill_id, manifest.version),
        );
        let mut outcome = host::execute(
            &runtime,
            &HostCall {
                operator: &operator,
                manifest,
                modules: skill.modules(),
                module_path: module.as_deref(),
                entrypoint: self.entrypoint.as_deref(),
                tool_id: self.tool.as_deref(),
                requested: &requested,
                overrides: Overrides {
                    fuel: self.fuel,
                    max_memory_bytes: self.max_memory,
                    timeout_ms: self.timeout_ms,
                },
                tier: self.code.tier(),
                profile: self.fuel_profile.as_ref().map(|_| self.fuel_profile_interval.unwrap_or(0)),
            },
        );
        // The artifact's module ran; its named copy names the frames.
        let symbols = outcome.module_path.as_deref().map(|path| skill.symbols(path)).unwrap_or_default();
        outcome.name_from(&symbols);
        let profile = match (&self.fuel_profile, &outcome.profile) {
            (Some(svg), Some(raw)) => {
                let title = format!("{} {}", manifest.skill_id, manifest.version);
                Some(cargo_palyra_skill::profile::write(raw, svg, &title)?)
            }
            (Some(svg), None) => {
                shell.warn(format_args!(
                    "no fuel profile was written to `{}`: the call was refused before the module ran",
                    svg.display()
                ));
                None
            }
            (None, _) => None,
        };
        if profile.is_some() && !symbols.names.is_empty() {
            notes.push("profiled the artifact's own module, named from its named copy (the same bytes with their `name` section)".to_owned());
        }
        if let (Some(cache), Some(tier), Some(path)) = (&outcome.cache, outcome.tier, &outcome.module_path) {
            // The load was not timed apart from the call.
            skill::log_cache(shell, path, cache, tier, None);
        }
        for name in &outcome.overridden {
            notes.push(format!("`{name}` set on the command line: the host would use the lesser of the manifest's and the operator's"));
        }
        match self.output.message_format {
            MessageFormat::Json => self.emit_json(
                shell,
                &HostReport {
                    skill_id: &manifest.skill_id,
                    version: &manifest.version,
                    abi: Abi::PalyraHostV1.as_str(),
                    outcome: &outcome,
                    requested: &requested,
                    operator_config: self.operator.operator_config.as_ref().map(|p| p.display().to_string()),
                    notes: &notes,
                    budget: outcome.budget(skill.warn_at),
                    fuel_profile: profile.as_ref(),
                    cache: outcome.cache.as_ref(),
                },
            )?,
            MessageFormat::Human => {
                self.show_host(&outcome, &notes, shell)?;
                if let Some(summary) = &profile {
                    profile_out::show(shell, summary, "  ");
                }
            }
        }
        if self.output.message_format == MessageFormat::Human {
            warn_headroom(shell, &outcome, skill.warn_at, manifest, &operator);
        }
        Ok(if outcome.palyra_error_kind.is_some() { Outcome::CheckFailed } else { Outcome::Success })
    }

    fn show_host(&self, outcome: &HostOutcome, notes: &[String], shell: &mut Shell) -> Result<()> {
        if let Some(output) = &outcome.output {
            shell.print(serde_json::to_string_pretty(output)?)?;
        }
        for note in notes {
            shell.note(note);
        }
        if let Some(first) = &outcome.quick_failure {
            shell.note(format_args!(
                "quick code {}; this is the result of running again on optimized code, as the host compiles it",
                first.class.as_str()
            ));
        }
        let summary = budget_line(&outcome.budget(cargo_palyra_skill::headroom::DEFAULT_WARN_AT));
        match (&outcome.failure, outcome.exit_code) {
            (Some(failure), _) => {
                let kind = outcome.palyra_error_kind.map_or("", PalyraErrorKind::as_str);
                let said =
                    crate::failure_out::without_backtrace(outcome.palyra_error.as_deref().unwrap_or(""));
                shell.status_failed("Failed", format_args!("{kind}: {said}"));
                shell.status_failed("Why", format_args!("{}: {}", failure.class.as_str(), failure.message));
                let stack = crate::failure_out::stack_lines(failure, "             ");
                if !stack.is_empty() {
                    shell.block(&(stack.join("\n") + "\n"));
                }
                shell.status_failed("Finished", summary);
            }
            (None, Some(code)) => {
                let decision = outcome.hook_decision.map_or("", |d| d.as_str());
                let granted = outcome.authorized.as_ref().map(|a| &a.granted);
                let handles: Vec<String> = granted
                    .map(|g| {
                        [
                            ("http", &g.http_hosts),
                            ("secret", &g.secrets),
                            ("storage", &g.storage_prefixes),
                            ("channel", &g.channels),
                        ]
                        .iter()
                        .filter(|(_, items)| !items.is_empty())
                        .map(|(class, items)| format!("{class}: {}", items.join(", ")))
                        .collect()
                    })
                    .unwrap_or_default();
                let granted = if handles.is_empty() { "nothing".to_owned() } else { handles.join("; ") };
                shell.status(
                    "Finished",
                    format_args!(
                        "exit {code} (as a lifecycle hook: {decision}), {summary}; granted {granted}"
                    ),
                );
            }
            (None, None) => {}
        }
        Ok(())
    }
}

/// `fuel 1,234 of 5,000,000 (0.0%), time 3 ms of 500 ms (0.6%), peak memory 64.0 KiB of 16.0 MiB (0.4%)`.
pub fn budget_line(budget: &Budget) -> String {
    format!(
        "fuel {}, time {}, peak memory {} of {} ({:.1}%)",
        budget.fuel.describe(""),
        budget.time_ms.describe(" ms"),
        human_size(budget.memory_bytes.used),
        human_size(budget.memory_bytes.cap),
        budget.memory_bytes.percent
    )
}

/// A warning for each figure at or over the crate's `headroom-warn` share
/// of its limit, naming the setting that binds.
pub fn warn_headroom(
    shell: &mut Shell,
    outcome: &HostOutcome,
    warn_at: f64,
    manifest: &cargo_palyra_skill::manifest::Manifest,
    operator: &cargo_palyra_skill::host::OperatorConfig,
) {
    let budget = outcome.budget(warn_at);
    let q = &manifest.capabilities.quotas;
    for (what, headroom, which, quota, cap) in [
        ("fuel", budget.fuel, Budgeted::Fuel, q.fuel_budget, operator.fuel_budget),
        (
            "wall time",
            budget.time_ms,
            Budgeted::Timeout,
            q.wall_clock_timeout_ms,
            operator.execution_timeout_ms,
        ),
        ("peak memory", budget.memory_bytes, Budgeted::Memory, q.max_memory_bytes, operator.max_memory_bytes),
    ] {
        if headroom.level == Level::Warn {
            shell.warn(format_args!(
                "{what} used {:.1}% of its limit ({} of {}), at or over the {:.0}% warning share: {}",
                headroom.percent,
                cargo_palyra_skill::runtime::thousands(headroom.used),
                cargo_palyra_skill::runtime::thousands(headroom.cap),
                warn_at * 100.0,
                outcome.limit_sources.fix(which, quota, cap)
            ));
        }
    }
}
