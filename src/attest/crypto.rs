//! The signature and hash primitives Sigstore verification runs on, from
//! the RustCrypto crates this tool already builds (sha2, ed25519-dalek)
//! and p256/p384. `sigstore-crypto`'s own backend is aws-lc-rs, a C
//! library with its own toolchain needs on each release target; these are
//! pure Rust, verify only, and open nothing.

use sha2::Digest as _;
use sigstore_crypto::{CryptoProvider, Error, HashContext, Result, SigningScheme};
use sigstore_types::HashAlgorithm;

#[derive(Debug)]
struct RustCrypto;

static PROVIDER: RustCrypto = RustCrypto;

/// Makes [`RustCrypto`] the process's Sigstore backend (once; later calls,
/// and a backend installed by someone else first, leave it as it is).
pub(super) fn install() {
    let _ = sigstore_crypto::install_default_provider(&PROVIDER);
}

struct Hasher<D>(D);

impl<D: sha2::Digest + Send> HashContext for Hasher<D> {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

fn invalid(scheme: SigningScheme) -> Error {
    Error::Verification(format!("{} signature invalid", scheme.name()))
}

fn unsupported(scheme: SigningScheme) -> Error {
    Error::UnsupportedAlgorithm(format!(
        "{} signatures (Sigstore's and GitHub's roots use ECDSA P-256/P-384 and Ed25519)",
        scheme.name()
    ))
}

fn digest(algorithm: Option<HashAlgorithm>, data: &[u8]) -> Option<Vec<u8>> {
    match algorithm? {
        HashAlgorithm::Sha2256 => Some(sha2::Sha256::digest(data).to_vec()),
        HashAlgorithm::Sha2384 => Some(sha2::Sha384::digest(data).to_vec()),
        HashAlgorithm::Sha2512 => Some(sha2::Sha512::digest(data).to_vec()),
        _ => None,
    }
}

impl CryptoProvider for RustCrypto {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        Ok(match algorithm {
            HashAlgorithm::Sha2256 => Box::new(Hasher(sha2::Sha256::new())),
            HashAlgorithm::Sha2384 => Box::new(Hasher(sha2::Sha384::new())),
            HashAlgorithm::Sha2512 => Box::new(Hasher(sha2::Sha512::new())),
            other => return Err(Error::UnsupportedAlgorithm(format!("{other} digests"))),
        })
    }

    fn verify_raw(&self, scheme: SigningScheme, key: &[u8], data: &[u8], signature: &[u8]) -> Result<()> {
        if scheme == SigningScheme::Ed25519 {
            let key = <&[u8; 32]>::try_from(key).map_err(|_| invalid(scheme))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| invalid(scheme))?;
            let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| invalid(scheme))?;
            return key.verify_strict(data, &signature).map_err(|_| invalid(scheme));
        }
        let digest = digest(scheme.hash_algorithm(), data).ok_or_else(|| unsupported(scheme))?;
        self.verify_prehashed(scheme, key, &digest, signature)
    }

    fn verify_prehashed(
        &self,
        scheme: SigningScheme,
        key: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        // ECDSA signatures in bundles, SETs, checkpoints and certificates
        // are ASN.1 DER, as X.509 and Sigstore write them.
        let verified = match scheme {
            SigningScheme::EcdsaP256Sha256 | SigningScheme::EcdsaP256Sha384 => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| invalid(scheme))?;
                let signature = p256::ecdsa::Signature::from_der(signature).map_err(|_| invalid(scheme))?;
                key.verify_prehash(digest, &signature).is_ok()
            }
            SigningScheme::EcdsaP384Sha256 | SigningScheme::EcdsaP384Sha384 => {
                let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| invalid(scheme))?;
                let signature = p384::ecdsa::Signature::from_der(signature).map_err(|_| invalid(scheme))?;
                key.verify_prehash(digest, &signature).is_ok()
            }
            _ => return Err(unsupported(scheme)),
        };
        if verified { Ok(()) } else { Err(invalid(scheme)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    #[test]
    fn ecdsa_and_ed25519_verify_and_refuse_a_changed_message() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let signature: p256::ecdsa::DerSignature = key.sign(b"payload");
        let public = key.verifying_key().to_encoded_point(false);
        let scheme = SigningScheme::EcdsaP256Sha256;
        RustCrypto.verify_raw(scheme, public.as_bytes(), b"payload", signature.as_bytes()).unwrap();
        assert!(RustCrypto.verify_raw(scheme, public.as_bytes(), b"payloaD", signature.as_bytes()).is_err());

        let key = p384::ecdsa::SigningKey::from_slice(&[9; 48]).unwrap();
        let signature: p384::ecdsa::DerSignature = key.sign(b"payload");
        let public = key.verifying_key().to_encoded_point(false);
        let scheme = SigningScheme::EcdsaP384Sha384;
        RustCrypto.verify_raw(scheme, public.as_bytes(), b"payload", signature.as_bytes()).unwrap();
        assert!(RustCrypto.verify_raw(scheme, public.as_bytes(), b"other", signature.as_bytes()).is_err());

        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let signature = ed25519_dalek::Signer::sign(&key, b"payload");
        let scheme = SigningScheme::Ed25519;
        let public = key.verifying_key().to_bytes();
        RustCrypto.verify_raw(scheme, &public, b"payload", &signature.to_bytes()).unwrap();
        assert!(RustCrypto.verify_raw(scheme, &public, b"payloae", &signature.to_bytes()).is_err());
        assert!(matches!(
            RustCrypto.verify_raw(SigningScheme::RsaPssSha256, &public, b"x", b"y"),
            Err(Error::UnsupportedAlgorithm(_))
        ));
    }
}
