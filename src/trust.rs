//! The consumer's publisher trust store (JSON), its trust decision, and
//! locked, atomic updates so concurrent TOFU pins are never lost.
//!
//! Offsets, sizes and counts here come from untrusted bytes: arithmetic is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{Existing, FileLock, write_atomic};
use crate::manifest::is_identifier;
use crate::signing::PublicKey;

/// A trust store of every publisher there is fits well under this.
const MAX_STORE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustStore {
    #[serde(default)]
    pub trusted_publishers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub tofu_publishers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustDecision {
    Allowlisted,
    TofuPinned,
    TofuNewlyPinned,
}

impl TrustDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustDecision::Allowlisted => "allowlisted",
            TrustDecision::TofuPinned => "tofu_pinned",
            TrustDecision::TofuNewlyPinned => "tofu_newly_pinned",
        }
    }

    /// The decision in plain words, for people.
    pub fn describe(self) -> &'static str {
        match self {
            TrustDecision::Allowlisted => "trusted: a key listed for this publisher",
            TrustDecision::TofuPinned => "trusted: the key pinned for this publisher on first use",
            TrustDecision::TofuNewlyPinned => {
                "trusted on first use: this key is now pinned for the publisher, and another key will be refused"
            }
        }
    }
}

/// Why trust store JSON is not a valid store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("`{0}` is not a publisher identifier (use only `a-z 0-9 . _ - :`)")]
    BadPublisher(String),
    #[error("trusted publisher `{0}` has an empty key list: list at least one key or remove it")]
    EmptyKeyList(String),
    #[error("the key for publisher `{0}` is not 64 hex characters (a 32-byte Ed25519 public key)")]
    BadKey(String),
    #[error("publisher `{0}` is pinned to two different keys")]
    TwoPins(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("could not read trust store `{path}`: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("trust store `{path}` is not valid: {source}")]
    Invalid { path: PathBuf, source: StoreError },
    #[error("could not save trust store `{path}`: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "`{0}` is not `PUBLISHER=KEY`: give the publisher and its public key, as 64 hex characters (`acme=79b5...9664`) or the `.pub` file `keygen` wrote (`acme=acme.pem.pub`)"
    )]
    BadTrustedPublisher(String),
    #[error(
        "`{0}` is a private key: give its public key instead (`keygen` wrote it beside it as `.pub`), and keep the private key away from verifiers"
    )]
    PrivateKeyFile(PathBuf),
    #[error(
        "`{0}` holds no public key: give the `.pub` file `keygen` wrote (`-----BEGIN PUBLIC KEY-----`) or the 64 hex characters it printed"
    )]
    NotAPublicKeyFile(PathBuf),
}

/// The reason codes of trust and attestation decisions: one catalogue,
/// serialised to the stable strings JSON reports carry (`error.kind` in
/// `verify`, `problems[].kind` in `registry verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An allowlisted publisher signed with a key not listed for it.
    TrustedKeyMismatch,
    /// A pinned publisher signed with a key other than the pinned one.
    TofuKeyMismatch,
    /// A publisher neither allowlisted nor pinned, without `--allow-tofu`.
    UntrustedPublisher,
    /// A publisher name that only matches a known one after trimming.
    LookalikePublisher,
    /// A bundle that does not prove what is required of it.
    Attestation,
    /// No bundle where the run or a binding requires one.
    MissingAttestation,
    /// An artifact built elsewhere than the repository pinned on first use, or not attested.
    TofuRepositoryMismatch,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::TrustedKeyMismatch,
        Reason::TofuKeyMismatch,
        Reason::UntrustedPublisher,
        Reason::LookalikePublisher,
        Reason::Attestation,
        Reason::MissingAttestation,
        Reason::TofuRepositoryMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TrustedKeyMismatch => "trusted_key_mismatch",
            Reason::TofuKeyMismatch => "tofu_key_mismatch",
            Reason::UntrustedPublisher => "untrusted_publisher",
            Reason::LookalikePublisher => "lookalike_publisher",
            Reason::Attestation => "attestation",
            Reason::MissingAttestation => "missing_attestation",
            Reason::TofuRepositoryMismatch => "tofu_repository_mismatch",
        }
    }
}

/// Why the trust step rejected an artifact.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TrustRejection {
    #[error(
        "publisher `{publisher}` is trusted with {expected}, but this artifact is signed with {key_id} (public key {found}): if the publisher rotated to this key, trust it (`--trusted-publisher {publisher}={found}`, or add it to `trusted_publishers.{publisher}` in the trust store); otherwise do not install it"
    )]
    TrustedKeyMismatch { publisher: String, key_id: String, found: String, expected: String },
    #[error(
        "publisher `{publisher}` was pinned on first use to {expected}, but this artifact is signed with {key_id} (public key {found}): if the publisher rotated to this key, remove `tofu_publishers.{publisher}` from the trust store or trust the new key (`--trusted-publisher {publisher}={found}`); otherwise do not install it"
    )]
    TofuKeyMismatch { publisher: String, key_id: String, found: String, expected: String },
    #[error(
        "publisher `{publisher}` is not trusted: pass `--trusted-publisher {publisher}=<public key hex>` or a `--trust-store` that lists it (`verify` also takes `--allow-tofu`, to pin its key on first use)"
    )]
    Untrusted { publisher: String },
    #[error(
        "publisher {publisher:?} is not a plain identifier and looks like publisher `{looks_like}`: identifiers have no surrounding whitespace and only `a-z 0-9 . _ - :`; do not install it (no trust decision was made and nothing was pinned)"
    )]
    LookAlike { publisher: String, looks_like: String },
}

impl TrustRejection {
    pub fn reason(&self) -> Reason {
        match self {
            TrustRejection::TrustedKeyMismatch { .. } => Reason::TrustedKeyMismatch,
            TrustRejection::TofuKeyMismatch { .. } => Reason::TofuKeyMismatch,
            TrustRejection::Untrusted { .. } => Reason::UntrustedPublisher,
            TrustRejection::LookAlike { .. } => Reason::LookalikePublisher,
        }
    }

    /// A stable name for the reason, for JSON reports.
    pub fn kind(&self) -> &'static str {
        self.reason().as_str()
    }
}

impl TrustStore {
    /// Reads a trust store: a missing, empty or whitespace-only file is an
    /// empty store; anything else must be the consumer's exact schema.
    pub fn load(path: &Path) -> Result<TrustStore, TrustError> {
        match crate::fsutil::read_regular(path, MAX_STORE_BYTES, crate::fsutil::Links::Follow) {
            Ok(bytes) => TrustStore::from_json(&bytes)
                .map_err(|source| TrustError::Invalid { path: path.into(), source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TrustStore::default()),
            Err(source) => Err(TrustError::Read { path: path.into(), source }),
        }
    }

    pub fn from_json(bytes: &[u8]) -> Result<TrustStore, StoreError> {
        if bytes.trim_ascii().is_empty() {
            return Ok(TrustStore::default());
        }
        let mut store: TrustStore = serde_json::from_slice(bytes)?;
        store.normalize()?;
        Ok(store)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("trust store always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Lowercases keys, sorts and dedups them, and checks every publisher
    /// and key as the consumer does.
    pub fn normalize(&mut self) -> Result<(), StoreError> {
        let mut trusted = BTreeMap::<String, Vec<String>>::new();
        for (publisher, keys) in &self.trusted_publishers {
            let name = normalize_publisher(publisher)?;
            if keys.is_empty() {
                return Err(StoreError::EmptyKeyList(name));
            }
            let list = trusted.entry(name.clone()).or_default();
            for key in keys {
                list.push(normalize_key(&name, key)?);
            }
            list.sort();
            list.dedup();
        }
        let mut tofu = BTreeMap::<String, String>::new();
        for (publisher, key) in &self.tofu_publishers {
            let name = normalize_publisher(publisher)?;
            let key = normalize_key(&name, key)?;
            if tofu.get(&name).is_some_and(|existing| *existing != key) {
                return Err(StoreError::TwoPins(name));
            }
            tofu.insert(name, key);
        }
        self.trusted_publishers = trusted;
        self.tofu_publishers = tofu;
        Ok(())
    }

    /// Adds `key` to the allowlist of `publisher`.
    pub fn trust(&mut self, publisher: &str, key: &PublicKey) -> Result<(), StoreError> {
        let name = normalize_publisher(publisher)?;
        let keys = self.trusted_publishers.entry(name).or_default();
        keys.push(key.to_hex());
        keys.sort();
        keys.dedup();
        Ok(())
    }

    /// The consumer's decision for publisher `publisher` signing with `key`;
    /// a first-use pin is recorded in `self` (the caller saves it).
    pub fn decide(
        &mut self,
        publisher: &str,
        key: &PublicKey,
        allow_tofu: bool,
    ) -> Result<TrustDecision, TrustRejection> {
        // One normalisation everywhere: the store holds trimmed identifiers,
        // so a name that only matches after trimming (` acme`) is another
        // publisher posing as one, and is refused before any lookup or pin.
        if publisher != publisher.trim() || !is_identifier(publisher) {
            let looks_like: String = publisher
                .trim()
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect::<String>()
                .to_ascii_lowercase();
            return Err(TrustRejection::LookAlike { publisher: publisher.into(), looks_like });
        }
        let hex = key.to_hex();
        if let Some(keys) = self.trusted_publishers.get(publisher) {
            return if keys.contains(&hex) {
                Ok(TrustDecision::Allowlisted)
            } else {
                Err(TrustRejection::TrustedKeyMismatch {
                    publisher: publisher.into(),
                    key_id: key.key_id(),
                    found: hex,
                    expected: describe_keys(keys.iter()),
                })
            };
        }
        if let Some(pinned) = self.tofu_publishers.get(publisher) {
            return if *pinned == hex {
                Ok(TrustDecision::TofuPinned)
            } else {
                Err(TrustRejection::TofuKeyMismatch {
                    publisher: publisher.into(),
                    key_id: key.key_id(),
                    found: hex,
                    expected: describe_keys(std::iter::once(pinned)),
                })
            };
        }
        if allow_tofu {
            self.tofu_publishers.insert(publisher.to_owned(), hex);
            return Ok(TrustDecision::TofuNewlyPinned);
        }
        Err(TrustRejection::Untrusted { publisher: publisher.into() })
    }

    /// Saves atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> Result<(), TrustError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| TrustError::Write { path: path.into(), source })?;
        }
        write_atomic(path, &self.to_json(), Some(0o644), Existing::Replace)
            .map_err(|source| TrustError::Write { path: path.into(), source })
    }

    /// The store's exclusive lock (a `.lock` file beside it): whoever holds
    /// it may read, decide and write the store and the files beside it.
    pub fn lock(path: &Path) -> Result<FileLock, TrustError> {
        lock_beside(path)
    }

    /// Runs `update` on the store at `path` under an exclusive lock (a
    /// `.lock` file beside it) and saves the result if it changed, so
    /// processes pinning at the same time never lose each other's pins.
    pub fn update<T>(path: &Path, update: impl FnOnce(&mut TrustStore) -> T) -> Result<T, TrustError> {
        let _lock = TrustStore::lock(path)?;
        let mut store = TrustStore::load(path)?;
        let before = store.clone();
        let result = update(&mut store);
        if store != before {
            store.save(path)?;
        }
        Ok(result)
    }
}

/// `key ed25519:0123456789abcdef (79b5...9664)`, or a list of them.
fn describe_keys<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let described: Vec<String> = keys
        .map(|hex| match PublicKey::from_hex(hex) {
            Ok(key) => format!("{} ({hex})", key.key_id()),
            Err(_) => hex.clone(),
        })
        .collect();
    match described.as_slice() {
        [one] => format!("key {one}"),
        many => format!("keys {}", many.join(", ")),
    }
}

/// Parses `--trusted-publisher acme=<hex>` or `acme=<file>`, where the file
/// is the public key `keygen` wrote (`acme.pem.pub`, SPKI PEM) or holds
/// the 64 hex characters.
pub fn parse_trusted_publisher(arg: &str) -> Result<(String, PublicKey), TrustError> {
    let bad = || TrustError::BadTrustedPublisher(arg.to_owned());
    let (publisher, value) = arg.split_once('=').ok_or_else(bad)?;
    let publisher = normalize_publisher(publisher).map_err(|_| bad())?;
    if let Ok(key) = PublicKey::from_hex(value) {
        return Ok((publisher, key));
    }
    let path = Path::new(value);
    if !path.is_file() {
        return Err(bad());
    }
    let bytes =
        crate::fsutil::read_regular(path, crate::keys::MAX_KEY_FILE_BYTES, crate::fsutil::Links::Follow)
            .map_err(|source| TrustError::Read { path: path.to_owned(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let key = PublicKey::from_spki_pem(&text).or_else(|| PublicKey::from_hex(&text).ok());
    match key {
        Some(key) => Ok((publisher, key)),
        None if text.contains("PRIVATE KEY") => Err(TrustError::PrivateKeyFile(path.to_owned())),
        None => Err(TrustError::NotAPublicKeyFile(path.to_owned())),
    }
}

fn normalize_publisher(publisher: &str) -> Result<String, StoreError> {
    if !is_identifier(publisher) {
        return Err(StoreError::BadPublisher(publisher.to_owned()));
    }
    Ok(publisher.trim().to_owned())
}

fn normalize_key(publisher: &str, key: &str) -> Result<String, StoreError> {
    let key = key.trim().to_ascii_lowercase();
    match hex::decode(&key) {
        Ok(bytes) if bytes.len() == 32 => Ok(key),
        _ => Err(StoreError::BadKey(publisher.to_owned())),
    }
}

fn lock_beside(path: &Path) -> Result<FileLock, TrustError> {
    crate::fsutil::lock_beside(path).map_err(|(path, source)| TrustError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";

    fn key() -> PublicKey {
        PublicKey::from_hex(KEY).unwrap()
    }

    #[test]
    fn empty_and_whitespace_files_are_empty_stores() {
        assert_eq!(TrustStore::from_json(b"").unwrap(), TrustStore::default());
        assert_eq!(TrustStore::from_json(b" \n\t ").unwrap(), TrustStore::default());
        assert_eq!(TrustStore::from_json(b"{}").unwrap(), TrustStore::default());
    }

    #[test]
    fn invalid_stores_are_rejected_with_a_reason() {
        let unknown =
            TrustStore::from_json(br#"{"trusted_publishers":{},"extra":{}}"#).unwrap_err().to_string();
        assert!(unknown.contains("unknown field `extra`"), "{unknown}");
        let bad_key = TrustStore::from_json(br#"{"tofu_publishers":{"acme":"zz"}}"#).unwrap_err().to_string();
        assert!(bad_key.contains("not 64 hex"), "{bad_key}");
        let empty = TrustStore::from_json(br#"{"trusted_publishers":{"acme":[]}}"#).unwrap_err().to_string();
        assert!(empty.contains("empty key list"), "{empty}");
        let publisher =
            TrustStore::from_json(br#"{"tofu_publishers":{"Acme":"00"}}"#).unwrap_err().to_string();
        assert!(publisher.contains("not a publisher identifier"), "{publisher}");
    }

    #[test]
    fn decisions_follow_the_consumer() {
        let other = crate::signing::SecretKey::from_seed(&[9; 32]).public();
        let mut store = TrustStore::default();
        assert!(matches!(store.decide("acme", &key(), false), Err(TrustRejection::Untrusted { .. })));
        assert_eq!(store.decide("acme", &key(), true), Ok(TrustDecision::TofuNewlyPinned));
        assert_eq!(store.decide("acme", &key(), false), Ok(TrustDecision::TofuPinned));
        assert!(matches!(store.decide("acme", &other, true), Err(TrustRejection::TofuKeyMismatch { .. })));
        // An allowlist entry takes precedence over a pin.
        store.trust("acme", &other).unwrap();
        assert_eq!(store.decide("acme", &other, false), Ok(TrustDecision::Allowlisted));
        assert!(matches!(store.decide("acme", &key(), true), Err(TrustRejection::TrustedKeyMismatch { .. })));
    }

    #[test]
    fn reason_codes_serialise_to_their_stable_strings() {
        for reason in Reason::ALL {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }

    #[test]
    fn keys_are_normalized_and_round_trip() {
        let json = format!(r#"{{"trusted_publishers":{{"acme":[" {} ","{}"]}}}}"#, KEY.to_uppercase(), KEY);
        let store = TrustStore::from_json(json.as_bytes()).unwrap();
        assert_eq!(store.trusted_publishers["acme"], vec![KEY.to_owned()]);
        assert_eq!(TrustStore::from_json(&store.to_json()).unwrap(), store);
    }

    #[test]
    fn trusted_publisher_argument() {
        let (publisher, parsed) = parse_trusted_publisher(&format!("acme={KEY}")).unwrap();
        assert_eq!((publisher.as_str(), parsed), ("acme", key()));
        for bad in ["acme", "acme=12", "=00", "ACME=00"] {
            assert!(parse_trusted_publisher(bad).is_err(), "{bad}");
        }
    }
}
