//! `test`: run every fixture case of a skill crate against its built module.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::runtime::{Allow, Grants, Limits, Tier, ToolCall};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Outcome;
use crate::shell::{MessageFormat, Shell};
use crate::skill::{self, BuildArgs, CodeArgs};

/// Build the skill crate and run its fixture cases.
///
/// Every `fixtures/<tool name>/*.json` of the crate is one case:
/// `{ "input": ..., "expect": { "output": ... } }` expects that exact output;
/// `{ "input": ..., "expect": { "error": "<class>" } }` expects that failure
/// class (`out_of_fuel`, `timed_out`, `memory_limit`, `trap`, `output_schema`,
/// `invalid_input`, `nonzero_exit`, ...). Optional: `"max_fuel"` (the case
/// fails if the call uses more), `"allow_http"`, `"allow_secrets"`,
/// `"allow_storage"` (grants for the case).
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill test\n",
    "  cargo palyra-skill test --manifest-path skills/echo/Cargo.toml --message-format json\n\n",
    "Exit status:\n  0  every case passed\n  1  a case failed\n  2  could not run (build failed, bad fixture)"
))]
pub struct Opts {
    /// Path to the crate's `Cargo.toml`
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    #[command(flatten)]
    code: CodeArgs,
    #[command(flatten)]
    build: BuildArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    input: Value,
    expect: Expect,
    max_fuel: Option<u64>,
    #[serde(default)]
    allow_http: Vec<String>,
    #[serde(default)]
    allow_secrets: Vec<String>,
    #[serde(default)]
    allow_storage: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    output: Option<Value>,
    error: Option<String>,
}

#[derive(Serialize)]
struct CaseResult {
    case: String,
    tool: String,
    passed: bool,
    problem: Option<String>,
    fuel_consumed: u64,
    wall_ms: u64,
    /// The code the verdict comes from (`optimized` after a confirmation).
    tier: Tier,
}

#[derive(Serialize)]
struct Report {
    passed: usize,
    failed: usize,
    cases: Vec<CaseResult>,
}

fn read_case(path: &Path) -> Result<Case> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("could not read `{}`", path.display()))?;
    let case: Case = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not a valid test case", path.display()))?;
    if case.expect.output.is_some() == case.expect.error.is_some() {
        bail!("`{}`: `expect` needs exactly one of `output` or `error`", path.display());
    }
    Ok(case)
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        let skill = skill::load(&self.manifest_path, None, &self.build, &runtime, self.code.tier(), shell)?;
        let manifest = &skill.manifest;
        let fixtures = skill.crate_dir.clone().unwrap_or_default().join("fixtures");
        let mut results = Vec::new();
        for tool in &manifest.entrypoints.tools {
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
                let case = read_case(&path)?;
                let allow = Allow {
                    http: case.allow_http.clone(),
                    secrets: case.allow_secrets.clone(),
                    storage: case.allow_storage.clone(),
                };
                let (grants, _) = Grants::from_manifest(manifest).narrowed(&allow);
                let outcome = runtime.call_tool(ToolCall {
                    manifest,
                    tool,
                    module: &skill.module,
                    input: &case.input,
                    grants,
                    limits: Limits::from_manifest(manifest),
                    preopens: Vec::new(),
                });
                let report = &outcome.report;
                let failure = report.failure.as_ref();
                let problem = match (&case.expect.output, &case.expect.error) {
                    (Some(expected), _) => match (failure, &outcome.output) {
                        (Some(f), _) => {
                            Some(format!("expected output, got {}: {}", f.class.as_str(), f.message))
                        }
                        (None, Some(output)) if output != expected => {
                            Some(format!("expected output {expected}, got {output}"))
                        }
                        _ => None,
                    },
                    (None, Some(class)) => match failure {
                        Some(f) if f.class.as_str() == class => None,
                        Some(f) => Some(format!(
                            "expected error `{class}`, got `{}`: {}",
                            f.class.as_str(),
                            f.message
                        )),
                        None => Some(format!("expected error `{class}`, but the call succeeded")),
                    },
                    (None, None) => unreachable!("checked by read_case"),
                };
                let problem = problem.or_else(|| {
                    case.max_fuel.filter(|max| report.fuel_consumed > *max).map(|max| {
                        format!("used {} fuel, over the case's `max_fuel` of {max}", report.fuel_consumed)
                    })
                });
                let passed = problem.is_none();
                if self.message_format == MessageFormat::Human {
                    let verdict = if passed { Shell::good("ok") } else { Shell::bad("FAILED") };
                    shell.print(format_args!("test {name} ... {verdict}"))?;
                    if let Some(problem) = &problem {
                        shell.print(format_args!("    {problem}"))?;
                    }
                    if let Some(first) = &report.quick_failure {
                        shell.print(format_args!(
                            "    quick code {}: the verdict is from optimized code, as the host compiles it",
                            first.class.as_str()
                        ))?;
                    }
                }
                results.push(CaseResult {
                    case: name,
                    tool: tool.id.clone(),
                    passed,
                    problem,
                    fuel_consumed: report.fuel_consumed,
                    wall_ms: report.wall_ms,
                    tier: report.tier,
                });
            }
        }
        let passed = results.iter().filter(|r| r.passed).count();
        let failed = results.len() - passed;
        match self.message_format {
            MessageFormat::Json => shell.print_json(&Report { passed, failed, cases: results })?,
            MessageFormat::Human => shell.print(format_args!("\n{passed} passed, {failed} failed"))?,
        }
        Ok(if failed == 0 { Outcome::Success } else { Outcome::CheckFailed })
    }
}
