//! `build`: compile the skill crate and write a signed, reproducible artifact.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_palyra_skill::build::{self, BuildOptions, Event, Reproduction, TimeSource};
use cargo_palyra_skill::cargo::Features;
use cargo_palyra_skill::provenance::Environment;
use cargo_palyra_skill::signing::Signer;
use clap::Args;
use serde::Serialize;

use super::pack::ArtifactReport;
use crate::Outcome;
use crate::input::{KeyArgs, dev_key};
use crate::operator::OperatorArgs;
use crate::select::PackageArgs;
use crate::shell::{MessageFormat, OutputArgs, Shell, human_size};
use crate::skill::CratePath;
use cargo_palyra_skill::headroom::{Headroom, Level};

/// Build the skill crate to a wasm module (wasm32-unknown-unknown, or wasm32-wasip1 for the WASI preview) in a signed `.palyra-skill`.
///
/// Compiles with cargo (release profile by default), generates a CycloneDX
/// SBOM from the real dependency graph and SLSA provenance, packs the crate's
/// `skill.toml`, and signs. Without a key option or `$PALYRA_SKILL_SIGNING_KEY`
/// it signs with your local development key (created on first use); use
/// `--key` (or `signing-key` in `[package.metadata.palyra-skill]`) for
/// releases, or `--unsigned` to sign in a separate step.
///
/// With `Cargo.lock` committed and unchanged, cargo runs with `--locked`
/// (as `rebuild` always does). A release build (signed with a release key,
/// or of a tag) from a work tree with uncommitted changes is refused.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill build\n",
    "  cargo palyra-skill build skills/echo --key release.pem --attestation\n",
    "  cargo palyra-skill build --locked --check-reproducible\n\n",
    "Timestamps (SBOM, provenance, signature) come from `SOURCE_DATE_EPOCH`, else the HEAD commit of a clean git checkout, else the clock.\n\n",
    "The artifact goes to `target/palyra-skill/<skill_id>-<version>.palyra-skill` unless `--out DIR` says otherwise.\n\n",
    exit_status!("built", "a module is over the operator's module cap, or `--check-reproducible` found the builds differ", "could not build (no crate, a compile error, bad input, I/O error)")
))]
pub struct Opts {
    #[command(flatten)]
    location: CratePath,
    #[command(flatten)]
    pub(super) packages: PackageArgs,
    /// Cargo profile to build with
    #[arg(long, value_name = "NAME", default_value = "release")]
    profile: String,
    /// Activate all features
    #[arg(long)]
    all_features: bool,
    /// Do not activate the `default` feature
    #[arg(long)]
    no_default_features: bool,
    /// Require `Cargo.lock` to be up to date
    #[arg(long)]
    locked: bool,
    /// Require `Cargo.lock` and the cache to be up to date (no network)
    #[arg(long)]
    frozen: bool,
    /// Run without accessing the network
    #[arg(long)]
    offline: bool,
    /// Directory to write the artifact to [default: <target-dir>/palyra-skill]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write an unsigned artifact (sign it later with `cargo palyra-skill sign`)
    #[arg(long, conflicts_with = "key-source")]
    unsigned: bool,
    #[command(flatten)]
    key: KeyArgs,
    /// Also write `<artifact>.intoto.jsonl`, a DSSE-signed provenance attestation
    #[arg(long, conflicts_with = "unsigned")]
    pub(super) attestation: bool,
    /// Do not embed the dependency list (`.dep-v0`, as `cargo auditable` writes it) in the module
    #[arg(long)]
    no_embed_dependencies: bool,
    /// Build twice in clean target directories and fail if the bytes differ
    /// (the checked build goes to `<target-dir>/palyra-skill/check/`; the
    /// artifact of an earlier build is never replaced)
    #[arg(long, conflicts_with = "out")]
    pub(super) check_reproducible: bool,
    /// Build a release (a release key, or a tag) from a work tree with uncommitted changes
    #[arg(long)]
    pub(super) allow_dirty: bool,
    /// Show where each module's bytes go: sections, the largest functions
    /// and crates (also when a module reaches the `headroom-warn` share of
    /// the module cap), named from the module's named copy: the same build
    /// with its `name` section, beside the artifact.
    #[arg(long)]
    size_report: bool,
    #[command(flatten)]
    pub(super) operator: OperatorArgs,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    artifact: ArtifactReport,
    signed_with: &'static str,
    modules: Vec<cargo_palyra_skill::sbom::ModuleFile>,
    /// Each module's bytes against the operator's `max_module_size_bytes`.
    module_sizes: Vec<ModuleSize>,
    /// With `--size-report`, or for a module at the warning share: where its bytes go.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    size_reports: Vec<ModuleSizeReport>,
    attestation: Option<PathBuf>,
    reproducible: Option<bool>,
    /// Where the SBOM's, provenance's and signature's time came from:
    /// `source_date_epoch`, `git_commit` (a clean checkout's HEAD) or `now`.
    time_source: cargo_palyra_skill::build::TimeSource,
    /// That time (RFC 3339).
    built_at: String,
}

#[derive(Serialize)]
struct ModuleSizeReport {
    path: String,
    #[serde(flatten)]
    report: cargo_palyra_skill::sizes::SizeReport,
    /// Bytes by package, what each direct dependency costs, and the
    /// profile's size settings.
    fit: cargo_palyra_skill::fit::FitReport,
}

#[derive(Serialize)]
pub(super) struct ModuleSize {
    pub(super) path: String,
    #[serde(flatten)]
    pub(super) headroom: Headroom,
}

impl Opts {
    pub(super) fn options(&self, manifest_path: PathBuf, shell: &Shell, release: bool) -> BuildOptions {
        let mut cargo_flags = Vec::new();
        for (on, flag) in [(self.locked, "--locked"), (self.frozen, "--frozen"), (self.offline, "--offline")]
        {
            if on {
                cargo_flags.push(flag.to_owned());
            }
        }
        let features = self.packages.feature_names();
        BuildOptions {
            manifest_path: Some(manifest_path),
            package: None,
            profile: self.profile.clone(),
            features: Features {
                features,
                all_features: self.all_features,
                no_default_features: self.no_default_features,
            },
            cargo_flags,
            target_dir: self.packages.target_dir.clone(),
            out_dir: self.out.clone(),
            quiet: shell.is_quiet(),
            fixed_time: None,
            scratch: false,
            no_embed_dependencies: self.no_embed_dependencies,
            toolchain: None,
            release,
            allow_dirty: self.allow_dirty,
        }
    }

    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        // Before any key: the development key is created only for a build that can happen.
        let manifest_path = self.location.locate()?;
        for warning in cargo_palyra_skill::suggest::metadata_table_warnings(&manifest_path) {
            shell.warn(warning);
        }
        let (key, signed_with) = if self.unsigned {
            (None, "unsigned")
        } else if let Some((key, source)) = self.key.load(shell)? {
            shell.verbose("Key", format_args!("{} from {source}", key.public().key_id()));
            (Some(key), "key")
        } else if let Some(path) = setting_key(&manifest_path)? {
            let (key, source) = KeyArgs::file(path).require(shell, "signing key")?;
            shell.verbose(
                "Key",
                format_args!(
                    "{} from {source} (`signing-key` in `[package.metadata.palyra-skill]`)",
                    key.public().key_id()
                ),
            );
            (Some(key), "key")
        } else {
            let (key, path, created) = dev_key()?;
            if created {
                shell.note(format_args!("created your local development key `{}`", path.display()));
            }
            (Some(Box::new(key) as Box<dyn Signer>), "development-key")
        };
        let env = Environment::detect(|name| std::env::var(name).ok());
        if let Environment::GitHub(gh) = &env {
            shell.verbose(
                "Provenance",
                format_args!("GitHub Actions builder {}/{}", gh.server_url, gh.workflow_ref),
            );
        }
        // A release: signed with a release key, or a GitHub tag ref (a
        // tag at a local checkout's commit is found by the build).
        let mut options = self.options(manifest_path, shell, signed_with == "key" || env.is_tag());
        let members = self.packages.members_locked(&mut options, shell)?;
        if members.several {
            return super::build_members::run(
                &self,
                &options,
                members,
                key.as_deref(),
                signed_with,
                &env,
                shell,
            );
        }
        let krate = members.skills.into_iter().next().expect("a skill");
        options.package = Some(krate.package.name.to_string());
        let started = std::time::Instant::now();
        let (built, reproducible) = if self.check_reproducible {
            let reproduction =
                build::reproduce(&options, key.as_deref(), self.attestation, &env, &mut |e| {
                    progress(shell, e)
                })?;
            match reproduction {
                Reproduction::Identical(built) => {
                    shell.status(
                        "Reproduced",
                        format_args!("both builds are byte-identical ({} bytes)", built.bytes.len()),
                    );
                    (*built, Some(true))
                }
                Reproduction::Differs(lines) => {
                    shell.status_failed("Differs", "the two builds are not byte-identical:");
                    for line in lines {
                        shell.print(format_args!("  {line}"))?;
                    }
                    return Ok(Outcome::CheckFailed);
                }
            }
        } else {
            // The crate as the selection located it, under the lock rule
            // (`--locked` in the flags when `Cargo.lock` is committed): no
            // second `cargo metadata`.
            let lock = build::Lock::from_flags(&options.cargo_flags);
            let built = build::build_crate(
                &krate,
                None,
                &options,
                lock,
                key.as_deref(),
                self.attestation,
                &env,
                &mut |e| progress(shell, e),
            )?;
            (built, None)
        };
        for warning in &built.warnings {
            shell.warn(warning);
        }
        if signed_with == "development-key" {
            let id = built.key_id.as_deref().unwrap_or_default();
            match publisher_key(&built.manifest.publisher) {
                // Never picked silently: named, with the two ways to use it.
                Some(path) => shell.warn(format_args!(
                    "signed with your local development key {id}: operators will not trust it. `{path}` holds a key for publisher `{publisher}` (`keygen` wrote it there); to sign with it pass `--key {path}`, or set `signing-key = \"{setting}\"` in `[package.metadata.palyra-skill]` of `Cargo.toml`",
                    path = path.display(),
                    publisher = built.manifest.publisher,
                    setting = home_relative(&path),
                )),
                None => shell.warn(format_args!(
                    "signed with your local development key {id}: operators will not trust it; use `--key` (or `$PALYRA_SKILL_SIGNING_KEY`) for releases",
                )),
            }
        }
        if let Some(path) = &built.attestation {
            shell.status("Attested", format_args!("`{}`", path.display()));
        }
        // Values the daemon refuses on every run, though it installs the skill.
        for error in cargo_palyra_skill::host::skill_grant_errors(&built.manifest) {
            shell.warn(format_args!("{}: {}", error.message, error.fix));
        }
        let when = cargo_palyra_skill::sbom::rfc3339(built.started_at);
        match built.time_source {
            TimeSource::GitCommit => shell.verbose(
                "Timestamps",
                format_args!("{when}, the HEAD commit's time (a clean checkout): a rebuild of this commit is byte-identical"),
            ),
            TimeSource::SourceDateEpoch => shell.verbose("Timestamps", format_args!("{when}, from `SOURCE_DATE_EPOCH`")),
            TimeSource::Given => {}
            TimeSource::Now => shell.verbose(
                "Timestamps",
                format_args!("{when}, the clock's: no `SOURCE_DATE_EPOCH` and no clean git checkout, so a rebuild differs"),
            ),
        }
        let cap = self.operator.read()?.unwrap_or_default().max_module_size_bytes;
        let module_sizes: Vec<ModuleSize> = built
            .entries
            .modules()
            .map(|(path, entry)| ModuleSize {
                path: path.to_owned(),
                headroom: Headroom::new(entry.bytes.len() as u64, cap, built.warn_at),
            })
            .collect();
        let over = module_sizes_report(shell, &module_sizes, self.operator.operator_config.is_some());
        let wanted = self.size_report || module_sizes.iter().any(|m| m.headroom.level != Level::Ok);
        let size_reports = if wanted { size_reports(&built, cap)? } else { Vec::new() };
        if self.output.message_format == MessageFormat::Human {
            for report in &size_reports {
                let text =
                    crate::size_out::render(&report.path, &report.report, &report.fit, &built.named_dir);
                shell.print(text.trim_end())?;
            }
        }
        let artifact = ArtifactReport::of_built(&built);
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&Report {
                artifact,
                signed_with,
                modules: built.modules.clone(),
                module_sizes,
                size_reports,
                attestation: built.attestation.clone(),
                reproducible,
                time_source: built.time_source,
                built_at: cargo_palyra_skill::sbom::rfc3339(built.started_at),
            })?,
            MessageFormat::Human => {
                let key = built.key_id.as_deref().map_or("unsigned".to_owned(), |id| format!("signed {id}"));
                shell.status(
                    "Finished",
                    format_args!(
                        "`{}` ({}, payload sha256 {}, {key}) in {:.1}s",
                        built.artifact.display(),
                        human_size(built.bytes.len() as u64),
                        artifact.payload_sha256,
                        started.elapsed().as_secs_f64()
                    ),
                );
            }
        }
        Ok(if over { Outcome::CheckFailed } else { Outcome::Success })
    }
}

/// The key file `signing-key` names in the crate's `Cargo.toml`, if any.
fn setting_key(manifest_path: &Path) -> Result<Option<PathBuf>> {
    let settings = cargo_palyra_skill::cargo::ToolSettings::read(manifest_path)?;
    let dir = manifest_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(settings.signing_key_path(dir))
}

/// The key `keygen --publisher PUBLISHER` wrote, where it writes it.
fn publisher_key(publisher: &str) -> Option<PathBuf> {
    cargo_palyra_skill::keys::publisher_key_path(publisher).ok().filter(|path| path.is_file())
}

/// `path` as `~/...` when it is under the home directory (so the setting
/// holds on another machine of the same layout), else as it is.
fn home_relative(path: &Path) -> String {
    std::env::var_os("HOME")
        .and_then(|home| path.strip_prefix(home).ok().map(|rest| format!("~/{}", rest.display())))
        .unwrap_or_else(|| path.display().to_string())
}

/// The size report of each module, its names from the module's named
/// copy (the build's own bytes, names kept).
fn size_reports(built: &build::Built, cap: u64) -> Result<Vec<ModuleSizeReport>> {
    built
        .entries
        .modules()
        .map(|(path, entry)| {
            let named = built.named.get(path).map(Vec::as_slice);
            let report = cargo_palyra_skill::sizes::report(&entry.bytes, named)
                .with_context(|| format!("could not read `{path}` for its size report"))?;
            let data = cargo_palyra_skill::fit::data_use(&entry.bytes);
            let fit =
                cargo_palyra_skill::fit::fit_report(&report, &data, &built.graph, built.profile.clone(), cap);
            Ok(ModuleSizeReport { path: path.to_owned(), report, fit })
        })
        .collect()
}

/// One line per module against the operator's cap: a warning at the
/// crate's `headroom-warn` share, a failed check over the cap (the host
/// refuses such a module with `quota_exceeded`). Returns whether any is over.
pub(super) fn module_sizes_report(shell: &mut Shell, sizes: &[ModuleSize], configured: bool) -> bool {
    let whose = if configured { "the `--operator-config`'s" } else { "the default operator's" };
    for size in sizes {
        let figure = size.headroom.describe(" bytes");
        match size.headroom.level {
            Level::Ok => shell.status("Module", format_args!("`{}`: {figure} of {whose} module cap", size.path)),
            Level::Warn => shell.warn(format_args!(
                "`{}` is {figure} of {whose} module cap (`[tool_call.wasm_runtime] max_module_size_bytes` in palyrad.toml): little room is left",
                size.path
            )),
            Level::Over => shell.status_failed(
                "Too large",
                format_args!(
                    "`{}` is {figure} of {whose} module cap: Palyra refuses it (`quota_exceeded`). The cap binds: the operator sets it with `[tool_call.wasm_runtime] max_module_size_bytes` in palyrad.toml (pass that file with `--operator-config`); or make the module smaller: the size report below names what costs the bytes",
                    size.path
                ),
            ),
        }
    }
    sizes.iter().any(|s| s.headroom.level == Level::Over)
}

pub(super) fn progress(shell: &mut Shell, event: Event) {
    match event {
        Event::Located { package, version, skill_toml } => {
            shell.verbose("Manifest", format_args!("{package} v{version} with `{}`", display(skill_toml)))
        }
        Event::Compiled { modules } => {
            for module in modules {
                shell.verbose("Module", format_args!("`{}`", display(module)));
            }
        }
        Event::Packed { skill_id, version } => shell.status("Packing", format_args!("{skill_id} {version}")),
        Event::Round { round } => {
            shell.status("Building", format_args!("round {round} of 2 in a clean target directory"))
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
