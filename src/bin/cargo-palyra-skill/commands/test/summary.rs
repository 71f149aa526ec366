//! `test`'s verdict on one skill and its table of fuel against the baseline.

use std::path::Path;

use anyhow::{Result, bail};
use cargo_palyra_skill::baseline::{Comparison, Status};
use cargo_palyra_skill::cases::CaseFilter;

use crate::Outcome;
use crate::shell::Shell;

/// Whether one skill's cases passed: every case ran and passed.
pub(super) fn verdict(
    ran: usize,
    malformed: usize,
    failed: usize,
    filter: &CaseFilter,
    filtered_out: &[String],
    fixtures: &Path,
    shell: &mut Shell,
) -> Result<Outcome> {
    {
        if ran == 0 && malformed > 0 {
            bail!(
                "no case could run: {malformed} fixture(s) are malformed (each is named above with its line and column); fix them"
            );
        }
        if ran == 0 && !filtered_out.is_empty() {
            shell.status_failed(
                "Failed",
                format_args!(
                    "no case name is or contains {} ({} filtered out): name a case as `<tool name>/<file>.json`, such as `{}`, or a part of one; to test a crate elsewhere, give its directory",
                    filter.filters().iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
                    filtered_out.len(),
                    filtered_out[0],
                ),
            );
            return Ok(Outcome::CheckFailed);
        }
        if ran == 0 {
            shell.status_failed(
                "Failed",
                format_args!(
                    "no test case ran: add JSON case files under `{}/<tool name>/`",
                    fixtures.display()
                ),
            );
            return Ok(Outcome::CheckFailed);
        }
        Ok(if failed == 0 { Outcome::Success } else { Outcome::CheckFailed })
    }
}

/// Base, head, delta and headroom of every case (with `quiet`, of the
/// cases that fail the comparison), and what failed.
pub(super) fn show_comparison(shell: &mut Shell, c: &Comparison, quiet: bool) -> Result<()> {
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
    for row in c.rows.iter().filter(|row| !quiet || row.status.fails()) {
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
