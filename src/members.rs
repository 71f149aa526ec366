//! Building several skills of one workspace: one `cargo build` for all of
//! them (their dependencies compile once), then one artifact each.

use crate::build::{self, BuildError, BuildOptions, Built, Event};
use crate::cargo::{self, BuildRequest, CargoError, SkillCrate};
use crate::manifest::Manifest;
use crate::provenance::Environment;
use crate::signing::Signer;

/// One member's build: its artifact, or why it has none.
pub struct MemberBuild {
    pub package: String,
    pub result: Result<Built, BuildError>,
}

/// Builds every skill of `skills` (members of one workspace) in one
/// `cargo build` per module ABI, then packs and signs each. A member that
/// fails (its `skill.toml`, its compile, its packing) does not stop the
/// others: every member comes back with its result, in order.
pub fn build_members(
    skills: &[SkillCrate],
    options: &BuildOptions,
    key: Option<&dyn Signer>,
    attestation: bool,
    env: &Environment,
    progress: &mut dyn FnMut(Event),
) -> Vec<MemberBuild> {
    // A broken `skill.toml` is reported before anything compiles, and its
    // member is left out of the build.
    let mut results: Vec<Option<Result<Built, BuildError>>> = skills
        .iter()
        .map(|krate| {
            let version = krate.package.version.to_string();
            let checked = build::manifest_with_version(&krate.skill_toml, &version).and_then(|text| {
                Manifest::parse(&text)
                    .map(|_| ())
                    .map_err(|source| BuildError::Manifest { path: krate.skill_toml.clone(), source })
            });
            checked.err().map(Err)
        })
        .collect();
    let mut targets: Vec<&'static str> = skills.iter().map(SkillCrate::target).collect();
    targets.sort();
    targets.dedup();
    for target in targets {
        let group: Vec<usize> =
            (0..skills.len()).filter(|&i| results[i].is_none() && skills[i].target() == target).collect();
        let Some(&first) = group.first() else { continue };
        let packages: Vec<&cargo_metadata::Package> = group.iter().map(|&i| &skills[i].package).collect();
        let manifest_path = skills[first].workspace_root().join("Cargo.toml");
        // The same for every member of the workspace (its root, the target
        // directory, cargo's and rustup's homes).
        let remap = build::remap_prefixes(&skills[first], options.target_dir.as_deref());
        let outcome = cargo::build_packages(&BuildRequest {
            manifest_path: &manifest_path,
            packages: &packages,
            target,
            profile: &options.profile,
            features: &options.features,
            cargo_flags: &options.cargo_flags,
            target_dir: options.target_dir.as_deref(),
            remap: &remap,
            quiet: options.quiet,
            toolchain: options.toolchain.as_deref(),
        });
        let mut outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                let message = error.to_string();
                for &i in &group {
                    results[i] = Some(Err(BuildError::Cargo(same_error(&error, &message))));
                }
                continue;
            }
        };
        for &i in &group {
            let krate = &skills[i];
            results[i] = Some(match outcome.linked.remove(&krate.package.id) {
                Some(linked) => build::build_crate(
                    krate,
                    Some(linked),
                    options,
                    build::Lock::from_flags(&options.cargo_flags),
                    key,
                    attestation,
                    env,
                    progress,
                ),
                None if !outcome.success => Err(CargoError::BuildFailed.into()),
                None => Err(CargoError::NoWasm(krate.package.name.to_string()).into()),
            });
        }
    }
    skills
        .iter()
        .zip(results)
        .map(|(krate, result)| MemberBuild {
            package: krate.package.name.to_string(),
            result: result.expect("every member has a result"),
        })
        .collect()
}

/// The error of one cargo run, once for each member it failed.
fn same_error(error: &CargoError, message: &str) -> CargoError {
    match error {
        CargoError::MissingTarget(target) => CargoError::MissingTarget(target),
        CargoError::BuildFailed => CargoError::BuildFailed,
        _ => CargoError::Metadata { manifest: "Cargo.toml".to_owned(), message: message.to_owned() },
    }
}
