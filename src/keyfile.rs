//! Passphrase-encrypted key files: PKCS#8 `ENCRYPTED PRIVATE KEY` PEM
//! (PBES2, scrypt and AES-256-CBC), what `openssl pkcs8 -topk8 -scrypt`
//! writes and `openssl pkey` and Python's cryptography read back.

use ed25519_dalek::pkcs8::{EncodePrivateKey as _, KeypairBytes};
use pkcs8::pkcs5::{pbes2, scrypt};
use pkcs8::{EncryptedPrivateKeyInfo, LineEnding, PrivateKeyInfo, SecretDocument};
use zeroize::Zeroizing;

use crate::signing::{KeyError, SecretKey};

/// The PEM label of an encrypted PKCS#8 key.
pub const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// scrypt N = 2^14, r = 8, p = 1: openssl's own choice for `-scrypt`, and
/// the largest N whose 16 MiB stays within the 32 MiB openssl allows by
/// default (N = 2^15 needs a little more and openssl refuses to read it).
const SCRYPT_LOG_N: u8 = 14;

/// Whether `input` is an encrypted PKCS#8 PEM (surrounding whitespace ignored).
pub fn is_encrypted(input: &[u8]) -> bool {
    input.trim_ascii_start().starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// The key as encrypted PKCS#8 PEM under `passphrase`, with a fresh salt and IV.
pub fn encrypt(key: &SecretKey, passphrase: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    if passphrase.is_empty() {
        return Err(KeyError::EmptyPassphrase);
    }
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| KeyError::Random(e.to_string()))?;
    getrandom::fill(&mut iv).map_err(|e| KeyError::Random(e.to_string()))?;
    let cost = scrypt::Params::new(SCRYPT_LOG_N, 8, 1, 32).expect("fixed scrypt parameters are valid");
    let params =
        pbes2::Parameters::scrypt_aes256cbc(cost, &salt, &iv).expect("fixed PBES2 parameters are valid");
    let plain = KeypairBytes { secret_key: *key.seed(), public_key: None }
        .to_pkcs8_der()
        .expect("an Ed25519 seed always encodes as PKCS#8");
    let info = PrivateKeyInfo::try_from(plain.as_bytes()).expect("PKCS#8 we encoded parses back");
    let encrypted =
        info.encrypt_with_params(params, passphrase).map_err(|e| KeyError::Pkcs8(e.to_string()))?;
    encrypted.to_pem(ENCRYPTED_LABEL, LineEnding::LF).map_err(|e| KeyError::Pkcs8(e.to_string()))
}

/// Reads an encrypted PKCS#8 PEM with `passphrase`. A wrong passphrase is
/// [`KeyError::WrongPassphrase`]; the error never holds key material.
pub fn decrypt(input: &[u8], passphrase: &[u8]) -> Result<SecretKey, KeyError> {
    let text = std::str::from_utf8(input.trim_ascii())
        .map_err(|_| KeyError::UnrecognizedFormat { len: input.len() })?;
    let (label, document) = SecretDocument::from_pem(text).map_err(|e| KeyError::Pkcs8(e.to_string()))?;
    if label != ENCRYPTED_LABEL {
        return Err(KeyError::Pkcs8(format!("expected an `{ENCRYPTED_LABEL}` PEM, found `{label}`")));
    }
    let info =
        EncryptedPrivateKeyInfo::try_from(document.as_bytes()).map_err(|e| KeyError::Pkcs8(e.to_string()))?;
    // A wrong passphrase shows up as bad padding, or, one time in 256, as
    // padding that happens to look right over bytes that are not PKCS#8.
    let plain = info.decrypt(passphrase).map_err(|_| KeyError::WrongPassphrase)?;
    match PrivateKeyInfo::try_from(plain.as_bytes()) {
        Ok(_) => SecretKey::decode(plain.as_bytes()),
        Err(_) => Err(KeyError::WrongPassphrase),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_a_wrong_passphrase() {
        let key = SecretKey::from_seed(&[7; 32]);
        let pem = encrypt(&key, b"correct horse").unwrap();
        assert!(is_encrypted(pem.as_bytes()));
        assert!(!pem.contains(&hex::encode([7u8; 32])));
        assert_eq!(*decrypt(pem.as_bytes(), b"correct horse").unwrap().seed(), [7; 32]);
        assert!(matches!(decrypt(pem.as_bytes(), b"wrong").unwrap_err(), KeyError::WrongPassphrase));
        // A fresh salt each time: the same key encrypts differently.
        assert_ne!(*encrypt(&key, b"correct horse").unwrap(), *pem);
        assert!(matches!(encrypt(&key, b"").unwrap_err(), KeyError::EmptyPassphrase));
    }
}
