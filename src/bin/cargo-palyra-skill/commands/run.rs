//! `run`: call one tool of a skill with JSON, as the Palyra host would.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::runtime::{Allow, CacheOutcome, FailureClass, Grants, Limits, ToolCall, ToolOutcome};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::Outcome;
use crate::shell::{MessageFormat, Shell, human_size};
use crate::skill::{self, BuildArgs, CodeArgs};

/// Call a tool of a skill with JSON input and show what the Palyra host would do.
///
/// TARGET is a `.palyra-skill` artifact, or a crate directory (built first).
/// The call gets the manifest's quotas (fuel, memory, wall clock) and only
/// the capabilities you allow that the manifest declares; WASI is deny by
/// default (stdin = input, captured stdout/stderr, three `PALYRA_*`
/// variables, no files unless `--grant-fs`). The output JSON goes to
/// stdout; the report (exit code, fuel, memory, time, handles) to stderr.
///
/// The module runs as quick code (compiled without optimizations: the same
/// fuel and results, slower code); a time-out or stack exhaustion there is
/// run again on the host's optimized code, and that result is reported.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill run . --tool acme.echo --input '{\"text\":\"hi\"}'\n",
    "  echo '{\"text\":\"hi\"}' | cargo palyra-skill run echo.palyra-skill --tool acme.echo\n",
    "  cargo palyra-skill run echo.palyra-skill --tool acme.fetch --input-file req.json --allow-http api.example.com\n",
    "  cargo palyra-skill run . --tool acme.echo --input '{\"text\":\"hi\"}' --optimized\n\n",
    "Exit status:\n  0  the tool succeeded\n  1  the tool failed (trap, limit, nonzero exit, bad output)\n  2  could not run (bad input, I/O error)"
))]
pub struct Opts {
    /// A `.palyra-skill` artifact or a skill crate directory
    #[arg(default_value = ".")]
    target: PathBuf,
    /// The tool to call (its `id` in `skill.toml`)
    #[arg(long, value_name = "ID")]
    tool: String,
    /// The input JSON [default: read from stdin]
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input JSON from FILE
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
    /// Grant a declared HTTP host; repeatable
    #[arg(long = "allow-http", value_name = "HOST")]
    allow_http: Vec<String>,
    /// Grant a declared secret `SCOPE/KEY`; repeatable
    #[arg(long = "allow-secret", value_name = "SCOPE/KEY")]
    allow_secret: Vec<String>,
    /// Grant a declared storage prefix (a write root); repeatable
    #[arg(long = "allow-storage", value_name = "PREFIX")]
    allow_storage: Vec<String>,
    /// Preopen the declared filesystem roots (under a per-skill state directory)
    #[arg(long)]
    grant_fs: bool,
    /// Fuel budget [default: `quotas.fuel_budget`]
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Linear memory limit in bytes [default: `quotas.max_memory_bytes`]
    #[arg(long, value_name = "BYTES")]
    max_memory: Option<u64>,
    /// Wall-clock limit in milliseconds [default: `quotas.wall_clock_timeout_ms`]
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// The module to run, when the skill has several
    #[arg(long, value_name = "PATH")]
    module: Option<String>,
    #[command(flatten)]
    code: CodeArgs,
    #[command(flatten)]
    build: BuildArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

#[derive(Serialize)]
struct Report<'a> {
    skill_id: &'a str,
    tool: &'a str,
    module: &'a str,
    #[serde(flatten)]
    outcome: &'a ToolOutcome,
    stderr: String,
    grants: &'a Grants,
    limits: &'a Limits,
    #[serde(flatten)]
    cache: &'a CacheOutcome,
}

impl Opts {
    fn read_input(&self) -> Result<Value> {
        let text = match (&self.input, &self.input_file) {
            (Some(text), _) => text.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("could not read `{}`", path.display()))?,
            (None, None) => {
                if std::io::stdin().is_terminal() {
                    bail!("no input: pass `--input JSON`, `--input-file FILE`, or pipe the JSON to stdin");
                }
                let mut text = String::new();
                std::io::stdin()
                    .take(64 * 1024 * 1024)
                    .read_to_string(&mut text)
                    .context("could not read stdin")?;
                text
            }
        };
        serde_json::from_str(&text).context("the input is not valid JSON")
    }

    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let input = self.read_input()?;
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        let skill = skill::load(
            &self.target,
            self.module.as_deref(),
            &self.build,
            &runtime,
            self.code.tier(),
            shell,
        )?;
        let manifest = &skill.manifest;
        let Some(tool) = manifest.tool(&self.tool) else {
            let ids: Vec<_> = manifest.entrypoints.tools.iter().map(|t| format!("`{}`", t.id)).collect();
            bail!("`{}` has no tool `{}` (tools: {})", manifest.skill_id, self.tool, ids.join(", "));
        };
        let allow = Allow {
            http: self.allow_http.clone(),
            secrets: self.allow_secret.clone(),
            storage: self.allow_storage.clone(),
        };
        let (grants, undeclared) = Grants::from_manifest(manifest).narrowed(&allow);
        for item in undeclared {
            shell.warn(format_args!(
                "{item} is not declared in `skill.toml`, so the Palyra host never grants it; not granted"
            ));
        }
        let fs = &manifest.capabilities.filesystem;
        let declares_fs = !fs.read_roots.is_empty() || !fs.write_roots.is_empty();
        let preopens = match (self.grant_fs, declares_fs) {
            (true, true) => skill::preopens(manifest)?,
            (true, false) => {
                shell.note("`--grant-fs` has no effect: the manifest declares no filesystem roots");
                Vec::new()
            }
            (false, true) => {
                shell.note("the declared filesystem roots are not granted for this run: pass `--grant-fs`");
                Vec::new()
            }
            (false, false) => Vec::new(),
        };
        for preopen in &preopens {
            shell.verbose(
                "Preopen",
                format_args!(
                    "`{}` at `{}`{}",
                    preopen.host.display(),
                    preopen.guest,
                    if preopen.writable { "" } else { " (read-only)" }
                ),
            );
        }
        let mut limits = Limits::from_manifest(manifest);
        limits.fuel = self.fuel.unwrap_or(limits.fuel);
        limits.max_memory_bytes = self.max_memory.unwrap_or(limits.max_memory_bytes);
        limits.timeout_ms = self.timeout_ms.unwrap_or(limits.timeout_ms);

        shell.status("Running", format_args!("{} ({} {})", tool.id, manifest.skill_id, manifest.version));
        let outcome = runtime.call_tool(ToolCall {
            manifest,
            tool,
            module: &skill.module,
            input: &input,
            grants: grants.clone(),
            limits,
            preopens,
        });
        let report = &outcome.report;
        let stderr = String::from_utf8_lossy(&report.stderr).into_owned();
        if report.failure.as_ref().is_some_and(|f| f.class == FailureClass::InvalidInput) {
            bail!("{}", report.failure.as_ref().map(|f| f.message.as_str()).unwrap_or_default());
        }
        match self.message_format {
            MessageFormat::Json => shell.print_json(&Report {
                skill_id: &manifest.skill_id,
                tool: &tool.id,
                module: &skill.module_path,
                outcome: &outcome,
                stderr,
                grants: &grants,
                limits: &limits,
                cache: &skill.module.cache,
            })?,
            MessageFormat::Human => {
                if let Some(output) = &outcome.output {
                    shell.print(serde_json::to_string_pretty(output)?)?;
                }
                if !stderr.is_empty() {
                    shell.status("Log", "the tool's stderr:");
                    shell.block(&stderr);
                }
                let handles: Vec<String> =
                    [("http", &grants.http), ("secret", &grants.secrets), ("storage", &grants.storage)]
                        .iter()
                        .filter(|(_, items)| !items.is_empty())
                        .map(|(class, items)| format!("{class}: {}", items.join(", ")))
                        .collect();
                let summary = format!(
                    "exit {}, fuel {} of {}, peak memory {}, {} ms; granted {}",
                    report.exit_code.map_or("none".to_owned(), |c| c.to_string()),
                    report.fuel_consumed,
                    report.fuel_budget,
                    human_size(report.peak_memory_bytes),
                    report.wall_ms,
                    if handles.is_empty() { "nothing".to_owned() } else { handles.join("; ") }
                );
                if let Some(first) = &report.quick_failure {
                    shell.note(format_args!(
                        "quick code {}; this is the result of running again on optimized code, as the host compiles it",
                        first.class.as_str()
                    ));
                }
                match &report.failure {
                    None => shell.status("Finished", summary),
                    Some(failure) => {
                        shell.status_failed(
                            "Failed",
                            format_args!("{}: {}", failure.class.as_str(), failure.message),
                        );
                        shell.status_failed("Finished", summary);
                    }
                }
            }
        }
        Ok(if report.failure.is_some() { Outcome::CheckFailed } else { Outcome::Success })
    }
}
