//! `rebuild`: build a published artifact again from its source, as its
//! provenance describes, and compare.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::build::{self, BuildOptions, Event};
use cargo_palyra_skill::provenance::Environment;
use cargo_palyra_skill::rebuild::{self, Comparison, EntryStatus, Recorded};
use cargo_palyra_skill::verify::verify_bytes;
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::input::read_artifact;
use crate::shell::{MessageFormat, OutputArgs, Shell};

/// Rebuild an artifact from its source and check that the bytes match.
///
/// Reads the artifact's provenance for what to build (package, profile,
/// features, target, ABI, `--locked`), with which compiler (its `rustc -vV`),
/// from which commit, and when (the signature's time, or the recorded
/// build start for an artifact signed later, as `SOURCE_DATE_EPOCH`). Checks that the crate's checkout is at that commit
/// with no uncommitted changes, builds in a fresh target directory with the
/// recorded toolchain (through `rustup run` when it is not the current one),
/// then compares every entry: the modules, the SBOM and `skill.toml` byte
/// for byte, the provenance apart from the fields that name the builder run (who, where,
/// when), and the payload hash. The artifact's signature is verified first;
/// whether its publisher is trusted is `verify`'s question, not this one.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill rebuild dist/acme.guard-1.0.0.palyra-skill\n",
    "  cargo palyra-skill rebuild acme.guard-1.0.0.palyra-skill --manifest-path skills/guard/Cargo.toml\n",
    "  cargo palyra-skill rebuild acme.guard-1.0.0.palyra-skill --message-format json\n\n",
    "Exit status:\n  0  reproduced: every entry and the payload hash match\n  1  the rebuild differs (which entries, and where)\n  2  could not rebuild (wrong or dirty checkout, missing toolchain, build error, bad artifact)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    /// The `.palyra-skill` artifact to rebuild
    #[arg(value_name = "ARTIFACT")]
    artifact: PathBuf,
    /// Path to the crate's `Cargo.toml` (as cargo takes it) [default: the current directory's crate]
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Rebuild even if the checkout has uncommitted changes or is not at the recorded commit
    #[arg(long)]
    allow_dirty: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    artifact: &'a Path,
    recorded: &'a Recorded,
    /// The rustup toolchain used, when not the current one.
    toolchain: Option<&'a str>,
    checkout_commit: Option<&'a str>,
    checkout_dirty: bool,
    source_date_epoch: i64,
    ignored_provenance_fields: &'static [&'static str],
    #[serde(flatten)]
    comparison: &'a Comparison,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let bytes = read_artifact(&self.artifact)?;
        let (original, verified) = verify_bytes(&bytes).with_context(|| {
            format!("could not rebuild `{}`: it fails verification", self.artifact.display())
        })?;
        let recorded =
            Recorded::read(&original, verified.signature.signed_at_unix_ms, &verified.payload_sha256)
                .with_context(|| format!("could not rebuild `{}`", self.artifact.display()))?;

        let crate_dir = (self.manifest_path.as_deref().and_then(Path::parent))
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let checkout = rebuild::checkout(crate_dir);
        self.check_source(&recorded, checkout.as_ref(), shell)?;
        if let Some(version) = recorded.tool_version.as_deref().filter(|v| *v != env!("CARGO_PKG_VERSION")) {
            shell.warn(format_args!(
                "the artifact was built by cargo-palyra-skill {version}, this is {}: if the rebuild differs, rebuild with that version (`cargo install cargo-palyra-skill --locked --version {version}`)",
                env!("CARGO_PKG_VERSION")
            ));
        }
        check_lockfile(&recorded, self.manifest_path.as_deref(), shell)?;
        let toolchain = toolchain(&recorded, shell)?;
        if recorded.signed_later() {
            shell.note(format_args!(
                "the artifact was signed after it was built: rebuilding at the build's recorded start ({}), not the signature's time",
                cargo_palyra_skill::sbom::rfc3339(recorded.source_date_epoch())
            ));
        }

        let scratch =
            tempfile::tempdir().context("could not create a temporary directory for the rebuild")?;
        // Always locked: a rebuild never rewrites the checkout's `Cargo.lock`.
        if !recorded.locked {
            shell.warn(
                "the original build did not use `--locked`: rebuilding with `--locked` anyway, so `Cargo.lock` decides the dependencies and is never rewritten",
            );
        }
        let cargo_flags = vec!["--locked".to_owned()];
        let options = BuildOptions {
            manifest_path: self.manifest_path.clone(),
            package: Some(recorded.package.clone()),
            profile: recorded.profile.clone(),
            features: recorded.features(),
            cargo_flags,
            target_dir: Some(scratch.path().join("target")),
            out_dir: Some(scratch.path().join("out")),
            quiet: shell.is_quiet(),
            fixed_time: Some(recorded.source_date_epoch()),
            no_embed_dependencies: !recorded.embeds_dependencies,
            scratch: false,
            toolchain: toolchain.clone(),
            release: false,
            // The checkout was checked above (`--allow-dirty` or clean).
            allow_dirty: true,
        };
        shell.status(
            "Rebuilding",
            format_args!(
                "{} (profile {}, {}, SOURCE_DATE_EPOCH={}) in a fresh target directory",
                recorded.package,
                recorded.profile,
                recorded.target,
                recorded.source_date_epoch()
            ),
        );
        let built = build::build(&options, None, false, &Environment::Local, &mut |event| {
            if let Event::Compiled { .. } = event {
                shell.verbose("Compiled", "comparing with the original");
            }
        })
        .context("could not rebuild: the build failed")?;
        let comparison = rebuild::compare(&original, &built.entries, &recorded.payload_sha256);

        if self.output.message_format == MessageFormat::Json {
            shell.print_json(&Report {
                artifact: &self.artifact,
                recorded: &recorded,
                toolchain: toolchain.as_deref(),
                checkout_commit: checkout.as_ref().map(|c| c.commit.as_str()),
                checkout_dirty: checkout.as_ref().is_some_and(|c| c.dirty),
                source_date_epoch: recorded.source_date_epoch(),
                ignored_provenance_fields: rebuild::BUILDER_RUN_FIELDS,
                comparison: &comparison,
            })?;
        } else {
            human(&comparison, shell)?;
        }
        if comparison.reproduced {
            shell.status(
                "Reproduced",
                format_args!(
                    "`{}`: every entry and the payload hash {} match",
                    self.artifact.display(),
                    comparison.original_payload_sha256
                ),
            );
            Ok(Outcome::Success)
        } else {
            let differing = comparison.entries.iter().filter(|e| e.status != EntryStatus::Identical).count();
            shell.status_failed(
                "Differs",
                format_args!(
                    "`{}` is not reproduced from this source: {differing} entr{} differ",
                    self.artifact.display(),
                    if differing == 1 { "y" } else { "ies" }
                ),
            );
            Ok(Outcome::CheckFailed)
        }
    }

    /// The checkout must be the recorded commit, clean, unless `--allow-dirty`.
    fn check_source(
        &self,
        recorded: &Recorded,
        checkout: Option<&cargo_palyra_skill::provenance::SourceInfo>,
        shell: &mut Shell,
    ) -> Result<()> {
        if recorded.dirty {
            shell.warn("the artifact was built from a work tree with uncommitted changes: its commit alone may not reproduce it");
        }
        let Some(commit) = &recorded.commit else {
            shell.warn(
                "the provenance names no source commit (the crate was not in a git repository with a commit when it was built: commit it before a release build): only the bytes are compared",
            );
            return Ok(());
        };
        let problem = match checkout {
            None => Some(format!(
                "the crate is not in a git checkout; the artifact was built from commit {commit}"
            )),
            Some(c) if &c.commit != commit => Some(format!(
                "the checkout is at {}, but the artifact was built from {commit}: `git checkout {commit}` first",
                c.commit
            )),
            Some(c) if c.dirty => Some(
                "the checkout has uncommitted changes: commit or stash them (`git stash`) first".to_owned(),
            ),
            Some(_) => None,
        };
        match problem {
            Some(problem) if self.allow_dirty => {
                shell.warn(format_args!("{problem}; rebuilding anyway (--allow-dirty)"));
                Ok(())
            }
            Some(problem) => bail!("could not rebuild: {problem}, or pass --allow-dirty"),
            None => {
                shell.verbose("Source", format_args!("commit {commit}, no uncommitted changes"));
                Ok(())
            }
        }
    }
}

/// The checkout's `Cargo.lock`, before cargo runs: a missing one is an
/// error naming it (a rebuild builds the dependencies it pins); another
/// than the artifact's is a warning (the provenance will differ).
fn check_lockfile(recorded: &Recorded, manifest_path: Option<&Path>, shell: &mut Shell) -> Result<()> {
    let manifest_path = manifest_path.unwrap_or(Path::new("Cargo.toml"));
    let Some(lockfile) = cargo_palyra_skill::lockfile::find(manifest_path) else {
        let recorded = match &recorded.lockfile_sha256 {
            Some(sha) => format!("the artifact was built with one of sha256 {sha}"),
            None => "the artifact records none".to_owned(),
        };
        bail!(
            "could not rebuild: no `Cargo.lock` beside `{}` or in a folder above, and a rebuild builds exactly the dependencies it pins ({recorded}): check out the commit the artifact was built from with its `Cargo.lock` committed",
            manifest_path.display()
        );
    };
    let actual = std::fs::read(&lockfile).map(|bytes| cargo_palyra_skill::artifact::sha256_hex(&bytes));
    if let (Some(expected), Ok(actual)) = (&recorded.lockfile_sha256, actual)
        && *expected != actual
    {
        shell.warn(format_args!(
            "`{}` (sha256 {actual}) is not the lock file the artifact was built with (sha256 {expected}): the rebuild's dependencies may differ",
            lockfile.display()
        ));
    }
    Ok(())
}

/// The recorded compiler: the current one, an installed rustup toolchain
/// (used through `rustup run`), or an error naming the install command.
fn toolchain(recorded: &Recorded, shell: &mut Shell) -> Result<Option<String>> {
    let current = rebuild::current_rustc();
    let release = |v: &str| rebuild::rustc_field(v, "release").unwrap_or("unknown").to_owned();
    if rebuild::same_compiler(&recorded.rustc, &current) {
        return Ok(None);
    }
    if rebuild::rustc_field(&recorded.rustc, "release").is_none() {
        shell.warn("the provenance does not record the compiler's release: rebuilding with the current one");
        return Ok(None);
    }
    if let Some(name) = rebuild::installed_toolchain(&recorded.rustc) {
        shell.status(
            "Toolchain",
            format_args!("rustc {} (rustup toolchain `{name}`), as recorded", release(&recorded.rustc)),
        );
        return Ok(Some(name));
    }
    let how = match rebuild::install_command(&recorded.rustc, &recorded.target) {
        Some(install) => format!("run `{install}`, then rebuild again"),
        None => "install that compiler with rustup, then rebuild again".to_owned(),
    };
    bail!(
        "could not rebuild: the artifact was built with rustc {} and this machine has rustc {}: {how}",
        release(&recorded.rustc),
        release(&current)
    )
}

fn human(comparison: &Comparison, shell: &mut Shell) -> Result<()> {
    for entry in &comparison.entries {
        let line = match entry.status {
            EntryStatus::Identical => format!("  identical  {}", entry.path),
            EntryStatus::OnlyInOriginal => format!("  missing    {}: only in the original", entry.path),
            EntryStatus::OnlyInRebuild => format!("  extra      {}: only in the rebuild", entry.path),
            EntryStatus::Differs => {
                let mut line = format!(
                    "  {}    {}: {} vs {} bytes",
                    Shell::bad("DIFFERS"),
                    entry.path,
                    entry.original_bytes.unwrap_or_default(),
                    entry.rebuilt_bytes.unwrap_or_default()
                );
                if let Some(offset) = entry.first_difference {
                    line += &format!(", first difference at byte {offset}");
                }
                if !entry.fields.is_empty() {
                    line += &format!(", differing fields: {}", entry.fields.join(", "));
                }
                line
            }
        };
        shell.print(line)?;
    }
    let payload = match &comparison.rebuilt_payload_sha256 {
        Some(rebuilt) if *rebuilt == comparison.original_payload_sha256 => {
            format!("  identical  payload sha256 {rebuilt}")
        }
        Some(rebuilt) => {
            format!(
                "  {}    payload sha256: {} vs {rebuilt}",
                Shell::bad("DIFFERS"),
                comparison.original_payload_sha256
            )
        }
        None => format!(
            "  {}    payload sha256: {} (not comparable: the provenance differs)",
            Shell::bad("DIFFERS"),
            comparison.original_payload_sha256
        ),
    };
    shell.print(payload)?;
    Ok(())
}
