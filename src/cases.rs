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

impl CaseError {
    /// Where in the case's `text` the problem is, as 1-based line and
    /// column: the parser's position, else the first key the rule is about.
    pub fn position(&self, text: &str) -> Option<(usize, usize)> {
        let keys: &[&str] = match self {
            CaseError::Json(e) if e.line() > 0 => return Some((e.line(), e.column().max(1))),
            CaseError::Json(_) => &[],
            CaseError::UnknownError(_) => &["\"error\""],
            CaseError::PreviewCaseForHost => &["\"input\"", "\"output\""],
            CaseError::AllowForHost => &["\"allow_http\"", "\"allow_secrets\"", "\"allow_storage\""],
            CaseError::HostCaseForPreview => &["\"grants\"", "\"operator\"", "\"exit_code\""],
            CaseError::Expectation(_) => &["\"expect\""],
        };
        keys.iter().filter_map(|key| text.find(key)).min().map(|at| line_and_column(text, at))
    }

    /// What is wrong, without the parser's position (given apart), and
    /// with the field an unknown key was probably meant to be.
    pub fn detail(&self) -> String {
        match self {
            CaseError::Json(e) => {
                let text = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let text = text.strip_suffix(&suffix).unwrap_or(&text);
                format!("not a valid test case: {}", crate::suggest::unknown_field_hint(text))
            }
            other => other.to_string(),
        }
    }
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
pub fn line_and_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// A fixture file that is no case: named with the line and column of the
/// problem when known, then what is wrong.
pub fn malformed(file: &str, position: Option<(usize, usize)>, detail: &str) -> String {
    match position {
        Some((line, column)) => format!("malformed fixture `{file}`, line {line}, column {column}: {detail}"),
        None => format!("malformed fixture `{file}`: {detail}"),
    }
}

/// The cases `test CASE...` runs: a case whose name (`<tool name>/<file>.json`)
/// is one of the filters or contains one, as `cargo test` filters; every
/// case when there is no filter.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    filters: Vec<String>,
}

impl CaseFilter {
    /// The filters as given; a leading `./` or `fixtures/` is dropped, so
    /// a fixture's path from the crate names its case.
    pub fn new(filters: impl IntoIterator<Item = String>) -> CaseFilter {
        let filters = filters
            .into_iter()
            .map(|f| {
                let f = f.replace('\\', "/");
                let f = f.strip_prefix("./").unwrap_or(&f);
                f.strip_prefix("fixtures/").unwrap_or(f).to_owned()
            })
            .collect();
        CaseFilter { filters }
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    pub fn filters(&self) -> &[String] {
        &self.filters
    }

    pub fn matches(&self, case: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| case.contains(f.as_str()))
    }
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
    /// The fixture is no case (bad JSON, or not one for this ABI): it did
    /// not run, and `problem` says where and why.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub malformed: bool,
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
        malformed: false,
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
        malformed: false,
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
            let by_spelling =
                || crate::suggest::closest(&dir, tools.iter().map(|t| t.name.trim())).map(str::to_owned);
            let did_you_mean = by_id.or_else(by_spelling);
            StrayFixtures { dir: crate::text::escape(&dir).into_owned(), did_you_mean }
        })
        .collect();
    stray.sort_by(|a, b| a.dir.cmp(&b.dir));
    stray
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        let error = parse_case(text, Abi::PalyraHostV1).unwrap_err();
        malformed("fixtures/check/x.json", error.position(text), &error.detail())
    }

    #[test]
    fn a_malformed_fixture_is_named_with_its_line_and_column() {
        assert_eq!(
            problem("{\n  \"expect\": { \"exit_code\": 0 }\n  \"grants\": {}\n}"),
            "malformed fixture `fixtures/check/x.json`, line 3, column 3: not a valid test case: expected `,` or `}`"
        );
        let unknown = problem("{ \"grant\": {}, \"expect\": { \"exit_code\": 0 } }");
        assert!(
            unknown.starts_with("malformed fixture `fixtures/check/x.json`, line 1, column 9: "),
            "{unknown}"
        );
        assert!(
            unknown.contains("unknown field `grant` (did you mean `grants`?), expected one of"),
            "{unknown}"
        );
        // A rule of the ABI: the key it is about.
        assert_eq!(
            problem("{\n  \"expect\": {}\n}"),
            "malformed fixture `fixtures/check/x.json`, line 2, column 3: `expect` needs exactly one of `exit_code` or `error`"
        );
        assert!(problem("").contains("line 1, column 1: not a valid test case: EOF while parsing"));
    }

    #[test]
    fn a_filter_selects_by_name_or_part_of_one() {
        let all = CaseFilter::new(Vec::new());
        assert!(all.is_empty() && all.matches("check/granted.json"));
        let exact = CaseFilter::new(["check/granted.json".to_owned()]);
        assert!(exact.matches("check/granted.json"));
        assert!(!exact.matches("check/not-granted.json"));
        let part = CaseFilter::new(["granted".to_owned(), "./fixtures/check/denied.json".to_owned()]);
        assert!(part.matches("check/granted.json") && part.matches("check/not-granted.json"));
        assert!(part.matches("check/denied.json") && !part.matches("check/other.json"));
        assert_eq!(part.filters(), ["granted", "check/denied.json"]);
    }
}
