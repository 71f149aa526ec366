//! The compiled-module cache: one file per (module SHA-256, wasmtime
//! version, engine configuration), in a private directory, written
//! atomically and checked against its own SHA-256 before it is loaded.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::fsutil::{Existing, write_atomic};

const MAGIC: &[u8; 8] = b"PSKCACH1";

/// What the cache did for one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "cache", content = "reason")]
pub enum CacheOutcome {
    /// Compiled code was loaded from the cache.
    Hit,
    /// Compiled now and stored.
    Miss,
    /// The entry was corrupt or stale: compiled again and replaced.
    Replaced(String),
    /// `--no-cache`, or no cache directory.
    Disabled,
}

#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: PathBuf,
}

/// Feeds `Hash` input into SHA-256, so the key is stable across processes.
struct ShaHasher(Sha256);

impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ModuleCache {
    /// Uses `dir`, creating it (mode 0700) if needed.
    pub fn open(dir: &Path) -> std::io::Result<ModuleCache> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
        // Compiled code is loaded as trusted machine code: refuse a
        // directory that other users could write into.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o022 != 0 {
                return Err(std::io::Error::other(format!(
                    "it is writable by group or others (mode {:04o}): run `chmod 700` on it",
                    mode & 0o777
                )));
            }
        }
        Ok(ModuleCache { dir: dir.to_owned() })
    }

    /// `$PALYRA_SKILL_CACHE_DIR`, else `$XDG_CACHE_HOME/palyra-skill/modules`,
    /// else `~/.cache/palyra-skill/modules`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        var("PALYRA_SKILL_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("palyra-skill").join("modules")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("palyra-skill").join("modules")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry path for a module under this engine's configuration.
    pub fn entry_path(&self, engine: &Engine, module_sha256: &[u8; 32]) -> PathBuf {
        // The compatibility hash covers the engine's configuration and
        // wasmtime's own version (its default module version strategy).
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let mut key = hasher.0;
        key.update(module_sha256);
        key.update(MAGIC);
        self.dir.join(format!("{}.cwasm", hex::encode(key.finalize())))
    }

    /// The verified compiled code of an entry: `Ok(None)` if absent,
    /// `Err(reason)` if present but truncated or altered.
    pub fn load(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
            return Err("not a cache entry (bad header or truncated)".into());
        }
        let (digest, body) = bytes[MAGIC.len()..].split_at(32);
        if Sha256::digest(body).as_slice() != digest {
            return Err("its checksum does not match (truncated or altered)".into());
        }
        Ok(Some(body.to_vec()))
    }

    pub fn store(&self, path: &Path, body: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + 32 + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&Sha256::digest(body));
        bytes.extend_from_slice(body);
        write_atomic(path, &bytes, Some(0o600), Existing::Replace)
    }
}
