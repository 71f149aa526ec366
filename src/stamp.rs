//! When and from what a build was made: the instant every timestamp of
//! the artifact takes (and where it came from), and the git checkout and
//! tools the provenance records.

use std::path::Path;
use std::process::Command;

use crate::provenance::{self, SourceInfo};

/// Where the timestamps of a build (the SBOM's, the provenance's and the
/// signature's) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// Given by the caller (`rebuild`: the original build's).
    Given,
    /// `SOURCE_DATE_EPOCH`.
    SourceDateEpoch,
    /// The HEAD commit's time, the work tree being clean: two builds of one
    /// commit are byte-identical without any setting.
    GitCommit,
    /// The clock: no `SOURCE_DATE_EPOCH`, and no clean git checkout.
    Now,
}

/// Seconds since the epoch for every timestamp of a build:
/// `SOURCE_DATE_EPOCH` when set, else now.
pub fn build_time() -> Result<(i64, bool), crate::clock::ClockError> {
    let now = crate::clock::now()?;
    Ok((now.unix_ms.div_euclid(1000), now.fixed))
}

/// What the provenance records about the host and the checkout.
#[derive(Default)]
pub(crate) struct HostFacts {
    pub(crate) source: Option<SourceInfo>,
    pub(crate) rustc: String,
    pub(crate) cargo: String,
}

/// The commit, remote and dirty flag of the git work tree around `dir`.
pub(crate) fn git_source(dir: &Path) -> Option<SourceInfo> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let git_ref = git(&["symbolic-ref", "-q", "HEAD"]).unwrap_or_else(|| commit.clone());
    let uri = git(&["remote", "get-url", "origin"])
        .and_then(|url| provenance::remote_uri(&url))
        .map(|url| format!("git+{url}@{git_ref}"));
    let committed_at = git(&["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok());
    let tagged = git(&["tag", "--points-at", "HEAD"]).is_some_and(|tags| !tags.is_empty());
    Some(SourceInfo { uri, commit, dirty, committed_at, tagged })
}

/// Whether `lockfile` (a file that exists) is committed in its git work
/// tree and unchanged since: one `git status` that lists it when it is
/// modified, staged, untracked or ignored, and fails outside a work tree.
pub(crate) fn committed_unchanged(lockfile: &Path) -> bool {
    let (Some(dir), Some(name)) = (lockfile.parent(), lockfile.file_name()) else { return false };
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--ignored", "--untracked-files=all", "--"])
        .arg(name)
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.is_empty())
}
