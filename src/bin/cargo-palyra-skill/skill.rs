//! What `run` and `test` execute: a skill from an artifact or a crate
//! (built first), its manifest and module, grants, limits and state dirs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_palyra_skill::cargo::{Abi, Features};
use cargo_palyra_skill::runtime::{CacheKey, CacheOutcome, LoadedModule, ModuleCache, Runtime, Tier};
use cargo_palyra_skill::signing::Signer;
pub use cargo_palyra_skill::skill::{Scratch, Skill, is_crate, module_arg, pick_module, preopens};
use cargo_palyra_skill::verify::{check_contents, check_integrity};
use clap::Args;

use crate::input::read_entries;
use crate::select::PackageArgs;
use crate::shell::Shell;

/// Where a crate command finds the crate: a positional PATH (its directory
/// or its `Cargo.toml`) or cargo's own `--manifest-path`; the current
/// directory by default.
#[derive(Debug, Clone, Args)]
pub struct CratePath {
    /// The skill crate: its directory or its `Cargo.toml` [default: .]
    #[arg(value_name = "PATH", conflicts_with = "manifest_path")]
    path: Option<PathBuf>,
    /// Path to the crate's `Cargo.toml` (as cargo takes it)
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

impl CratePath {
    /// The crate's `Cargo.toml`: the one given, else the nearest from the
    /// current directory upward (one lookup for every crate command).
    pub fn locate(&self) -> Result<PathBuf> {
        let given = self.manifest_path.as_deref().or(self.path.as_deref());
        Ok(cargo_palyra_skill::cargo::locate_crate(given)?)
    }
}

/// Where `run` and `audit` find what they take: a positional TARGET (an
/// artifact or a crate) or `--manifest-path` (a crate).
#[derive(Debug, Clone, Args)]
pub struct TargetPath {
    /// A `.palyra-skill` artifact, or a skill crate (its directory or `Cargo.toml`) [default: .]
    #[arg(value_name = "PATH", conflicts_with = "manifest_path")]
    target: Option<PathBuf>,
    /// Path to the crate's `Cargo.toml` (as cargo takes it)
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

impl TargetPath {
    /// The artifact or crate given, else the crate found from the current
    /// directory upward (its `Cargo.toml`).
    pub fn path(&self) -> Result<PathBuf> {
        target_or_crate(self.manifest_path.as_deref().or(self.target.as_deref()))
    }
}

/// `given` as it is (an artifact, a module or a crate), else the nearest
/// crate from the current directory upward, as its `Cargo.toml`.
pub fn target_or_crate(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(path) => Ok(path.to_owned()),
        None => Ok(cargo_palyra_skill::cargo::locate_crate(None)?),
    }
}

/// Build options for a crate given to `run`, `test` or `audit`.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Cargo profile to build with
    #[arg(long, value_name = "NAME", default_value = "release")]
    pub profile: String,
    /// Require `Cargo.lock` to be up to date
    #[arg(long)]
    pub locked: bool,
    /// Run cargo without accessing the network
    #[arg(long)]
    pub offline: bool,
}

impl BuildArgs {
    /// `--locked` and `--offline`, as cargo takes them.
    pub fn cargo_flags(&self) -> Vec<String> {
        let flags = [(self.locked, "--locked"), (self.offline, "--offline")];
        flags.into_iter().filter(|(on, _)| *on).map(|(_, flag)| flag.to_owned()).collect()
    }
}

/// How `run` and `test` get the module's compiled code.
#[derive(Debug, Clone, Args)]
pub struct CodeArgs {
    /// Compile the module even if a cached compilation exists
    #[arg(long)]
    pub no_cache: bool,
    /// Run the host's optimized code from the start, for its exact speed
    /// and stack use [default: quick code, which compiles faster; time-outs
    /// and stack exhaustion are confirmed on optimized code either way]
    #[arg(long)]
    pub optimized: bool,
}

impl CodeArgs {
    pub fn tier(&self) -> Tier {
        if self.optimized { Tier::Optimized } else { Tier::Quick }
    }
}

/// Which module ABI a run uses: `--abi`, else the crate's setting, else the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AbiArg {
    /// The Palyra host ABI v1: host functions only, no input, the exit code
    #[value(name = "palyra-host-v1")]
    PalyraHostV1,
    /// The WASI JSON data plane: a preview that Palyra 0.1.0 cannot run
    #[value(name = "wasi-json")]
    WasiJson,
}

impl AbiArg {
    pub fn abi(flag: Option<AbiArg>) -> Option<Abi> {
        flag.map(|flag| match flag {
            AbiArg::PalyraHostV1 => Abi::PalyraHostV1,
            AbiArg::WasiJson => Abi::WasiJson,
        })
    }
}

/// The runtime, with the on-disk cache unless `no_cache`: entries are
/// authenticated with the per-user key `cache-key` of the config directory.
pub fn runtime(no_cache: bool, shell: &mut Shell) -> Result<Runtime> {
    let cache = if no_cache { None } else { open_cache() };
    let cache = match cache {
        Some(Ok(cache)) => Some(cache),
        Some(Err(e)) => {
            shell.warn(format_args!("the module cache is unusable, compiling every time: {e:#}"));
            None
        }
        None => None,
    };
    Ok(Runtime::new(cache)?)
}

fn open_cache() -> Option<Result<ModuleCache>> {
    let dir = ModuleCache::default_dir()?;
    Some((|| {
        let key_path = crate::input::config_dir()?.join("cache-key");
        let key = CacheKey::load_or_create(&key_path)
            .with_context(|| format!("cache key `{}`", key_path.display()))?;
        ModuleCache::open(&dir, key).with_context(|| format!("module cache `{}`", dir.display()))
    })())
}

/// Which package of the crate's workspace to build, with which features,
/// where: `None` for the crate's own, as `--target-dir` and `--features` say.
pub type Member<'a> = Option<(&'a PackageArgs, Option<&'a str>)>;

/// Builds the crate at `path` (a directory or a `Cargo.toml`; the package
/// `member` names, else its own), signed with `key` or
/// unsigned, into the scratch output directory, with the named copies of
/// its modules beside the artifact.
pub fn build_crate(
    path: &Path,
    args: &BuildArgs,
    member: Member,
    key: Option<&dyn Signer>,
    shell: &mut Shell,
) -> Result<Scratch> {
    let (features, target_dir) = member
        .map_or((Vec::new(), None), |(packages, _)| (packages.feature_names(), packages.target_dir.clone()));
    let cargo_flags = args.cargo_flags();
    let options = cargo_palyra_skill::build::BuildOptions {
        manifest_path: Some(path.to_owned()),
        package: member.and_then(|(_, package)| package).map(str::to_owned),
        profile: args.profile.clone(),
        features: Features { features, ..Default::default() },
        cargo_flags,
        target_dir,
        quiet: shell.is_quiet(),
        ..Default::default()
    };
    let scratch = cargo_palyra_skill::skill::build_scratch(options, key)?;
    let how = if key.is_some() { "signed" } else { "unsigned" };
    shell.verbose("Built", format_args!("`{}` ({how})", scratch.artifact.display()));
    Ok(scratch)
}

/// Loads and verifies a skill from an artifact file or a crate (built
/// first), with the named copies of its modules: the build's, or those
/// beside the artifact that strip to its modules.
pub fn load(target: &Path, build: &BuildArgs, member: Member, shell: &mut Shell) -> Result<Skill> {
    let (entries, crate_dir, crate_abi, warn_at, named) = if is_crate(target) {
        let scratch = build_crate(target, build, member, None, shell)?;
        (scratch.entries, Some(scratch.crate_dir), Some(scratch.abi), scratch.warn_at, scratch.named)
    } else {
        let entries = read_entries(target)?;
        let named = cargo_palyra_skill::skill::named_beside(target, &entries);
        (entries, None, None, cargo_palyra_skill::headroom::DEFAULT_WARN_AT, named)
    };
    let context = || format!("cannot run `{}`", target.display());
    let manifest = check_contents(&entries).with_context(context)?;
    check_integrity(&manifest, &entries).with_context(context)?;
    for path in named.keys() {
        shell.verbose("Names", format_args!("`{path}`: from its named copy"));
    }
    Ok(Skill { manifest, entries, crate_dir, crate_abi, warn_at, named })
}

/// Compiles (or loads from the cache) the module at `module_path`, for the WASI preview.
pub fn compile(
    skill: &Skill,
    module_path: &str,
    runtime: &Runtime,
    tier: Tier,
    shell: &mut Shell,
) -> Result<LoadedModule> {
    let wasm = &skill.entries.get(module_path).context("no such module")?.bytes;
    let started = std::time::Instant::now();
    let module = runtime.load_module(wasm, tier).with_context(|| format!("cannot load `{module_path}`"))?;
    log_cache(shell, module_path, &module.cache, module.tier(), Some(started.elapsed().as_millis()));
    Ok(module)
}

/// A verbose line on where the module's code came from (and how long
/// loading it took, when that was timed on its own).
pub fn log_cache(shell: &mut Shell, module_path: &str, cache: &CacheOutcome, tier: Tier, ms: Option<u128>) {
    let how = match cache {
        CacheOutcome::Hit => "cache hit".to_owned(),
        CacheOutcome::Miss => "compiled, cached".to_owned(),
        CacheOutcome::Replaced(reason) => format!("cache entry discarded ({reason}), compiled again"),
        CacheOutcome::Disabled => "compiled, cache off".to_owned(),
    };
    let took = ms.map(|ms| format!(" in {ms} ms")).unwrap_or_default();
    shell.verbose("Module", format_args!("`{module_path}`: {} code, {how}{took}", tier.as_str()));
    if let CacheOutcome::Replaced(reason) = cache {
        shell.warn(format_args!("a corrupt module cache entry was replaced: {reason}"));
    }
}
