//! Inputs several commands share: where the signing key comes from,
//! reading files under a size limit, which publishers to trust, and what
//! a GitHub build attestation must show.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::artifact::{Entries, MAX_ARCHIVE_BYTES};
use cargo_palyra_skill::attest::{Requirements, Signer};
use cargo_palyra_skill::fsutil::{Links, read_regular, readable_by_others};
use cargo_palyra_skill::keyfile;
use cargo_palyra_skill::keys::MAX_KEY_FILE_BYTES;
use cargo_palyra_skill::keystore::is_key_uri;
use cargo_palyra_skill::session::Demands;
use cargo_palyra_skill::signing::{PublicKey, SecretKey, Signer as KeySigner};
use cargo_palyra_skill::trust::{TrustStore, parse_trusted_publisher};
use clap::Args;
use zeroize::Zeroizing;

use crate::shell::Shell;

/// The environment variable a signing key is read from by default.
pub const DEFAULT_KEY_ENV: &str = crate::secrets::KEY_VARS[0];

/// Where the signing key comes from (PKCS#8 PEM or DER, encrypted or not,
/// or a 32-byte seed as raw bytes, hex or base64; or a key store's URI).
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Read the signing key from FILE, or use the key a `pkcs11:` or `hashivault://KEY` URI names
    #[arg(long, value_name = "FILE|URI", group = "key-source")]
    pub key: Option<PathBuf>,
    /// Read the signing key from environment variable VAR [default: PALYRA_SKILL_SIGNING_KEY]
    #[arg(long, value_name = "VAR", group = "key-source")]
    pub key_env: Option<String>,
    /// Read the signing key from standard input
    #[arg(long, group = "key-source")]
    pub key_stdin: bool,
}

impl KeyArgs {
    /// The key file `path`, as `--key` names one.
    pub fn file(path: PathBuf) -> KeyArgs {
        KeyArgs { key: Some(path), key_env: None, key_stdin: false }
    }

    /// As [`KeyArgs::load`], but a missing key is an error naming `what`
    /// the key is for and every way to pass one.
    pub fn require(&self, shell: &mut Shell, what: &str) -> Result<(Box<dyn KeySigner>, String)> {
        match self.load(shell)? {
            Some(key) => Ok(key),
            None => bail!(
                "no {what}: pass `--key FILE`, `--key-env VAR` or `--key-stdin`, or set `${DEFAULT_KEY_ENV}`"
            ),
        }
    }

    /// The key the options name, else the one in `PALYRA_SKILL_SIGNING_KEY`
    /// when that is set, else `None`. Errors never contain key material.
    pub fn load(&self, shell: &mut Shell) -> Result<Option<(Box<dyn KeySigner>, String)>> {
        if let Some(uri) = self.key.as_ref().and_then(|k| k.to_str()).filter(|k| is_key_uri(k)) {
            if uri.contains("pin-value=") {
                shell.warn(format_args!(
                    "the `pkcs11:` URI on the command line holds `pin-value`, which other processes can read: use `pin-source=FILE` or `$PALYRA_SKILL_PKCS11_PIN`"
                ));
            }
            return crate::keystore::open(uri).map(Some);
        }
        let (bytes, source) = if let Some(path) = &self.key {
            if path.extension().is_some_and(|e| e == "pub") {
                bail!(
                    "`{}` is a public key file, which cannot sign: pass the private key file `keygen` wrote beside it (without `.pub`)",
                    path.display()
                );
            }
            let bytes = read_regular(path, MAX_KEY_FILE_BYTES, Links::Follow)
                .with_context(|| format!("could not read key file `{}`", path.display()))?;
            (Zeroizing::new(bytes), format!("key file `{}`", path.display()))
        } else if let Some(var) = &self.key_env {
            match crate::secrets::get(var) {
                Some(value) => (Zeroizing::new(value.to_vec()), format!("`${var}`")),
                _ => bail!(
                    "environment variable `{var}` is not set or empty: export the signing key in it, or use `--key FILE`"
                ),
            }
        } else if self.key_stdin {
            let mut bytes = Zeroizing::new(Vec::new());
            std::io::stdin()
                .take(64 * 1024)
                .read_to_end(&mut bytes)
                .context("could not read the key from standard input")?;
            (bytes, "standard input".to_owned())
        } else {
            match crate::secrets::get(DEFAULT_KEY_ENV) {
                Some(value) => (Zeroizing::new(value.to_vec()), format!("`${DEFAULT_KEY_ENV}`")),
                _ => return Ok(None),
            }
        };
        // A variable (or standard input) may name a key store, as the
        // Action's `signing-key` may.
        if let Ok(text) = std::str::from_utf8(&bytes)
            && is_key_uri(text.trim())
        {
            return crate::keystore::open(text.trim()).map(Some);
        }
        let key = if keyfile::is_encrypted(&bytes) {
            let passphrase = crate::passphrase::to_open(&format!("the signing key from {source}"))?;
            keyfile::decrypt(&bytes, &passphrase)
        } else {
            SecretKey::decode(&bytes)
        };
        let key = key.with_context(|| format!("could not load the signing key from {source}"))?;
        if let Some(path) = &self.key
            && let Some(owner) = public_key_beside(path, &key)
        {
            bail!(
                "`{}` holds the public key of `{}`, which cannot sign: sign with the private key file `{}`",
                path.display(),
                owner.display(),
                owner.display()
            );
        }
        // Only a private key is worth protecting: warn once it decoded as one.
        if let Some(path) = &self.key
            && let Some(mode) = readable_by_others(path)
        {
            shell.warn(format_args!(
                "key file `{}` is readable by group or others (mode {mode:04o}): run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
        Ok(Some((Box::new(key), source)))
    }
}

pub use cargo_palyra_skill::keys::{config_dir, dev_key, dev_key_exists, public_key_beside};

/// Reads a file of at most `limit` bytes; a larger file is refused before it is read.
/// A FIFO or device is refused without blocking on it.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    match read_regular(path, limit, Links::Follow) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            bail!("{what} `{}` is larger than {limit} bytes", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("could not read {what} `{}`", path.display())),
    }
}

/// Reads an artifact file (at most 64 MiB, as the consumer allows).
pub fn read_artifact(path: &Path) -> Result<Vec<u8>> {
    read_limited(path, MAX_ARCHIVE_BYTES, "artifact")
}

/// Reads and unpacks an artifact under the consumer's limits.
pub fn read_entries(path: &Path) -> Result<Entries> {
    let bytes = read_artifact(path)?;
    Entries::read_zip(&bytes).with_context(|| format!("could not read artifact `{}`", path.display()))
}

/// Which publishers to trust, for `verify`, `audit` and `registry verify`:
/// a trust store file and keys allowlisted on the command line.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// A trust store JSON (the consumer's format); `verify --allow-tofu` saves first-use pins to it
    #[arg(long, value_name = "FILE")]
    pub trust_store: Option<PathBuf>,
    /// Trust PUBLISHER's key for this run: 64 hex characters, or the `.pub` file keygen wrote; repeatable
    #[arg(long = "trusted-publisher", value_name = "PUBLISHER=KEY")]
    pub trusted_publishers: Vec<String>,
}

impl TrustArgs {
    /// Whether a store or a key was given.
    pub fn given(&self) -> bool {
        self.trust_store.is_some() || !self.trusted_publishers.is_empty()
    }

    /// The `--trusted-publisher` keys, each checked.
    pub fn allowlisted(&self) -> Result<Vec<(String, PublicKey)>> {
        self.trusted_publishers.iter().map(|arg| Ok(parse_trusted_publisher(arg)?)).collect()
    }

    /// The trust store file, with a message naming it when it cannot be used.
    pub fn load_store(&self) -> Result<Option<TrustStore>> {
        self.trust_store
            .as_deref()
            .map(|path| {
                TrustStore::load(path)
                    .with_context(|| format!("could not use trust store `{}`", path.display()))
            })
            .transpose()
    }

    /// The store (or an empty one) with the allowlisted keys added.
    pub fn store(&self) -> Result<TrustStore> {
        let mut store = self.load_store()?.unwrap_or_default();
        for (publisher, key) in self.allowlisted()? {
            store.trust(&publisher, &key)?;
        }
        Ok(store)
    }
}

/// Whose workflow may sign a GitHub build attestation, when it is not one
/// of the repository the artifact was built from (a reusable workflow of
/// another repository). As `gh attestation verify`: give one or neither.
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    /// Accept attestations signed by any workflow of this repository (a reusable workflow's), instead of the source repository's own
    #[arg(long, value_name = "OWNER/NAME", help_heading = "Attestation")]
    pub signer_repo: Option<String>,
    /// Accept attestations signed by this workflow only, at any ref or at REF (exact, or a prefix ending in `*`)
    #[arg(
        long,
        value_name = "OWNER/NAME/PATH[@REF]",
        conflicts_with = "signer_repo",
        help_heading = "Attestation"
    )]
    pub signer_workflow: Option<String>,
}

impl SignerArgs {
    pub fn signer(&self) -> Result<Option<Signer>> {
        Ok(match (&self.signer_repo, &self.signer_workflow) {
            (Some(repository), _) => Some(Signer::repository(repository)?),
            (None, Some(workflow)) => Some(Signer::workflow(workflow)?),
            (None, None) => None,
        })
    }

    /// What `inspect` and `publish` hold a bundle to: any repository, signed
    /// by one of its own workflows or by the signer named.
    pub fn any_repository(&self) -> Result<Requirements> {
        Ok(Requirements::any_repository().signed_by(self.signer()?.unwrap_or(Signer::SourceRepository)))
    }
}

/// `--attestation`, `--repo` and friends: the GitHub build attestation an
/// artifact must carry, for `verify`.
#[derive(Debug, Clone, Args)]
pub struct AttestArgs {
    /// Verify this Sigstore bundle (`<artifact>.sigstore.json`) for the artifact, offline; with `--repo`, it is looked for beside each artifact
    #[arg(long, value_name = "BUNDLE", help_heading = "Attestation")]
    pub attestation: Option<PathBuf>,
    /// Require a GitHub build attestation from this repository
    #[arg(long, value_name = "OWNER/NAME", help_heading = "Attestation")]
    pub repo: Option<String>,
    /// ... built by this workflow of the repository
    #[arg(long, value_name = "PATH", requires = "repo", help_heading = "Attestation")]
    pub workflow: Option<String>,
    /// ... from this ref (`refs/tags/v1.0.0`, or a prefix ending in `*`)
    #[arg(long = "ref", value_name = "REF", requires = "repo", help_heading = "Attestation")]
    pub git_ref: Option<String>,
    /// ... at this commit (40 hex digits)
    #[arg(long, value_name = "SHA", requires = "repo", help_heading = "Attestation")]
    pub source_commit: Option<String>,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Trust only this `trusted_root.json` (`gh attestation trusted-root` prints one) instead of the built-in Sigstore and GitHub roots
    #[arg(long, value_name = "FILE", help_heading = "Attestation")]
    pub trusted_root: Option<PathBuf>,
}

impl AttestArgs {
    pub fn demands(&self) -> Result<Demands> {
        let required = match &self.repo {
            Some(repo) => Some(Requirements::new(
                repo,
                self.workflow.as_deref(),
                self.git_ref.as_deref(),
                self.source_commit.as_deref(),
            )?),
            None => None,
        };
        Ok(Demands {
            required,
            bundle: self.attestation.clone(),
            signer: self.signer.signer()?,
            every_bundle: false,
            trusted_root: self.trusted_root.clone(),
        })
    }
}
