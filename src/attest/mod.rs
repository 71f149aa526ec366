//! GitHub build attestations: a Sigstore bundle whose keyless certificate
//! names the repository, workflow, ref and commit that built an artifact,
//! verified offline (docs/verify.md, "Attestations").
//!
//! What is checked, in this order: the bundle's shape; its signing time
//! (a transparency-log entry or an RFC 3161 timestamp); the certificate
//! chain to a trusted root at that time; the certificate's SCT where the
//! root has CT logs; the transparency-log inclusion where the root has
//! logs; the DSSE signature; the in-toto subject against the artifact's
//! SHA-256; then, from the verified certificate, the predicate type and
//! the identity the caller requires. Nothing here opens a connection:
//! every key and certificate comes from the built-in roots or a file.

mod crypto;
mod identity;
pub mod policy;
mod roots;

use std::path::{Path, PathBuf};

use serde::Serialize;
use sigstore_types::{Bundle, SignatureContent, Statement};

use crate::trust::Reason;

pub use identity::{GITHUB_ACTIONS_ISSUER, Identity, RefPattern, RequirementError, Requirements, Signer};
pub use roots::Roots;
use roots::domain;

/// The in-toto statement types: v1, which `actions/attest-build-provenance`
/// writes, and v0.1, which older attesters wrote.
const IN_TOTO_STATEMENTS: [&str; 2] =
    ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];

/// The predicate `actions/attest-build-provenance` writes: SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// The name `gh attestation download` and our workflow give a bundle: the
/// artifact's own name with `.sigstore.json` added.
pub fn bundle_path_for(artifact: &Path) -> PathBuf {
    let mut name = artifact.file_name().unwrap_or_default().to_owned();
    name.push(".sigstore.json");
    artifact.with_file_name(name)
}

/// Why a bundle or a root could not even be read: exit 2, not a verdict.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("could not read the attestation bundle `{path}`: {source}")]
    ReadBundle { path: PathBuf, source: std::io::Error },
    #[error("could not read the trusted root `{path}`: {message}")]
    Root { path: PathBuf, message: String },
    #[error("the built-in Sigstore roots did not load: {0}")]
    BuiltIn(String),
}

/// One named check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// A verified attestation, or the check that refused it.
#[derive(Debug, Clone, Serialize)]
pub struct Attestation {
    pub bundle: PathBuf,
    pub verified: bool,
    /// The trust domain that vouched: `public-good`, `github` or the root file.
    pub root: String,
    pub checks: Vec<Check>,
    /// The certificate's claims, when the bundle carried a readable one.
    pub identity: Option<Identity>,
    /// The first check that failed, in words.
    pub error: Option<String>,
    /// The rejection's reason: `attestation`, `missing_attestation`, or
    /// `tofu_repository_mismatch` when a first-use pin was broken.
    #[serde(skip)]
    pub kind: Reason,
}

impl Attestation {
    /// Holds a verified attestation to the run's own demand, checked once
    /// the bundle verified: each check not yet reported is added, and the
    /// first that fails refuses it.
    pub fn require(&mut self, required: &Requirements) {
        if !self.verified {
            return;
        }
        let found = self.identity.clone().unwrap_or_default();
        for (name, passed, detail) in required.check(&found) {
            if self.checks.iter().any(|check| check.name == name) {
                continue;
            }
            self.checks.push(Check { name, passed, detail: detail.clone() });
            if !passed {
                self.verified = false;
                self.error = Some(format!("{name}: {detail}"));
                return;
            }
        }
    }

    /// Holds a verified attestation to one more requirement (a binding in
    /// the trust store, or a repository pinned on first use), checked
    /// against the identity already verified.
    pub fn require_also(
        &mut self,
        required: &Requirements,
        publisher: &str,
        source: policy::Source,
        policy: &Path,
    ) {
        if !self.verified {
            return;
        }
        let found = self.identity.clone().unwrap_or_default();
        let Some((name, _, detail)) = required.check(&found).into_iter().find(|check| !check.1) else {
            return;
        };
        let repository = required.repository.clone().unwrap_or_default();
        let message = match source {
            policy::Source::Bound => format!(
                "{detail}: `{}` binds publisher `{publisher}` to `{repository}`{}{}",
                policy.display(),
                required.workflow.as_deref().map(|w| format!(" and `{w}`")).unwrap_or_default(),
                required
                    .signer
                    .as_ref()
                    .and_then(Signer::named)
                    .map(|s| format!(", signed by {s}"))
                    .unwrap_or_default()
            ),
            // The pinned repository built it; a pin names no signer, so
            // the run's `--signer-repo` or `--signer-workflow` is missing.
            policy::Source::Pinned if name == "signer" => format!(
                "publisher `{publisher}` was pinned on first use to repository `{repository}`, and this artifact was {detail}"
            ),
            policy::Source::Pinned => {
                self.kind = Reason::TofuRepositoryMismatch;
                format!(
                    "publisher `{publisher}` was pinned on first use to repository `{repository}`, but this artifact was {}: if the publisher moved, remove `tofu_repositories.{publisher}` from `{}`; otherwise do not install it",
                    detail.split(", not").next().unwrap_or(&detail),
                    policy.display()
                )
            }
        };
        self.verified = false;
        self.checks.push(Check { name, passed: false, detail: message.clone() });
        self.error = Some(format!("{name}: {message}"));
    }
}

/// The check a `sigstore-verify` error failed, and the checks that ran
/// and passed before it, in the order it runs them: the signing time
/// first (the log's signed entry timestamp or the RFC 3161 timestamp),
/// then the chain at that time, the SCT, the log's inclusion proof, the
/// signature, the entry's consistency with the bundle, the subject.
fn crypto_failure(error: &sigstore_verify::Error) -> (&'static str, &'static [&'static str]) {
    use sigstore_verify::{CertificateError, Error, TransparencyLogError as Log};
    const CHAIN: &[&str] = &["timestamp", "certificate", "certificate transparency"];
    const SIGNED: &[&str] =
        &["timestamp", "certificate", "certificate transparency", "transparency log", "signature"];
    match error {
        Error::Timestamp(_) => ("timestamp", &[]),
        Error::TransparencyLog(
            Log::InclusionPromise(_) | Log::UnknownLog { .. } | Log::IntegratedTime(_),
        ) => ("transparency log", &[]),
        Error::TransparencyLog(Log::InclusionProof(_) | Log::Checkpoint(_)) => ("transparency log", CHAIN),
        Error::TransparencyLog(Log::EntryMismatch(_)) => ("transparency log", &SIGNED[..3]),
        Error::TransparencyLog(_) => ("transparency log", &[]),
        Error::Certificate(CertificateError::Sct(_)) => ("certificate transparency", &CHAIN[..2]),
        Error::Certificate(_) | Error::TrustedCertificate(_) => ("certificate", &CHAIN[..1]),
        Error::SignatureInvalid(_) => ("signature", &SIGNED[..4]),
        Error::Crypto(_) => ("signature", &[]),
        Error::ArtifactMismatch(_) | Error::UnsupportedArtifact(_) => ("subject", SIGNED),
        _ => ("bundle", &[]),
    }
}

/// Verifies the bundle at `path` for `artifact`'s bytes against `roots`,
/// then the identity `required` asks for. `Err` only when the bundle file
/// cannot be read; every other failure is a refused [`Attestation`].
pub fn verify_file(
    path: &Path,
    artifact: &[u8],
    required: &Requirements,
    roots: &Roots,
) -> Result<Attestation, AttestError> {
    let bytes = read_bundle(path)?;
    Ok(verify(path, &bytes, artifact, required, roots))
}

/// The largest bundle or root read: a real bundle is a few KiB (one
/// certificate, one statement, one log entry), a root tens of KiB.
pub const MAX_BUNDLE_BYTES: u64 = 16 << 20;

/// A bundle file: a regular file (never a FIFO that would block), at most
/// [`MAX_BUNDLE_BYTES`].
pub fn read_bundle(path: &Path) -> Result<Vec<u8>, AttestError> {
    crate::fsutil::read_regular(path, MAX_BUNDLE_BYTES, crate::fsutil::Links::Follow)
        .map_err(|source| AttestError::ReadBundle { path: path.to_owned(), source })
}

/// A bundle refused before it was read: one failed `bundle` check.
pub fn refused(path: &Path, message: String, kind: Reason) -> Attestation {
    Attestation {
        bundle: path.to_owned(),
        verified: false,
        root: String::new(),
        checks: vec![Check { name: "bundle", passed: false, detail: message.clone() }],
        identity: None,
        error: Some(format!("bundle: {message}")),
        kind,
    }
}

/// A missing bundle, as a refused attestation that says where it was
/// looked for and how to get it.
pub fn missing(path: &Path) -> Attestation {
    let message = format!(
        "no attestation: `{}` does not exist; download it with the release (`gh release download TAG --pattern '*.sigstore.json'`) or pass `--attestation BUNDLE`",
        path.display()
    );
    refused(path, message, Reason::MissingAttestation)
}

/// A missing bundle that a trust-store binding or first-use pin required,
/// saying which (a broken pin is refused as `tofu_repository_mismatch`).
pub fn missing_for(
    path: &Path,
    publisher: &str,
    required: &Requirements,
    source: policy::Source,
    policy_file: &Path,
) -> Attestation {
    let mut missing = missing(path);
    let repository = required.repository.as_deref().unwrap_or_default();
    let why = match source {
        policy::Source::Bound => {
            format!("`{}` binds publisher `{publisher}` to `{repository}`", policy_file.display())
        }
        policy::Source::Pinned => {
            missing.kind = Reason::TofuRepositoryMismatch;
            format!(
                "publisher `{publisher}` was pinned on first use to repository `{repository}`, and this artifact is not attested"
            )
        }
    };
    for check in &mut missing.checks {
        check.detail = format!("{}; {why}", check.detail);
    }
    missing.error = missing.error.map(|e| format!("{e}; {why}"));
    missing
}

/// [`verify_file`] for a bundle already read.
pub fn verify(
    path: &Path,
    bundle: &[u8],
    artifact: &[u8],
    required: &Requirements,
    roots: &Roots,
) -> Attestation {
    crypto::install();
    let mut report = Attestation {
        bundle: path.to_owned(),
        verified: false,
        root: String::new(),
        checks: Vec::new(),
        identity: None,
        error: None,
        kind: Reason::Attestation,
    };
    let refuse = |mut report: Attestation, name: &'static str, message: String| {
        report.checks.push(Check { name, passed: false, detail: message.clone() });
        report.error = Some(format!("{name}: {message}"));
        report
    };
    let bundle = match std::str::from_utf8(bundle)
        .map_err(|e| e.to_string())
        .and_then(|text| Bundle::from_json(text).map_err(|e| e.to_string()))
    {
        Ok(bundle) => bundle,
        Err(e) => {
            return refuse(
                report,
                "bundle",
                format!(
                    "not a Sigstore bundle ({e}); pass the `.sigstore.json` file the workflow attached to the release"
                ),
            );
        }
    };
    let statement = match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => {
            serde_json::from_slice::<Statement>(envelope.payload.as_bytes()).map_err(|e| {
                format!("its in-toto statement does not parse: {}", crate::text::escape(&e.to_string()))
            })
        }
        _ => Err("the bundle signs no in-toto statement: it is a plain signature, not an attestation".into()),
    };
    let statement = match statement {
        Ok(statement) if IN_TOTO_STATEMENTS.contains(&statement.type_.as_str()) => statement,
        Ok(statement) => {
            let found = crate::text::escape(&statement.type_).into_owned();
            return refuse(
                report,
                "bundle",
                format!("`{found}` is not an in-toto statement type (`{}`)", IN_TOTO_STATEMENTS[0]),
            );
        }
        Err(message) => return refuse(report, "bundle", message),
    };
    report.identity = identity::from_bundle(&bundle);
    report.checks.push(Check {
        name: "bundle",
        passed: true,
        detail: format!("{}, an in-toto statement in a DSSE envelope", media_type(&bundle)),
    });

    let domain = domain(roots, &bundle);
    report.root = domain.name.clone();
    match sigstore_verify::verify(artifact, &bundle, &domain.policy, domain.root) {
        Ok(result) => {
            let times: Vec<String> = result.verified_timestamps().iter().map(ToString::to_string).collect();
            let source = if bundle.verification_material.tlog_entries.is_empty() {
                "RFC 3161 timestamp"
            } else {
                "transparency-log entry"
            };
            report.checks.push(Check {
                name: "timestamp",
                passed: true,
                detail: format!("signed at {} ({source})", times.join(", ")),
            });
            report.checks.push(Check {
                name: "certificate",
                passed: true,
                detail: format!("chains to the {} root at that time", domain.name),
            });
            if domain.sct {
                report.checks.push(Check {
                    name: "certificate transparency",
                    passed: true,
                    detail: "the certificate's SCT is signed by a CT log of the root".into(),
                });
            }
            if domain.tlog {
                report.checks.push(Check {
                    name: "transparency log",
                    passed: true,
                    detail: "inclusion proof, checkpoint and signed entry timestamp verify".into(),
                });
            }
            report.checks.push(Check {
                name: "signature",
                passed: true,
                detail: "the DSSE envelope is signed by the certificate's key".into(),
            });
            let digest = crate::artifact::sha256_hex(artifact);
            report.checks.push(Check {
                name: "subject",
                passed: true,
                detail: format!("sha256:{digest} is a subject of the statement"),
            });
            // The verified certificate's claims replace what was read before.
            report.identity = result.certificate().map(|info| {
                Identity::from_claims(
                    info.issuer.clone(),
                    info.identity.as_ref().map(ToString::to_string),
                    &info.ci_claims,
                )
            });
        }
        Err(error) => {
            let (failed, passed) = crypto_failure(&error);
            for name in passed {
                let skipped = (*name == "certificate transparency" && !domain.sct)
                    || (*name == "transparency log" && !domain.tlog);
                if !skipped {
                    report.checks.push(Check { name, passed: true, detail: String::new() });
                }
            }
            if failed == "bundle" {
                report.checks.clear();
            }
            let mut message = error.to_string();
            if failed == "certificate" && (message.contains("Expired") || message.contains("NotYetValid")) {
                message.push_str(": the signing certificate was not valid when it signed (Fulcio certificates live ten minutes; the bundle's signing time falls outside them)");
            } else if matches!(
                failed,
                "certificate" | "transparency log" | "timestamp" | "certificate transparency"
            ) {
                message.push_str(&format!(
                    " (checked against the {} root: a bundle from another Sigstore instance needs its `trusted_root.json`, passed with `--trusted-root`)",
                    domain.name
                ));
            }
            return refuse(report, failed, message);
        }
    }
    if statement.predicate_type != SLSA_PROVENANCE_V1 {
        let found = crate::text::escape(&statement.predicate_type).into_owned();
        return refuse(
            report,
            "predicate",
            format!(
                "the statement is `{found}`, not SLSA provenance v1 (`{SLSA_PROVENANCE_V1}`), which `actions/attest-build-provenance` writes"
            ),
        );
    }
    report.checks.push(Check { name: "predicate", passed: true, detail: SLSA_PROVENANCE_V1.into() });
    let identity = report.identity.clone().unwrap_or_default();
    for check in required.check(&identity) {
        let (name, passed, detail) = check;
        if !passed {
            return refuse(report, name, detail);
        }
        report.checks.push(Check { name, passed, detail });
    }
    report.verified = true;
    report
}

fn media_type(bundle: &Bundle) -> &'static str {
    match bundle.media_type {
        sigstore_types::MediaType::Bundle0_1 => "Sigstore bundle v0.1",
        sigstore_types::MediaType::Bundle0_2 => "Sigstore bundle v0.2",
        sigstore_types::MediaType::Bundle0_3 => "Sigstore bundle v0.3",
        other => other.as_str(),
    }
}
