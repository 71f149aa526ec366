//! `audit`: would the Palyra host quarantine this skill, and what else is wrong.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::audit::{self, AdvisoryDb, AuditReport, Feed, Policy, Severity, Status, Subject};
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
use cargo_palyra_skill::verify::verify_bytes;
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::input::{KeyArgs, TrustArgs, dev_key, read_limited};
use crate::operator::OperatorArgs;
use crate::select::PackageArgs;
use crate::shell::MessageFormat;
use crate::shell::Shell;
use crate::skill::{self, BuildArgs};
use cargo_palyra_skill::workspace::Members;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Human,
    Json,
    Sarif,
}

/// Audit a skill as the Palyra host does before letting it run, and more.
///
/// PATH is a `.palyra-skill` artifact, a `.wasm` module, or a crate
/// directory (built and signed first, with the key options or, as `build`
/// does, `$PALYRA_SKILL_SIGNING_KEY` or your development key). Runs every check of
/// the consumer's audit with its ids and defaults (after verification, like
/// the consumer), then our static analysis of each module: validation,
/// entrypoint, imports, least privilege, memory, tables, start function,
/// custom sections, host paths, SBOM/provenance consistency; and what the
/// Palyra 0.1.0 daemon will do at run time, under `--operator-config` (else
/// a stock daemon): imports it cannot link, modules over its size cap,
/// manifest values that fail every run, an ambiguous module, quotas it
/// caps, capabilities the operator will not grant or nobody can, typed
/// contracts whose adapter forbids the declared capabilities.
///
/// With `--advisory-db`, the crates of the SBOM and of each module's
/// embedded dependency list are matched against a local RustSec advisory
/// database: a vulnerable crate is an error; an unmaintained or unsound one,
/// or a version cargo's local index cache marks yanked, a warning;
/// withdrawn advisories are ignored. Nothing is fetched.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill audit dist/acme.echo-1.0.0.palyra-skill\n",
    "  cargo palyra-skill audit . --message-format sarif --out audit.sarif\n",
    "  cargo palyra-skill audit . --operator-config /etc/palyra/palyrad.toml\n",
    "  cargo palyra-skill audit target/wasm32-unknown-unknown/release/guard.wasm --message-format json\n",
    "  cargo palyra-skill audit . --advisory-db ~/.cargo/advisory-db\n\n",
    "Exit status:\n  0  passed\n  1  quarantine (a consumer check failed) or an error finding\n  2  could not audit (bad input, verification failed, I/O error)",
    "\n\n",
    reference!()
))]
pub struct Opts {
    /// An artifact, a `.wasm` module, or a skill crate (its directory or `Cargo.toml`) [default: .]
    #[arg(value_name = "PATH", conflicts_with = "manifest_path")]
    path: Option<PathBuf>,
    /// Path to the crate's `Cargo.toml` (as cargo takes it)
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Audit policy (TOML): `max_module_bytes`, `max_exported_functions`,
    /// `allow_device_capabilities`, `allow_wildcard_capabilities`,
    /// `max_debug_info_bytes`, `advisory_db`
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Scan dependencies against this RustSec advisory database (a checkout
    /// of github.com/rustsec/advisory-db, e.g. ~/.cargo/advisory-db)
    #[arg(long, value_name = "DIR", env = "PALYRA_SKILL_ADVISORY_DB")]
    advisory_db: Option<PathBuf>,
    /// Largest module allowed [default: 8388608]
    #[arg(long, value_name = "N")]
    max_module_bytes: Option<u64>,
    /// Most exported functions allowed per module [default: 128]
    #[arg(long, value_name = "N")]
    max_exported_functions: Option<usize>,
    /// Do not fail `forbidden_device_capabilities`
    #[arg(long)]
    allow_device_capabilities: bool,
    /// Do not fail `forbidden_wildcard_capabilities`
    #[arg(long)]
    allow_wildcard_capabilities: bool,
    /// Trust is decided as `verify` decides it; without these, as on first use
    #[command(flatten)]
    trust: TrustArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    message_format: AuditFormat,
    /// Write the report to FILE instead of stdout
    #[arg(long, short, value_name = "FILE", alias = "output")]
    out: Option<PathBuf>,
    /// Where `skill.toml` is in the repository, for SARIF locations [default: beside PATH]
    #[arg(long, value_name = "PATH")]
    manifest_uri: Option<String>,
    #[command(flatten)]
    operator: OperatorArgs,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    packages: PackageArgs,
}

impl Opts {
    fn policy(&self) -> Result<Policy> {
        let mut policy = match &self.policy {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("could not read policy `{}`", path.display()))?;
                let mut policy = Policy::from_toml(&text)
                    .with_context(|| format!("invalid audit policy `{}`", path.display()))?;
                if let (Some(db), Some(dir)) = (&policy.advisory_db, path.parent()) {
                    policy.advisory_db = Some(dir.join(db));
                }
                policy
            }
            None => Policy::default(),
        };
        policy.max_module_bytes = self.max_module_bytes.unwrap_or(policy.max_module_bytes);
        policy.max_exported_functions = self.max_exported_functions.unwrap_or(policy.max_exported_functions);
        policy.allow_device_capabilities |= self.allow_device_capabilities;
        policy.allow_wildcard_capabilities |= self.allow_wildcard_capabilities;
        policy.advisory_db =
            self.advisory_db.clone().filter(|p| !p.as_os_str().is_empty()).or(policy.advisory_db);
        Ok(policy)
    }

    /// What to audit: PATH, `--manifest-path`, or the crate found from the
    /// current directory upward.
    fn target(&self) -> Result<PathBuf> {
        skill::target_or_crate(self.manifest_path.as_deref().or(self.path.as_deref()))
    }

    /// The artifact bytes to audit: read, or built and signed from a crate.
    fn artifact_bytes(&self, target: &Path, package: Option<&str>, shell: &mut Shell) -> Result<Vec<u8>> {
        if !skill::is_crate(target) {
            return crate::input::read_artifact(target);
        }
        let key = match self.key.load(shell)? {
            Some((key, _)) => key,
            None => Box::new(dev_key()?.0),
        };
        let bytes =
            skill::build_crate(target, &self.build, Some((&self.packages, package)), Some(&*key), shell)?
                .bytes;
        for warning in cargo_palyra_skill::suggest::metadata_table_warnings(target) {
            shell.warn(warning);
        }
        Ok(bytes)
    }

    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        let policy = self.policy()?;
        let target = self.target()?;
        let members = if skill::is_crate(&target) {
            crate::select::members_of(&self.packages, &target, &self.build, shell)?
        } else {
            self.packages.refuse_for_file(&target)?;
            None
        };
        let (target, package) = match &members {
            Some(members) if members.several => return self.run_members(members, &policy, shell),
            Some(members) => {
                let krate = &members.skills[0];
                (krate.package.manifest_path.as_std_path().to_owned(), Some(krate.package.name.to_string()))
            }
            None => (target, None),
        };
        let (report, manifest_text) = self.audit_one(&target, package.as_deref(), &policy, shell)?;
        self.render(&report, &target, manifest_text.as_deref(), shell)
    }

    /// Audits several skills of a workspace: each report, then the total.
    fn run_members(&self, members: &Members, policy: &Policy, shell: &mut Shell) -> Result<Outcome> {
        let format = match self.message_format {
            AuditFormat::Human => MessageFormat::Human,
            AuditFormat::Json => MessageFormat::Json,
            AuditFormat::Sarif => bail!(
                "`--message-format sarif` describes one skill, and {} are selected: audit each with `-p NAME --out FILE`",
                members.skills.len()
            ),
        };
        if self.out.is_some() {
            bail!("`--out` writes one skill's report: audit each with `-p NAME --out FILE`");
        }
        crate::select::each_member(members, format, "skills audited", shell, |krate, shell| {
            let target = krate.package.manifest_path.as_std_path();
            let (report, _) = self.audit_one(target, Some(krate.package.name.as_str()), policy, shell)?;
            if format == MessageFormat::Human {
                shell.print(human(&report).trim_end())?;
            }
            let outcome = self.verdict(&report, shell);
            Ok((report, Ok(outcome)))
        })
    }

    /// The audit of one artifact, module or crate (the workspace's `package`).
    fn audit_one(
        &self,
        target: &Path,
        package: Option<&str>,
        policy: &Policy,
        shell: &mut Shell,
    ) -> Result<(AuditReport, Option<String>)> {
        let hook = std::env::var("PALYRA_SKILL_AUDIT_VULN_FEED_HOOK").ok();
        let advisory_db = match &policy.advisory_db {
            Some(path) => {
                let db = AdvisoryDb::open(path)?;
                shell.status("Loaded", format_args!("{} advisories from `{}`", db.len(), path.display()));
                Some(db)
            }
            None => None,
        };
        let feed = Feed { hook: hook.as_deref(), advisory_db: advisory_db.as_ref() };
        let now = cargo_palyra_skill::clock::now()?.unix_ms;
        let operator = self.operator.read()?.unwrap_or_default();
        let is_module = target.extension().is_some_and(|e| e == "wasm");
        let (report, manifest_text) = if is_module {
            let bytes = read_limited(target, 256 * 1024 * 1024, "module")?;
            let path = target.display().to_string();
            let subject = Subject::module(&path, &bytes, &operator);
            (audit::audit(&subject, policy, &feed, now), None)
        } else {
            let bytes = self.artifact_bytes(target, package, shell)?;
            let (entries, verified) = verify_bytes(&bytes)
                .with_context(|| format!("could not audit `{}`: it fails verification", target.display()))?;
            let decision = self.decide(&verified)?;
            let subject = Subject::artifact(&entries, &verified, decision, &operator);
            let report = audit::audit(&subject, policy, &feed, now);
            let text =
                String::from_utf8_lossy(&entries.get("skill.toml").expect("verified").bytes).into_owned();
            (report, Some(text))
        };
        Ok((report, manifest_text))
    }

    /// One skill's report in the chosen format, to stdout or `--out`, and its verdict.
    fn render(
        &self,
        report: &AuditReport,
        target: &Path,
        manifest_text: Option<&str>,
        shell: &mut Shell,
    ) -> Result<Outcome> {
        let rendered = match self.message_format {
            AuditFormat::Json => serde_json::to_string_pretty(report)? + "\n",
            AuditFormat::Sarif => {
                let uri = match &self.manifest_uri {
                    Some(uri) => PathBuf::from(uri),
                    None if target.is_dir() => target.join("skill.toml"),
                    None if skill::is_crate(target) => target.with_file_name("skill.toml"),
                    None => PathBuf::from("skill.toml"),
                };
                serde_json::to_string_pretty(&audit::to_sarif(report, &uri.to_string_lossy(), manifest_text))?
                    + "\n"
            }
            AuditFormat::Human => human(report),
        };
        match &self.out {
            Some(path) => {
                write_atomic(path, rendered.as_bytes(), Some(0o644), Existing::Replace)
                    .with_context(|| format!("could not write `{}`", path.display()))?;
                shell.status("Wrote", format_args!("`{}`", path.display()));
            }
            None => shell.print(rendered.trim_end())?,
        }
        Ok(self.verdict(report, shell))
    }

    /// `Audited` and the verdict; a check failed when the host would
    /// quarantine the skill or an error was found.
    fn verdict(&self, report: &AuditReport, shell: &mut Shell) -> Outcome {
        let verdict = report.verdict();
        let failed = report.should_quarantine || report.error_findings() > 0;
        if failed {
            shell.status_failed("Audited", verdict)
        } else {
            shell.status("Audited", verdict)
        }
        if failed { Outcome::CheckFailed } else { Outcome::Success }
    }

    /// Trust as `verify` decides it, or as first use would without options.
    fn decide(
        &self,
        verified: &cargo_palyra_skill::verify::Verified,
    ) -> Result<cargo_palyra_skill::trust::TrustDecision> {
        let mut store = self.trust.store()?;
        let allow_tofu = !self.trust.given();
        match store.decide(&verified.manifest.publisher, &verified.public_key, allow_tofu) {
            Ok(decision) => Ok(decision),
            Err(rejection) => bail!("could not audit: the publisher is not trusted: {rejection}"),
        }
    }
}

/// The subject of an audit: verified entries.
/// Grouped by severity, failed checks first, then a one-line verdict.
fn human(report: &AuditReport) -> String {
    let mut out = String::new();
    if !report.skill_id.is_empty() {
        out += &format!(
            "{} {} by {} ({})\n",
            report.skill_id,
            report.version,
            report.publisher,
            report.trust_decision.map_or("no trust decision", |d| d.as_str())
        );
    }
    let failed: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Fail).collect();
    let warned: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Warn).collect();
    let passed = report.checks.iter().filter(|c| c.status == Status::Pass).count();
    out +=
        &format!("\nconsumer checks: {} failed, {} warnings, {passed} passed\n", failed.len(), warned.len());
    for check in failed {
        out += &format!("  {} {}: {}\n", Shell::bad("FAIL"), check.check_id, check.message);
    }
    for check in warned {
        out += &format!("  warn {}: {}\n", check.check_id, check.message);
        if check.check_id == "vulnerability_feed_hook" && report.advisories.is_none() {
            out += "      fix: scan the dependencies with `--advisory-db DIR`, a clone of \
                    https://github.com/rustsec/advisory-db (cargo-audit keeps one in ~/.cargo/advisory-db)\n";
        }
    }
    if report.advisories.is_some() {
        out += &format!("\nvulnerability scan: {}\n", report.vulnerability_scan.message);
    }
    for (severity, title) in
        [(Severity::Error, "errors"), (Severity::Warning, "warnings"), (Severity::Info, "notes")]
    {
        let group: Vec<_> = report.findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        out += &format!("\nfindings, {title}:\n");
        for f in group {
            let at = f.offset.map(|o| format!(" @{o}")).unwrap_or_default();
            let name = f.name.as_deref().map(|n| format!(" `{n}`")).unwrap_or_default();
            let fix = f.fix.replace('\n', "\n        ");
            out += &format!("  {} [{}{at}]{name}: {}\n      fix: {fix}\n", f.id, f.location, f.message);
        }
    }
    for module in &report.modules {
        let producers: Vec<String> =
            module.producers.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
        out += &format!(
            "\nmodule {}: {} bytes, {} exported functions, sha256 {}{}\n",
            module.path,
            module.bytes,
            module.exported_functions,
            module.sha256,
            if producers.is_empty() { String::new() } else { format!(", built by {}", producers.join(", ")) }
        );
    }
    out += &format!("\nverdict: {}\n", report.verdict());
    out
}
