//! `new`: scaffold a skill crate that builds, tests and runs out of the box.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_palyra_skill::scaffold::{self, Layout, Names};
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
/// `fixtures/check/` (granted, not granted, denied), `.gitignore` (which
/// also ignores key files), a README, a GitHub workflow, and `Cargo.lock`
/// (the workflow builds `--locked`). A new git repository starts on branch
/// `main`, the one the workflow checks on push, and gets the first commit
/// (`--no-commit` leaves it to you); inside an existing work tree, a
/// branch other than `main` is a warning. Refuses a non-empty directory.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill new demo\n",
    "  cargo palyra-skill new skills/weather --publisher acme --name weather\n",
    "  cargo palyra-skill new . --vcs none\n\n",
    exit_status!("the crate was created (a failed first commit is only a warning)", "could not create it (a bad name, a non-empty directory, I/O error)")
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
    /// Leave the new repository without a first commit
    #[arg(long)]
    no_commit: bool,
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
    /// The repository's branch: `main` in a new one (the workflow's); in an
    /// existing one, whatever it is (a warning says when it is not `main`).
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    /// Whether `Cargo.lock` was written.
    lockfile: bool,
    /// The first commit: `created`, `skipped` (`--no-commit`, or not a new
    /// repository) or `failed` (git could not commit; the warning says why).
    commit: &'static str,
    /// Inside an existing workspace: what joining it changed at its root.
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace: Option<cargo_palyra_skill::join::Joined>,
}

/// What joining the workspace changed at its root, and the profile advice.
fn joined_status(joined: &cargo_palyra_skill::join::Joined, shell: &mut Shell) {
    let root = joined.root_manifest.display();
    if joined.added {
        shell.status("Added", format_args!("`{}` to `[workspace] members` in `{root}`", joined.member));
    }
    if joined.profile_added {
        shell.status(
            "Added",
            format_args!("the size profile as `[profile.release]` of `{root}` (cargo ignores a member's)"),
        );
    } else if !joined.profile_missing.is_empty() {
        shell.note(format_args!(
            "`[profile.release]` of `{root}` (the one cargo reads for every member) lacks what keeps a skill small: add {}",
            joined.profile_missing.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !joined.gitignore_added.is_empty() {
        shell.status(
            "Ignored",
            format_args!(
                "{} in the workspace root's `.gitignore`",
                joined.gitignore_added.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    shell.note(
        "no workflow was written into the member: GitHub reads workflows only at the repository's root, where `cargo palyra-skill build --workspace` builds every skill",
    );
}

/// The branch the workflow `new` writes checks on push (`branches: [main]`).
const WORKFLOW_BRANCH: &str = "main";

/// `git ARGS` in `path`, its output captured.
fn git(path: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    std::process::Command::new("git").args(args).current_dir(path).stdin(std::process::Stdio::null()).output()
}

/// `git init` at `path` unless it is already inside a work tree. A new
/// repository starts on `main`, the workflow's branch, whatever git's
/// `init.defaultBranch` says (`master` when nothing does).
fn init_git(path: &Path, shell: &mut Shell) -> &'static str {
    match git(path, &["rev-parse", "--is-inside-work-tree"]) {
        Err(_) => {
            shell.warn("`git` is not on PATH: no repository was created (install git, or pass `--vcs none`)");
            "unavailable"
        }
        Ok(out) if out.status.success() => "existing",
        Ok(_) => {
            // `symbolic-ref` on the unborn branch, rather than `init -b`,
            // which git before 2.28 does not know.
            let head = format!("refs/heads/{WORKFLOW_BRANCH}");
            let made = git(path, &["init", "--quiet"]).and_then(|init| {
                if init.status.success() { git(path, &["symbolic-ref", "HEAD", &head]) } else { Ok(init) }
            });
            match made {
                Ok(out) if out.status.success() => "initialized",
                _ => {
                    shell.warn(format_args!(
                        "`git init` failed in `{}`: no repository was created",
                        path.display()
                    ));
                    "unavailable"
                }
            }
        }
    }
}

/// The repository's current branch (unborn or not); none when HEAD is
/// detached or git cannot say.
fn current_branch(path: &Path) -> Option<String> {
    let out = git(path, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok()?;
    let branch = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !branch.is_empty()).then_some(branch)
}

/// Says so when pushes to `branch` would never run the workflow.
fn warn_branch(path: &Path, branch: &str, shell: &mut Shell) {
    if branch != WORKFLOW_BRANCH {
        shell.warn(format_args!(
            "the repository's branch is `{branch}`, but `{}` checks pushes to `{WORKFLOW_BRANCH}` only (`branches: [{WORKFLOW_BRANCH}]`), so pushes to `{branch}` are never checked: rename the branch (`git branch -m {branch} {WORKFLOW_BRANCH}`), or change `branches: [{WORKFLOW_BRANCH}]` and `refs/heads/{WORKFLOW_BRANCH}` in the workflow to `{branch}`",
            path.join(".github/workflows/skill.yml").display()
        ));
    }
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let names = scaffold::names(&self.path, self.name.as_deref(), &self.publisher)?;
        let workspace = cargo_palyra_skill::join::enclosing_workspace(&self.path);
        let layout = if workspace.is_some() { Layout::Member } else { Layout::Alone };
        scaffold::write(&self.path, &names, layout)?;
        let Names { crate_name, skill_id, tool_id, .. } = names;
        shell.status(
            "Created",
            format_args!("skill `{skill_id}` (crate `{crate_name}`) in `{}`", self.path.display()),
        );
        let joined = match &workspace {
            Some(root) => Some(cargo_palyra_skill::join::join(root, &self.path).with_context(|| {
                format!(
                    "the crate was written to `{}` but could not join the workspace of `{}`: add it to `[workspace] members` yourself",
                    self.path.display(),
                    root.display()
                )
            })?),
            None => None,
        };
        if let Some(joined) = &joined {
            joined_status(joined, shell);
        }
        let git = match (self.vcs, layout) {
            (Vcs::Git, Layout::Alone) => init_git(&self.path, shell),
            // Never a repository inside the workspace's: the root's, if any.
            (Vcs::Git, Layout::Member) => match git(&self.path, &["rev-parse", "--is-inside-work-tree"]) {
                Ok(out) if out.status.success() => "existing",
                _ => "none",
            },
            (Vcs::None, _) => "none",
        };
        let branch = match git {
            "initialized" | "existing" => current_branch(&self.path),
            _ => None,
        };
        if let Some(branch) = branch.as_ref().filter(|_| layout == Layout::Alone) {
            warn_branch(&self.path, branch, shell);
        }
        if scaffold::tool_commit().is_none() && layout == Layout::Alone {
            shell.warn(
                "this cargo-palyra-skill was built locally and knows no commit of its own: set `PALYRA_SKILL_ACTION_SHA` in `.github/workflows/skill.yml` to the commit of the action you trust (the workflow stops until you do)",
            );
        }
        let lockfile = generate_lockfile(&self.path, layout, shell);
        let commit = match git {
            "initialized" if !self.no_commit => first_commit(&self.path, &skill_id, shell),
            _ => "skipped",
        };
        let report = Report {
            path: self.path.clone(),
            crate_name: crate_name.clone(),
            skill_id,
            tool_id,
            files: scaffold::files(layout),
            git,
            branch: branch.clone(),
            lockfile,
            commit,
            workspace: joined.clone(),
        };
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&report)?,
            // Guidance, not data: `-q` keeps it quiet.
            MessageFormat::Human if shell.is_quiet() => {}
            MessageFormat::Human => {
                let mut text = String::from("wrote:\n");
                for rel in scaffold::files(layout) {
                    let what = match rel {
                        ".github/workflows/skill.yml" => {
                            "  (GitHub workflow: checks pull requests, signs and releases `v*` tags)"
                        }
                        _ => "",
                    };
                    text.push_str(&format!("  {rel}{what}\n"));
                }
                if lockfile {
                    text.push_str("  Cargo.lock\n");
                }
                if git == "initialized" {
                    text.push_str(&format!(
                        "  .git/ (a new git repository on branch `{}`; `--vcs none` skips it)\n",
                        branch.as_deref().unwrap_or(WORKFLOW_BRANCH)
                    ));
                }
                if commit == "created" {
                    text.push_str("  a first commit of all of it (`--no-commit` skips it)\n");
                }
                match &joined {
                    Some(joined) => text.push_str(&format!(
                        "next, from the workspace root `{}`:\n  cargo palyra-skill build -p {crate_name}\n  cargo palyra-skill test -p {crate_name} --save-baseline   # then commit its fuel-baseline.json\n  cargo palyra-skill build --workspace   # every skill of the workspace",
                        joined.root_manifest.parent().unwrap_or(Path::new(".")).display(),
                    )),
                    None => text.push_str(&format!(
                        "next:\n  cd {}\n  cargo palyra-skill build\n  cargo palyra-skill test --save-baseline   # then commit fuel-baseline.json: pull requests are held to it\n  cargo palyra-skill run --allow-http api.example.com",
                        self.path.display(),
                    )),
                }
                shell.print(text)?
            }
        }
        Ok(Outcome::Success)
    }
}

/// `cargo generate-lockfile` in the new crate (it has no dependencies, so
/// nothing is fetched); in a workspace, a resolve that adds the member to
/// the root's `Cargo.lock` and changes nothing else. A failure is a
/// warning with the command to run.
fn generate_lockfile(path: &Path, layout: Layout, shell: &mut Shell) -> bool {
    let cargo =
        cargo_palyra_skill::env::os(cargo_palyra_skill::env::Var::Cargo).unwrap_or_else(|| "cargo".into());
    let args: &[&str] = match layout {
        Layout::Alone => &["generate-lockfile", "--offline", "--quiet"],
        Layout::Member => &["metadata", "--offline", "--quiet", "--format-version", "1"],
    };
    let made = std::process::Command::new(cargo)
        .args(args)
        .current_dir(path)
        .stdin(std::process::Stdio::null())
        .output();
    match made {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            shell.warn(format_args!(
                "could not write `Cargo.lock` ({}): run `cargo generate-lockfile` in `{}` and commit it, since CI builds `--locked`",
                String::from_utf8_lossy(&out.stderr).trim(),
                path.display()
            ));
            false
        }
        Err(e) => {
            shell.warn(format_args!(
                "could not run cargo to write `Cargo.lock` ({e}): run `cargo generate-lockfile` in `{}` and commit it",
                path.display()
            ));
            false
        }
    }
}

/// `git add -A` and a first commit in the repository `new` created.
fn first_commit(path: &Path, skill_id: &str, shell: &mut Shell) -> &'static str {
    let git = |args: &[&str]| git(path, args);
    let message = format!("New Palyra skill {skill_id} (cargo palyra-skill new)");
    let committed = git(&["add", "-A"]).and_then(|added| {
        if added.status.success() { git(&["commit", "--quiet", "-m", &message]) } else { Ok(added) }
    });
    match committed {
        Ok(out) if out.status.success() => "created",
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            let hint = if why.contains("user.email") || why.contains("user.name") || why.contains("identity")
            {
                "git has no user.name and user.email: set them (`git config --global user.name NAME`, `git config --global user.email EMAIL`)"
            } else {
                "see `git status`"
            };
            shell.warn(format_args!(
                "the first commit failed ({}): {hint}, then commit the crate in `{}` yourself",
                why.trim().lines().last().unwrap_or_default(),
                path.display()
            ));
            "failed"
        }
        Err(e) => {
            shell.warn(format_args!("could not run git for the first commit: {e}"));
            "failed"
        }
    }
}
