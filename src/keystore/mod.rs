//! Keys that live outside a file: in a PKCS#11 token (`pkcs11:` URIs) or
//! in a Vault or OpenBao transit engine (`hashivault://KEY`). Each signs
//! through [`crate::signing::Signer`]; the private key never reaches us.

mod pkcs11;
mod pkcs11_uri;
mod vault;

pub use pkcs11::{Pkcs11Error, Pkcs11Key};
pub use pkcs11_uri::Pkcs11Uri;
pub use vault::{VaultConfig, VaultError, VaultKey};

/// Whether `--key` names a key store rather than a file: a `pkcs11:` or
/// `hashivault://` URI. (`./pkcs11:x` names the file.)
pub fn is_key_uri(text: &str) -> bool {
    text.starts_with("pkcs11:") || text.starts_with("hashivault://")
}
