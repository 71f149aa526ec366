//! The per-skill state directory of the WASI preview: each declared root is
//! opened beneath it one component at a time, never following a symlink
//! (a guest can plant one through a writable root), and handed to WASI as
//! the opened directory itself, so nothing is resolved by path again.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_primitives::fs::{DirOptions, FollowSymlinks, create_dir, open_ambient_dir, open_dir_nofollow, stat};

/// A directory the guest sees at `guest`.
#[derive(Debug, Clone)]
pub struct Preopen {
    /// Where it is on the host (for messages only).
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
    dir: Arc<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "read root `{read}` lies inside write root `{write}`: the guest could write it through `{write}`; declare it once, as a write root, or move it out"
    )]
    Overlap { read: String, write: String },
    #[error(
        "`{path}` is a symlink (planted by an earlier run?): a root must be a real directory beneath the state directory; remove it"
    )]
    Symlink { path: PathBuf },
    #[error("`{path}` exists and is not a directory: remove it, or change the root")]
    NotDir { path: PathBuf },
    #[error("could not open `{path}`: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl Preopen {
    /// `path` as it is, for callers that own the directory (tests, tools).
    pub fn open_ambient(path: &Path, guest: &str, writable: bool) -> io::Result<Preopen> {
        let dir = open_ambient_dir(path, cap_primitives::ambient_authority())?;
        Ok(Preopen { host: path.to_owned(), guest: guest.to_owned(), writable, dir: Arc::new(dir) })
    }

    /// A path that names the opened directory itself, not a path to resolve again.
    pub(super) fn fd_path(&self) -> PathBuf {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = self.dir.as_raw_fd();
            if cfg!(target_os = "linux") {
                PathBuf::from(format!("/proc/self/fd/{fd}"))
            } else {
                PathBuf::from(format!("/dev/fd/{fd}"))
            }
        }
        #[cfg(not(unix))]
        {
            self.host.clone()
        }
    }
}

fn components(root: &str) -> Vec<&str> {
    root.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// Whether `inner` is `outer` or lies beneath it.
fn within(inner: &[&str], outer: &[&str]) -> bool {
    inner.len() >= outer.len() && inner[..outer.len()] == *outer
}

/// Opens (creating as needed) the read roots read-only and the write roots
/// read-write beneath `state`. Wildcard roots are skipped. Refuses a root
/// that is or passes through a symlink, and a read root inside a write root.
pub fn open_roots(
    state: &Path,
    read_roots: &[String],
    write_roots: &[String],
) -> Result<Vec<Preopen>, StateError> {
    let roots = |list: &[String]| -> Vec<String> {
        list.iter().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty() && !r.contains('*')).collect()
    };
    let (read, write) = (roots(read_roots), roots(write_roots));
    for r in &read {
        if let Some(w) = write.iter().find(|w| within(&components(r), &components(w))) {
            return Err(StateError::Overlap { read: r.clone(), write: w.clone() });
        }
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StateError::Io { path, source }
    };
    std::fs::create_dir_all(state).map_err(io(state))?;
    if std::fs::symlink_metadata(state).map_err(io(state))?.file_type().is_symlink() {
        return Err(StateError::Symlink { path: state.to_owned() });
    }
    let base = open_ambient_dir(state, cap_primitives::ambient_authority()).map_err(io(state))?;
    let mut preopens = Vec::new();
    for (list, writable) in [(&read, false), (&write, true)] {
        for root in list {
            let dir = open_beneath(&base, state, root)?;
            preopens.push(Preopen {
                host: state.join(root),
                guest: root.clone(),
                writable,
                dir: Arc::new(dir),
            });
        }
    }
    Ok(preopens)
}

/// `root` beneath `base`, one component at a time, creating what is missing.
fn open_beneath(base: &File, state: &Path, root: &str) -> Result<File, StateError> {
    let mut current = base.try_clone().map_err(|source| StateError::Io { path: state.to_owned(), source })?;
    let mut shown = state.to_owned();
    for component in components(root) {
        shown.push(component);
        let name = Path::new(component);
        match stat(&current, name, FollowSymlinks::No) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(StateError::Symlink { path: shown }),
            Ok(meta) if !meta.is_dir() => return Err(StateError::NotDir { path: shown }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_dir(&current, name, &DirOptions::new())
                    .or_else(|e| if e.kind() == io::ErrorKind::AlreadyExists { Ok(()) } else { Err(e) })
                    .map_err(|source| StateError::Io { path: shown.clone(), source })?;
            }
            Err(source) => return Err(StateError::Io { path: shown, source }),
        }
        // Opened without following a symlink, so a swap since `stat` fails here.
        current = open_dir_nofollow(&current, name)
            .map_err(|source| StateError::Io { path: shown.clone(), source })?;
    }
    Ok(current)
}
