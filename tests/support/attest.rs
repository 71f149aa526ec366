//! A Sigstore instance for tests: a Fulcio-like CA that issues GitHub
//! Actions certificates, and a Rekor-like log of one entry that signs its
//! entry timestamp and checkpoint. It writes the `trusted_root.json` that
//! holds both, and bundles shaped as `actions/attest-build-provenance`
//! writes them, so `verify --attestation` runs its real checks against
//! them: nothing here is accepted that the public-good instance's bundles
//! would not need to prove.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::asn1::{BitString, Ia5String, OctetString, Utf8StringRef};
use der::{Decode as _, Encode as _};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha256};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

const ECDSA_SHA256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const CODE_SIGNING: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// What the workflow's OIDC token said, as Fulcio copies it into the certificate.
#[derive(Clone)]
pub struct Claims {
    pub repository: String,
    pub workflow: String,
    pub git_ref: String,
    pub commit: String,
    pub issuer: String,
    /// The workflow that signed (the SAN and Build Signer URI), when it is
    /// not the one that ran: a reusable workflow it called.
    pub signer: Option<String>,
}

impl Claims {
    pub fn github(repository: &str, workflow: &str, git_ref: &str) -> Claims {
        Claims {
            repository: repository.into(),
            workflow: workflow.into(),
            git_ref: git_ref.into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            issuer: ISSUER.into(),
            signer: None,
        }
    }

    /// The same run, signed by the reusable workflow at `uri`
    /// (`https://github.com/OWNER/NAME/PATH@REF`).
    pub fn signed_by(self, uri: &str) -> Claims {
        Claims { signer: Some(uri.into()), ..self }
    }
}

/// When the certificate is valid, and when the log says it signed.
#[derive(Clone, Copy)]
pub struct Times {
    pub not_before: u64,
    pub not_after: u64,
    pub integrated: u64,
}

impl Times {
    /// Ten minutes of validity (as Fulcio issues), signed a minute in, an hour ago.
    pub fn fresh() -> Times {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        Times { not_before: now - 3600, not_after: now - 3000, integrated: now - 3540 }
    }

    /// Signed after the certificate had expired.
    pub fn expired() -> Times {
        let t = Times::fresh();
        Times { integrated: t.not_after + 60, ..t }
    }
}

pub struct TestSigstore {
    ca: SigningKey,
    ca_cert: Vec<u8>,
    log: SigningKey,
}

fn time(secs: u64) -> Time {
    Time::try_from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap()
}

fn spki(key: &SigningKey) -> SubjectPublicKeyInfoOwned {
    let der = key.verifying_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
}

fn extension(oid: &str, critical: bool, value: &impl der::Encode) -> Extension {
    Extension {
        extn_id: der::oid::ObjectIdentifier::new_unwrap(oid),
        critical,
        extn_value: OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

fn sign_certificate(tbs: TbsCertificate, key: &SigningKey) -> Vec<u8> {
    let signature: DerSignature = key.sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: AlgorithmIdentifierOwned { oid: ECDSA_SHA256, parameters: None },
        signature: BitString::from_bytes(signature.as_bytes()).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

impl TestSigstore {
    /// A CA and a log whose keys come from `seed`: two seeds, two strangers.
    pub fn new(seed: u8) -> TestSigstore {
        let ca = SigningKey::from_slice(&[seed; 32]).unwrap();
        let log = SigningKey::from_slice(&[seed.wrapping_add(100); 32]).unwrap();
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&[1, seed]).unwrap(),
            signature: AlgorithmIdentifierOwned { oid: ECDSA_SHA256, parameters: None },
            issuer: name("CN=test-fulcio,O=cargo-palyra-skill tests"),
            validity: Validity { not_before: time(1_600_000_000), not_after: time(4_000_000_000) },
            subject: name("CN=test-fulcio,O=cargo-palyra-skill tests"),
            subject_public_key_info: spki(&ca),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                extension("2.5.29.19", true, &BasicConstraints { ca: true, path_len_constraint: None }),
                extension("2.5.29.15", true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
            ]),
        };
        let ca_cert = sign_certificate(tbs, &ca);
        TestSigstore { ca, ca_cert, log }
    }

    fn log_spki(&self) -> Vec<u8> {
        self.log.verifying_key().to_public_key_der().unwrap().as_bytes().to_vec()
    }

    fn log_id(&self) -> [u8; 32] {
        Sha256::digest(self.log_spki()).into()
    }

    /// The `trusted_root.json` that trusts this CA and this log, and no CT log.
    pub fn trusted_root(&self) -> String {
        self.trusted_root_with_ca_of(self)
    }

    /// This log, but `other`'s CA.
    pub fn trusted_root_with_ca_of(&self, other: &TestSigstore) -> String {
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.test.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(self.log_spki()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"}
                },
                "logId": {"keyId": B64.encode(self.log_id())}
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "cargo-palyra-skill tests", "commonName": "test-fulcio"},
                "uri": "https://fulcio.test.invalid",
                "certChain": {"certificates": [{"rawBytes": B64.encode(&other.ca_cert)}]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            }],
            "ctlogs": [],
            "timestampAuthorities": []
        })
        .to_string()
    }

    /// A leaf certificate for `key`, with the claims a GitHub Actions token gives.
    fn leaf(&self, key: &SigningKey, claims: &Claims, times: Times) -> Vec<u8> {
        let repo_uri = format!("https://github.com/{}", claims.repository);
        let workflow_uri = format!("{repo_uri}/{}@{}", claims.workflow, claims.git_ref);
        let signer_uri = claims.signer.clone().unwrap_or_else(|| workflow_uri.clone());
        let utf8 = |oid: &str, value: &str| extension(oid, false, &Utf8StringRef::new(value).unwrap());
        let san = SubjectAltName(vec![GeneralName::UniformResourceIdentifier(
            Ia5String::new(&signer_uri).unwrap(),
        )]);
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&[2, 3, 4]).unwrap(),
            signature: AlgorithmIdentifierOwned { oid: ECDSA_SHA256, parameters: None },
            issuer: name("CN=test-fulcio,O=cargo-palyra-skill tests"),
            validity: Validity { not_before: time(times.not_before), not_after: time(times.not_after) },
            subject: Name::default(),
            subject_public_key_info: spki(key),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                extension("2.5.29.15", true, &KeyUsage(KeyUsages::DigitalSignature.into())),
                extension("2.5.29.37", false, &ExtendedKeyUsage(vec![CODE_SIGNING])),
                extension("2.5.29.17", true, &san),
                utf8("1.3.6.1.4.1.57264.1.8", &claims.issuer),
                utf8("1.3.6.1.4.1.57264.1.9", &signer_uri),
                utf8("1.3.6.1.4.1.57264.1.11", "github-hosted"),
                utf8("1.3.6.1.4.1.57264.1.12", &repo_uri),
                utf8("1.3.6.1.4.1.57264.1.13", &claims.commit),
                utf8("1.3.6.1.4.1.57264.1.14", &claims.git_ref),
                utf8("1.3.6.1.4.1.57264.1.18", &workflow_uri),
                utf8("1.3.6.1.4.1.57264.1.20", "push"),
                utf8("1.3.6.1.4.1.57264.1.21", &format!("{repo_uri}/actions/runs/1/attempts/1")),
                utf8("1.3.6.1.4.1.57264.1.22", "public"),
            ]),
        };
        sign_certificate(tbs, &self.ca)
    }

    /// The bundle attesting that `artifact` (named `name`) was built as `claims` say.
    pub fn attest(&self, name: &str, artifact: &[u8], claims: &Claims, times: Times) -> Vec<u8> {
        let key = SigningKey::from_slice(&[42; 32]).unwrap();
        let leaf = self.leaf(&key, claims, times);
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": hex::encode(Sha256::digest(artifact))}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"}}
        })
        .to_string();
        let payload_type = "application/vnd.in-toto+json";
        let pae = format!("DSSEv1 {} {payload_type} {} {statement}", payload_type.len(), statement.len());
        let signature: DerSignature = key.sign(pae.as_bytes());
        let signature = B64.encode(signature.as_bytes());

        // The log: a dsse v0.0.1 entry, its signed entry timestamp, and a
        // tree of one leaf whose checkpoint the log signs.
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            B64.encode(&leaf)
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        );
        let body = format!(
            r#"{{"apiVersion":"0.0.1","kind":"dsse","spec":{{"envelopeHash":{{"algorithm":"sha256","value":"{}"}},"payloadHash":{{"algorithm":"sha256","value":"{}"}},"signatures":[{{"signature":"{signature}","verifier":"{}"}}]}}}}"#,
            hex::encode(Sha256::digest(pae.as_bytes())),
            hex::encode(Sha256::digest(statement.as_bytes())),
            B64.encode(pem),
        );
        let log_id = hex::encode(self.log_id());
        let promise = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{log_id}","logIndex":0}}"#,
            B64.encode(&body),
            times.integrated
        );
        let set: DerSignature = self.log.sign(promise.as_bytes());
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(body.as_bytes());
        let root = B64.encode(Sha256::digest(&leaf_input));
        let note = format!("rekor.test.invalid - 1\n1\n{root}\n");
        let note_signature: DerSignature = self.log.sign(note.as_bytes());
        let mut hinted = self.log_id()[..4].to_vec();
        hinted.extend_from_slice(note_signature.as_bytes());
        let checkpoint = format!("{note}\n\u{2014} rekor.test.invalid {}\n", B64.encode(hinted));

        serde_json::to_vec_pretty(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(&leaf)},
                "tlogEntries": [{
                    "logIndex": "0",
                    "logId": {"keyId": B64.encode(self.log_id())},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": times.integrated.to_string(),
                    "inclusionPromise": {"signedEntryTimestamp": B64.encode(set.as_bytes())},
                    "inclusionProof": {
                        "logIndex": "0",
                        "rootHash": root,
                        "treeSize": "1",
                        "hashes": [],
                        "checkpoint": {"envelope": checkpoint}
                    },
                    "canonicalizedBody": B64.encode(&body)
                }],
                "timestampVerificationData": {}
            },
            "dsseEnvelope": {
                "payload": B64.encode(&statement),
                "payloadType": payload_type,
                "signatures": [{"sig": signature}]
            }
        }))
        .unwrap()
    }
}

/// The names of the checks a JSON attestation report failed, in order.
pub fn failed_checks(attestation: &serde_json::Value) -> Vec<String> {
    let checks = attestation["checks"].as_array().expect("an attestation report lists its checks");
    checks
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}
