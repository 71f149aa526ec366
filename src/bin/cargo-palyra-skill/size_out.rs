//! The size report of `build`, for people: where a module's bytes go, by
//! section, package and function; what each direct dependency costs; what
//! would bring it under the cap; and the profile settings for size that
//! are not set yet.

use std::fmt::Write as _;
use std::path::Path;

use cargo_palyra_skill::fit::FitReport;
use cargo_palyra_skill::fit::report::Kind;
use cargo_palyra_skill::sizes::{Names, SizeReport};
use cargo_palyra_skill::text::thousands;

/// How many packages and functions are listed.
const TOP: usize = 10;

/// The report as lines for stdout.
pub fn render(path: &str, sizes: &SizeReport, fit: &FitReport, named_dir: &Path) -> String {
    let share = |bytes: u64| if fit.cap == 0 { 0.0 } else { bytes as f64 * 100.0 / fit.cap as f64 };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{path}: {} bytes, {:.1}% of the {}-byte module cap (shares below are of the cap)",
        thousands(fit.bytes),
        share(fit.bytes),
        thousands(fit.cap)
    );
    let sections: Vec<String> = sizes
        .sections
        .iter()
        .take(4)
        .map(|s| format!("{} {} ({:.1}%)", s.section, thousands(s.bytes), share(s.bytes)))
        .collect();
    let _ = writeln!(out, "  sections: {}", sections.join(", "));
    let _ = writeln!(
        out,
        "  by package (code and the data its code uses; {:.1}% of the code bytes have a name)",
        fit.named_code_share * 100.0
    );
    let _ = writeln!(out, "    {:>10} {:>6}  {:>9} {:>9}  package", "bytes", "share", "code", "data");
    for package in fit.packages.iter().take(TOP) {
        let name = match (&package.version, package.kind) {
            (Some(version), _) => format!("{} {version}", package.name),
            (None, Kind::Standard) => "std (Rust's library)".to_owned(),
            (None, _) => package.name.clone(),
        };
        let via = if package.path.len() > 2 {
            format!("  via {}", package.path.join(" → "))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "    {:>10} {:>5.1}%  {:>9} {:>9}  {name}{via}",
            thousands(package.bytes()),
            share(package.bytes()),
            thousands(package.code),
            thousands(package.data),
        );
        if let Some(feature) = &package.feature {
            let _ = writeln!(out, "    {:>10} {:>6}  {:>9} {:>9}    {feature}", "", "", "", "");
        }
    }
    if fit.packages.len() > TOP {
        let rest: u64 = fit.packages.iter().skip(TOP).map(|p| p.bytes()).sum();
        let _ = writeln!(
            out,
            "    {:>10} {:>5.1}%  {:>31}",
            thousands(rest),
            share(rest),
            format!("{} more packages", fit.packages.len() - TOP)
        );
    }
    if fit.data_unattributed > 0 {
        let _ = writeln!(
            out,
            "    {:>10} {:>5.1}%  {:>9} {:>9}  data no function addresses directly",
            thousands(fit.data_unattributed),
            share(fit.data_unattributed),
            "",
            thousands(fit.data_unattributed)
        );
    }
    let _ = writeln!(out, "  largest functions (code)");
    for function in sizes.functions.iter().take(TOP) {
        let name = function.name.clone().unwrap_or_else(|| format!("function #{}", function.index));
        let _ =
            writeln!(out, "    {:>10} {:>5.1}%  {name}", thousands(function.bytes), share(function.bytes));
    }
    if !fit.removals.is_empty() {
        let _ = writeln!(out, "  direct dependencies, each with what only it pulls in");
        for removal in fit.removals.iter().take(TOP) {
            let others = removal.packages.iter().filter(|p| **p != removal.dependency).count();
            let with = if others == 0 { String::new() } else { format!(" (with {others} more packages)") };
            let _ = writeln!(
                out,
                "    {:>10} {:>5.1}%  {}{with}",
                thousands(removal.bytes),
                share(removal.bytes),
                removal.dependency
            );
        }
    }
    if fit.bytes > fit.cap {
        if fit.to_fit.is_empty() {
            let _ = writeln!(
                out,
                "  no set of direct dependencies brings it under the cap: the skill's own code and Rust's library are over it"
            );
        } else {
            let saved: u64 =
                fit.removals.iter().filter(|r| fit.to_fit.contains(&r.dependency)).map(|r| r.bytes).sum();
            let _ = writeln!(
                out,
                "  to fit: without {} (about {} bytes less) the module would be about {} bytes, {:.1}% of the cap",
                fit.to_fit.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(" and "),
                thousands(saved),
                thousands(fit.bytes.saturating_sub(saved)),
                share(fit.bytes.saturating_sub(saved))
            );
        }
    }
    let manifest = fit.profile.manifest.display();
    if !fit.profile.ignored.is_empty() {
        let _ = writeln!(
            out,
            "  the crate's own {} is ignored: cargo reads profiles only from the workspace root's `{manifest}`; move them there",
            fit.profile.ignored.join(", ")
        );
    }
    if fit.advice.is_empty() {
        let _ = writeln!(
            out,
            "  `[profile.{}]` in `{manifest}` has every size setting; `cargo palyra-skill tune` weighs `opt-level` against fuel",
            fit.profile.name
        );
    } else {
        let settings: Vec<String> =
            fit.advice.iter().map(|a| format!("{} = {} (now {})", a.key, a.value, a.now)).collect();
        let _ = writeln!(
            out,
            "  smaller with, in `[profile.{}]` of `{manifest}`: {}",
            fit.profile.name,
            settings.join(", ")
        );
    }
    match sizes.names {
        Names::Module => {}
        Names::NamedCopy => {
            let _ = writeln!(out, "  (names from the module's named copy in `{}`)", named_dir.display());
        }
        Names::None => {
            let _ =
                writeln!(out, "  (no function names: the module has no `name` section and no named copy)");
        }
    }
    out
}
