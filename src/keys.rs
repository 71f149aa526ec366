//! Keys on this machine: the per-user config directory, the local
//! development key (created 0600 on first use), private key folders, and
//! the check that a "private key" file is not a public key in disguise.

use std::io;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::fsutil::{Existing, Links, create_private_dir, read_regular, write_atomic};

/// A key file is a few hundred bytes; nothing larger is read as one.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
use crate::signing::{KeyError, PublicKey, SecretKey};

#[derive(Debug, thiserror::Error)]
pub enum LocalKeyError {
    #[error("cannot find a config directory: set `PALYRA_SKILL_CONFIG_DIR` (or pass `--key`)")]
    NoConfigDir,
    #[error("could not create `{path}`: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("could not read the development key `{path}`: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("could not load the development key `{path}`: {source}")]
    Load { path: PathBuf, source: KeyError },
    #[error("could not write the development key `{path}`: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Generate(#[from] KeyError),
}

/// `$PALYRA_SKILL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/palyra-skill`, else
/// `~/.config/palyra-skill`: the development key and the cache key live here.
pub fn config_dir() -> Result<PathBuf, LocalKeyError> {
    use crate::env::{Var, os};
    match (os(Var::ConfigDir), os(Var::XdgConfigHome), os(Var::Home)) {
        (Some(dir), _, _) => Ok(PathBuf::from(dir)),
        (None, Some(xdg), _) if !xdg.is_empty() => Ok(PathBuf::from(xdg).join("palyra-skill")),
        (None, _, Some(home)) => Ok(PathBuf::from(home).join(".config").join("palyra-skill")),
        _ => Err(LocalKeyError::NoConfigDir),
    }
}

/// Where `keygen --publisher PUBLISHER` writes the publisher's key by
/// default: `keys/<publisher>.pem` in the config directory (`:` as `-`).
pub fn publisher_key_path(publisher: &str) -> Result<PathBuf, LocalKeyError> {
    Ok(config_dir()?.join("keys").join(format!("{}.pem", publisher.replace(':', "-"))))
}

/// Where the development key lives.
fn dev_key_path() -> Result<PathBuf, LocalKeyError> {
    Ok(config_dir()?.join("dev-signing-key.pem"))
}

/// Whether the development key has been created already.
pub fn dev_key_exists() -> bool {
    dev_key_path().is_ok_and(|path| path.is_file())
}

/// The per-user development key, created (0600, in a 0700 folder) on
/// first use: the key, its path, and whether it is new.
pub fn dev_key() -> Result<(SecretKey, PathBuf, bool), LocalKeyError> {
    let path = dev_key_path()?;
    let load = |bytes: &[u8], path: &Path| {
        SecretKey::decode(bytes).map_err(|source| LocalKeyError::Load { path: path.to_owned(), source })
    };
    match read_regular(&path, MAX_KEY_FILE_BYTES, Links::Refuse).map(Zeroizing::new) {
        Ok(bytes) => Ok((load(&bytes, &path)?, path, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = path.parent().map(Path::to_owned).unwrap_or_default();
            create_private_dir(&dir).map_err(|source| LocalKeyError::CreateDir { path: dir, source })?;
            let key = SecretKey::generate()?;
            match write_atomic(&path, key.to_pkcs8_pem().as_bytes(), Some(0o600), Existing::Refuse) {
                Ok(()) => Ok((key, path, true)),
                // Another process created it first: use theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let bytes = read_regular(&path, MAX_KEY_FILE_BYTES, Links::Refuse)
                        .map(Zeroizing::new)
                        .map_err(|source| LocalKeyError::Read { path: path.clone(), source })?;
                    Ok((load(&bytes, &path)?, path, false))
                }
                Err(source) => Err(LocalKeyError::Write { path, source }),
            }
        }
        Err(source) => Err(LocalKeyError::Read { path, source }),
    }
}

/// A 32-byte "seed" in a key file that is really the public key of a key
/// beside it (a private key or an SPKI `.pub` in the same directory): the
/// file whose key it is. A few hundred small files are looked at, at most.
pub fn public_key_beside(path: &Path, key: &SecretKey) -> Option<PathBuf> {
    let seed = key.seed();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for entry in std::fs::read_dir(dir).ok()?.flatten().take(500) {
        let other = entry.path();
        let small = entry.metadata().is_ok_and(|m| m.is_file() && m.len() <= 16 * 1024);
        if !small || other.file_name() == path.file_name() {
            continue;
        }
        let Ok(bytes) = read_regular(&other, MAX_KEY_FILE_BYTES, Links::Follow).map(Zeroizing::new) else {
            continue;
        };
        let public = match SecretKey::decode(&bytes) {
            Ok(private) => Some(private.public()),
            Err(_) => std::str::from_utf8(&bytes).ok().and_then(PublicKey::from_spki_pem),
        };
        if public.is_some_and(|public| public.bytes() == &*seed) {
            return Some(path.with_file_name(entry.file_name()));
        }
    }
    None
}
