//! Cargo integration: finding the skill crate with `cargo_metadata`, and
//! `cargo build --target <the ABI's target>` read through its JSON messages.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{CargoOpt, Message, Metadata, MetadataCommand, Package, TargetKind};
use serde::{Deserialize, Serialize};

/// How a skill's module talks to its host: `[package.metadata.palyra-skill] abi`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Abi {
    /// The Palyra host ABI v1 (`wasm32-unknown-unknown`): the eight host
    /// functions, no input, the exit code as the result. What Palyra 0.1.0 runs.
    #[default]
    #[serde(rename = "palyra-host-v1")]
    PalyraHostV1,
    /// Our JSON data plane over WASI preview1 (`wasm32-wasip1`): a labelled
    /// preview that Palyra 0.1.0 cannot run (it links no WASI).
    #[serde(rename = "wasi-json")]
    WasiJson,
}

impl Abi {
    pub fn as_str(self) -> &'static str {
        match self {
            Abi::PalyraHostV1 => "palyra-host-v1",
            Abi::WasiJson => "wasi-json",
        }
    }

    /// The Rust target the module is built for.
    pub fn target(self) -> &'static str {
        match self {
            Abi::PalyraHostV1 => "wasm32-unknown-unknown",
            Abi::WasiJson => "wasm32-wasip1",
        }
    }
}

pub use crate::lockfile::{LockedPackage, lock_checksums};

#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    #[error("could not read the cargo metadata of `{manifest}`: {message}")]
    Metadata { manifest: String, message: String },
    #[error(
        "no skill crate here: {message}. Run this in a skill crate's directory or pass the crate's path, or create one with `cargo palyra-skill new NAME`"
    )]
    NoCrate { message: String },
    #[error(
        "no `{lockfile}`, and a `--locked` build uses only a committed lock file (a release then builds exactly the dependencies you tested): make it with `cargo generate-lockfile --manifest-path {manifest}` and commit it"
    )]
    NoLockfile { lockfile: String, manifest: String },
    #[error(
        "`{lockfile}` is out of date with `Cargo.toml`{detail}, and a locked build never rewrites it: commit Cargo.lock after changing the version (`cargo update -w`) or the dependencies (`cargo update -p NAME`)"
    )]
    StaleLockfile { lockfile: String, detail: String },
    #[error("no package `{0}` in this workspace: pass one of its members with `-p`")]
    NoSuchPackage(String),
    #[error("`{manifest}` is a workspace with several skill packages ({names}): pick one with `-p NAME`")]
    Ambiguous { manifest: String, names: String },
    #[error("`{0}` is not a `cdylib`: add `[lib] crate-type = [\"cdylib\"]` to its `Cargo.toml`")]
    NotCdylib(String),
    #[error(
        "crate version `{0}` is not a plain `major.minor.patch`: the Palyra runtime accepts no pre-release or build suffix"
    )]
    CrateVersion(String),
    #[error("could not run `cargo`: {0}")]
    Spawn(std::io::Error),
    #[error("the `{0}` target is not installed: run `rustup target add {0}`")]
    MissingTarget(&'static str),
    #[error("`cargo build` failed (its errors are above); no artifact was written")]
    BuildFailed,
    #[error("`cargo build` produced no `.wasm` for `{0}`: is it a `cdylib`?")]
    NoWasm(String),
    #[error("`{path}` is not a valid `Cargo.lock`: {message}")]
    Lockfile { path: String, message: String },
}

/// The crate's `Cargo.toml`, found as cargo finds it: `given` (a crate
/// directory or its `Cargo.toml`), else the nearest `Cargo.toml` from the
/// current directory upward. Every command that takes a crate starts here,
/// so "no crate" reads the same everywhere, whatever else exists.
pub fn locate_crate(given: Option<&Path>) -> Result<PathBuf, CargoError> {
    let missing = |message: String| CargoError::NoCrate { message };
    match given {
        Some(path) if path.is_dir() => {
            let manifest = path.join("Cargo.toml");
            if manifest.is_file() {
                Ok(manifest)
            } else {
                Err(missing(format!(
                    "`{}` has no `Cargo.toml`",
                    crate::text::escape(&path.display().to_string())
                )))
            }
        }
        Some(path) if path.is_file() => Ok(path.to_owned()),
        Some(path) => {
            Err(missing(format!("`{}` does not exist", crate::text::escape(&path.display().to_string()))))
        }
        None => {
            let cwd = std::env::current_dir().map_err(CargoError::Spawn)?;
            cwd.ancestors().map(|dir| dir.join("Cargo.toml")).find(|m| m.is_file()).ok_or_else(|| {
                missing(format!(
                    "could not find `Cargo.toml` in `{}` or any parent directory",
                    crate::text::escape(&cwd.display().to_string())
                ))
            })
        }
    }
}

pub use crate::settings::ToolSettings;

/// The skill crate and the facts about its workspace the build needs.
#[derive(Debug, Clone)]
pub struct SkillCrate {
    pub metadata: Metadata,
    pub package: Package,
    pub settings: ToolSettings,
    pub skill_toml: PathBuf,
    pub abi: Abi,
}

/// Feature selection, as `cargo build` takes it.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

impl Features {
    fn cargo_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if !self.features.is_empty() {
            args.push(format!("--features={}", self.features.join(",")));
        }
        if self.all_features {
            args.push("--all-features".into());
        }
        if self.no_default_features {
            args.push("--no-default-features".into());
        }
        args
    }
}

impl SkillCrate {
    /// Reads the workspace (dependency graph filtered to the ABI's target)
    /// and picks the skill package: `-p NAME`, the root package, or the only
    /// member with a `skill.toml`.
    pub fn locate(
        manifest_path: Option<&Path>,
        package: Option<&str>,
        features: &Features,
        cargo_flags: &[String],
    ) -> Result<SkillCrate, CargoError> {
        let read = |target: &str| metadata(manifest_path, features, cargo_flags, target);
        let mut krate = Self::pick(read(Abi::default().target())?, manifest_path, package)?;
        if krate.abi != Abi::default() {
            // The graph depends on the target: read it again for this one.
            krate.metadata = read(krate.abi.target())?;
        }
        Ok(krate)
    }

    fn pick(
        metadata: Metadata,
        manifest_path: Option<&Path>,
        package: Option<&str>,
    ) -> Result<SkillCrate, CargoError> {
        let shown = manifest_path.map_or("Cargo.toml".into(), |p| p.display().to_string());
        let members: Vec<&Package> = metadata.workspace_packages();
        let chosen = match package {
            Some(name) => members.iter().find(|p| p.name.as_str() == name).copied(),
            None => metadata.root_package().or_else(|| {
                let skills: Vec<_> = members
                    .iter()
                    .filter(|p| p.manifest_path.parent().is_some_and(|d| d.join("skill.toml").exists()))
                    .collect();
                (skills.len() == 1).then(|| *skills[0])
            }),
        };
        let package = match (chosen, package) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) => return Err(CargoError::NoSuchPackage(name.to_owned())),
            (None, None) => {
                let names = members.iter().map(|p| p.name.to_string()).collect::<Vec<_>>().join(", ");
                return Err(CargoError::Ambiguous { manifest: shown, names });
            }
        };
        Self::of(metadata, package)
    }

    /// `package` of `metadata` as a skill crate: a `cdylib` with a plain
    /// version and valid settings.
    pub fn of(metadata: Metadata, package: Package) -> Result<SkillCrate, CargoError> {
        if !is_cdylib(&package) {
            return Err(CargoError::NotCdylib(package.name.to_string()));
        }
        let version = &package.version;
        if !version.pre.is_empty() || !version.build.is_empty() {
            return Err(CargoError::CrateVersion(version.to_string()));
        }
        let settings = settings(&package)?;
        let skill_toml = skill_toml_path(&package, &settings);
        let abi = settings.abi.unwrap_or_default();
        Ok(SkillCrate { metadata, package, settings, skill_toml, abi })
    }

    /// The Rust target the module is built for.
    pub fn target(&self) -> &'static str {
        self.abi.target()
    }

    pub fn workspace_root(&self) -> &Path {
        self.metadata.workspace_root.as_std_path()
    }

    pub fn crate_dir(&self) -> &Path {
        self.package.manifest_path.parent().map(|d| d.as_std_path()).unwrap_or(Path::new("."))
    }

    pub fn lockfile(&self) -> PathBuf {
        self.workspace_root().join("Cargo.lock")
    }
}

/// Whether the package has a `cdylib` target (a module to build).
pub fn is_cdylib(package: &Package) -> bool {
    package.targets.iter().any(|t| t.kind.contains(&TargetKind::CDyLib))
}

/// The package's `[package.metadata.palyra-skill]`, checked.
pub fn settings(package: &Package) -> Result<ToolSettings, CargoError> {
    let settings: ToolSettings = package
        .metadata
        .get("palyra-skill")
        .map(|value| serde_json::from_value(value.clone()))
        .transpose()
        .map_err(|e| CargoError::Metadata {
            manifest: package.manifest_path.to_string(),
            message: format!(
                "invalid `[package.metadata.palyra-skill]`: {}",
                crate::suggest::unknown_field_hint(&e.to_string())
            ),
        })?
        .unwrap_or_default();
    if let Some(share) = settings.headroom_warn.filter(|s| !crate::headroom::valid_warn_at(*s)) {
        return Err(CargoError::Metadata {
            manifest: package.manifest_path.to_string(),
            message: format!(
                "`[package.metadata.palyra-skill] headroom-warn = {share}` must be a share in (0, 1], such as 0.8"
            ),
        });
    }
    Ok(settings)
}

/// Where the package's `skill.toml` is: `manifest` of its settings, else
/// beside its `Cargo.toml`.
pub fn skill_toml_path(package: &Package, settings: &ToolSettings) -> PathBuf {
    let dir = package.manifest_path.parent().map(|d| d.as_std_path().to_owned()).unwrap_or_default();
    dir.join(settings.manifest.clone().unwrap_or_else(|| "skill.toml".into()))
}

pub(crate) fn metadata(
    manifest_path: Option<&Path>,
    features: &Features,
    cargo_flags: &[String],
    target: &str,
) -> Result<Metadata, CargoError> {
    let mut command = MetadataCommand::new();
    if let Some(path) = manifest_path {
        command.manifest_path(path);
    }
    if features.all_features {
        command.features(CargoOpt::AllFeatures);
    }
    if features.no_default_features {
        command.features(CargoOpt::NoDefaultFeatures);
    }
    if !features.features.is_empty() {
        command.features(CargoOpt::SomeFeatures(features.features.clone()));
    }
    let mut other = vec!["--filter-platform".to_owned(), target.to_owned()];
    other.extend(cargo_flags.iter().cloned());
    command.other_options(other);
    let shown = manifest_path.map_or("Cargo.toml".into(), |p| p.display().to_string());
    command.exec().map_err(|e| metadata_error(shown, e))
}

/// Cargo's own complaint, without its `error: ` prefix (ours precedes it),
/// and no crate at all told apart from a broken one.
fn metadata_error(manifest: String, error: cargo_metadata::Error) -> CargoError {
    let message = match &error {
        cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_owned(),
        other => other.to_string(),
    };
    let message = message.strip_prefix("error: ").unwrap_or(&message).to_owned();
    let missing = message.starts_with("could not find `Cargo.toml`")
        || (message.starts_with("manifest path `") && message.ends_with("` does not exist"));
    // `--locked` without a lock file: cargo's advice is to drop `--locked`,
    // which is not ours to give (and the Action cannot).
    if let Some(rest) = message.strip_prefix("cannot create the lock file ")
        && let Some((lockfile, _)) = rest.split_once(" because --locked")
    {
        return CargoError::NoLockfile { lockfile: lockfile.to_owned(), manifest };
    }
    // An out-of-date lock file: cargo's advice (drop `--locked`) again.
    if let Some(rest) = message.strip_prefix("cannot update the lock file ")
        && let Some((lockfile, _)) = rest.split_once(" because --locked")
    {
        let detail = crate::lockfile::stale_versions(Path::new(lockfile));
        return CargoError::StaleLockfile { lockfile: lockfile.to_owned(), detail };
    }
    if missing { CargoError::NoCrate { message } } else { CargoError::Metadata { manifest, message } }
}

/// What `cargo build` is asked to do.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub manifest_path: &'a Path,
    /// The skill packages to link, in one `cargo build` (so their
    /// dependencies compile once).
    pub packages: &'a [&'a Package],
    /// The Rust target (the ABI's).
    pub target: &'static str,
    pub profile: &'a str,
    pub features: &'a Features,
    /// `--locked`, `--frozen`, `--offline` as given.
    pub cargo_flags: &'a [String],
    pub target_dir: Option<&'a Path>,
    /// `(from, to)` path prefixes to remap out of the module.
    pub remap: &'a [(PathBuf, String)],
    /// Show cargo's progress and diagnostics (stderr is inherited either way when true).
    pub quiet: bool,
    /// Build with this rustup toolchain (`rustup run TOOLCHAIN cargo`).
    pub toolchain: Option<&'a str>,
}

/// `program` (`$var` when set), or `rustup run TOOLCHAIN program`.
pub(crate) fn tool(var: crate::env::Var, program: &str, toolchain: Option<&str>) -> Command {
    match toolchain {
        Some(toolchain) => {
            // Cargo's `$RUSTC` and rustup's `$RUSTUP_TOOLCHAIN` would pick
            // the current toolchain's compiler again.
            let mut command = Command::new("rustup");
            command.args(["run", toolchain, program]).env_remove("RUSTC").env_remove("RUSTUP_TOOLCHAIN");
            command
        }
        None => Command::new(crate::env::os(var).unwrap_or_else(|| program.into())),
    }
}

/// What the link wrote: the cdylib's `.wasm` files as cargo reports them
/// (never guessed from `target/`), and whether the profile gave the crate
/// debug info.
#[derive(Debug, Clone)]
pub struct Linked {
    pub wasm: Vec<PathBuf>,
    pub debuginfo: bool,
}

/// Runs cargo for the request's target and returns what it linked: the
/// one package of the request, or why it could not be built.
pub fn build(request: &BuildRequest) -> Result<Linked, CargoError> {
    let mut built = build_packages(request)?;
    let package = request.packages.first().expect("one package");
    match built.linked.remove(&package.id) {
        Some(linked) if built.success => Ok(linked),
        _ if !built.success => Err(CargoError::BuildFailed),
        _ => Err(CargoError::NoWasm(package.name.to_string())),
    }
}

/// What one `cargo build` of several packages linked, by package; with
/// `--keep-going`, a package that failed to compile has no entry and the
/// others still do.
#[derive(Debug, Default)]
pub struct BuildOutcome {
    pub linked: std::collections::HashMap<cargo_metadata::PackageId, Linked>,
    /// Whether cargo exited with success.
    pub success: bool,
}

/// Runs cargo once for every package of the request.
///
/// One build, with the function names (and line tables, where the profile
/// asks for debug info) kept whatever `strip` says: `-C strip=none` comes
/// last in the target's rustflags, after the profile's own `-C strip`, and
/// only a link reads it (a library compiles to the same bytes, with the
/// same `-C metadata`, as without it; build scripts and proc macros, built
/// for the host, never see the target's rustflags). Every crate compiles
/// with the profile as written (setting `strip` in the profile instead
/// would change every crate's `-C metadata`, and with it the symbols and
/// the order LTO lays the code out in). The artifact's module is these
/// bytes less the sections the profile's `strip` would have had the linker
/// leave out (`crate::named`): the bytes the link would have written. The
/// rustflags are the same for every member of a workspace, so building one
/// member never invalidates another's dependencies in the shared target
/// directory.
pub fn build_packages(request: &BuildRequest) -> Result<BuildOutcome, CargoError> {
    let mut command = tool(crate::env::Var::Cargo, "cargo", request.toolchain);
    command.args(["build", "--lib"]).arg("--manifest-path").arg(request.manifest_path).args([
        "--target",
        request.target,
        "--message-format",
        "json-render-diagnostics",
    ]);
    for package in request.packages {
        command.arg("-p").arg(package.name.as_str());
    }
    if request.packages.len() > 1 {
        // A member that fails to compile leaves the others to build and report.
        command.arg("--keep-going");
    }
    command
        .arg(format!("--profile={}", request.profile))
        .args(request.features.cargo_args())
        .args(request.cargo_flags);
    if let Some(dir) = request.target_dir {
        command.arg("--target-dir").arg(dir);
    }
    if request.quiet {
        command.arg("--quiet");
    }
    command.env("CARGO_ENCODED_RUSTFLAGS", encoded_rustflags(request.remap));
    // Build scripts and proc macros run inside: they get no input of ours.
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(CargoError::Spawn)?;

    // Cargo's own progress and diagnostics reach the user unchanged; the
    // copy we keep only serves to recognize a missing target.
    let stderr = child.stderr.take().expect("piped");
    let tee = std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut seen = String::new();
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&line);
            let _ = err.write_all(b"\n");
            if seen.len() < 64 * 1024 {
                seen.push_str(&String::from_utf8_lossy(&line));
                seen.push('\n');
            }
        }
        seen
    });

    let mut outcome = BuildOutcome::default();
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    for message in Message::parse_stream(stdout).map_while(Result::ok) {
        if let Message::CompilerArtifact(artifact) = message
            && request.packages.iter().any(|p| p.id == artifact.package_id)
            && artifact.target.kind.contains(&TargetKind::CDyLib)
        {
            let linked = outcome
                .linked
                .entry(artifact.package_id.clone())
                .or_insert(Linked { wasm: Vec::new(), debuginfo: false });
            linked.debuginfo |= artifact.profile.debuginfo != cargo_metadata::ArtifactDebuginfo::None;
            linked.wasm.extend(
                artifact
                    .filenames
                    .iter()
                    .filter(|f| f.extension() == Some("wasm"))
                    .map(|f| f.as_std_path().to_owned()),
            );
        }
    }
    let status = child.wait().map_err(CargoError::Spawn)?;
    let stderr = tee.join().unwrap_or_default();
    if !status.success()
        && (stderr.contains("may not be installed") || stderr.contains("can't find crate for `std`"))
    {
        return Err(CargoError::MissingTarget(request.target));
    }
    outcome.success = status.success();
    outcome.linked.retain(|_, linked| !linked.wasm.is_empty());
    for linked in outcome.linked.values_mut() {
        linked.wasm.sort();
        linked.wasm.dedup();
    }
    Ok(outcome)
}

/// The user's rustflags (`CARGO_ENCODED_RUSTFLAGS` or `RUSTFLAGS`) plus our
/// `--remap-path-prefix` flags, so no host path reaches the module, and
/// `-C strip=none` last, so the link keeps the names (see [`build_packages`]).
fn encoded_rustflags(remap: &[(PathBuf, String)]) -> String {
    use crate::env::{Var, string};
    let mut flags: Vec<String> = match string(Var::CargoEncodedRustflags) {
        Some(encoded) if !encoded.is_empty() => encoded.split('\x1f').map(str::to_owned).collect(),
        _ => string(Var::Rustflags).unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
    };
    for (from, to) in remap {
        flags.push(format!("--remap-path-prefix={}={to}", from.display()));
    }
    flags.extend(["-C".to_owned(), "strip=none".to_owned()]);
    flags.join("\x1f")
}
