//! The one place the library reads the process environment: every variable
//! it honours is a [`Var`] here (the binary reads its own, such as
//! `PALYRA_SKILL_SIGNING_KEY`, and hands provenance the GitHub ones through
//! `Environment::detect`).

use std::ffi::OsString;
use std::path::PathBuf;

/// A variable the library honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// Seconds since 1970 for every timestamp (reproducible builds).
    SourceDateEpoch,
    Home,
    CargoHome,
    RustupHome,
    /// The `cargo` and `rustc` cargo itself runs with.
    Cargo,
    Rustc,
    CargoEncodedRustflags,
    Rustflags,
    ConfigDir,
    XdgConfigHome,
    CacheDir,
    XdgCacheHome,
    StateDir,
    XdgDataHome,
    /// Seconds to wait for a lock another process holds.
    LockWaitSecs,
    /// A finished call's wall time, in debug builds only: the tests' clock.
    TestWallMs,
}

impl Var {
    pub const ALL: [Var; 16] = [
        Var::SourceDateEpoch,
        Var::Home,
        Var::CargoHome,
        Var::RustupHome,
        Var::Cargo,
        Var::Rustc,
        Var::CargoEncodedRustflags,
        Var::Rustflags,
        Var::ConfigDir,
        Var::XdgConfigHome,
        Var::CacheDir,
        Var::XdgCacheHome,
        Var::StateDir,
        Var::XdgDataHome,
        Var::LockWaitSecs,
        Var::TestWallMs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Var::SourceDateEpoch => "SOURCE_DATE_EPOCH",
            Var::Home => "HOME",
            Var::CargoHome => "CARGO_HOME",
            Var::RustupHome => "RUSTUP_HOME",
            Var::Cargo => "CARGO",
            Var::Rustc => "RUSTC",
            Var::CargoEncodedRustflags => "CARGO_ENCODED_RUSTFLAGS",
            Var::Rustflags => "RUSTFLAGS",
            Var::ConfigDir => "PALYRA_SKILL_CONFIG_DIR",
            Var::XdgConfigHome => "XDG_CONFIG_HOME",
            Var::CacheDir => "PALYRA_SKILL_CACHE_DIR",
            Var::XdgCacheHome => "XDG_CACHE_HOME",
            Var::StateDir => "PALYRA_SKILL_STATE_DIR",
            Var::XdgDataHome => "XDG_DATA_HOME",
            Var::LockWaitSecs => "PALYRA_SKILL_LOCK_WAIT_SECS",
            Var::TestWallMs => "__PALYRA_SKILL_TEST_WALL_MS",
        }
    }
}

/// `CARGO_PROFILE_<NAME>_<KEY>`, cargo's override of a profile's setting
/// (`strip`, `opt-level`, ...; its name holds the profile's, so it is not one `Var`).
pub fn cargo_profile(profile: &str, key: &str) -> Option<String> {
    let upper = |name: &str| name.to_ascii_uppercase().replace('-', "_");
    std::env::var(format!("CARGO_PROFILE_{}_{}", upper(profile), upper(key))).ok()
}

/// The raw value, when set.
pub fn os(var: Var) -> Option<OsString> {
    std::env::var_os(var.name())
}

/// The value as UTF-8, when set and valid.
pub fn string(var: Var) -> Option<String> {
    std::env::var(var.name()).ok()
}

/// A directory named by `var`, when set and not empty.
pub fn path(var: Var) -> Option<PathBuf> {
    os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No other library file reads the environment.
    #[test]
    fn only_this_module_reads_the_environment() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if path.file_name() != Some("bin".as_ref()) {
                        walk(&path, found);
                    }
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path.file_name() != Some("env.rs".as_ref())
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains("env::var") {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.is_empty(), "{found:?} read the environment: add a `Var` here instead");
        let names: std::collections::BTreeSet<&str> = Var::ALL.iter().map(|v| v.name()).collect();
        assert_eq!(names.len(), Var::ALL.len());
    }
}
