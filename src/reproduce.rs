//! `build --check-reproducible`: two builds in fresh target directories at
//! one fixed time, compared byte for byte; the first (and its named copies)
//! is kept in `<target>/palyra-skill/check/` when they agree. A check never
//! replaces what it checks: the artifact a build wrote (perhaps signed with
//! a release key) stays as it was.

use crate::build::{self, BuildError, BuildOptions, Built, Event};
use crate::provenance::Environment;
use crate::signing::Signer;

/// The outcome of building twice.
#[derive(Debug)]
pub enum Reproduction {
    /// Both builds are byte-identical; the first was written to the
    /// `check` folder of the artifact's default directory.
    Identical(Box<Built>),
    /// Which entries differ, and where.
    Differs(Vec<String>),
}

/// Builds twice in fresh target directories at one fixed time and
/// compares the bytes (`build --check-reproducible`).
pub fn reproduce(
    options: &BuildOptions,
    key: Option<&dyn Signer>,
    attestation: bool,
    env: &Environment,
    progress: &mut dyn FnMut(Event),
) -> Result<Reproduction, BuildError> {
    let (time, _) = build::build_time()?;
    let mut builds = Vec::new();
    for round in 1..=2 {
        let dir =
            tempfile::tempdir().map_err(|source| BuildError::Write { path: std::env::temp_dir(), source })?;
        progress(Event::Round { round });
        let mut opts = options.clone();
        opts.target_dir = Some(dir.path().join("target"));
        opts.out_dir = Some(dir.path().join("out"));
        opts.fixed_time = Some(time);
        let built = build::build(&opts, key, false, env, progress)?;
        builds.push((dir, built));
    }
    let (_, second) = builds.pop().expect("two builds");
    let (_dir, first) = builds.pop().expect("two builds");
    if first.bytes != second.bytes {
        return Ok(Reproduction::Differs(differences(&first, &second)));
    }
    let out_dir = check_dir(options, &first.target_directory);
    let (artifact, attestation) = build::write_outputs(
        &out_dir,
        &first.manifest,
        &first.bytes,
        &first.statement,
        key.filter(|_| attestation),
    )?;
    // The named copies beside it, never over a normal build's.
    let named_dir = crate::named::dir_in(&out_dir, &first.manifest.skill_id, &first.manifest.version);
    build::write_named(&named_dir, &first.named)?;
    Ok(Reproduction::Identical(Box::new(Built { artifact, attestation, named_dir, ..first })))
}

/// `<target-dir>/palyra-skill/check`: where the checked build is kept,
/// whatever `--out` says (that is where the build it checks went).
pub fn check_dir(options: &BuildOptions, crate_target_directory: &std::path::Path) -> std::path::PathBuf {
    options.artifact_dir(crate_target_directory).join("check")
}

/// Which entries of two builds differ, and where.
fn differences(a: &Built, b: &Built) -> Vec<String> {
    let mut lines = Vec::new();
    let paths: std::collections::BTreeSet<&str> =
        a.entries.iter().chain(b.entries.iter()).map(|(p, _)| p).collect();
    for path in paths {
        match (a.entries.get(path), b.entries.get(path)) {
            (Some(x), Some(y)) if x.bytes == y.bytes => {}
            (Some(x), Some(y)) => {
                let first = crate::artifact::first_difference(&x.bytes, &y.bytes);
                let count = x.bytes.iter().zip(&y.bytes).filter(|(l, r)| l != r).count();
                lines.push(format!(
                    "{path}: {} vs {} bytes, first difference at offset {first}, {count} differing bytes",
                    x.bytes.len(),
                    y.bytes.len()
                ));
            }
            (Some(_), None) => lines.push(format!("{path}: only in the first build")),
            (None, Some(_)) => lines.push(format!("{path}: only in the second build")),
            (None, None) => {}
        }
    }
    if lines.is_empty() {
        lines.push(format!(
            "the entries agree but the archives differ ({} vs {} bytes)",
            a.bytes.len(),
            b.bytes.len()
        ));
    }
    lines
}
