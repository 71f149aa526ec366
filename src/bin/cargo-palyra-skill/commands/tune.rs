//! `tune`: module size against fuel at each `opt-level`, measured.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Result;
use cargo_palyra_skill::headroom::{Headroom, Level};
use cargo_palyra_skill::text::thousands;
use cargo_palyra_skill::tune::{self, Row, TuneReport, TuneRequest};
use clap::Args;

use crate::Outcome;
use crate::operator::OperatorArgs;
use crate::select::PackageArgs;
use crate::shell::{MessageFormat, OutputArgs, Shell};
use crate::skill::{BuildArgs, CodeArgs};

/// Build the skill at each `opt-level` and weigh module size against fuel.
///
/// Both of the host's caps bind: a module over the operator's
/// `max_module_size_bytes` is refused, and a call past its fuel budget is
/// stopped. `opt-level = "z"` makes the smallest module and `3` the fastest
/// code; which is best depends on the skill. `tune` builds the crate at
/// each level (its other profile settings as they are), in parallel, each
/// in its own target directory under `target/palyra-skill/tune/` (so a
/// later `build` is not invalidated), runs every fixture case on each build
/// (with the module cap lifted, so an oversized build still shows its
/// fuel), and prints one table: module bytes against the cap, the worst
/// case's fuel against its budget, and the build time.
///
/// It recommends the level whose tighter cap leaves the most room: the
/// largest of `min(1 - size/cap, 1 - fuel/budget)`, a tie going to the
/// smaller module; or says that none fits and what binds at each level.
/// `--apply` writes that `opt-level` into `[profile.<name>]` of the
/// workspace root's `Cargo.toml` (where cargo reads profiles), keeping its
/// comments.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill tune\n",
    "  cargo palyra-skill tune --apply\n",
    "  cargo palyra-skill tune skills/weather --levels z,s --operator-config palyrad.toml\n",
    "  cargo palyra-skill tune --message-format json\n",
    "  cargo palyra-skill tune --workspace --levels z,s\n\n",
    "Exit status:\n  0  a level fits both caps (with --apply: and was written)\n  1  no level fits: the table says what binds\n  2  could not run (bad input, a crate that does not build at all)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    /// The skill crate: its directory or its `Cargo.toml` [default: the crate here]
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
    /// The `opt-level`s to try, comma-separated
    #[arg(long, value_delimiter = ',', default_values_t = tune::LEVELS.iter().map(|l| l.to_string()))]
    levels: Vec<String>,
    /// Write the recommended `opt-level` into the profile of the workspace root's `Cargo.toml`
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    packages: PackageArgs,
    #[command(flatten)]
    operator: OperatorArgs,
    #[command(flatten)]
    code: CodeArgs,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let manifest_path = cargo_palyra_skill::cargo::locate_crate(self.path.as_deref())?;
        let runtime = crate::skill::runtime(self.code.no_cache, shell)?;
        let cargo_flags = self.build.cargo_flags();
        let features = cargo_palyra_skill::cargo::Features {
            features: self.packages.feature_names(),
            ..Default::default()
        };
        let members = self.packages.members(&manifest_path, &features, &cargo_flags, shell)?;
        if members.several && self.apply {
            anyhow::bail!(
                "`--apply` writes one `opt-level` for the whole workspace: tune one skill with `-p NAME --apply`"
            );
        }
        let mut levels = self.levels.clone();
        levels.dedup();
        let operator = self.operator.read()?;
        let mut reports = Vec::new();
        for krate in &members.skills {
            let request = TuneRequest {
                manifest_path: krate.package.manifest_path.as_std_path().to_owned(),
                profile: self.build.profile.clone(),
                cargo_flags: cargo_flags.clone(),
                features: features.clone(),
                target_dir: self.packages.target_dir.clone(),
                levels: levels.clone(),
                operator: operator.clone(),
                tier: self.code.tier(),
            };
            let workers =
                std::thread::available_parallelism().map_or(1, |n| n.get()).min(request.levels.len());
            shell.status(
                "Tuning",
                format_args!(
                    "`{}` at opt-level {} of `[profile.{}]`: {workers} build(s) at a time, each in its own target directory",
                    krate.package.name,
                    request.levels.iter().map(|l| quoted(l)).collect::<Vec<_>>().join(", "),
                    request.profile
                ),
            );
            let report = {
                let locked = Mutex::new(&mut *shell);
                let progress = |level: &str| {
                    if let Ok(mut shell) = locked.lock() {
                        shell.status("Building", format_args!("opt-level {}", quoted(level)));
                    }
                };
                tune::tune(&request, &runtime, &progress)?
            };
            if let (true, Some(level)) = (self.apply, &report.recommended) {
                tune::apply(&report.manifest, &report.profile, level)?;
            }
            if self.output.message_format == MessageFormat::Human {
                if members.several {
                    shell.print(format_args!("\n{}", krate.package.name))?;
                }
                show(shell, &report, self.apply)?;
            }
            reports.push((krate.package.name.to_string(), report));
        }
        let fits = reports.iter().all(|(_, r)| r.recommended.is_some());
        if self.output.message_format == MessageFormat::Json {
            if members.several {
                let list: Vec<serde_json::Value> = reports
                    .iter()
                    .map(|(package, report)| serde_json::json!({ "package": package, "report": report }))
                    .collect();
                shell.print_json(&serde_json::json!({ "members": list, "skipped": members.skipped }))?;
            } else if let Some((_, report)) = reports.first() {
                shell.print_json(report)?;
            }
        }
        Ok(if fits { Outcome::Success } else { Outcome::CheckFailed })
    }
}

fn quoted(level: &str) -> String {
    if level.chars().all(|c| c.is_ascii_digit()) { level.to_owned() } else { format!("\"{level}\"") }
}

fn figure(headroom: &Headroom) -> String {
    let mark = match headroom.level {
        Level::Ok => "",
        Level::Warn => " !",
        Level::Over => " OVER",
    };
    format!("{} {:>5.1}%{mark}", thousands(headroom.used), headroom.percent)
}

fn show(shell: &mut Shell, report: &TuneReport, applied: bool) -> Result<()> {
    let cap = report.rows.iter().find_map(|r| r.module_bytes.as_ref()).map(|m| m.cap);
    let budget = report.rows.iter().find_map(|r| r.fuel.as_ref()).map(|f| f.cap);
    shell.print(format_args!(
        "\n{:<12} {:>22} {:>24}  {:>8}  {:<6} worst case",
        "opt-level",
        format!("module (cap {})", cap.map_or("-".to_owned(), thousands)),
        format!("fuel (budget {})", budget.map_or("-".to_owned(), thousands)),
        "build",
        "cases",
    ))?;
    for row in &report.rows {
        shell.print(line(report, row))?;
    }
    match &report.recommended {
        Some(level) => {
            shell.print(format_args!("\nrecommended: {}", report.verdict))?;
            let now = report.current.as_deref().map_or("unset (cargo's default)".to_owned(), quoted);
            if report.current.as_deref() == Some(level.as_str()) {
                shell.print(format_args!("  `[profile.{}]` already has it", report.profile))?;
            } else if applied {
                shell.status(
                    "Applied",
                    format_args!(
                        "`opt-level = {}` in `[profile.{}]` of `{}` (was {now})",
                        quoted(level),
                        report.profile,
                        report.manifest.display()
                    ),
                );
            } else {
                shell.print(format_args!(
                    "  now {now}: `cargo palyra-skill tune --apply` writes `opt-level = {}` into `[profile.{}]` of `{}`",
                    quoted(level),
                    report.profile,
                    report.manifest.display()
                ))?;
            }
        }
        None => shell.status_failed("Failed", &report.verdict),
    }
    Ok(())
}

fn line(report: &TuneReport, row: &Row) -> String {
    let level = if report.current.as_deref() == Some(row.opt_level.as_str()) {
        format!("{} (now)", quoted(&row.opt_level))
    } else {
        quoted(&row.opt_level)
    };
    if let Some(error) = &row.error {
        return format!("{level:<12} build failed: {}", error.lines().next().unwrap_or(""));
    }
    let module = row.module_bytes.as_ref().map_or("-".to_owned(), figure);
    let fuel = row.fuel.as_ref().map_or("no case ran".to_owned(), figure);
    let cases = if row.failed_cases.is_empty() {
        format!("{} ok", row.cases)
    } else {
        format!("{} FAIL", row.failed_cases.len())
    };
    format!(
        "{level:<12} {module:>22} {fuel:>24}  {:>7.1}s  {cases:<6} {}",
        row.build_seconds,
        row.worst_case.as_deref().unwrap_or("")
    )
}
