//! The daemon's value grammar for capability lists (docs/host.md, "The
//! grammar of capability values"): how the operator's palyrad.toml lists are parsed at load time,
//! and how requested capabilities and a skill's grants are normalised on
//! every run. Each function mirrors one of the consumer's, message included,
//! so a value refused there is refused here with the same words.

use std::collections::BTreeSet;

use super::HostError;
use crate::runtime::FailureClass;

/// The refusal of `value`, with what the grammar wants and where to fix it:
/// `skill.toml` when the value is the skill's, else the request.
fn invalid(message: String, source: &str, rule: &str, value: &str) -> HostError {
    let lower = value.to_ascii_lowercase();
    let suggestion = if lower != value && grammar_accepts(rule, &lower) {
        format!(" (`{}` would pass)", crate::text::escape(&lower))
    } else {
        String::new()
    };
    let place = if source.starts_with("skill.") {
        "fix it in `skill.toml` (docs/manifest.md): Palyra 0.1.0 installs the skill, but every run of it fails as `invalid_input` until then"
    } else {
        "fix the request"
    };
    HostError::new(FailureClass::InvalidGrant, message, format!("{rule}{suggestion}; {place}"))
}

/// Whether the grammar `rule` names accepts `value`.
fn grammar_accepts(rule: &str, value: &str) -> bool {
    if rule == HOST_RULE {
        host_name(value).is_some()
    } else if rule == STORAGE_RULE {
        storage_prefix(value)
    } else {
        run_identifier(value)
    }
}

const HOST_RULE: &str = "a host is lowercase `a-z 0-9 . -`, with no scheme, port, path or wildcard, and does not start or end with `.` or `-`";
const STORAGE_RULE: &str = "a storage prefix (a `filesystem.write_roots` entry) is lowercase `a-z 0-9 / . _ -`, relative, without `..`";
const HANDLE_RULE: &str = "a handle is lowercase `a-z 0-9 . _ / -`: a secret is `<scope>/<key>`, so only `scope = \"global\"` passes (`skill:…` and `principal:…` hold a `:`) and a key may not hold `:`";

fn trimmed(raw: &[String]) -> impl Iterator<Item = &str> {
    raw.iter().map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// A host name: trailing dots trimmed, lowercased, `[a-z0-9.-]`, no
/// leading or trailing `.`/`-`, no `..`. `None` when it fails.
pub fn host_name(candidate: &str) -> Option<String> {
    let value = candidate.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'))
        && !value.starts_with(['-', '.'])
        && !value.ends_with(['-', '.'])
        && !value.contains("..");
    ok.then_some(value)
}

/// `[a-z0-9._/-]` (secrets and channels at run time).
fn run_identifier(candidate: &str) -> bool {
    candidate
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/'))
}

/// `[a-z0-9._-]` (the operator's secrets and channels: no `/`).
pub fn config_identifier(candidate: &str) -> bool {
    !candidate.contains('/') && run_identifier(candidate)
}

/// `[a-z0-9/._-]`, no `..`, no leading `/` or `\`, no NUL.
pub fn storage_prefix(candidate: &str) -> bool {
    !candidate.contains('\0')
        && !candidate.contains("..")
        && !candidate.starts_with(['/', '\\'])
        && candidate
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '/' | '.' | '_' | '-'))
}

/// Run-time normalisation of HTTP hosts: sorted, de-duplicated.
pub fn hosts(raw: &[String], source: &str) -> Result<Vec<String>, HostError> {
    let mut out = BTreeSet::new();
    for candidate in trimmed(raw) {
        let value = host_name(candidate).ok_or_else(|| {
            invalid(format!("{source} contains invalid host '{candidate}'"), source, HOST_RULE, candidate)
        })?;
        out.insert(value);
    }
    Ok(out.into_iter().collect())
}

/// Run-time normalisation of secrets or channels (`label`: `secret handle`,
/// `channel handle`): sorted, de-duplicated, not lowercased.
pub fn identifiers(raw: &[String], source: &str, label: &str) -> Result<Vec<String>, HostError> {
    let mut out = BTreeSet::new();
    for candidate in trimmed(raw) {
        if !run_identifier(candidate) {
            return Err(invalid(
                format!("{source} contains invalid {label} '{candidate}'"),
                source,
                HANDLE_RULE,
                candidate,
            ));
        }
        out.insert(candidate.to_owned());
    }
    Ok(out.into_iter().collect())
}

/// Run-time normalisation of storage prefixes: sorted, de-duplicated.
pub fn storage_prefixes(raw: &[String], source: &str) -> Result<Vec<String>, HostError> {
    let mut out = BTreeSet::new();
    for candidate in trimmed(raw) {
        if !storage_prefix(candidate) {
            return Err(invalid(
                format!("{source} contains invalid storage prefix '{candidate}'"),
                source,
                STORAGE_RULE,
                candidate,
            ));
        }
        out.insert(candidate.to_owned());
    }
    Ok(out.into_iter().collect())
}

/// How the daemon reads a list from palyrad.toml: the entries joined with
/// A list entry the daemon's grammar refuses, in the daemon's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{list} contains invalid {label} '{value}'")]
pub struct InvalidListEntry {
    /// The setting the list came from.
    pub list: String,
    pub label: String,
    pub value: String,
}

/// `,` and split again (so `"a,b"` is two entries), trimmed, empties
/// dropped, each checked by `check` (which may rewrite it), first
/// occurrence kept.
pub fn config_list(
    raw: &[String],
    check: impl Fn(&str) -> Option<String>,
    source: &str,
    label: &str,
) -> Result<Vec<String>, InvalidListEntry> {
    let joined = raw.join(",");
    let mut out: Vec<String> = Vec::new();
    for candidate in joined.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let value = check(candidate).ok_or_else(|| InvalidListEntry {
            list: source.to_owned(),
            label: label.to_owned(),
            value: candidate.to_owned(),
        })?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::PalyraErrorKind;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hosts_are_lowercased_and_lose_trailing_dots() {
        assert_eq!(
            hosts(&s(&[" API.Example.com. ", "api.example.com", ""]), "x").unwrap(),
            ["api.example.com"]
        );
        for bad in ["-a.com", "a..com", "a_b.com", "*.a.com", "a.com:443", "."] {
            let e = hosts(&s(&[bad]), "capabilities.http_hosts").unwrap_err();
            assert_eq!(e.kind, PalyraErrorKind::InvalidInput, "{bad}");
            assert!(e.message.starts_with("capabilities.http_hosts contains invalid host"), "{}", e.message);
        }
    }

    #[test]
    fn identifiers_keep_case_rules_and_slashes() {
        assert_eq!(identifiers(&s(&["global/key", "b"]), "x", "secret handle").unwrap(), ["b", "global/key"]);
        assert!(identifiers(&s(&["skill:x/key"]), "x", "secret handle").is_err());
        assert!(identifiers(&s(&["Key"]), "x", "secret handle").is_err());
    }

    #[test]
    fn storage_refuses_traversal_and_absolute_paths() {
        assert_eq!(storage_prefixes(&s(&["cache/a"]), "x").unwrap(), ["cache/a"]);
        for bad in ["../a", "/a", "\\a", "Cache", "a b"] {
            assert!(storage_prefixes(&s(&[bad]), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn config_lists_split_on_commas_and_keep_order() {
        let list = config_list(&s(&["b.com, a.com", "B.com"]), host_name, "src", "host").unwrap();
        assert_eq!(list, ["b.com", "a.com"]);
        let check = |c: &str| config_identifier(c).then(|| c.to_owned());
        assert_eq!(
            config_list(
                &s(&["global/key"]),
                check,
                "tool_call.wasm_runtime.allowed_secrets",
                "secret handle"
            )
            .unwrap_err()
            .to_string(),
            "tool_call.wasm_runtime.allowed_secrets contains invalid secret handle 'global/key'"
        );
    }
}
