//! The compiler a build used and the ones this machine has: fields of
//! `rustc -vV`, whether two are the same compiler, which installed rustup
//! toolchain is, and the install command for one that is not.

use crate::names::{chars_in, is_date, is_rustc_release};

/// One `key: value` line of `rustc -vV` output.
pub fn rustc_field<'a>(rustc_vv: &'a str, key: &str) -> Option<&'a str> {
    rustc_vv.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(':')).map(str::trim)
}

/// Whether two `rustc -vV` outputs are the same compiler (release and commit).
pub fn same_compiler(a: &str, b: &str) -> bool {
    let key = |v| (rustc_field(v, "release"), rustc_field(v, "commit-hash"));
    key(a).0.is_some() && key(a) == key(b)
}

/// The `rustup toolchain install` command that brings the compiler of
/// `rustc_vv` with `target`.
/// `None` unless every part is in its grammar: it is printed for the user to run.
pub fn install_command(rustc_vv: &str, target: &str) -> Option<String> {
    let release = rustc_field(rustc_vv, "release").filter(|r| is_rustc_release(r))?;
    let name = match release.split_once('-') {
        None => release.to_owned(),
        // Nightlies and betas are named by date; the commit date is the
        // day before the toolchain's at most.
        Some((_, channel)) => {
            let channel = channel.split('.').next().unwrap_or(channel);
            format!("{channel}-{}", rustc_field(rustc_vv, "commit-date").filter(|d| is_date(d))?)
        }
    };
    chars_in(target, 64, b".").then(|| format!("rustup toolchain install {name} --target {target}"))
}

/// The commit and dirty flag of the git work tree around `dir`.
pub fn checkout(dir: &std::path::Path) -> Option<crate::provenance::SourceInfo> {
    crate::stamp::git_source(dir)
}

/// `rustc -vV` of the compiler a build would use now.
pub fn current_rustc() -> String {
    tool_version(crate::env::Var::Rustc, "rustc", &["-vV"], None)
}

/// An installed rustup toolchain whose compiler is the one of `rustc_vv`
/// (each toolchain is asked, so `stable` or `1.95` aliases count).
pub fn installed_toolchain(rustc_vv: &str) -> Option<String> {
    let list = std::process::Command::new("rustup").args(["toolchain", "list"]).output().ok()?;
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .find(|name| {
            same_compiler(rustc_vv, &tool_version(crate::env::Var::Rustc, "rustc", &["-vV"], Some(name)))
        })
}

/// The trimmed output of `default args` (see [`crate::cargo::tool`]), or `unknown`.
pub fn tool_version(var: crate::env::Var, default: &str, args: &[&str], toolchain: Option<&str>) -> String {
    crate::cargo::tool(var, default, toolchain)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
