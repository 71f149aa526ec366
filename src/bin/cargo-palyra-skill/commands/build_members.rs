//! `build` of several skills of a workspace (`--workspace`, several `-p`):
//! one `cargo build`, one artifact each, one summary of every member.

use std::path::PathBuf;

use anyhow::{Result, bail};
use cargo_palyra_skill::build::BuildOptions;
use cargo_palyra_skill::headroom::{Headroom, Level};
use cargo_palyra_skill::members::build_members;
use cargo_palyra_skill::provenance::Environment;
use cargo_palyra_skill::signing::Signer;
use cargo_palyra_skill::text::thousands;
use cargo_palyra_skill::workspace::Members;
use serde::Serialize;

use super::build::{ModuleSize, Opts, module_sizes_report, progress};
use super::pack::ArtifactReport;
use crate::Outcome;
use crate::select::{MemberReport, MembersReport, total_line};
use crate::shell::{MessageFormat, Shell, human_size};

/// One member's artifact.
#[derive(Serialize)]
struct Built {
    #[serde(flatten)]
    artifact: ArtifactReport,
    signed_with: &'static str,
    /// Each module's bytes against the operator's `max_module_size_bytes`.
    module_sizes: Vec<ModuleSize>,
    attestation: Option<PathBuf>,
}

/// Builds every selected skill, reports each (a failure does not hide the
/// others), then one line per artifact and the total.
pub(super) fn run(
    opts: &Opts,
    options: &BuildOptions,
    members: Members,
    key: Option<&dyn Signer>,
    signed_with: &'static str,
    env: &Environment,
    shell: &mut Shell,
) -> Result<Outcome> {
    if opts.check_reproducible {
        bail!("`--check-reproducible` builds one skill twice: pick it with `-p NAME`");
    }
    let cap = opts.operator.read()?.unwrap_or_default().max_module_size_bytes;
    let configured = opts.operator.operator_config.is_some();
    let started = std::time::Instant::now();
    let builds =
        build_members(&members.skills, options, key, opts.attestation, env, &mut |e| progress(shell, e));
    let warn_at = |package: &str| {
        members
            .skills
            .iter()
            .find(|s| s.package.name.as_str() == package)
            .map_or(0.8, |s| s.settings.warn_at())
    };
    let mut reports = Vec::new();
    let (mut errors, mut over) = (0, 0);
    for member in builds {
        let built = match member.result {
            Ok(built) => built,
            Err(error) => {
                errors += 1;
                let error = anyhow::Error::from(error);
                shell.status_failed("Failed", format_args!("`{}`: {error:#}", member.package));
                reports.push(MemberReport {
                    package: member.package,
                    ok: false,
                    report: None,
                    error: Some(format!("{error:#}")),
                });
                continue;
            }
        };
        if let Some(path) = &built.attestation {
            shell.status("Attested", format_args!("`{}`", path.display()));
        }
        for error in cargo_palyra_skill::host::skill_grant_errors(&built.manifest) {
            shell.warn(format_args!("`{}`: {}: {}", member.package, error.message, error.fix));
        }
        let module_sizes: Vec<ModuleSize> = built
            .entries
            .modules()
            .map(|(path, entry)| ModuleSize {
                path: path.to_owned(),
                headroom: Headroom::new(entry.bytes.len() as u64, cap, warn_at(&member.package)),
            })
            .collect();
        let is_over = module_sizes_report(shell, &module_sizes, configured);
        over += usize::from(is_over);
        let artifact = ArtifactReport::of_built(&built);
        reports.push(MemberReport {
            package: member.package,
            ok: !is_over,
            report: Some(Built { artifact, signed_with, module_sizes, attestation: built.attestation }),
            error: None,
        });
    }
    if signed_with == "development-key" && reports.iter().any(|r| r.report.is_some()) {
        shell.warn(
            "signed with your local development key: operators will not trust it; use `--key` (or `$PALYRA_SKILL_SIGNING_KEY`) for releases",
        );
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    let passed = reports.len() - failed;
    let skipped = members.skipped.len();
    match opts.output.message_format {
        MessageFormat::Json => {
            shell.print_json(&MembersReport { members: reports, skipped: members.skipped, passed, failed })?
        }
        MessageFormat::Human => {
            shell.print("")?;
            for member in &reports {
                summary_line(shell, member, cap)?;
            }
            shell.status(
                "Finished",
                format_args!(
                    "{} in {:.1}s",
                    total_line("skills", passed, failed, skipped),
                    started.elapsed().as_secs_f64()
                ),
            );
        }
    }
    if errors > 0 {
        bail!("{errors} of {} skills could not be built (each error is above)", passed + failed);
    }
    Ok(if over > 0 { Outcome::CheckFailed } else { Outcome::Success })
}

/// `acme-alpha  acme.alpha-1.0.0.palyra-skill  1.2 KiB  module 1,234 of 10,485,760 bytes (0.0%)`.
fn summary_line(shell: &mut Shell, member: &MemberReport<Built>, cap: u64) -> std::io::Result<()> {
    let Some(built) = &member.report else {
        return shell.print(format_args!("  {:<24} {}", member.package, Shell::bad("FAILED")));
    };
    let name = built.artifact.artifact.file_name().unwrap_or_default().to_string_lossy();
    let modules: Vec<String> = built
        .module_sizes
        .iter()
        .map(|m| {
            let mark = match m.headroom.level {
                Level::Ok => String::new(),
                Level::Warn => format!(" {}", Shell::bad("(little room)")),
                Level::Over => format!(" {}", Shell::bad("(OVER)")),
            };
            format!("module {} of {} bytes{mark}", thousands(m.headroom.used), thousands(cap))
        })
        .collect();
    shell.print(format_args!(
        "  {:<24} {name}  {}  {}",
        member.package,
        human_size(built.artifact.bytes),
        modules.join(", ")
    ))
}
