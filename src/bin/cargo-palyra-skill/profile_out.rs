//! `--fuel-profile` of `run` and `test`, for people: where the profile
//! went, and the functions and crates that spend the most fuel.

use cargo_palyra_skill::profile::ProfileSummary;
use cargo_palyra_skill::text::thousands;

use crate::shell::Shell;

/// Where the profile went and what spends the fuel, for people (on
/// stderr, beside the other status lines).
pub fn show(shell: &mut Shell, summary: &ProfileSummary, indent: &str) {
    shell.status(
        "Profiled",
        format_args!(
            "{} fuel in {} samples (one every {}), {:.1}% in named functions: `{}` (flame graph), `{}` (speedscope, Firefox Profiler)",
            thousands(summary.total_fuel),
            thousands(summary.samples),
            thousands(summary.interval),
            summary.named_share,
            summary.svg,
            summary.speedscope,
        ),
    );
    if summary.stack_limit_reached {
        shell.warn(format_args!(
            "the profile kept {} distinct stacks, its limit: {} fuel ({:.1}%) of {} later samples whose stack was new is under `{}`; raise `--fuel-profile-interval` for fewer samples",
            thousands(summary.distinct_stacks as u64),
            thousands(summary.other_stacks_fuel),
            if summary.total_fuel == 0 {
                0.0
            } else {
                summary.other_stacks_fuel as f64 * 100.0 / summary.total_fuel as f64
            },
            thousands(summary.other_stacks_samples),
            cargo_palyra_skill::profile::OTHER_FRAME,
        ));
    }
    if summary.named_share < 95.0 && summary.total_fuel > 0 {
        shell.warn(
            "under 95% of the fuel has a function name: the module is stripped; profile the crate (not its artifact), which builds a copy with names",
        );
    }
    let mut text = String::new();
    for (heading, spends) in [
        ("functions (fuel spent in the function itself)", &summary.top_functions),
        ("crates", &summary.top_crates),
    ] {
        text.push_str(&format!("{indent}top {heading}\n"));
        for spend in spends {
            text.push_str(&format!(
                "{indent}  {:>12}  {:>5.1}%  {}\n",
                thousands(spend.self_fuel),
                spend.share,
                spend.name
            ));
        }
    }
    shell.block(&text);
}
