//! `test`'s fixture cases: one JSON file per case under `fixtures/<tool>/`,
//! checked for the crate's ABI when read, and the verdict on an outcome.
//!
//! A host-ABI case is `{ "grants": {...}, "operator": {...}, "expect":
//! { "exit_code": N } | { "error": "<kind or class>" }, "max_fuel": N }`; a
//! WASI-preview case is `{ "input": ..., "allow_http": [...], "expect":
//! { "output": ... } | { "error": "<class>" } }`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cargo::Abi;
use crate::host::{HostOutcome, PalyraErrorKind};
use crate::runtime::{Failure, FailureClass, Tier, ToolOutcome};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub input: Option<Value>,
    pub expect: Expect,
    pub max_fuel: Option<u64>,
    pub grants: Option<CaseGrants>,
    pub operator: Option<Value>,
    pub allow_http: Option<Vec<String>>,
    pub allow_secrets: Option<Vec<String>>,
    pub allow_storage: Option<Vec<String>>,
}

/// What a host-ABI case requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseGrants {
    #[serde(default)]
    pub http: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub storage: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub output: Option<Value>,
    pub error: Option<String>,
    pub exit_code: Option<i32>,
}

/// Why a case file is not a case for this crate.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("not a valid test case: {0}")]
    Json(#[from] serde_json::Error),
    #[error("`expect.error` `{0}` is neither a Palyra error kind nor a failure class (see `test --help`)")]
    UnknownError(String),
    #[error(
        "it has `input`/`expect.output`, a WASI preview case: the Palyra host passes no input and reads only the exit code. \
         Write `{{ \"grants\": {{...}}, \"expect\": {{ \"exit_code\": N }} }}`, or opt in to the preview with `abi = \"wasi-json\"` in `[package.metadata.palyra-skill]`"
    )]
    PreviewCaseForHost,
    #[error("host ABI cases request capabilities with `grants` (`http`, `secrets`, `storage`, `channels`)")]
    AllowForHost,
    #[error(
        "`grants`, `operator` and `expect.exit_code` are for host ABI cases; a WASI preview case has `input` and `expect.output` or `expect.error`"
    )]
    HostCaseForPreview,
    #[error("`expect` needs exactly one of `{0}` or `error`")]
    Expectation(&'static str),
}

/// One case's verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub tool: String,
    pub passed: bool,
    pub problem: Option<String>,
    pub exit_code: Option<i32>,
    pub palyra_error_kind: Option<PalyraErrorKind>,
    pub fuel_consumed: u64,
    pub wall_ms: u64,
    /// The code the verdict comes from (`optimized` after a confirmation).
    pub tier: Option<Tier>,
    /// Fuel, wall time and peak memory against the call's limits (host ABI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::host::Budget>,
    /// The files `test --fuel-profile` wrote for the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_profile: Option<crate::profile::ProfileSummary>,
}

/// Every name `expect.error` may use.
fn known_error(name: &str) -> bool {
    FailureClass::ALL.iter().any(|c| c.as_str() == name)
        || PalyraErrorKind::ALL.iter().any(|k| k.as_str() == name)
}

/// Parses a case and checks that it is one for `abi`.
pub fn parse_case(text: &str, abi: Abi) -> Result<Case, CaseError> {
    let case: Case = serde_json::from_str(text)?;
    let e = &case.expect;
    if let Some(error) = &e.error
        && !known_error(error)
    {
        return Err(CaseError::UnknownError(error.clone()));
    }
    match abi {
        Abi::PalyraHostV1 => {
            if case.input.is_some() || e.output.is_some() {
                return Err(CaseError::PreviewCaseForHost);
            }
            if case.allow_http.is_some() || case.allow_secrets.is_some() || case.allow_storage.is_some() {
                return Err(CaseError::AllowForHost);
            }
            if e.exit_code.is_some() == e.error.is_some() {
                return Err(CaseError::Expectation("exit_code"));
            }
        }
        Abi::WasiJson => {
            if case.grants.is_some() || case.operator.is_some() || e.exit_code.is_some() {
                return Err(CaseError::HostCaseForPreview);
            }
            if e.output.is_some() == e.error.is_some() {
                return Err(CaseError::Expectation("output"));
            }
        }
    }
    Ok(case)
}

/// Whether a failure is the `expected` one: its class or the daemon's kind.
fn matches(failure: &Failure, expected: &str) -> bool {
    failure.class.as_str() == expected || failure.palyra_error_kind.as_str() == expected
}

fn over_fuel(max_fuel: Option<u64>, consumed: u64) -> Option<String> {
    max_fuel
        .filter(|max| consumed > *max)
        .map(|max| format!("used {consumed} fuel, over the case's `max_fuel` of {max}"))
}

/// The verdict on a host-ABI call of `tool`.
pub fn judge_host(case: &Case, tool: &str, outcome: &HostOutcome, warn_at: f64) -> CaseResult {
    let got = || match (&outcome.failure, outcome.exit_code) {
        // A refusal before the module ran: the daemon's words name the
        // value, ours the fix.
        (Some(f), _) => match outcome.palyra_error.as_deref().filter(|_| outcome.tier.is_none()) {
            Some(said) => {
                format!("{} ({}): {said}: {}", f.palyra_error_kind.as_str(), f.class.as_str(), f.message)
            }
            None => format!("{} ({}): {}", f.palyra_error_kind.as_str(), f.class.as_str(), f.message),
        },
        (None, code) => format!("exit code {}", code.unwrap_or_default()),
    };
    let problem = match (&case.expect.exit_code, &case.expect.error, &outcome.failure) {
        (Some(expected), _, _) if outcome.exit_code == Some(*expected) => None,
        (Some(expected), ..) => Some(format!("expected exit code {expected}, got {}", got())),
        (None, Some(expected), Some(failure)) if matches(failure, expected) => None,
        (None, Some(expected), _) => Some(format!("expected error `{expected}`, got {}", got())),
        (None, None, _) => Some("the case expects nothing (`parse_case` refuses that)".to_owned()),
    };
    CaseResult {
        case: String::new(),
        tool: tool.to_owned(),
        passed: false,
        problem: problem.or_else(|| over_fuel(case.max_fuel, outcome.fuel_consumed)),
        exit_code: outcome.exit_code,
        palyra_error_kind: outcome.palyra_error_kind,
        fuel_consumed: outcome.fuel_consumed,
        wall_ms: outcome.wall_ms,
        tier: outcome.tier,
        budget: Some(outcome.budget(warn_at)),
        fuel_profile: None,
    }
}

/// The verdict on a WASI-preview call of `tool`.
pub fn judge_preview(case: &Case, tool: &str, outcome: &ToolOutcome) -> CaseResult {
    let report = &outcome.report;
    let failure = report.failure.as_ref();
    let problem = match (&case.expect.output, &case.expect.error) {
        (Some(expected), _) => match (failure, &outcome.output) {
            (Some(f), _) => Some(format!("expected output, got {}: {}", f.class.as_str(), f.message)),
            (None, Some(output)) if output != expected => {
                Some(format!("expected output {expected}, got {output}"))
            }
            _ => None,
        },
        (None, Some(class)) => match failure {
            Some(f) if f.class.as_str() == class => None,
            Some(f) => Some(format!("expected error `{class}`, got `{}`: {}", f.class.as_str(), f.message)),
            None => Some(format!("expected error `{class}`, but the call succeeded")),
        },
        (None, None) => Some("the case expects nothing (`parse_case` refuses that)".to_owned()),
    };
    let mut problem = problem.or_else(|| over_fuel(case.max_fuel, report.fuel_consumed));
    if let (Some(p), Some(first)) = (&mut problem, &report.quick_failure) {
        p.push_str(&format!(
            " (quick code {}: the verdict is from optimized code, as the host compiles it)",
            first.class.as_str()
        ));
    }
    CaseResult {
        case: String::new(),
        tool: tool.to_owned(),
        passed: false,
        problem,
        exit_code: report.exit_code,
        palyra_error_kind: None,
        fuel_consumed: report.fuel_consumed,
        wall_ms: report.wall_ms,
        tier: Some(report.tier),
        budget: None,
        fuel_profile: None,
    }
}

/// A folder under `fixtures/` whose name is no tool's, so its cases would
/// never run, and the tool it probably meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrayFixtures {
    /// The folder's name (escaped for display).
    pub dir: String,
    /// The tool name it probably meant: named after the tool's id, or a
    /// name a typo away.
    pub did_you_mean: Option<String>,
}

/// The folders of `fixtures` that match no tool name in `tools`.
pub fn stray_fixture_dirs(fixtures: &std::path::Path, tools: &[crate::manifest::Tool]) -> Vec<StrayFixtures> {
    let Ok(listing) = std::fs::read_dir(fixtures) else {
        return Vec::new();
    };
    let mut stray: Vec<StrayFixtures> = listing
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|dir| !tools.iter().any(|t| t.name.trim() == dir))
        .map(|dir| {
            let by_id = tools.iter().find(|t| t.id.trim() == dir).map(|t| t.name.trim().to_owned());
            let by_spelling = || {
                tools
                    .iter()
                    .map(|t| (strsim::levenshtein(&dir, t.name.trim()), t.name.trim()))
                    .filter(|(distance, name)| *distance <= 2.max(name.len() / 4))
                    .min()
                    .map(|(_, name)| name.to_owned())
            };
            let did_you_mean = by_id.or_else(by_spelling);
            StrayFixtures { dir: crate::text::escape(&dir).into_owned(), did_you_mean }
        })
        .collect();
    stray.sort_by(|a, b| a.dir.cmp(&b.dir));
    stray
}
