//! Fuel baselines: each test case's fuel, in a file committed beside the
//! crate, and the comparison that fails a case whose fuel grew more than a
//! set share or whose fuel headroom fell under the warning share. Fuel is
//! deterministic, so a baseline compares exactly, run after run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cases::CaseResult;
use crate::fsutil::{Existing, Links, read_regular, write_atomic};

/// The baseline's file in the crate, unless given another.
pub const DEFAULT_FILE: &str = "fuel-baseline.json";

/// How much a case's fuel may grow, in percent, unless set.
pub const DEFAULT_TOLERANCE_PERCENT: f64 = 5.0;

/// The `format` a baseline file carries.
pub const FORMAT: &str = "cargo-palyra-skill/fuel-baseline/v1";

/// Baselines are small; anything larger is not one.
const MAX_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(
        "could not read the fuel baseline `{path}`: {source}; write one with `cargo palyra-skill test --save-baseline`"
    )]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "`{path}` is not a fuel baseline: {source}; write it again with `cargo palyra-skill test --save-baseline`"
    )]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error(
        "`{path}` is a `{found}` file, not `{FORMAT}`: write it again with `cargo palyra-skill test --save-baseline`"
    )]
    Format { path: PathBuf, found: String },
    #[error("could not write the fuel baseline `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Each case's fuel, by case name (`<tool name>/<file>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub format: String,
    pub skill_id: String,
    pub cases: BTreeMap<String, u64>,
}

impl Baseline {
    /// The fuel of every case in `results`.
    pub fn of(skill_id: &str, results: &[CaseResult]) -> Baseline {
        Baseline {
            format: FORMAT.to_owned(),
            skill_id: skill_id.to_owned(),
            cases: results.iter().map(|r| (r.case.clone(), r.fuel_consumed)).collect(),
        }
    }

    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let bytes = read_regular(path, MAX_BYTES, Links::Follow)
            .map_err(|source| BaselineError::Read { path: path.to_owned(), source })?;
        let baseline: Baseline = serde_json::from_slice(&bytes)
            .map_err(|source| BaselineError::Parse { path: path.to_owned(), source })?;
        if baseline.format != FORMAT {
            return Err(BaselineError::Format { path: path.to_owned(), found: baseline.format });
        }
        Ok(baseline)
    }

    /// Writes the baseline (pretty JSON, one case per line, sorted), atomically.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        text.push(b'\n');
        write_atomic(path, &text, Some(0o644), Existing::Replace)
            .map_err(|source| BaselineError::Write { path: path.to_owned(), source })
    }
}

/// How a case compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    /// Within the tolerance and the headroom.
    Ok,
    /// Its fuel grew more than the tolerance.
    Regressed,
    /// Its fuel is at or over the warning share of its budget.
    LowHeadroom,
    /// Not in the baseline.
    New,
    /// In the baseline, but no such case ran: deleted or renamed. It fails,
    /// so that a change cannot drop a case from the comparison unnoticed.
    Removed,
    /// As `Removed`, allowed by `--allow-removed-cases`.
    RemovedAllowed,
}

impl Status {
    pub fn fails(self) -> bool {
        matches!(self, Status::Regressed | Status::LowHeadroom | Status::Removed)
    }
}

/// One case against its baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Row {
    pub case: String,
    pub base: Option<u64>,
    pub head: Option<u64>,
    /// `head - base` in fuel.
    pub delta: Option<i128>,
    /// The delta in percent of the base.
    pub delta_percent: Option<f64>,
    /// The fuel budget left, in percent (host ABI cases).
    pub headroom_percent: Option<f64>,
    pub status: Status,
}

/// Every case against the baseline (`baseline` in `test`'s JSON, which the
/// Action's report reads back).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Comparison {
    pub baseline: String,
    pub tolerance_percent: f64,
    /// The warning share of a budget, in percent (`headroom-warn`).
    pub warn_percent: f64,
    pub rows: Vec<Row>,
    /// Cases that fail the comparison (grown, low on headroom, or removed).
    pub regressions: usize,
    /// Of those, the cases of the baseline that did not run.
    pub removed: usize,
    /// Whether removed cases were allowed (`--allow-removed-cases`).
    pub allow_removed: bool,
}

impl Comparison {
    /// Without the rows of baseline cases that did not run for a reason
    /// already reported (`test CASE...` left them out, or their fixture is
    /// malformed): such a case is not removed, and counts for nothing.
    pub fn without_rows(mut self, not_run: impl Fn(&str) -> bool) -> Comparison {
        self.rows.retain(|row| {
            !(matches!(row.status, Status::Removed | Status::RemovedAllowed) && not_run(&row.case))
        });
        self.regressions = self.rows.iter().filter(|r| r.status.fails()).count();
        self.removed = self.rows.iter().filter(|r| r.status == Status::Removed).count();
        self
    }
}

/// Compares `results` with `base`: a case fails when its fuel grew more
/// than `tolerance_percent` or reached `warn_at` (a share, 0.8) of its budget,
/// and a case of the baseline that did not run fails unless `allow_removed`.
pub fn compare(
    base: &Baseline,
    path: &Path,
    results: &[CaseResult],
    tolerance_percent: f64,
    warn_at: f64,
    allow_removed: bool,
) -> Comparison {
    let mut rows: Vec<Row> = results
        .iter()
        .map(|result| {
            let head = result.fuel_consumed;
            let before = base.cases.get(&result.case).copied();
            let delta = before.map(|b| i128::from(head) - i128::from(b));
            let delta_percent = match (before, delta) {
                (Some(0), Some(0)) => Some(0.0),
                (Some(0), Some(_)) => Some(f64::INFINITY),
                (Some(b), Some(d)) => Some(d as f64 * 100.0 / b as f64),
                _ => None,
            };
            let fuel = result.budget.as_ref().map(|b| b.fuel);
            let headroom_percent = fuel.map(|f| 100.0 - f.percent);
            let low = fuel.is_some_and(|f| f.cap > 0 && f.used as f64 >= f.cap as f64 * warn_at);
            let status = match delta_percent {
                None => Status::New,
                Some(p) if p > tolerance_percent => Status::Regressed,
                _ if low => Status::LowHeadroom,
                _ => Status::Ok,
            };
            let status = if status == Status::New && low { Status::LowHeadroom } else { status };
            Row {
                case: result.case.clone(),
                base: before,
                head: Some(head),
                delta,
                delta_percent,
                headroom_percent,
                status,
            }
        })
        .collect();
    for (case, fuel) in &base.cases {
        if !results.iter().any(|r| &r.case == case) {
            rows.push(Row {
                case: case.clone(),
                base: Some(*fuel),
                head: None,
                delta: None,
                delta_percent: None,
                headroom_percent: None,
                status: if allow_removed { Status::RemovedAllowed } else { Status::Removed },
            });
        }
    }
    let regressions = rows.iter().filter(|r| r.status.fails()).count();
    let removed = rows.iter().filter(|r| r.status == Status::Removed).count();
    Comparison {
        baseline: path.display().to_string(),
        tolerance_percent,
        warn_percent: warn_at * 100.0,
        rows,
        regressions,
        removed,
        allow_removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headroom::Headroom;
    use crate::host::Budget;

    fn result(case: &str, fuel: u64, cap: u64) -> CaseResult {
        CaseResult {
            case: case.into(),
            fuel_consumed: fuel,
            budget: Some(Budget {
                fuel: Headroom::new(fuel, cap, 0.8),
                time_ms: Headroom::new(1, 100, 0.8),
                memory_bytes: Headroom::new(1, 100, 0.8),
            }),
            ..CaseResult::default()
        }
    }

    #[test]
    fn growth_past_the_tolerance_and_low_headroom_fail() {
        let base = Baseline {
            format: FORMAT.into(),
            skill_id: "acme.x".into(),
            cases: BTreeMap::from([
                ("t/a.json".into(), 1000),
                ("t/b.json".into(), 1000),
                ("t/gone.json".into(), 5),
            ]),
        };
        let results = [
            result("t/a.json", 1050, 1_000_000),
            result("t/b.json", 1051, 1_000_000),
            result("t/new.json", 800_000, 1_000_000),
        ];
        let c = compare(&base, Path::new("fuel-baseline.json"), &results, 5.0, 0.8, false);
        let status: Vec<Status> = c.rows.iter().map(|r| r.status).collect();
        assert_eq!(status, [Status::Ok, Status::Regressed, Status::LowHeadroom, Status::Removed]);
        assert_eq!(c.rows[1].delta, Some(51));
        assert_eq!((c.regressions, c.removed), (3, 1), "a removed case fails too");
        let allowed = compare(&base, Path::new("fuel-baseline.json"), &results, 5.0, 0.8, true);
        assert_eq!(allowed.rows[3].status, Status::RemovedAllowed);
        assert_eq!((allowed.regressions, allowed.removed), (2, 0));
        let at_79 = compare(&base, Path::new("f"), &[result("t/a.json", 790, 1000)], 5.0, 0.8, true);
        assert_eq!(at_79.rows[0].status, Status::Ok, "79% of the budget is under the 80% share");
        let at_80 = compare(&base, Path::new("f"), &[result("t/a.json", 800, 1000)], 5.0, 0.8, true);
        assert_eq!(at_80.rows[0].status, Status::LowHeadroom);
        // A case that did not run for a known reason is not removed.
        let filtered = compare(&base, Path::new("f"), &results, 5.0, 0.8, false)
            .without_rows(|case| case == "t/gone.json" || case == "t/a.json");
        assert_eq!(filtered.rows.len(), 3, "only the removed row goes, not a case that ran");
        assert_eq!((filtered.regressions, filtered.removed), (2, 0));
    }

    #[test]
    fn a_baseline_round_trips_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE);
        let base = Baseline::of("acme.x", &[result("t/a.json", 7, 10)]);
        base.write(&path).unwrap();
        assert_eq!(Baseline::read(&path).unwrap(), base);
        std::fs::write(&path, r#"{"format":"other","skill_id":"x","cases":{}}"#).unwrap();
        assert!(matches!(Baseline::read(&path), Err(BaselineError::Format { .. })));
        std::fs::write(&path, "{").unwrap();
        assert!(Baseline::read(&path).unwrap_err().to_string().contains("--save-baseline"));
    }
}
