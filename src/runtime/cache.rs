//! The compiled-module cache: one file per (module SHA-256, wasmtime
//! version, engine configuration), in a directory only the current user
//! owns and can write, reached without a symlink, written atomically and
//! authenticated with a per-user secret (HMAC-SHA-256) before it is loaded:
//! compiled code runs as trusted machine code, so an entry planted by
//! anyone else must never load, even if permissions slip.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::fsutil::{Existing, Links, create_private_dir, read_regular, write_atomic};

/// Version 3: the tag also covers the entry's binding (engine and module),
/// so earlier entries read as "not an entry" and are compiled again.
const MAGIC: &[u8; 8] = b"PSKCACH3";
const TAG_LEN: usize = 32;
/// The largest compiled module read back (wasmtime's code for a 256 MiB
/// module is well under this).
const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// The per-user secret that authenticates cache entries.
#[derive(Clone)]
pub struct CacheKey([u8; 32]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

impl CacheKey {
    pub fn from_bytes(bytes: [u8; 32]) -> CacheKey {
        CacheKey(bytes)
    }

    /// The key in `path` (32 bytes, 0600, ours), created if absent. A
    /// symlink (dangling or not), a FIFO or anything but a regular file
    /// there is refused at once: no wait, no retry loop.
    pub fn load_or_create(path: &Path) -> std::io::Result<CacheKey> {
        // Twice at most: the second read takes another process's new key.
        for _ in 0..2 {
            match read_regular(path, 64, Links::Refuse) {
                Ok(bytes) => {
                    check_private_file(path)?;
                    let key: [u8; 32] = bytes.try_into().map_err(|_| {
                        std::io::Error::other(format!(
                            "`{}` is not a 32-byte cache key: delete it",
                            path.display()
                        ))
                    })?;
                    return Ok(CacheKey(key));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(parent) = path.parent() {
                        create_private_dir(parent)?;
                    }
                    let mut key = [0u8; 32];
                    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
                    match write_atomic(path, &key, Some(0o600), Existing::Refuse) {
                        Ok(()) => return Ok(CacheKey(key)),
                        // Another process created it first: read theirs.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(format!(
            "`{}` appeared and vanished while it was created: delete it and run again",
            path.display()
        )))
    }

    /// The MAC over the entry's binding and its body: a genuine entry of
    /// one module (or one engine) copied under another's name fails.
    fn mac(&self, binding: &[u8; 32], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(binding);
        mac.update(body);
        mac
    }

    fn tag(&self, binding: &[u8; 32], body: &[u8]) -> [u8; TAG_LEN] {
        self.mac(binding, body).finalize().into_bytes().into()
    }

    fn verify(&self, binding: &[u8; 32], body: &[u8], tag: &[u8]) -> bool {
        self.mac(binding, body).verify_slice(tag).is_ok()
    }
}

/// Not a symlink, owned by the current user, and (for a directory) not
/// writable by group or others.
fn check_owned(path: &Path, what: &str) -> std::io::Result<std::fs::Metadata> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(std::io::Error::other(format!(
            "the {what} `{}` is a symlink: point the setting at a real directory of yours",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(std::io::Error::other(format!(
                "the {what} `{}` belongs to uid {}, not to you (uid {me}): remove it or use a directory of your own",
                path.display(),
                meta.uid()
            )));
        }
    }
    Ok(meta)
}

fn check_private_file(path: &Path) -> std::io::Result<()> {
    let meta = check_owned(path, "cache key")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "the cache key `{}` is readable or writable by others (mode {:04o}): delete it (a new one is made)",
                path.display(),
                mode & 0o777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

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
    key: CacheKey,
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

/// Why a cache entry was not used (it is then removed and recompiled).
#[derive(Debug, thiserror::Error)]
pub enum EntryRejected {
    #[error("{0}")]
    Unsafe(std::io::Error),
    #[error("unreadable: {0}")]
    Unreadable(std::io::Error),
    #[error("not a cache entry (bad header or truncated)")]
    NotAnEntry,
    #[error(
        "its authentication tag does not match this user's cache key and this module (truncated, altered, planted, or another module's entry)"
    )]
    BadTag,
}

impl ModuleCache {
    /// Uses `dir`, creating it (mode 0700) if needed, with entries
    /// authenticated by `key`. Refuses a directory reached through a
    /// symlink, owned by another user, or writable by group or others.
    pub fn open(dir: &Path, key: CacheKey) -> std::io::Result<ModuleCache> {
        create_private_dir(dir)?;
        let meta = check_owned(dir, "cache directory")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o022 != 0 {
                return Err(std::io::Error::other(format!(
                    "it is writable by group or others (mode {:04o}): run `chmod 700` on it",
                    mode & 0o777
                )));
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        Ok(ModuleCache { dir: dir.to_owned(), key })
    }

    /// `$PALYRA_SKILL_CACHE_DIR`, else `$XDG_CACHE_HOME/palyra-skill/modules`,
    /// else `~/.cache/palyra-skill/modules`.
    pub fn default_dir() -> Option<PathBuf> {
        use crate::env::{Var, path};
        path(Var::CacheDir)
            .or_else(|| path(Var::XdgCacheHome).map(|d| d.join("palyra-skill").join("modules")))
            .or_else(|| path(Var::Home).map(|d| d.join(".cache").join("palyra-skill").join("modules")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry of a module under this engine: its binding (the engine's
    /// compatibility hash, which covers its configuration and wasmtime's
    /// version, with the module's SHA-256) names the file and is
    /// authenticated with the body.
    pub fn entry(&self, engine: &Engine, module_sha256: &[u8; 32]) -> CacheEntry {
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let mut key = hasher.0;
        key.update(module_sha256);
        key.update(MAGIC);
        let binding: [u8; 32] = key.finalize().into();
        CacheEntry { path: self.dir.join(format!("{}.cwasm", hex::encode(binding))), binding }
    }

    /// The verified compiled code of an entry: `Ok(None)` if absent,
    /// `Err(why)` if present but not ours, not this entry's, truncated or altered.
    pub fn load(&self, entry: &CacheEntry) -> Result<Option<Vec<u8>>, EntryRejected> {
        let path = &entry.path;
        match check_owned(path, "cache entry") {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EntryRejected::Unsafe(e)),
        }
        let bytes = match read_regular(path, MAX_ENTRY_BYTES, Links::Refuse) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EntryRejected::Unreadable(e)),
        };
        if bytes.len() < MAGIC.len() + TAG_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(EntryRejected::NotAnEntry);
        }
        let (tag, body) = bytes[MAGIC.len()..].split_at(TAG_LEN);
        if !self.key.verify(&entry.binding, body, tag) {
            return Err(EntryRejected::BadTag);
        }
        Ok(Some(body.to_vec()))
    }

    pub fn store(&self, entry: &CacheEntry, body: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + TAG_LEN + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.key.tag(&entry.binding, body));
        bytes.extend_from_slice(body);
        write_atomic(&entry.path, &bytes, Some(0o600), Existing::Replace)
    }
}

/// Where one module's compiled code lives, and what its tag binds it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub path: PathBuf,
    binding: [u8; 32],
}
