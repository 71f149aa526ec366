//! `new`: scaffold a skill crate that builds, tests and runs out of the box.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::manifest::{is_identifier, is_skill_id};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::shell::{MessageFormat, Shell};

/// Create a new skill crate at PATH.
///
/// Writes a skill for the Palyra host ABI v1 (`wasm32-unknown-unknown`, the
/// module Palyra 0.1.0 runs): `Cargo.toml` (a size-tuned cdylib, no
/// dependencies), `skill.toml` (one `check` tool, an HTTP capability,
/// quotas within the host's caps, operator metadata), `src/lib.rs` (`run`
/// and safe wrappers over the eight host functions), test cases in
/// `fixtures/check/` (granted, not granted, denied), `.gitignore`, a README
/// and a GitHub workflow. Refuses a non-empty directory.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill new demo\n",
    "  cargo palyra-skill new skills/weather --publisher acme --name weather\n",
    "  cargo palyra-skill new . --vcs none\n\n",
    exit_status!()
))]
pub struct Opts {
    /// Where to create the crate
    path: PathBuf,
    /// Publisher identifier (`a-z 0-9 . _ - :`), the namespace of the tool ids
    #[arg(long, value_name = "PUBLISHER", default_value = "example")]
    publisher: String,
    /// Crate name [default: the directory name]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Version control: `git` runs `git init` unless PATH is already inside a work tree
    #[arg(long, value_enum, value_name = "VCS", default_value_t = Vcs::Git)]
    vcs: Vcs,
    /// Output format
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Vcs {
    Git,
    None,
}

const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../../templates/Cargo.toml.tmpl")),
    ("skill.toml", include_str!("../../../../templates/skill.toml.tmpl")),
    ("src/lib.rs", include_str!("../../../../templates/lib.rs.tmpl")),
    ("fixtures/check/granted.json", include_str!("../../../../templates/granted.json.tmpl")),
    ("fixtures/check/not-granted.json", include_str!("../../../../templates/not-granted.json.tmpl")),
    ("fixtures/check/undeclared-host.json", include_str!("../../../../templates/undeclared-host.json.tmpl")),
    (".gitignore", include_str!("../../../../templates/gitignore.tmpl")),
    ("README.md", include_str!("../../../../templates/README.md.tmpl")),
    (".github/workflows/skill.yml", include_str!("../../../../templates/skill-workflow.yml")),
];

#[derive(Serialize)]
struct Report {
    path: PathBuf,
    crate_name: String,
    skill_id: String,
    tool_id: String,
    files: Vec<&'static str>,
    /// `initialized`, `existing` (inside a work tree already), `none`
    /// (`--vcs none`) or `unavailable` (no `git` on PATH).
    git: &'static str,
}

/// `git init` at `path` unless it is already inside a work tree.
fn init_git(path: &Path, shell: &mut Shell) -> &'static str {
    let inside = std::process::Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(path)
        .stderr(std::process::Stdio::null())
        .output();
    match inside {
        Err(_) => {
            shell.warn("`git` is not on PATH: no repository was created (install git, or pass `--vcs none`)");
            "unavailable"
        }
        Ok(out) if out.status.success() => "existing",
        Ok(_) => match std::process::Command::new("git").args(["init", "--quiet"]).current_dir(path).status()
        {
            Ok(status) if status.success() => "initialized",
            _ => {
                shell.warn(format_args!(
                    "`git init` failed in `{}`: no repository was created",
                    path.display()
                ));
                "unavailable"
            }
        },
    }
}

fn valid_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

fn write_all(root: &Path, substitutions: &[(&str, &str)]) -> Result<()> {
    for (rel, template) in FILES {
        let mut text = (*template).to_owned();
        for (key, value) in substitutions {
            text = text.replace(key, value);
        }
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("could not create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("could not write `{}`", path.display()))?;
    }
    Ok(())
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        // `new .` takes the name of the directory it is in.
        let dir_name = match self.path.file_name() {
            Some(name) => name.to_string_lossy().into_owned(),
            None => std::fs::canonicalize(&self.path)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default(),
        };
        let crate_name = self.name.clone().unwrap_or(dir_name);
        if !valid_crate_name(&crate_name) {
            bail!(
                "`{crate_name}` is not a usable crate name: use lowercase letters, digits, `-` and `_`, starting with a letter (or pass `--name`)"
            );
        }
        let publisher = self.publisher.trim();
        if !is_identifier(publisher) || publisher.contains(':') {
            bail!(
                "`{publisher}` is not a publisher identifier: use lowercase letters, digits, `.`, `_` and `-`"
            );
        }
        let skill_id = format!("{publisher}.{}", crate_name.replace('-', "_"));
        if !is_skill_id(&skill_id) {
            bail!("`{skill_id}` would not be a valid skill id: choose another `--publisher` or `--name`");
        }
        let existed = self.path.exists();
        // Empty, or holding only a fresh `.git`: nothing of the user's to overwrite.
        let occupied = std::fs::read_dir(&self.path)
            .map(|entries| entries.flatten().any(|e| e.file_name() != ".git"))
            .unwrap_or(true);
        if existed && occupied {
            bail!("`{}` already exists and is not empty: choose a new path", self.path.display());
        }
        let lib_name = crate_name.replace('-', "_");
        let display_name = crate_name
            .split(['-', '_'])
            .filter(|w| !w.is_empty())
            .map(capitalize)
            .collect::<Vec<_>>()
            .join(" ");
        let substitutions = [
            ("{{crate_name}}", crate_name.as_str()),
            ("{{lib_name}}", lib_name.as_str()),
            ("{{skill_id}}", skill_id.as_str()),
            ("{{publisher}}", publisher),
            ("{{display_name}}", display_name.as_str()),
            ("{{tool_version}}", env!("CARGO_PKG_VERSION")),
            ("{{tool_repository}}", env!("CARGO_PKG_REPOSITORY")),
        ];
        if let Err(error) = write_all(&self.path, &substitutions) {
            // Leave nothing half-written behind, and nothing else touched
            // (a `.git` that was there stays).
            if existed {
                for (rel, _) in FILES {
                    let _ = std::fs::remove_file(self.path.join(rel));
                }
                for dir in ["src", "fixtures/check", "fixtures", ".github/workflows", ".github"] {
                    let _ = std::fs::remove_dir(self.path.join(dir));
                }
            } else {
                let _ = std::fs::remove_dir_all(&self.path);
            }
            return Err(error);
        }
        let tool_id = format!("{publisher}.check");
        shell.status(
            "Created",
            format_args!("skill `{skill_id}` (crate `{crate_name}`) in `{}`", self.path.display()),
        );
        let git = match self.vcs {
            Vcs::Git => init_git(&self.path, shell),
            Vcs::None => "none",
        };
        let report = Report {
            path: self.path.clone(),
            crate_name,
            skill_id,
            tool_id,
            files: FILES.iter().map(|(rel, _)| *rel).collect(),
            git,
        };
        match self.message_format {
            MessageFormat::Json => shell.print_json(&report)?,
            // Guidance, not data: `-q` keeps it quiet.
            MessageFormat::Human if shell.is_quiet() => {}
            MessageFormat::Human => {
                let mut text = String::from("wrote:\n");
                for (rel, _) in FILES {
                    let what = match *rel {
                        ".github/workflows/skill.yml" => {
                            "  (GitHub workflow: checks pull requests, signs and releases `v*` tags)"
                        }
                        _ => "",
                    };
                    text.push_str(&format!("  {rel}{what}\n"));
                }
                if git == "initialized" {
                    text.push_str("  .git/ (a new git repository; `--vcs none` skips it)\n");
                }
                text.push_str(&format!(
                    "next:\n  cd {}\n  cargo palyra-skill build\n  cargo palyra-skill test\n  cargo palyra-skill run --allow-http api.example.com",
                    self.path.display(),
                ));
                shell.print(text)?
            }
        }
        Ok(Outcome::Success)
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}
