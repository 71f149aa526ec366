//! "Did you mean": the name a typo away from one that is not accepted, by
//! the edit distance clap uses for its own suggestions. Unknown keys of
//! `skill.toml` and of test cases, fixture folders named after no tool,
//! and a misspelled `[package.metadata.palyra-skill]` table.

use std::path::Path;

/// Our table under `[package.metadata]` in `Cargo.toml`.
pub const METADATA_TABLE: &str = "palyra-skill";

/// How names compare: case, surrounding blanks, and `-` against `_` do not count.
fn fold(name: &str) -> String {
    name.trim().to_lowercase().replace('-', "_")
}

/// The candidate a typo away from `name`: at most two edits (a quarter of
/// the candidate's length for a long one), and fewer than the candidate
/// has characters; the nearest, then the first in order.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let folded = fold(name);
    candidates
        .into_iter()
        .map(|candidate| (strsim::levenshtein(&folded, &fold(candidate)), candidate))
        .filter(|(distance, candidate)| {
            *distance <= 2.max(candidate.len() / 4) && *distance < candidate.trim().len()
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// serde's "unknown field `grant`, expected one of `input`, `grants`, ..."
/// with "(did you mean `grants`?)" after the unknown name, when one of the
/// expected names is a typo away; any other message as it is.
pub fn unknown_field_hint(message: &str) -> String {
    const UNKNOWN: &str = "unknown field `";
    let Some(start) = message.find(UNKNOWN).map(|at| at + UNKNOWN.len()) else {
        return message.to_owned();
    };
    let Some(end) = message[start..].find('`').map(|len| start + len) else {
        return message.to_owned();
    };
    let name = &message[start..end];
    let rest = &message[end + 1..];
    // The expected names follow on the same line, each in backticks.
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let expected = line.split('`').skip(1).step_by(2);
    match closest(name, expected) {
        Some(suggestion) => {
            format!("{} (did you mean `{suggestion}`?){rest}", &message[..=end])
        }
        None => message.to_owned(),
    }
}

/// The tables under `[package.metadata]` of `Cargo.toml` text that are
/// named a typo away from `palyra-skill` (`palyra_skill`, `palyraskill`,
/// `palyra-skills`, ...): cargo keeps any table there, so such a table is
/// silently ignored. Text that is not TOML has none.
pub fn misspelled_metadata_tables(cargo_toml: &str) -> Vec<String> {
    let Ok(document) = cargo_toml.parse::<toml::Table>() else {
        return Vec::new();
    };
    let Some(metadata) = document.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.as_table())
    else {
        return Vec::new();
    };
    // Only letters and digits count: `palyra_skill`, `palyra.skill` (quoted)
    // and `PalyraSkill` are all `palyraskill`.
    let squash = |name: &str| {
        name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect::<String>()
    };
    let ours = squash(METADATA_TABLE);
    let mut names: Vec<String> = metadata
        .iter()
        .filter(|(name, value)| {
            name.as_str() != METADATA_TABLE
                && value.is_table()
                && strsim::levenshtein(&squash(name), &ours) <= 2
        })
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

/// A warning for each misspelled `[package.metadata.palyra-skill]` table
/// in the crate's `Cargo.toml`; `krate` is the crate's directory or its
/// `Cargo.toml` (none when it cannot be read: the build says so).
pub fn metadata_table_warnings(krate: &Path) -> Vec<String> {
    let manifest = if krate.is_dir() { krate.join("Cargo.toml") } else { krate.to_owned() };
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return Vec::new();
    };
    misspelled_metadata_tables(&text)
        .into_iter()
        .map(|name| {
            let shown = if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                name.clone()
            } else {
                format!("\"{}\"", name.escape_default())
            };
            format!(
                "`[package.metadata.{shown}]` in `{}` is not read (cargo keeps any table there, so its settings are ignored): the table is `[package.metadata.{METADATA_TABLE}]`, rename it",
                crate::text::escape(&manifest.display().to_string())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_nearest_name_and_a_stranger_none() {
        let fields = ["input", "expect", "max_fuel", "grants", "operator"];
        assert_eq!(closest("grant", fields), Some("grants"));
        assert_eq!(closest("Grants", fields), Some("grants"));
        assert_eq!(closest("max-fuel", fields), Some("max_fuel"));
        assert_eq!(closest("expected", fields), Some("expect"));
        assert_eq!(closest("colour", fields), None);
        assert_eq!(closest("ab", ["cd"]), None, "two edits of two letters is another word");
    }

    #[test]
    fn serde_unknown_field_messages_get_the_hint_in_place() {
        assert_eq!(
            unknown_field_hint("unknown field `grant`, expected one of `input`, `grants` at line 1 column 8"),
            "unknown field `grant` (did you mean `grants`?), expected one of `input`, `grants` at line 1 column 8"
        );
        assert_eq!(
            unknown_field_hint("unknown field `fuel_budjet`, expected `fuel_budget` or `max_memory_bytes`"),
            "unknown field `fuel_budjet` (did you mean `fuel_budget`?), expected `fuel_budget` or `max_memory_bytes`"
        );
        let toml = "TOML parse error at line 3, column 1\n  |\n3 | grnts = 1\n  | ^^^^^\nunknown field `grnts`, expected `grants`\n";
        assert!(
            unknown_field_hint(toml).contains("unknown field `grnts` (did you mean `grants`?), expected")
        );
        for unchanged in [
            "unknown field `zzz`, expected one of `input`, `grants`",
            "unknown field `x`, there are no fields",
            "invalid type: string \"a\", expected u64",
        ] {
            assert_eq!(unknown_field_hint(unchanged), unchanged);
        }
    }

    #[test]
    fn near_misses_of_the_metadata_table_are_found_and_others_left_alone() {
        let cargo_toml = r#"
            [package]
            name = "x"
            [package.metadata.palyra_skill]
            abi = "wasi-json"
            [package.metadata.palyraskill]
            [package.metadata.palyra-skills]
            [package.metadata."Palyra Skill"]
            [package.metadata.palyra-skill]
            [package.metadata.binstall]
            [package.metadata.palyra]
        "#;
        assert_eq!(
            misspelled_metadata_tables(cargo_toml),
            ["Palyra Skill", "palyra-skills", "palyra_skill", "palyraskill"]
        );
        assert!(misspelled_metadata_tables("[package]\nname = \"x\"\n").is_empty());
        assert!(misspelled_metadata_tables("not toml [").is_empty());
    }
}
