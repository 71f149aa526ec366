//! `new` inside an existing cargo workspace: the new crate joins it. Its
//! path goes into `[workspace] members` (comments and layout kept), the
//! size profile goes to the root (cargo ignores a member's), and the
//! root's `.gitignore` ignores the root `target/`.

use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, value};

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("could not read `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{path}` is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error(
        "`{path}` has a `[workspace] members` that is not an array of paths: make it one, such as `members = [\"skills/*\"]`"
    )]
    Members { path: PathBuf },
    #[error("could not write `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The size profile a skill needs, as the scaffold's `Cargo.toml` sets it.
pub const PROFILE: &[(&str, &str)] = &[
    ("opt-level", "\"s\""),
    ("lto", "true"),
    ("codegen-units", "1"),
    ("panic", "\"abort\""),
    ("strip", "true"),
];

/// What joining the workspace did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Joined {
    /// The workspace root's `Cargo.toml`.
    pub root_manifest: PathBuf,
    /// The member's path from the root, as `members` holds it.
    pub member: String,
    /// Whether it was added to `members` (else an entry or glob already names it).
    pub added: bool,
    /// Whether the root got the size profile as `[profile.release]` (it had none).
    pub profile_added: bool,
    /// Settings of the size profile the root's own `[profile.release]` lacks.
    pub profile_missing: Vec<String>,
    /// Lines added to the root's `.gitignore` (`/target`, key files).
    pub gitignore_added: Vec<String>,
}

/// The workspace a crate created at `path` would belong to: the nearest
/// `Cargo.toml` with a `[workspace]` table above it, as cargo looks.
pub fn enclosing_workspace(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    absolute.ancestors().skip(1).map(|dir| dir.join("Cargo.toml")).find(|manifest| {
        std::fs::read_to_string(manifest)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .is_some_and(|table| table.contains_key("workspace"))
    })
}

/// Adds the crate at `member_dir` to the workspace of `root_manifest`.
pub fn join(root_manifest: &Path, member_dir: &Path) -> Result<Joined, JoinError> {
    let root = root_manifest.parent().unwrap_or(Path::new("."));
    let member_abs = std::path::absolute(member_dir)
        .map_err(|source| JoinError::Read { path: member_dir.to_owned(), source })?;
    let member = relative(root, &member_abs);
    let text = std::fs::read_to_string(root_manifest)
        .map_err(|source| JoinError::Read { path: root_manifest.to_owned(), source })?;
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| JoinError::Toml {
        path: root_manifest.to_owned(),
        message: e.to_string(),
    })?;
    let bad_members = || JoinError::Members { path: root_manifest.to_owned() };
    let workspace = doc.entry("workspace").or_insert(Item::Table(Table::new()));
    let workspace = workspace.as_table_like_mut().ok_or_else(bad_members)?;
    let members = workspace.entry("members").or_insert(value(Array::new()));
    let members = members.as_array_mut().ok_or_else(bad_members)?;
    let named =
        members.iter().any(|entry| entry.as_str().is_some_and(|pattern| glob_matches(pattern, &member)));
    if !named {
        push_member(members, &member);
    }

    let (profile_added, profile_missing) = match doc.get("profile").and_then(|p| p.get("release")) {
        Some(release) => {
            let missing = PROFILE
                .iter()
                .filter(|(key, _)| release.get(key).is_none())
                .map(|(key, setting)| format!("{key} = {setting}"))
                .collect();
            (false, missing)
        }
        None => {
            let mut release = Table::new();
            release.decor_mut().set_prefix(
                "\n# Small modules load and compile faster, and Palyra refuses modules over\n# the operator's `max_module_size_bytes` (256 KiB by default). Cargo reads\n# profiles only here, at the workspace root: they apply to every member.\n",
            );
            for (key, setting) in PROFILE {
                let parsed: toml_edit::Value = setting.parse().expect("a TOML value");
                release.insert(key, value(parsed));
            }
            let profiles = doc.entry("profile").or_insert(Item::Table(Table::new()));
            if let Some(profiles) = profiles.as_table_mut() {
                profiles.set_implicit(true);
                profiles.insert("release", Item::Table(release));
            }
            (true, Vec::new())
        }
    };
    let updated = doc.to_string();
    if updated != text {
        crate::fsutil::write_atomic(
            root_manifest,
            updated.as_bytes(),
            Some(0o644),
            crate::fsutil::Existing::Replace,
        )
        .map_err(|source| JoinError::Write { path: root_manifest.to_owned(), source })?;
    }
    let gitignore_added = ignore_at_root(root)?;
    Ok(Joined {
        root_manifest: root_manifest.to_owned(),
        member,
        added: !named,
        profile_added,
        profile_missing,
        gitignore_added,
    })
}

/// Appends `member` to `members` in its layout: on a line of its own, as
/// the entry before it, in a list written a line per entry; the comment
/// after the last entry stays on that entry's line.
fn push_member(members: &mut Array, member: &str) {
    let trailing = members.trailing().as_str().unwrap_or_default().to_owned();
    let last_prefix = members
        .iter()
        .last()
        .and_then(|entry| entry.decor().prefix())
        .and_then(|prefix| prefix.as_str())
        .unwrap_or_default()
        .to_owned();
    let one_a_line = trailing.contains('\n') || last_prefix.contains('\n');
    if !one_a_line {
        members.push(member);
        return;
    }
    let indent = last_prefix.rsplit('\n').next().filter(|i| !i.is_empty()).unwrap_or("    ").to_owned();
    // The comment after the last entry ends with the newline before `]`.
    let (comment, _) = trailing.rsplit_once('\n').unwrap_or(("", ""));
    let mut entry = toml_edit::Value::from(member);
    entry.decor_mut().set_prefix(format!("{comment}\n{indent}"));
    members.push_formatted(entry);
    members.set_trailing("\n");
    members.set_trailing_comma(true);
}

/// Appends to the root's `.gitignore` what it lacks of `/target` and the key files.
fn ignore_at_root(root: &Path) -> Result<Vec<String>, JoinError> {
    let path = root.join(".gitignore");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(JoinError::Read { path, source }),
    };
    let has =
        |line: &str| text.lines().any(|l| l.trim() == line || (line == "/target" && l.trim() == "target"));
    let missing: Vec<String> =
        ["/target", "*.pem", "*.key"].into_iter().filter(|l| !has(l)).map(str::to_owned).collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut updated = text.clone();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    for line in &missing {
        if line == "*.pem" {
            updated.push_str("# Private keys never belong in the repository.\n");
        }
        updated.push_str(line);
        updated.push('\n');
    }
    crate::fsutil::write_atomic(&path, updated.as_bytes(), Some(0o644), crate::fsutil::Existing::Replace)
        .map_err(|source| JoinError::Write { path, source })?;
    Ok(missing)
}

/// `path` from `root`, with `/` between components (`skills/weather`).
fn relative(root: &Path, path: &Path) -> String {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
    let rel = path.strip_prefix(&root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Whether a `members` entry (a path, or a glob of `*` and `?` within
/// components) names `member`.
fn glob_matches(pattern: &str, member: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').filter(|p| *p != ".").collect();
    let member: Vec<&str> = member.split('/').collect();
    pattern.len() == member.len()
        && pattern.iter().zip(&member).all(|(p, m)| component_matches(p.as_bytes(), m.as_bytes()))
}

fn component_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            component_matches(&pattern[1..], name)
                || (!name.is_empty() && component_matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => component_matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => component_matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_joins_with_comments_kept_and_the_profile_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Cargo.toml");
        std::fs::write(
            &root,
            "# the repository's skills\n[workspace]\nmembers = [\n    \"skills/alpha\", # the first\n]\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("skills/beta")).unwrap();
        let joined = join(&root, &dir.path().join("skills/beta")).unwrap();
        assert!(joined.added && joined.profile_added);
        assert_eq!(joined.member, "skills/beta");
        assert_eq!(joined.gitignore_added, ["/target", "*.pem", "*.key"]);
        let text = std::fs::read_to_string(&root).unwrap();
        assert!(text.starts_with("# the repository's skills\n[workspace]\n"), "{text}");
        assert!(
            text.contains("members = [\n    \"skills/alpha\", # the first\n    \"skills/beta\",\n]\n"),
            "{text}"
        );
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["workspace"]["members"].as_array().unwrap().len(), 2);
        assert_eq!(table["profile"]["release"]["opt-level"].as_str(), Some("s"));

        // Again: nothing more to add.
        let again = join(&root, &dir.path().join("skills/beta")).unwrap();
        assert!(!again.added && !again.profile_added && again.gitignore_added.is_empty());
        assert!(again.profile_missing.is_empty());
    }

    #[test]
    fn a_glob_already_names_the_member() {
        assert!(glob_matches("skills/*", "skills/beta"));
        assert!(glob_matches("./skills/b?ta/", "skills/beta"));
        assert!(!glob_matches("skills/*", "tools/beta"));
        assert!(!glob_matches("skills", "skills/beta"));
        assert!(glob_matches("*", "beta"));
    }
}
