//! Crash-safe file writing: a temporary file in the target's directory,
//! synced, then renamed over the target, so a reader sees the old file or
//! the new one and never a partial one. Reading files that may not be what
//! they seem: never blocking on a FIFO or device, never following a link
//! where none is expected, never reading without bound. Locks that name
//! their file and give up after a while.

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

/// Whether a link at the path itself may be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// A path the user named: a symlink to a regular file is fine.
    Follow,
    /// A file of ours (a key, a lock, a cache entry): a symlink is refused.
    Refuse,
}

/// Opens `path` for reading only if it is a regular file: a FIFO or device
/// is refused without blocking on it (`O_NONBLOCK`), and under
/// [`Links::Refuse`] a symlink at `path` is refused (`O_NOFOLLOW`).
pub fn open_regular(path: &Path, links: Links) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = rustix::fs::OFlags::NONBLOCK;
        if links == Links::Refuse {
            flags |= rustix::fs::OFlags::NOFOLLOW;
        }
        options.custom_flags(flags.bits() as i32);
    }
    let file = options.open(path).map_err(|e| symlink_refused(path, e))?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is {}, not a regular file", path.display(), describe(kind)),
        ));
    }
    Ok(file)
}

/// Reads a regular file of at most `limit` bytes (see [`open_regular`]);
/// a larger one is refused after reading `limit + 1` bytes, never more.
pub fn read_regular(path: &Path, limit: u64, links: Links) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path, links)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{}` is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// `ELOOP` from `O_NOFOLLOW` in words.
fn symlink_refused(path: &Path, error: io::Error) -> io::Error {
    #[cfg(unix)]
    if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is a symlink, where only a regular file of ours belongs: delete it",
                path.display()
            ),
        );
    }
    let _ = path;
    error
}

fn describe(kind: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() { "a directory" } else { "not a regular file" }
}

/// How long [`lock_beside`] waits for another holder by default.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// An exclusive advisory lock, released when dropped.
pub struct FileLock(fs::File);

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes an exclusive lock on `<path>.lock` (created beside `path`),
/// waiting up to `$PALYRA_SKILL_LOCK_WAIT_SECS` (default [`LOCK_WAIT`]) for
/// another holder, so read-modify-write cycles of `path` by concurrent
/// processes never lose each other's changes. A symlink or anything but a
/// regular file at the lock's path is refused. Errors name the lock file.
pub fn lock_beside(path: &Path) -> Result<FileLock, (PathBuf, io::Error)> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| (parent.to_owned(), e))?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32);
        options.mode(0o600);
    }
    let file = options.open(&lock_path).map_err(|e| (lock_path.clone(), symlink_refused(&lock_path, e)))?;
    let kind = file.metadata().map_err(|e| (lock_path.clone(), e))?.file_type();
    if !kind.is_file() {
        let message = format!("`{}` is {}, not a lock file: delete it", lock_path.display(), describe(kind));
        return Err((lock_path, io::Error::new(io::ErrorKind::InvalidInput, message)));
    }
    let wait = crate::env::string(crate::env::Var::LockWaitSecs)
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(LOCK_WAIT, std::time::Duration::from_secs);
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(FileLock(file)),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let message = format!(
                    "another process has held the lock `{}` for {} s: wait for it to finish, or, if none is running, delete the lock file (set `PALYRA_SKILL_LOCK_WAIT_SECS` to wait longer)",
                    lock_path.display(),
                    wait.as_secs()
                );
                return Err((lock_path, io::Error::new(io::ErrorKind::TimedOut, message)));
            }
            Err(fs::TryLockError::Error(e)) => return Err((lock_path, e)),
        }
    }
}
