//! The profile a skill is built with, as cargo resolves it: a setting from
//! `CARGO_PROFILE_<NAME>_<KEY>`, else from `[profile.<name>]` of the
//! workspace root's `Cargo.toml` (following `inherits`; `release` and
//! `dev` are cargo's own), else cargo's default. A member's own
//! `[profile]` is ignored by cargo, so it is reported, not read. A
//! `[profile]` in a cargo config file is not read.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::named::Strip;

/// The settings that decide a module's size and fuel.
pub const SIZE_KEYS: &[&str] = &["opt-level", "lto", "codegen-units", "panic", "strip", "debug"];

/// One setting's value, as TOML writes it (`"z"`, `true`, `1`), and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: String,
    /// `None`: unset, cargo's default applies.
    pub value: Option<String>,
    /// `Cargo.toml` (the workspace root's) or the variable's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: String,
    pub settings: Vec<Setting>,
    /// The workspace root's `Cargo.toml`, where cargo reads profiles.
    pub manifest: PathBuf,
    /// A member's own `[profile]` tables, which cargo ignores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

impl Profile {
    /// The profile `name` for the crate in `crate_dir` of the workspace at `workspace_root`.
    pub fn read(workspace_root: &Path, crate_dir: &Path, name: &str) -> Profile {
        let manifest = workspace_root.join("Cargo.toml");
        let profiles = profiles_of(&manifest);
        let settings = SIZE_KEYS
            .iter()
            .map(|key| {
                let var = format!("CARGO_PROFILE_{}_{}", upper(name), upper(key));
                if let Some(value) = crate::env::cargo_profile(name, key) {
                    return Setting { key: (*key).to_owned(), value: Some(value), from: Some(var) };
                }
                let value = lookup(&profiles, name, key).map(|v| match v {
                    toml::Value::String(s) => format!("\"{s}\""),
                    other => other.to_string(),
                });
                let from = value.as_ref().map(|_| "Cargo.toml".to_owned());
                Setting { key: (*key).to_owned(), value, from }
            })
            .collect();
        let ignored = if same_dir(workspace_root, crate_dir) {
            Vec::new()
        } else {
            profiles_of(&crate_dir.join("Cargo.toml")).keys().map(|k| format!("[profile.{k}]")).collect()
        };
        Profile { name: name.to_owned(), settings, manifest, ignored }
    }

    /// A setting's value without TOML quotes (`z`, `true`, `1`).
    pub fn get(&self, key: &str) -> Option<String> {
        let setting = self.settings.iter().find(|s| s.key == key)?;
        setting.value.as_deref().map(|v| v.trim_matches('"').to_owned())
    }
}

fn upper(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    canonical(a) == canonical(b)
}

/// The `[profile]` tables of a `Cargo.toml` (none when it does not parse).
pub fn profiles_of(manifest: &Path) -> toml::Table {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|mut table| table.remove("profile"))
        .and_then(|profiles| match profiles {
            toml::Value::Table(table) => Some(table),
            _ => None,
        })
        .unwrap_or_default()
}

/// `key` of profile `name`, following `inherits` (`bench` inherits
/// `release` and `test` `dev` unless they say otherwise).
pub fn lookup<'a>(profiles: &'a toml::Table, name: &str, key: &str) -> Option<&'a toml::Value> {
    let mut name = name.to_owned();
    // `inherits` chains are short; a cycle (which cargo refuses) ends here.
    for _ in 0..8 {
        let table = profiles.get(&name).and_then(toml::Value::as_table);
        if let Some(value) = table.and_then(|t| t.get(key)) {
            return Some(value);
        }
        name = match (table.and_then(|t| t.get("inherits")).and_then(toml::Value::as_str), name.as_str()) {
            (Some(parent), _) => parent.to_owned(),
            (None, "bench") => "release".to_owned(),
            (None, "test") => "dev".to_owned(),
            (None, _) => return None,
        };
    }
    None
}

/// The `strip` the profile `profile` gives the skill crate's link, as cargo
/// resolves it: `CARGO_PROFILE_<NAME>_STRIP`, else `[profile.<name>] strip`
/// in the workspace's `Cargo.toml` (following `inherits`; `bench` inherits
/// `release` and `test` `dev`), else cargo's default: `debuginfo` for a
/// profile without debug info (`debuginfo`, from cargo's own report of the
/// link), else `none`. A `[profile]` of a cargo config file is not read.
pub fn strip_of(workspace_root: &Path, profile: &str, debuginfo: bool) -> Strip {
    let default = if debuginfo { Strip::None } else { Strip::Debuginfo };
    if let Some(value) = crate::env::cargo_profile(profile, "strip").and_then(|v| Strip::parse(&v)) {
        return value;
    }
    let profiles = profiles_of(&workspace_root.join("Cargo.toml"));
    match lookup(&profiles, profile, "strip") {
        Some(toml::Value::Boolean(true)) => Strip::Symbols,
        Some(toml::Value::Boolean(false)) => Strip::None,
        Some(toml::Value::String(value)) => Strip::parse(value).unwrap_or(default),
        _ => default,
    }
}

/// What to set for a smaller module, naming only what is not set yet:
/// `(key, the value to set, what it is now)`.
pub fn size_advice(profile: &Profile) -> Vec<(String, String, String)> {
    let now = |key: &str| profile.get(key);
    let shown = |key: &str| now(key).unwrap_or_else(|| "unset".to_owned());
    let mut advice = Vec::new();
    let mut want = |key: &str, value: &str, ok: bool| {
        if !ok {
            advice.push((key.to_owned(), value.to_owned(), shown(key)));
        }
    };
    want("opt-level", "\"z\"", matches!(now("opt-level").as_deref(), Some("z" | "s")));
    want("lto", "true", matches!(now("lto").as_deref(), Some("true" | "fat")));
    want("codegen-units", "1", now("codegen-units").as_deref() == Some("1"));
    want("panic", "\"abort\"", now("panic").as_deref() == Some("abort"));
    want("strip", "true", matches!(now("strip").as_deref(), Some("true" | "symbols")));
    advice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::Strip;

    #[test]
    fn the_strip_of_a_profile_is_its_own_or_inherited_or_cargos_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            r#"[package]
name = "x"
[profile.release]
strip = true
[profile.palyra-test-small]
inherits = "release"
[profile.palyra-test-names]
inherits = "release"
strip = "debuginfo"
[profile.palyra-test-dev]
inherits = "dev"
"#,
        )
        .unwrap();
        let strip = |profile: &str, debuginfo: bool| strip_of(dir.path(), profile, debuginfo);
        assert_eq!(strip("release", false), Strip::Symbols);
        assert_eq!(strip("palyra-test-small", false), Strip::Symbols, "inherited");
        assert_eq!(strip("palyra-test-names", false), Strip::Debuginfo, "its own wins");
        assert_eq!(strip("palyra-test-dev", false), Strip::Debuginfo, "cargo's default without debug info");
        assert_eq!(strip("palyra-test-dev", true), Strip::None, "and with it");
        assert_eq!(strip_of(&dir.path().join("none"), "release", false), Strip::Debuginfo);
    }

    #[test]
    fn settings_come_from_the_root_and_advice_names_only_what_is_unset() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\n[profile.release]\nopt-level = \"s\"\nlto = true\n[profile.small]\ninherits = \"release\"\ncodegen-units = 1\n",
        )
        .unwrap();
        let member = root.path().join("skills/a");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(
            member.join("Cargo.toml"),
            "[package]\nname = \"a\"\n[profile.release]\nopt-level = 3\n",
        )
        .unwrap();
        let profile = Profile::read(root.path(), &member, "small");
        assert_eq!(profile.get("opt-level").as_deref(), Some("s"), "inherited from release");
        assert_eq!(profile.get("codegen-units").as_deref(), Some("1"));
        assert_eq!(profile.get("panic"), None);
        assert_eq!(profile.ignored, vec!["[profile.release]".to_owned()], "the member's own is ignored");
        let keys: Vec<String> = size_advice(&profile).into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(keys, ["panic", "strip"]);
        assert!(Profile::read(root.path(), root.path(), "release").ignored.is_empty());
    }
}
