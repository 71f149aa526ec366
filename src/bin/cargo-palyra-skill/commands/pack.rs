//! `pack`: the low-level packer, from parts on disk to a `.palyra-skill`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::artifact::{Entries, MAX_ENTRY_BYTES};
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
use cargo_palyra_skill::manifest::Manifest;
use cargo_palyra_skill::pack::{self, Parts};
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::input::{KeyArgs, read_limited};
use crate::shell::{MessageFormat, OutputArgs, Shell, human_size};

/// Pack a manifest, modules, assets, SBOM and provenance into a `.palyra-skill`.
///
/// Writes the integrity table into the packed `skill.toml` (keeping your
/// layout and comments) and signs the payload when a key is available:
/// `--key`, `--key-env`, `--key-stdin` or `$PALYRA_SKILL_SIGNING_KEY`.
/// `--unsigned` writes an artifact for a later `sign`.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill pack --manifest skill.toml --module target/echo.wasm \\\n",
    "      --sbom sbom.cdx.json --provenance provenance.json --out echo.palyra-skill --key acme.pem\n",
    "  cargo palyra-skill pack ... --asset prompts/system.txt --asset data/x.json=build/x.json --unsigned\n\n",
    "With SOURCE_DATE_EPOCH set, `signed_at_unix_ms` comes from it and the artifact is byte-for-byte reproducible.\n\n",
    exit_status!("the artifact was written", "could not pack (a bad manifest, module, SBOM or provenance, no key, I/O error)")
))]
pub struct Opts {
    /// The skill manifest
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// A module, packed as `modules/<file name>`; `NAME.wasm=PATH` picks the name
    #[arg(long = "module", value_name = "[NAME=]PATH", required = true)]
    modules: Vec<String>,
    /// A static file, packed as `assets/<file name>`; `DEST=PATH` picks the path below `assets/`
    #[arg(long = "asset", value_name = "[DEST=]PATH")]
    assets: Vec<String>,
    /// CycloneDX SBOM (JSON)
    #[arg(long, value_name = "FILE")]
    sbom: PathBuf,
    /// SLSA provenance (in-toto Statement JSON)
    #[arg(long, value_name = "FILE")]
    provenance: PathBuf,
    /// Where to write the artifact
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Do not sign (sign later with `cargo palyra-skill sign`)
    #[arg(long, conflicts_with = "key-source")]
    unsigned: bool,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
pub struct EntryReport {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Serialize)]
pub struct ArtifactReport {
    pub artifact: PathBuf,
    pub skill_id: String,
    pub version: String,
    pub publisher: String,
    pub bytes: u64,
    pub payload_sha256: String,
    pub key_id: Option<String>,
    pub entries: Vec<EntryReport>,
}

impl ArtifactReport {
    /// The report of an artifact `build` wrote.
    pub fn of_built(built: &cargo_palyra_skill::build::Built) -> ArtifactReport {
        ArtifactReport::new(
            &built.artifact,
            &built.manifest,
            &built.entries,
            built.bytes.len() as u64,
            built.key_id.clone(),
        )
    }

    pub fn new(
        artifact: &Path,
        manifest: &Manifest,
        entries: &Entries,
        bytes: u64,
        key_id: Option<String>,
    ) -> Self {
        ArtifactReport {
            artifact: artifact.to_owned(),
            skill_id: manifest.skill_id.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher.clone(),
            bytes,
            payload_sha256: entries.payload_sha256(),
            key_id,
            entries: entries
                .iter()
                .map(|(path, e)| EntryReport {
                    path: path.to_owned(),
                    bytes: e.bytes.len() as u64,
                    sha256: e.sha256_hex(),
                })
                .collect(),
        }
    }

    /// The closing line: path, size, payload hash and key.
    pub fn finish(&self, shell: &mut Shell, format: MessageFormat) -> Result<()> {
        match format {
            MessageFormat::Json => shell.print_json(self)?,
            MessageFormat::Human => {
                let key = self.key_id.as_deref().map_or("unsigned".to_owned(), |id| format!("signed {id}"));
                shell.status(
                    "Finished",
                    format_args!(
                        "`{}` ({}, payload sha256 {}, {key})",
                        self.artifact.display(),
                        human_size(self.bytes),
                        self.payload_sha256
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Splits `NAME=PATH` (or a bare `PATH`, named after its file name).
fn named(arg: &str) -> Result<(String, PathBuf)> {
    if let Some((name, path)) = arg.split_once('=') {
        return Ok((name.to_owned(), PathBuf::from(path)));
    }
    let path = PathBuf::from(arg);
    let name = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    let name = name.with_context(|| format!("`{arg}` has no file name: pass `NAME=PATH`"))?;
    Ok((name, path))
}

fn read_parts(args: &[String], what: &str) -> Result<Vec<(String, Vec<u8>)>> {
    args.iter()
        .map(|arg| {
            let (name, path) = named(arg)?;
            Ok((name, read_limited(&path, MAX_ENTRY_BYTES, what)?))
        })
        .collect()
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let key = if self.unsigned { None } else { self.key.load(shell)? };
        if key.is_none() && !self.unsigned {
            bail!(
                "no signing key: pass `--key FILE`, `--key-env VAR` or `--key-stdin`, set `$PALYRA_SKILL_SIGNING_KEY`, or pass `--unsigned` to sign later"
            );
        }
        let manifest_text = std::fs::read_to_string(&self.manifest)
            .with_context(|| format!("could not read manifest `{}`", self.manifest.display()))?;
        let parts = Parts {
            manifest_text,
            modules: read_parts(&self.modules, "module")?,
            assets: read_parts(&self.assets, "asset")?,
            sbom: read_limited(&self.sbom, MAX_ENTRY_BYTES, "SBOM")?,
            provenance: read_limited(&self.provenance, MAX_ENTRY_BYTES, "provenance")?,
        };
        let (mut entries, manifest) =
            pack::assemble(parts).with_context(|| format!("could not pack `{}`", self.manifest.display()))?;
        for warning in manifest.warnings() {
            shell.warn(format_args!("{}: {}", warning.code, warning.message));
        }
        shell.status(
            "Packing",
            format_args!("{} {} from `{}`", manifest.skill_id, manifest.version, self.manifest.display()),
        );

        let key_id = match &key {
            Some((key, source)) => {
                let signed_at = pack::signed_at_unix_ms()?;
                let record = pack::sign(&mut entries, &manifest.publisher, &**key, signed_at)?;
                shell.status(
                    "Signing",
                    format_args!(
                        "{} {} with {} from {source}",
                        manifest.skill_id, manifest.version, record.key_id
                    ),
                );
                Some(record.key_id)
            }
            None => None,
        };
        let bytes = entries.to_zip()?;
        write_atomic(&self.out, &bytes, Some(0o644), Existing::Replace)
            .with_context(|| format!("could not write `{}`", self.out.display()))?;
        ArtifactReport::new(&self.out, &manifest, &entries, bytes.len() as u64, key_id)
            .finish(shell, self.output.message_format)?;
        Ok(Outcome::Success)
    }
}
