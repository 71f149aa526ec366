//! Ed25519 publisher keys (raw, hex, base64, PKCS#8 PEM/DER), `key_id`, and
//! the `signature.json` record: signing and verifying it as docs/format.md says.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const ALGORITHM: &str = "ed25519-sha256";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "unrecognized signing key format ({len} bytes): expected a PKCS#8 PEM or DER Ed25519 private key, or a 32-byte seed as raw bytes, 64 hex characters or base64"
    )]
    UnrecognizedFormat { len: usize },
    #[error(
        "the PKCS#8 key could not be decoded as an Ed25519 private key ({0}): generate one with `cargo palyra-skill keygen`"
    )]
    Pkcs8(String),
    #[error(
        "the key is encrypted and no passphrase was given: set `PALYRA_SKILL_KEY_PASSPHRASE`, or sign on a terminal to be asked for it"
    )]
    Encrypted,
    #[error(
        "wrong passphrase for the encrypted key: the passphrase does not decrypt it (check `PALYRA_SKILL_KEY_PASSPHRASE`, or the one typed)"
    )]
    WrongPassphrase,
    #[error(
        "an empty passphrase protects nothing: choose one, or write a plaintext key with `--no-passphrase`"
    )]
    EmptyPassphrase,
    #[error("OpenSSH private keys are not supported: use a PKCS#8 key (`cargo palyra-skill keygen`)")]
    OpenSsh,
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error(
        "`{0}` is not an Ed25519 public key: expected 64 hex characters (32 bytes) of a valid curve point"
    )]
    PublicKey(String),
    #[error(
        "this is a public key ({0}), which cannot sign: sign with the private key file (the one `keygen` wrote without `.pub`)"
    )]
    PublicKeyGiven(&'static str),
    #[error(
        "this is not an Ed25519 key ({0}): Palyra signatures are Ed25519; generate a key with `cargo palyra-skill keygen`"
    )]
    OtherAlgorithm(&'static str),
}

/// A publisher's private key. Its `Debug` shows only the `key_id`; the
/// secret bytes are zeroized on drop and never formatted.
/// A PKCS#8 error in words: the `pkcs8` crate names the OID it *expected*
/// (Ed25519's own, 1.3.101.112) when a key is of another algorithm.
fn pkcs8_error(error: ed25519_dalek::pkcs8::Error) -> KeyError {
    let text = error.to_string();
    if text.contains("OID") || text.contains("algorithm") {
        KeyError::OtherAlgorithm("a PKCS#8 key of another algorithm, e.g. RSA or ECDSA")
    } else {
        KeyError::Pkcs8(text)
    }
}

pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().key_id())
    }
}

impl SecretKey {
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Reads a key in any accepted encoding. Exactly 32 bytes are a raw seed
    /// (as the consumer's tools decide), then PEM, DER, hex and base64.
    pub fn decode(input: &[u8]) -> Result<SecretKey, KeyError> {
        if let Ok(seed) = <[u8; 32]>::try_from(input) {
            return Ok(SecretKey::from_seed(&seed));
        }
        let trimmed = input.trim_ascii();
        if let Ok(seed) = <[u8; 32]>::try_from(trimmed) {
            return Ok(SecretKey::from_seed(&seed));
        }
        if trimmed.starts_with(b"ssh-") || trimmed.starts_with(b"ecdsa-sha2-") {
            return Err(KeyError::PublicKeyGiven("an OpenSSH public key"));
        }
        if trimmed.starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(trimmed)
                .map_err(|_| KeyError::UnrecognizedFormat { len: input.len() })?;
            if text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY") {
                return Err(KeyError::Encrypted);
            }
            if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY") {
                return Err(KeyError::OpenSsh);
            }
            if text.starts_with("-----BEGIN PUBLIC KEY") {
                return Err(KeyError::PublicKeyGiven("an SPKI PEM `PUBLIC KEY`"));
            }
            if text.starts_with("-----BEGIN RSA ") {
                return Err(KeyError::OtherAlgorithm("an RSA key"));
            }
            if text.starts_with("-----BEGIN EC ") {
                return Err(KeyError::OtherAlgorithm("an elliptic-curve (ECDSA) key"));
            }
            return SigningKey::from_pkcs8_pem(text).map(SecretKey).map_err(pkcs8_error);
        }
        if let Ok(text) = std::str::from_utf8(trimmed) {
            let decoded =
                Zeroizing::new(hex::decode(text).or_else(|_| BASE64.decode(text)).unwrap_or_default());
            if let Ok(seed) = <[u8; 32]>::try_from(decoded.as_slice()) {
                return Ok(SecretKey::from_seed(&seed));
            }
        }
        // DER starts with a SEQUENCE tag (0x30, also ASCII `0`, hence after the text forms).
        if input.first() == Some(&0x30) {
            if VerifyingKey::from_public_key_der(input).is_ok() {
                return Err(KeyError::PublicKeyGiven("an SPKI DER public key"));
            }
            return SigningKey::from_pkcs8_der(input).map(SecretKey).map_err(pkcs8_error);
        }
        Err(KeyError::UnrecognizedFormat { len: input.len() })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// PKCS#8 v1 PEM (RFC 8410, the seed alone), what `openssl genpkey
    /// -algorithm ed25519` writes and what openssl 3 and Python's
    /// cryptography read. ed25519-dalek's own encoding is v2, with the
    /// public key inside, which neither reads; `decode` takes both.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let seed = self.seed();
        let pair = ed25519_dalek::pkcs8::KeypairBytes { secret_key: *seed, public_key: None };
        let pem = pair.to_pkcs8_pem(Default::default()).expect("an Ed25519 seed always encodes as PKCS#8");
        Zeroizing::new(pem.as_str().to_owned())
    }

    /// The 32-byte seed, for callers that must compare or re-encode it.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The signature record over `payload_sha256` (its 64 ASCII hex bytes).
    pub fn sign_payload(
        &self,
        publisher: &str,
        payload_sha256: &str,
        signed_at_unix_ms: i64,
    ) -> SignatureRecord {
        let public = self.public();
        SignatureRecord {
            algorithm: ALGORITHM.to_owned(),
            publisher: publisher.to_owned(),
            key_id: public.key_id(),
            public_key_base64: BASE64.encode(public.bytes()),
            payload_sha256: payload_sha256.to_owned(),
            signature_base64: BASE64.encode(self.sign(payload_sha256.as_bytes())),
            signed_at_unix_ms,
        }
    }
}

/// A publisher's key wherever it lives: in memory ([`SecretKey`]), in a
/// PKCS#11 token or in a Vault transit engine ([`crate::keystore`]). It
/// signs the consumer's messages; one that lives elsewhere may fail to.
pub trait Signer {
    fn public(&self) -> PublicKey;

    /// An Ed25519 signature over `message`.
    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignError>;

    /// The signature record over `payload_sha256` (its 64 ASCII hex
    /// bytes), checked against the public key before it is returned, so a
    /// token or server that signs with another key is caught here.
    fn sign_record(
        &self,
        publisher: &str,
        payload_sha256: &str,
        signed_at_unix_ms: i64,
    ) -> Result<SignatureRecord, SignError> {
        let public = self.public();
        let signature = self.try_sign(payload_sha256.as_bytes())?;
        let record = SignatureRecord {
            algorithm: ALGORITHM.to_owned(),
            publisher: publisher.to_owned(),
            key_id: public.key_id(),
            public_key_base64: BASE64.encode(public.bytes()),
            payload_sha256: payload_sha256.to_owned(),
            signature_base64: BASE64.encode(signature),
            signed_at_unix_ms,
        };
        record.verify().map_err(|_| SignError::Unverified { key_id: public.key_id() })?;
        Ok(record)
    }
}

impl Signer for SecretKey {
    fn public(&self) -> PublicKey {
        SecretKey::public(self)
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        Ok(self.sign(message))
    }
}

/// Signing failed: the token or key server refused or could not be
/// reached, or what it returned does not verify.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Pkcs11(#[from] crate::keystore::Pkcs11Error),
    #[error(transparent)]
    Vault(#[from] crate::keystore::VaultError),
    #[error(
        "the signature made with {key_id} does not verify under that public key: the key store signed with another key or returned a damaged signature"
    )]
    Unverified { key_id: String },
}

/// A publisher's Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<PublicKey> {
        VerifyingKey::from_bytes(bytes).ok().map(PublicKey)
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), what `openssl pkey -pubin` reads.
    pub fn to_spki_pem(&self) -> String {
        self.0.to_public_key_pem(Default::default()).expect("an Ed25519 public key always encodes as SPKI")
    }

    /// An SPKI PEM (`-----BEGIN PUBLIC KEY-----`) holding an Ed25519 key.
    pub fn from_spki_pem(text: &str) -> Option<PublicKey> {
        VerifyingKey::from_public_key_pem(text.trim()).ok().map(PublicKey)
    }

    /// 64 hex characters, any case, surrounding whitespace ignored.
    pub fn from_hex(text: &str) -> Result<PublicKey, KeyError> {
        let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
        bytes
            .and_then(|b| PublicKey::from_bytes(&b))
            .ok_or_else(|| KeyError::PublicKey(text.trim().to_owned()))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes())
    }

    pub fn key_id(&self) -> String {
        key_id(self.bytes())
    }
}

/// `ed25519:` + hex of the first 8 bytes of SHA-256 of the raw public key.
pub fn key_id(public_key: &[u8; 32]) -> String {
    format!("ed25519:{}", hex::encode(&Sha256::digest(public_key)[..8]))
}

/// `signature.json`, exactly the consumer's seven fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    pub algorithm: String,
    pub publisher: String,
    pub key_id: String,
    pub public_key_base64: String,
    pub payload_sha256: String,
    pub signature_base64: String,
    pub signed_at_unix_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("`signature.json` is not a valid signature record: {0}")]
    Malformed(String),
    #[error("unsupported signature algorithm `{0}`: the consumer accepts only `ed25519-sha256`")]
    Algorithm(String),
    #[error("`public_key_base64` is not standard base64 of a 32-byte key")]
    PublicKeyEncoding,
    #[error("`public_key_base64` is not a valid Ed25519 curve point")]
    PublicKeyPoint,
    #[error("`key_id` is `{declared}` but the embedded public key's id is `{actual}`")]
    KeyIdMismatch { declared: String, actual: String },
    #[error("`signature_base64` is not standard base64 of a 64-byte signature")]
    SignatureEncoding,
    #[error(
        "the Ed25519 signature does not verify for key {key_id}: the artifact was changed after signing, or signed with another key"
    )]
    BadSignature { key_id: String },
}

impl SignatureRecord {
    pub fn from_json(bytes: &[u8]) -> Result<SignatureRecord, SignatureError> {
        serde_json::from_slice(bytes).map_err(|e| SignatureError::Malformed(e.to_string()))
    }

    /// Pretty JSON with two-space indentation, as the consumer's packer writes it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("signature record always serializes")
    }

    /// The embedded public key, checked against `algorithm` and `key_id`.
    pub fn public_key(&self) -> Result<PublicKey, SignatureError> {
        if self.algorithm != ALGORITHM {
            return Err(SignatureError::Algorithm(self.algorithm.clone()));
        }
        let raw = BASE64.decode(&self.public_key_base64).map_err(|_| SignatureError::PublicKeyEncoding)?;
        let raw = <[u8; 32]>::try_from(raw).map_err(|_| SignatureError::PublicKeyEncoding)?;
        let key = PublicKey::from_bytes(&raw).ok_or(SignatureError::PublicKeyPoint)?;
        if self.key_id != key.key_id() {
            return Err(SignatureError::KeyIdMismatch {
                declared: self.key_id.clone(),
                actual: key.key_id(),
            });
        }
        Ok(key)
    }

    /// Verification step 8 (without the publisher binding): the signature
    /// over the hex `payload_sha256` verifies under the embedded key.
    pub fn verify(&self) -> Result<PublicKey, SignatureError> {
        let key = self.public_key()?;
        let raw = BASE64.decode(&self.signature_base64).map_err(|_| SignatureError::SignatureEncoding)?;
        let raw = <[u8; 64]>::try_from(raw).map_err(|_| SignatureError::SignatureEncoding)?;
        key.0
            .verify(self.payload_sha256.as_bytes(), &Signature::from_bytes(&raw))
            .map_err(|_| SignatureError::BadSignature { key_id: key.key_id() })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_SEED_HEX: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

    fn test_key() -> SecretKey {
        SecretKey::decode(TEST_SEED_HEX.as_bytes()).unwrap()
    }

    #[test]
    fn key_id_of_the_vector_key() {
        let key = test_key();
        assert_eq!(key.public().to_hex(), "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664");
        assert_eq!(key.public().key_id(), "ed25519:65b60673d6ed884b");
    }

    #[test]
    fn every_encoding_decodes_to_the_same_key() {
        let key = test_key();
        let seed = *key.seed();
        let pem = key.to_pkcs8_pem();
        let der = ed25519_dalek::SigningKey::from_bytes(&seed).to_pkcs8_der().unwrap();
        let inputs: Vec<Vec<u8>> = vec![
            seed.to_vec(),
            format!("  {TEST_SEED_HEX}\n").into_bytes(),
            TEST_SEED_HEX.to_uppercase().into_bytes(),
            format!("{}\n", BASE64.encode(seed)).into_bytes(),
            pem.as_bytes().to_vec(),
            der.as_bytes().to_vec(),
        ];
        for input in inputs {
            assert_eq!(*SecretKey::decode(&input).unwrap().seed(), seed);
        }
        // We write v1 (48 bytes of DER: the seed alone) and read v2 too.
        let v2 = ed25519_dalek::SigningKey::from_bytes(&seed).to_pkcs8_pem(Default::default()).unwrap();
        assert!(v2.len() > pem.len(), "v2 carries the public key as well");
        assert_eq!(*SecretKey::decode(v2.as_bytes()).unwrap().seed(), seed);
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(BASE64.decode(body).unwrap().len(), 48);
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        for input in
            [&b"short"[..], &[0u8; 31], b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
        {
            let message = SecretKey::decode(input).unwrap_err().to_string();
            assert!(!message.contains("AAAA"), "{message}");
        }
        assert!(matches!(
            SecretKey::decode(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n").unwrap_err(),
            KeyError::Encrypted
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let debug = format!("{:?}", test_key());
        assert_eq!(debug, "SecretKey(ed25519:65b60673d6ed884b)");
    }

    #[test]
    fn sign_then_verify_and_detect_each_defect() {
        let key = test_key();
        let record = key.sign_payload("acme", &"ab".repeat(32), 7);
        assert_eq!(record.verify().unwrap(), key.public());

        let mut bad = record.clone();
        bad.payload_sha256 = "cd".repeat(32);
        assert!(matches!(bad.verify(), Err(SignatureError::BadSignature { .. })));
        let mut bad = record.clone();
        bad.algorithm = "rsa".into();
        assert!(matches!(bad.verify(), Err(SignatureError::Algorithm(_))));
        let mut bad = record.clone();
        bad.key_id = "ed25519:0000000000000000".into();
        assert!(matches!(bad.verify(), Err(SignatureError::KeyIdMismatch { .. })));
        let mut bad = record.clone();
        bad.signature_base64 = "AAAA".into();
        assert_eq!(bad.verify(), Err(SignatureError::SignatureEncoding));
        let mut bad = record;
        bad.public_key_base64 = "not base64!".into();
        assert_eq!(bad.verify(), Err(SignatureError::PublicKeyEncoding));
    }

    #[test]
    fn signature_json_rejects_unknown_fields() {
        let json = br#"{"algorithm":"ed25519-sha256","publisher":"a","key_id":"k","public_key_base64":"","payload_sha256":"","signature_base64":"","signed_at_unix_ms":0,"extra":1}"#;
        assert!(matches!(SignatureRecord::from_json(json), Err(SignatureError::Malformed(_))));
    }
}
