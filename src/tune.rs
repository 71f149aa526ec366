//! `tune`: the trade between module size and fuel, measured. The crate is
//! built at each `opt-level` (with its other profile settings as they
//! are), in parallel, each in its own target directory, and every fixture
//! case runs on each build. Both caps bind at once, so the recommendation
//! is the level whose tighter cap leaves the most room: the largest
//! `min(1 - size/cap, 1 - worst fuel/budget)`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::build::{self, BuildError, BuildOptions, Built};
use crate::cargo::{Abi, Features, SkillCrate};
use crate::case_run::{self, CallSettings};
use crate::cases;
use crate::headroom::{Headroom, Level};
use crate::host::OperatorConfig;
use crate::provenance::Environment;
use crate::runtime::{Runtime, Tier};
use crate::skill::Skill;

/// The levels `tune` tries unless told: the two for size, and two for speed.
pub const LEVELS: &[&str] = &["z", "s", "2", "3"];

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("`{0}` is no `opt-level`: use 0, 1, 2, 3, s or z")]
    Level(String),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(
        "`tune` runs skills for the Palyra host ABI v1; this crate builds the WASI preview (`abi = \"wasi-json\"`), which Palyra 0.1.0 cannot run"
    )]
    Preview,
    #[error("could not update `{path}`: {message}")]
    Apply { path: PathBuf, message: String },
}

pub struct TuneRequest {
    /// The crate's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The cargo profile whose `opt-level` varies (`release`).
    pub profile: String,
    pub cargo_flags: Vec<String>,
    pub features: Features,
    /// The base of the levels' target directories [default: the crate's].
    pub target_dir: Option<PathBuf>,
    pub levels: Vec<String>,
    pub operator: Option<OperatorConfig>,
    pub tier: Tier,
}

/// One level's build and cases.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub opt_level: String,
    /// The largest module against the operator's module cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_bytes: Option<Headroom>,
    /// The case with the largest share of its fuel budget, and that share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<Headroom>,
    pub cases: usize,
    /// Cases that failed (with the module cap lifted, so size alone fails none).
    pub failed_cases: Vec<String>,
    pub build_seconds: f64,
    /// Why the build failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Both caps hold and every case passed.
    pub fits: bool,
    /// The room the tighter cap leaves, 0 to 1 (negative: over it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headroom: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub profile: String,
    /// Where `--apply` writes: the workspace root's `Cargo.toml`.
    pub manifest: PathBuf,
    /// The profile's `opt-level` now (`None`: cargo's default).
    pub current: Option<String>,
    pub rows: Vec<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended: Option<String>,
    /// Why that level, or what binds when none fits.
    pub verdict: String,
    /// Where the builds went.
    pub work_dir: PathBuf,
}

/// The value `opt-level` takes in TOML for `level` (`"z"`, `3`).
fn toml_level(level: &str) -> Result<toml_edit::Value, TuneError> {
    match level {
        "s" | "z" => Ok(level.into()),
        "0" | "1" | "2" | "3" => Ok(i64::from(level.as_bytes()[0] - b'0').into()),
        other => Err(TuneError::Level(other.to_owned())),
    }
}

/// Builds at each level and runs every case on each build.
pub fn tune(
    request: &TuneRequest,
    runtime: &Runtime,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TuneReport, TuneError> {
    for level in &request.levels {
        toml_level(level)?;
    }
    let krate =
        SkillCrate::locate(Some(&request.manifest_path), None, &request.features, &request.cargo_flags)
            .map_err(BuildError::from)?;
    if krate.abi == Abi::WasiJson {
        return Err(TuneError::Preview);
    }
    let base = request
        .target_dir
        .clone()
        .unwrap_or_else(|| krate.metadata.target_directory.as_std_path().to_owned());
    let work_dir = base.join("palyra-skill").join("tune").join(krate.package.name.as_str());
    let current = crate::fit::Profile::read(krate.workspace_root(), krate.crate_dir(), &request.profile)
        .get("opt-level");
    let manifest = krate.workspace_root().join("Cargo.toml");
    let builds = crate::parallel::map_in_order(&request.levels, |level| {
        progress(level);
        let started = Instant::now();
        let built = build_at(request, &work_dir, level);
        (built, started.elapsed().as_secs_f64())
    });
    let fixtures_dir = krate.crate_dir().join("fixtures");
    let cap = request
        .operator
        .as_ref()
        .map_or_else(|| OperatorConfig::default().max_module_size_bytes, |o| o.max_module_size_bytes);
    let rows: Vec<Row> = request
        .levels
        .iter()
        .zip(builds)
        .map(|(level, (built, seconds))| match built {
            Ok(built) => measure(level, built, seconds, cap, &fixtures_dir, request, runtime),
            Err(e) => Row {
                opt_level: level.clone(),
                module_bytes: None,
                worst_case: None,
                fuel: None,
                cases: 0,
                failed_cases: Vec::new(),
                build_seconds: seconds,
                error: Some(e.to_string()),
                fits: false,
                headroom: None,
            },
        })
        .collect();
    let (recommended, verdict) = recommend(&rows, current.as_deref());
    Ok(TuneReport {
        profile: request.profile.clone(),
        manifest,
        current,
        rows,
        recommended,
        verdict,
        work_dir,
    })
}

fn build_at(request: &TuneRequest, work_dir: &Path, level: &str) -> Result<Built, BuildError> {
    let value = toml_level(level).map(|v| v.to_string()).unwrap_or_default();
    let mut cargo_flags = request.cargo_flags.clone();
    cargo_flags
        .extend(["--config".to_owned(), format!("profile.{}.opt-level={}", request.profile, value.trim())]);
    let dir = work_dir.join(level);
    let options = BuildOptions {
        manifest_path: Some(request.manifest_path.clone()),
        features: request.features.clone(),
        profile: request.profile.clone(),
        cargo_flags,
        target_dir: Some(dir.clone()),
        out_dir: Some(dir.join("out")),
        quiet: true,
        fixed_time: Some(0),
        ..Default::default()
    };
    build::build(&options, None, false, &Environment::Local, &mut |_| {})
}

fn measure(
    level: &str,
    built: Built,
    build_seconds: f64,
    cap: u64,
    fixtures_dir: &Path,
    request: &TuneRequest,
    runtime: &Runtime,
) -> Row {
    let largest = built.entries.modules().map(|(_, e)| e.bytes.len() as u64).max().unwrap_or(0);
    let module_bytes = Headroom::new(largest, cap, built.warn_at);
    let skill = Skill {
        manifest: built.manifest.clone(),
        entries: built.entries,
        crate_dir: None,
        crate_abi: Some(built.abi),
        warn_at: built.warn_at,
        named: built.named,
    };
    let (fixtures, _) = case_run::fixtures(fixtures_dir, &skill.manifest.entrypoints.tools);
    let settings = CallSettings { tier: request.tier, profile: None, lift_module_cap: true };
    let mut worst: Option<(String, Headroom)> = None;
    let mut failed_cases = Vec::new();
    for fixture in &fixtures {
        let case = std::fs::read_to_string(&fixture.path)
            .map_err(|e| e.to_string())
            .and_then(|text| cases::parse_case(&text, Abi::PalyraHostV1).map_err(|e| e.detail()));
        let run = case.and_then(|case| {
            case_run::host_case(runtime, &skill, &fixture.tool, &case, request.operator.as_ref(), settings)
                .map_err(|e| e.to_string())
        });
        match run {
            Ok((result, _, _)) => {
                if result.problem.is_some() {
                    failed_cases.push(fixture.name.clone());
                }
                if let Some(fuel) = result.budget.map(|b| b.fuel).filter(|f| f.used > 0)
                    && worst.as_ref().is_none_or(|(_, w)| fuel.percent > w.percent)
                {
                    worst = Some((fixture.name.clone(), fuel));
                }
            }
            Err(_) => failed_cases.push(fixture.name.clone()),
        }
    }
    let share = |h: &Headroom| if h.cap == 0 { f64::INFINITY } else { h.used as f64 / h.cap as f64 };
    let fuel_room = worst.as_ref().map_or(1.0, |(_, fuel)| 1.0 - share(fuel));
    let headroom = (1.0 - share(&module_bytes)).min(fuel_room);
    let fits = failed_cases.is_empty()
        && module_bytes.level != Level::Over
        && worst.as_ref().is_none_or(|(_, fuel)| fuel.level != Level::Over);
    Row {
        opt_level: level.to_owned(),
        module_bytes: Some(module_bytes),
        worst_case: worst.as_ref().map(|(name, _)| name.clone()),
        fuel: worst.map(|(_, fuel)| fuel),
        cases: fixtures.len(),
        failed_cases,
        build_seconds,
        error: None,
        fits,
        headroom: Some(headroom),
    }
}

/// The level whose tighter cap leaves the most room (to a tenth of a
/// percent; a tie goes to the smaller module, then to `current`), or what
/// binds when none fits.
fn recommend(rows: &[Row], current: Option<&str>) -> (Option<String>, String) {
    let best = rows.iter().filter(|r| r.fits).max_by(|a, b| {
        let room = |r: &Row| (r.headroom.unwrap_or(f64::NEG_INFINITY) * 1000.0).round();
        let size = |r: &Row| r.module_bytes.as_ref().map_or(u64::MAX, |m| m.used);
        let now = |r: &Row| current == Some(r.opt_level.as_str());
        room(a).total_cmp(&room(b)).then(size(b).cmp(&size(a))).then(now(a).cmp(&now(b)))
    });
    if let Some(best) = best {
        let binds = match (&best.module_bytes, &best.fuel) {
            (Some(size), Some(fuel)) if fuel.percent > size.percent => "fuel",
            _ => "module size",
        };
        let room = best.headroom.unwrap_or(0.0) * 100.0;
        return (
            Some(best.opt_level.clone()),
            format!(
                "opt-level {} leaves the most room under the tighter of the two caps: {room:.1}% ({binds} binds there)",
                quoted(&best.opt_level)
            ),
        );
    }
    let over = |r: &Row| r.module_bytes.as_ref().is_some_and(|m| m.level == Level::Over);
    if !rows.is_empty() && rows.iter().all(over) {
        let smallest =
            rows.iter().filter_map(|r| Some((r, r.module_bytes.as_ref()?))).min_by_key(|(_, m)| m.used);
        if let Some((row, size)) = smallest {
            return (
                None,
                format!(
                    "no level fits: the module cap binds at every level, and the smallest module (opt-level {}) is {:.1}% of it; `cargo palyra-skill build --size-report` names the dependencies to drop",
                    quoted(&row.opt_level),
                    size.percent
                ),
            );
        }
    }
    let reasons: Vec<String> = rows
        .iter()
        .map(|r| {
            let what = if let Some(error) = &r.error {
                format!("the build failed ({})", error.lines().next().unwrap_or(""))
            } else if let Some(size) = r.module_bytes.as_ref().filter(|m| m.level == Level::Over) {
                format!("the module is {:.1}% of the module cap", size.percent)
            } else if let Some(fuel) = r.fuel.as_ref().filter(|f| f.level == Level::Over) {
                format!("the worst case needs {:.1}% of its fuel budget", fuel.percent)
            } else {
                format!("{} case(s) fail", r.failed_cases.len())
            };
            format!("at {} {what}", quoted(&r.opt_level))
        })
        .collect();
    (None, format!("no level fits: {}", reasons.join("; ")))
}

fn quoted(level: &str) -> String {
    if level.chars().all(|c| c.is_ascii_digit()) { level.to_owned() } else { format!("\"{level}\"") }
}

/// Writes `opt-level = LEVEL` into `[profile.<profile>]` of `manifest`,
/// keeping its comments and layout; atomically.
pub fn apply(manifest: &Path, profile: &str, level: &str) -> Result<(), TuneError> {
    let fail = |message: String| TuneError::Apply { path: manifest.to_owned(), message };
    let text = std::fs::read_to_string(manifest).map_err(|e| fail(e.to_string()))?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e: toml_edit::TomlError| fail(e.to_string()))?;
    let profiles = doc.entry("profile").or_insert_with(|| {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    });
    let Some(profiles) = profiles.as_table_like_mut() else {
        return Err(fail("`profile` is not a table".to_owned()));
    };
    let table = profiles.entry(profile).or_insert(toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(table) = table.as_table_like_mut() else {
        return Err(fail(format!("`profile.{profile}` is not a table")));
    };
    let mut value = toml_level(level)?;
    if let Some(old) = table.get("opt-level").and_then(toml_edit::Item::as_value) {
        *value.decor_mut() = old.decor().clone();
    }
    table.insert("opt-level", toml_edit::Item::Value(value));
    crate::fsutil::write_atomic(manifest, doc.to_string().as_bytes(), None, crate::fsutil::Existing::Replace)
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(level: &str, size: u64, fuel: Option<u64>, failed: usize) -> Row {
        let module = Headroom::new(size, 100, 0.8);
        let fuel = fuel.map(|f| Headroom::new(f, 1000, 0.8));
        let share_fuel = fuel.as_ref().map_or(1.0, |f| 1.0 - f.used as f64 / 1000.0);
        Row {
            opt_level: level.to_owned(),
            fits: failed == 0 && size <= 100 && fuel.as_ref().is_none_or(|f| f.used <= 1000),
            headroom: Some((1.0 - size as f64 / 100.0).min(share_fuel)),
            module_bytes: Some(module),
            worst_case: fuel.as_ref().map(|_| "check/a.json".to_owned()),
            fuel,
            cases: 1,
            failed_cases: (0..failed).map(|i| format!("c{i}")).collect(),
            build_seconds: 1.0,
            error: None,
        }
    }

    #[test]
    fn the_tighter_cap_decides() {
        // z: 60% size, 90% fuel (room 10%); s: 62% size, 70% fuel (room 30%);
        // 3: 90% size, 50% fuel (room 10%).
        let rows = [row("z", 60, Some(900), 0), row("s", 62, Some(700), 0), row("3", 90, Some(500), 0)];
        let (best, why) = recommend(&rows, None);
        assert_eq!(best.as_deref(), Some("s"), "{why}");
        assert!(why.contains("30.0%") && why.contains("fuel binds"), "{why}");
        let (none, why) = recommend(
            &[row("z", 120, Some(900), 0), row("3", 90, Some(1100), 0), row("2", 80, None, 1)],
            None,
        );
        assert_eq!(none, None);
        assert!(
            why.contains("at \"z\" the module is 120.0%") && why.contains("at 3 the worst case needs 110.0%"),
            "{why}"
        );
        assert!(why.contains("at 2 1 case(s) fail"), "{why}");
        let (none, why) = recommend(&[row("z", 120, Some(900), 0), row("3", 150, Some(100), 0)], None);
        assert_eq!(none, None);
        assert!(
            why.contains(
                "the module cap binds at every level, and the smallest module (opt-level \"z\") is 120.0%"
            ),
            "{why}"
        );
        // A tie (a skill too small for the level to matter) keeps what is set.
        let tie = [row("z", 10, Some(100), 0), row("s", 10, Some(100), 0), row("3", 10, Some(100), 0)];
        assert_eq!(recommend(&tie, Some("s")).0.as_deref(), Some("s"));
    }

    #[test]
    fn apply_keeps_comments_and_writes_the_right_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.toml");
        std::fs::write(&path, "[package]\nname = \"a\"\n\n# size matters\n[profile.release]\nopt-level = \"z\" # was z\nlto = true\n").unwrap();
        apply(&path, "release", "s").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# size matters\n[profile.release]\nopt-level = \"s\" # was z"), "{text}");
        assert!(text.contains("lto = true"));
        apply(&path, "small", "3").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[profile.small]\nopt-level = 3"), "{text}");
        assert!(matches!(apply(&path, "release", "fast"), Err(TuneError::Level(_))));
    }
}
