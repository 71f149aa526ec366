//! `build`: a skill crate to a signed, reproducible artifact: compile for
//! the ABI's target, check the imports the host links, SBOM, provenance,
//! pack, sign, attest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::DocumentMut;

use crate::artifact::{Entries, sha256_hex};
use crate::cargo::{self, Abi, BuildRequest, CargoError, Features, SkillCrate};
use crate::fsutil::{Existing, write_atomic};
use crate::host::link_problems;
use crate::manifest::{Manifest, ManifestError};
use crate::pack::{self, PackError, Parts};
use crate::provenance::{self, BuildFacts, Environment, SourceInfo};
use crate::sbom::{self, ModuleFile, SbomError};
use crate::signing::Signer;
use crate::toolchain::tool_version;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Cargo(#[from] CargoError),
    #[error(
        "no `skill.toml` at `{0}`: create one beside `Cargo.toml` (`cargo palyra-skill new` writes a complete one) or set `manifest` in `[package.metadata.palyra-skill]`"
    )]
    NoSkillToml(PathBuf),
    #[error("could not read `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{path}` is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error(
        "`skill.toml` says `version = \"{manifest}\"` but the crate is {krate}: make them equal, or remove `version` from `skill.toml` to use the crate's"
    )]
    VersionMismatch { manifest: String, krate: String },
    #[error("invalid `{path}`: {source}")]
    Manifest { path: PathBuf, source: ManifestError },
    #[error(
        "`operator.plugin.default_module_path` is `{declared}` but the crate builds `{built}`: set it to `modules/{built}`"
    )]
    ModulePath { declared: String, built: String },
    #[error(
        "`{module}` imports what the Palyra host cannot link, so every call would fail as `invalid_input`:\n{list}\n{fix}"
    )]
    HostImports { module: String, list: String, fix: String },
    #[error(transparent)]
    Sbom(#[from] SbomError),
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("could not write `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Time(#[from] crate::clock::ClockError),
    #[error(transparent)]
    Sign(#[from] crate::signing::SignError),
    #[error(
        "the work tree of `{dir}` has uncommitted changes and this is {why}: its artifact would record `dirty: true`, which no checkout of its commit rebuilds. Commit them (or `git stash`), or pass `--allow-dirty`"
    )]
    Dirty { dir: PathBuf, why: &'static str },
    #[error("cargo built `{path}`, which could not be stripped of its names: {source}")]
    Strip { path: PathBuf, source: crate::named::NamedError },
}

pub use crate::reproduce::{Reproduction, reproduce};
use crate::stamp::{HostFacts, git_source};
pub use crate::stamp::{TimeSource, build_time};

/// What the user asked `build` to do.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
    pub profile: String,
    pub features: Features,
    pub cargo_flags: Vec<String>,
    pub target_dir: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    pub quiet: bool,
    /// Seconds since the epoch for every timestamp; default `SOURCE_DATE_EPOCH` or now.
    pub fixed_time: Option<i64>,
    /// Leave out the `.dep-v0` dependency list (`--no-embed-dependencies`).
    pub no_embed_dependencies: bool,
    /// Builds for `run` and `test`: the default output directory is
    /// `<target>/palyra-skill/scratch`, so a real build's artifact is never replaced.
    pub scratch: bool,
    /// A rustup toolchain to build with (`rustup run TOOLCHAIN cargo`)
    /// instead of the current one: `rebuild` uses the recorded one.
    pub toolchain: Option<String>,
    /// A release (`build` with a release key, or of a GitHub tag ref): a
    /// dirty work tree or an out-of-date `Cargo.lock` is an error, not a warning.
    pub release: bool,
    /// Build a release from a dirty work tree anyway (`--allow-dirty`).
    pub allow_dirty: bool,
}

impl BuildOptions {
    /// `<target-dir>/palyra-skill`: cargo's target directory, or the one
    /// `--target-dir` gave cargo, so the artifact sits beside the build.
    pub fn artifact_dir(&self, crate_target_directory: &Path) -> PathBuf {
        self.target_dir.as_deref().unwrap_or(crate_target_directory).join("palyra-skill")
    }

    /// Where the named copies of the artifact's modules go: the folder
    /// `<skill_id>-<version>.named` of the artifact's default directory
    /// (`scratch` for `run` and `test`), beside the artifact unless `--out`
    /// put it elsewhere. Never in `--out`: that folder is what gets shipped.
    pub fn named_dir(&self, crate_target_directory: &Path, manifest: &Manifest) -> PathBuf {
        let mut dir = self.artifact_dir(crate_target_directory);
        if self.scratch {
            dir.push("scratch");
        }
        crate::named::dir_in(&dir, &manifest.skill_id, &manifest.version)
    }
}

/// Progress the caller may show.
pub enum Event<'a> {
    Located {
        package: &'a str,
        version: &'a str,
        skill_toml: &'a Path,
    },
    Compiled {
        modules: &'a [PathBuf],
    },
    Packed {
        skill_id: &'a str,
        version: &'a str,
    },
    /// `reproduce`: round 1 or 2 starts, in a clean target directory.
    Round {
        round: u32,
    },
}

/// A finished build.
#[derive(Debug)]
pub struct Built {
    pub artifact: PathBuf,
    pub bytes: Vec<u8>,
    pub entries: Entries,
    pub manifest: Manifest,
    pub modules: Vec<ModuleFile>,
    pub key_id: Option<String>,
    pub attestation: Option<PathBuf>,
    pub statement: Vec<u8>,
    /// The crate's module ABI.
    pub abi: Abi,
    /// The crate's cargo target directory (where a normal build writes).
    pub target_directory: PathBuf,
    /// `headroom-warn` of the crate.
    pub warn_at: f64,
    /// Where the timestamps came from, and the time (seconds since 1970).
    pub time_source: TimeSource,
    pub started_at: i64,
    /// The named copy of each module, by entry path (`modules/x.wasm`):
    /// the module's own bytes with its function names (and line tables,
    /// when the profile has debug info) still in.
    pub named: BTreeMap<String, Vec<u8>>,
    /// The folder they were written to.
    pub named_dir: PathBuf,
    /// The crate's dependency graph for its module's target, and the
    /// profile it was built with (for the size report).
    pub graph: crate::fit::Graph,
    pub profile: crate::fit::Profile,
    /// Whether cargo ran with `--locked` (given, or the lock file committed).
    pub locked: bool,
    /// What the caller should warn about.
    pub warnings: Vec<BuildWarning>,
}

pub use crate::release::BuildWarning;

/// Builds the crate and writes the artifact (and attestation when asked).
pub fn build(
    options: &BuildOptions,
    key: Option<&dyn Signer>,
    attestation: bool,
    env: &Environment,
    progress: &mut dyn FnMut(Event),
) -> Result<Built, BuildError> {
    let crate::release::Located { krate, cargo_flags, locked, warnings } = crate::release::locate(options)?;
    let options = BuildOptions { cargo_flags, ..options.clone() };
    build_crate(&krate, None, &options, Lock { locked, warnings }, key, attestation, env, progress)
}

/// Whether cargo runs with `--locked`, and what locating the crate found
/// to warn about (`crate::release`).
#[derive(Debug, Clone, Default)]
pub struct Lock {
    pub locked: bool,
    pub warnings: Vec<BuildWarning>,
}

impl Lock {
    /// As the flags say, with nothing to warn about.
    pub fn from_flags(cargo_flags: &[String]) -> Lock {
        Lock { locked: cargo_flags.iter().any(|f| f == "--locked" || f == "--frozen"), warnings: Vec::new() }
    }
}

/// Builds `krate`, a skill crate already located, and writes the artifact:
/// from `linked`, when one `cargo build` of several members already linked
/// it, else from a build of its own.
#[allow(clippy::too_many_arguments)]
pub fn build_crate(
    krate: &SkillCrate,
    linked: Option<cargo::Linked>,
    options: &BuildOptions,
    lock: Lock,
    key: Option<&dyn Signer>,
    attestation: bool,
    env: &Environment,
    progress: &mut dyn FnMut(Event),
) -> Result<Built, BuildError> {
    let Lock { locked, mut warnings } = lock;
    let version = krate.package.version.to_string();
    progress(Event::Located {
        package: &krate.package.name,
        version: &version,
        skill_toml: &krate.skill_toml,
    });
    let manifest_text = manifest_with_version(&krate.skill_toml, &version)?;
    let manifest = Manifest::parse(&manifest_text)
        .map_err(|source| BuildError::Manifest { path: krate.skill_toml.clone(), source })?;

    let (mut started, mut time_source) = match options.fixed_time {
        Some(secs) => (secs, TimeSource::Given),
        None => match build_time()? {
            (secs, true) => (secs, TimeSource::SourceDateEpoch),
            (secs, false) => (secs, TimeSource::Now),
        },
    };
    let remap = remap_prefixes(krate, options.target_dir.as_deref());
    // Facts for the provenance that need their own processes: gathered
    // while cargo builds.
    let crate_dir = krate.crate_dir().to_owned();
    let toolchain = options.toolchain.clone();
    let host_facts = std::thread::spawn(move || HostFacts {
        source: git_source(&crate_dir),
        rustc: tool_version(crate::env::Var::Rustc, "rustc", &["-vV"], toolchain.as_deref()),
        cargo: tool_version(crate::env::Var::Cargo, "cargo", &["-V"], toolchain.as_deref()),
    });
    let linked = match linked {
        Some(linked) => linked,
        None => cargo::build(&BuildRequest {
            manifest_path: krate.package.manifest_path.as_std_path(),
            packages: &[&krate.package],
            target: krate.target(),
            profile: &options.profile,
            features: &options.features,
            cargo_flags: &options.cargo_flags,
            target_dir: options.target_dir.as_deref(),
            remap: &remap,
            quiet: options.quiet,
            toolchain: options.toolchain.as_deref(),
        })?,
    };
    let wasm = linked.wasm;
    progress(Event::Compiled { modules: &wasm });
    let strip = crate::fit::profile::strip_of(krate.workspace_root(), &options.profile, linked.debuginfo);

    // The dependency list goes in before anything is hashed, so the SBOM,
    // the provenance subjects and the payload hash describe the final bytes.
    let dependencies =
        if options.no_embed_dependencies { None } else { Some(crate::auditable::version_info(krate)?) };
    // Cargo built each module with its names kept: that is the named
    // copy, and the artifact's module is the same bytes less what the
    // profile's `strip` leaves out, so the two differ in no code, data or fuel.
    let mut modules = Vec::new();
    let mut module_parts = Vec::new();
    let mut named = BTreeMap::new();
    for path in &wasm {
        let bytes = std::fs::read(path).map_err(|source| BuildError::Read { path: path.clone(), source })?;
        let with_names = match &dependencies {
            Some(info) => crate::auditable::embed(&bytes, info),
            None => bytes,
        };
        let bytes = crate::named::strip_as(&with_names, strip)
            .map_err(|source| BuildError::Strip { path: path.clone(), source })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        modules.push(ModuleFile { name: name.clone(), sha256: sha256_hex(&bytes) });
        named.insert(format!("modules/{name}"), with_names);
        module_parts.push((name, bytes));
    }
    let graph = crate::fit::Graph::new(&krate.metadata, &krate.package.id);
    if krate.abi == Abi::PalyraHostV1 {
        for (name, bytes) in &module_parts {
            check_host_imports(name, bytes, &graph)?;
        }
    }
    if let Some(declared) = manifest.default_module_path()
        && !module_parts.iter().any(|(name, _)| format!("modules/{name}") == declared)
    {
        return Err(BuildError::ModulePath {
            declared: declared.to_owned(),
            built: module_parts[0].0.clone(),
        });
    }

    let lockfile = krate.lockfile();
    let lock = cargo::lock_checksums(&lockfile)?;
    let host = host_facts.join().unwrap_or_default();
    crate::release::check_clean(options, host.source.as_ref(), krate.crate_dir().to_owned(), &mut warnings)?;
    // Without `SOURCE_DATE_EPOCH`, a clean checkout stamps the HEAD
    // commit's time, so rebuilding a commit gives the same bytes.
    if time_source == TimeSource::Now
        && let Some(SourceInfo { dirty: false, committed_at: Some(secs), .. }) = host.source
    {
        (started, time_source) = (secs, TimeSource::GitCommit);
    }
    let finished = if time_source == TimeSource::Now { build_time()?.0 } else { started };
    let timestamp = sbom::rfc3339(started);
    let sbom = sbom::generate(krate, &lock, &modules, &timestamp)?;
    let facts = build_facts(
        krate,
        options,
        locked,
        &modules,
        sbom.crates,
        &lockfile,
        host,
        timestamp,
        sbom::rfc3339(finished),
    );
    let statement = provenance::statement(&facts, env).to_json();

    let (mut entries, manifest) = pack::assemble(Parts {
        manifest_text,
        modules: module_parts,
        assets: Vec::new(),
        sbom: sbom.json,
        provenance: statement.clone(),
    })?;
    progress(Event::Packed { skill_id: &manifest.skill_id, version: &manifest.version });
    let key_id = match key {
        Some(key) => Some(
            pack::sign(&mut entries, &manifest.publisher, key, started * 1000)
                .map_err(PackError::from)?
                .key_id,
        ),
        None => None,
    };
    let bytes = entries.to_zip().map_err(PackError::from)?;
    let target_directory = krate.metadata.target_directory.as_std_path().to_owned();
    let out_dir = match &options.out_dir {
        Some(dir) => dir.clone(),
        None if options.scratch => options.artifact_dir(&target_directory).join("scratch"),
        None => options.artifact_dir(&target_directory),
    };
    let attest_with = key.filter(|_| attestation);
    let (artifact, attestation) = write_outputs(&out_dir, &manifest, &bytes, &statement, attest_with)?;
    let named_dir = options.named_dir(&target_directory, &manifest);
    write_named(&named_dir, &named)?;
    Ok(Built {
        artifact,
        bytes,
        entries,
        manifest,
        modules,
        key_id,
        attestation,
        statement,
        abi: krate.abi,
        target_directory,
        warn_at: krate.settings.warn_at(),
        time_source,
        started_at: started,
        named,
        named_dir,
        graph,
        profile: crate::fit::Profile::read(krate.workspace_root(), krate.crate_dir(), &options.profile),
        locked,
        warnings,
    })
}

/// Writes each named copy into `dir` as `<module>.wasm`, atomically.
pub(crate) fn write_named(dir: &Path, named: &BTreeMap<String, Vec<u8>>) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(|source| BuildError::Write { path: dir.to_owned(), source })?;
    for (entry, bytes) in named {
        let path = dir.join(entry.strip_prefix("modules/").unwrap_or(entry));
        write_atomic(&path, bytes, Some(0o644), Existing::Replace)
            .map_err(|source| BuildError::Write { path: path.clone(), source })?;
    }
    Ok(())
}

/// Writes the artifact into `out_dir` as `<skill_id>-<version>.palyra-skill`
/// and, with a key, the DSSE attestation beside it; each atomically.
pub(crate) fn write_outputs(
    out_dir: &Path,
    manifest: &Manifest,
    bytes: &[u8],
    statement: &[u8],
    attest_with: Option<&dyn Signer>,
) -> Result<(PathBuf, Option<PathBuf>), BuildError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|source| BuildError::Write { path: out_dir.to_owned(), source })?;
    let artifact = out_dir.join(format!("{}-{}.palyra-skill", manifest.skill_id, manifest.version));
    write_atomic(&artifact, bytes, Some(0o644), Existing::Replace)
        .map_err(|source| BuildError::Write { path: artifact.clone(), source })?;
    let attestation = match attest_with {
        Some(key) => {
            let mut path = artifact.clone().into_os_string();
            path.push(".intoto.jsonl");
            let path = PathBuf::from(path);
            let envelope = provenance::dsse_envelope(statement, key)?;
            write_atomic(&path, envelope.as_bytes(), Some(0o644), Existing::Replace)
                .map_err(|source| BuildError::Write { path: path.clone(), source })?;
            Some(path)
        }
        None => None,
    };
    Ok((artifact, attestation))
}

/// The skill manifest text with `version` filled in from the crate, or
/// checked against it.
pub(crate) fn manifest_with_version(path: &Path, crate_version: &str) -> Result<String, BuildError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BuildError::NoSkillToml(path.to_owned()));
        }
        Err(source) => return Err(BuildError::Read { path: path.to_owned(), source }),
    };
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| BuildError::Toml {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    match doc.get("version").map(|v| v.as_str()) {
        Some(Some(declared)) if declared.trim() == crate_version => Ok(text),
        Some(Some(declared)) => Err(BuildError::VersionMismatch {
            manifest: declared.to_owned(),
            krate: crate_version.to_owned(),
        }),
        // Not a string: the manifest parser reports the type error with its path.
        Some(None) => Ok(text),
        None => {
            doc.insert("version", toml_edit::value(crate_version));
            Ok(doc.to_string())
        }
    }
}

/// Host path prefixes rewritten in the module: the workspace, the target
/// directory, cargo home and rustup home; longest last, as rustc applies
/// the last matching rule.
pub(crate) fn remap_prefixes(krate: &SkillCrate, target_dir: Option<&Path>) -> Vec<(PathBuf, String)> {
    use crate::env::{Var, os};
    let home = os(Var::Home).map(PathBuf::from);
    let cargo_home =
        os(Var::CargoHome).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".cargo")));
    let rustup_home =
        os(Var::RustupHome).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".rustup")));
    let target = target_dir
        .map(Path::to_owned)
        .unwrap_or_else(|| krate.metadata.target_directory.as_std_path().to_owned());
    let mut remap =
        vec![(krate.workspace_root().to_owned(), "/workspace".to_owned()), (target, "/target".to_owned())];
    remap.extend(cargo_home.map(|p| (p, "/cargo".to_owned())));
    remap.extend(rustup_home.map(|p| (p, "/rustup".to_owned())));
    remap.sort_by_key(|(path, _)| path.as_os_str().len());
    remap
}

#[allow(clippy::too_many_arguments)]
fn build_facts(
    krate: &SkillCrate,
    options: &BuildOptions,
    locked: bool,
    modules: &[ModuleFile],
    crates: Vec<(String, Option<String>)>,
    lockfile: &Path,
    host: HostFacts,
    started_on: String,
    finished_on: String,
) -> BuildFacts {
    let mut features = options.features.features.clone();
    features.sort();
    BuildFacts {
        package: krate.package.name.to_string(),
        abi: krate.abi,
        profile: options.profile.clone(),
        features,
        all_features: options.features.all_features,
        no_default_features: options.features.no_default_features,
        locked,
        subjects: modules.iter().map(|m| (m.name.clone(), m.sha256.clone())).collect(),
        source: host.source,
        lockfile_sha256: std::fs::read(lockfile).ok().map(|b| sha256_hex(&b)),
        crates,
        rustc: host.rustc,
        cargo: host.cargo,
        started_on,
        finished_on,
    }
}

/// With the host ABI, a module may import only the eight host functions
/// (docs/host.md, "How a call is built"): anything else fails instantiation in Palyra.
fn check_host_imports(name: &str, bytes: &[u8], graph: &crate::fit::Graph) -> Result<(), BuildError> {
    match crate::fit::imports::explain(&link_problems(bytes), graph) {
        None => Ok(()),
        Some((list, fix)) => Err(BuildError::HostImports { module: format!("modules/{name}"), list, fix }),
    }
}
