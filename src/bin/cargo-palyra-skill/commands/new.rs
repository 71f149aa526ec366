//! `new`: scaffold a skill crate that builds, tests and runs out of the box.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_palyra_skill::scaffold::{self, Names};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::shell::{MessageFormat, OutputArgs, Shell};

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
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Vcs {
    Git,
    None,
}

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

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let names = scaffold::names(&self.path, self.name.as_deref(), &self.publisher)?;
        scaffold::write(&self.path, &names)?;
        let Names { crate_name, skill_id, tool_id, .. } = names;
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
            files: scaffold::FILES.iter().map(|(rel, _)| *rel).collect(),
            git,
        };
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&report)?,
            // Guidance, not data: `-q` keeps it quiet.
            MessageFormat::Human if shell.is_quiet() => {}
            MessageFormat::Human => {
                let mut text = String::from("wrote:\n");
                for (rel, _) in scaffold::FILES {
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
                    "next:\n  cd {}\n  cargo palyra-skill build\n  cargo palyra-skill test --save-baseline   # then commit fuel-baseline.json: pull requests are held to it\n  cargo palyra-skill run --allow-http api.example.com",
                    self.path.display(),
                ));
                shell.print(text)?
            }
        }
        Ok(Outcome::Success)
    }
}
