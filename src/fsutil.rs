//! Crash-safe file writing: a temporary file in the target's directory,
//! synced, then renamed over the target, so a reader sees the old file or
//! the new one and never a partial one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How an atomic write treats an existing file at the target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Replace,
    Refuse,
}

/// Writes `bytes` to `path` atomically; `mode` sets unix permissions on the
/// temporary file before any byte is written (0600 for keys).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>, existing: Existing) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".palyra-skill-tmp-");
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    match existing {
        Existing::Replace => file.persist(path).map(drop).map_err(|e| e.error),
        Existing::Refuse => file.persist_noclobber(path).map(drop).map_err(|e| e.error),
    }
}

/// Creates `dir` and its missing parents, private to this user (0700) on Unix.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Unix permission bits of a file when group or others may read it.
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// An exclusive advisory lock, released when dropped.
pub struct FileLock(fs::File);

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes an exclusive lock on `<path>.lock` (created beside `path`),
/// waiting for other holders, so read-modify-write cycles of `path` by
/// concurrent processes never lose each other's changes. Errors name the
/// lock file.
pub fn lock_beside(path: &Path) -> Result<FileLock, (PathBuf, io::Error)> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| (parent.to_owned(), e))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| (lock_path.clone(), e))?;
    file.lock().map_err(|e| (lock_path, e))?;
    Ok(FileLock(file))
}
