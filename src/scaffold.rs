//! `new`: a skill crate from the templates, for the Palyra host ABI v1.
//! Names are checked before anything is written, and a failed write
//! leaves nothing behind.

use std::path::{Path, PathBuf};

use crate::manifest::{is_identifier, is_skill_id};

/// Every file of a new crate, and its template.
pub const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/Cargo.toml.tmpl")),
    ("skill.toml", include_str!("../templates/skill.toml.tmpl")),
    ("src/lib.rs", include_str!("../templates/lib.rs.tmpl")),
    ("fixtures/check/granted.json", include_str!("../templates/granted.json.tmpl")),
    ("fixtures/check/not-granted.json", include_str!("../templates/not-granted.json.tmpl")),
    ("fixtures/check/undeclared-host.json", include_str!("../templates/undeclared-host.json.tmpl")),
    (".gitignore", include_str!("../templates/gitignore.tmpl")),
    ("README.md", include_str!("../templates/README.md.tmpl")),
    (".github/workflows/skill.yml", include_str!("../templates/skill-workflow.yml")),
];

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` is not a usable crate name: use lowercase letters, digits, `-` and `_`, starting with a letter (or pass `--name`)"
    )]
    CrateName(String),
    #[error("`{0}` is not a publisher identifier: use lowercase letters, digits, `.`, `_` and `-`")]
    Publisher(String),
    #[error("`{0}` would not be a valid skill id: choose another `--publisher` or `--name`")]
    SkillId(String),
    #[error("`{0}` already exists and is not empty: choose a new path")]
    Occupied(PathBuf),
    #[error("could not write `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What a new crate is called.
#[derive(Debug, Clone)]
pub struct Names {
    pub crate_name: String,
    pub skill_id: String,
    pub tool_id: String,
    pub publisher: String,
}

fn valid_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The crate's names: `name`, else the directory's (`new .` takes the
/// name of the directory it is in), checked as the consumer checks ids.
pub fn names(path: &Path, name: Option<&str>, publisher: &str) -> Result<Names, ScaffoldError> {
    let dir_name = match path.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default(),
    };
    let crate_name = name.map(str::to_owned).unwrap_or(dir_name);
    if !valid_crate_name(&crate_name) {
        return Err(ScaffoldError::CrateName(crate_name));
    }
    let publisher = publisher.trim();
    if !is_identifier(publisher) || publisher.contains(':') {
        return Err(ScaffoldError::Publisher(publisher.to_owned()));
    }
    let skill_id = format!("{publisher}.{}", crate_name.replace('-', "_"));
    if !is_skill_id(&skill_id) {
        return Err(ScaffoldError::SkillId(skill_id));
    }
    Ok(Names { tool_id: format!("{publisher}.check"), publisher: publisher.to_owned(), crate_name, skill_id })
}

/// Where a new crate lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Its own workspace and repository: it holds its size profile and its workflow.
    Alone,
    /// A member of an existing workspace: cargo reads profiles only at the
    /// workspace root, and GitHub workflows only at the repository's, so
    /// neither is written into the crate (see `crate::join`).
    Member,
}

/// The files of a new crate in `layout`.
pub fn files(layout: Layout) -> Vec<&'static str> {
    FILES
        .iter()
        .map(|(rel, _)| *rel)
        .filter(|rel| layout == Layout::Alone || *rel != ".github/workflows/skill.yml")
        .collect()
}

/// A member's `Cargo.toml`: the scaffold's, its `[profile.release]` left to the root.
fn member_cargo_toml(text: &str) -> String {
    let start = text.find("# Small modules load").unwrap_or(text.len());
    let end = text[start..].find("\n\n").map_or(text.len(), |at| start + at + 2);
    format!(
        "{}# The size profile (`opt-level`, `lto`, `strip`, ...) is the workspace root's\n# `[profile.release]`: cargo ignores a member's.\n\n{}",
        &text[..start],
        &text[end..]
    )
}

/// Writes every file of a new crate at `root` (empty, absent, or holding
/// only `.git`); on failure removes what it wrote and nothing else.
pub fn write(root: &Path, names: &Names, layout: Layout) -> Result<(), ScaffoldError> {
    let existed = root.exists();
    // Empty, or holding only a fresh `.git`: nothing of the user's to overwrite.
    let occupied = std::fs::read_dir(root)
        .map(|entries| entries.flatten().any(|e| e.file_name() != ".git"))
        .unwrap_or(true);
    if existed && occupied {
        return Err(ScaffoldError::Occupied(root.to_owned()));
    }
    let lib_name = names.crate_name.replace('-', "_");
    let display_name = names
        .crate_name
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(capitalize)
        .collect::<Vec<_>>()
        .join(" ");
    let substitutions = [
        ("{{crate_name}}", names.crate_name.as_str()),
        ("{{lib_name}}", lib_name.as_str()),
        ("{{skill_id}}", names.skill_id.as_str()),
        ("{{publisher}}", names.publisher.as_str()),
        ("{{display_name}}", display_name.as_str()),
        ("{{tool_version}}", env!("CARGO_PKG_VERSION")),
        ("{{tool_commit}}", env!("PALYRA_SKILL_SOURCE_COMMIT")),
        ("{{tool_commit_note}}", commit_note()),
        ("{{tool_repository}}", env!("CARGO_PKG_REPOSITORY")),
    ];
    let wanted = files(layout);
    let result = FILES.iter().filter(|(rel, _)| wanted.contains(rel)).try_for_each(|(rel, template)| {
        let mut text = (*template).to_owned();
        for (key, value) in &substitutions {
            text = text.replace(key, value);
        }
        if layout == Layout::Member && *rel == "Cargo.toml" {
            text = member_cargo_toml(&text);
        }
        let path = root.join(rel);
        let parent = path.parent().unwrap_or(root);
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| ScaffoldError::Write { path, source })
    });
    if result.is_err() {
        // Leave nothing half-written behind, and nothing else touched (a
        // `.git` that was there stays).
        if existed {
            for (rel, _) in FILES {
                let _ = std::fs::remove_file(root.join(rel));
            }
            for dir in ["src", "fixtures/check", "fixtures", ".github/workflows", ".github"] {
                let _ = std::fs::remove_dir(root.join(dir));
            }
        } else {
            let _ = std::fs::remove_dir_all(root);
        }
    }
    result
}

/// The commit this tool was built from (a 40-hex SHA), when it knows it.
pub fn tool_commit() -> Option<&'static str> {
    Some(env!("PALYRA_SKILL_SOURCE_COMMIT")).filter(|c| !c.is_empty())
}

/// What the workflow's header says about `PALYRA_SKILL_ACTION_SHA`.
fn commit_note() -> &'static str {
    match tool_commit() {
        Some(_) => "`cargo palyra-skill new` wrote the commit it was built from.",
        None => {
            "EMPTY: the cargo-palyra-skill that wrote this was built locally and\n  # knows no commit of its own. Set it to the commit of the action you trust\n  # before you push: the workflow stops until you do."
        }
    }
}
