//! `--key URI`: keys in a PKCS#11 token or a Vault transit engine. The
//! library opens them; this file brings what unlocks them (a PIN, a Vault
//! token), which the binary took out of its environment at start-up.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use cargo_palyra_skill::keystore::{Pkcs11Key, Pkcs11Uri, VaultConfig, VaultError, VaultKey};
use cargo_palyra_skill::signing::Signer;
use zeroize::Zeroizing;

/// The variable that holds a token's user PIN.
pub const PIN_ENV: &str = crate::secrets::UNLOCK_VARS[1];

/// Opens the key a `pkcs11:` or `hashivault://` URI names; the second
/// value describes it for status lines (never a PIN or token).
pub fn open(uri: &str) -> Result<(Box<dyn Signer>, String)> {
    if uri.starts_with("pkcs11:") {
        let parsed = Pkcs11Uri::parse(uri)?;
        let pin = pin_for(&parsed)?;
        let key = Pkcs11Key::open(&parsed, pin.as_deref().map(String::as_str))
            .with_context(|| format!("could not open the PKCS#11 key {}", parsed.describe()))?;
        return Ok((Box::new(key), format!("PKCS#11 {}", parsed.describe())));
    }
    if uri.starts_with("hashivault://") {
        let key = VaultKey::open(uri, vault_config()?).with_context(|| {
            format!("could not use the Vault key `{}`", cargo_palyra_skill::text::escape(uri))
        })?;
        let source = key.describe();
        return Ok((Box::new(key), source));
    }
    anyhow::bail!(
        "`{}` is not a key URI we read: use `pkcs11:…` or `hashivault://KEY`",
        cargo_palyra_skill::text::escape(uri)
    )
}

/// The PIN: the URI's `pin-value` or `pin-source`, else
/// `PALYRA_SKILL_PKCS11_PIN`, else asked on a terminal, else none (the
/// library then says how to give one).
pub fn pin_for(uri: &Pkcs11Uri) -> Result<Option<Zeroizing<String>>> {
    if let Some(pin) = uri.pin()? {
        return Ok(Some(pin));
    }
    if let Some(pin) = crate::secrets::get(PIN_ENV) {
        let pin = std::str::from_utf8(pin).with_context(|| format!("`${PIN_ENV}` is not UTF-8 text"))?;
        return Ok(Some(Zeroizing::new(pin.trim_end_matches(['\r', '\n']).to_owned())));
    }
    if std::io::stdin().is_terminal() {
        let pin = rpassword::prompt_password(format!("PIN for {}: ", uri.describe()))
            .context("could not read the PIN from the terminal")?;
        return Ok(Some(Zeroizing::new(pin)));
    }
    Ok(None)
}

/// The Vault server and token (taken out of the environment at start-up)
/// and the settings that are not secret, read from the environment here.
fn vault_config() -> Result<VaultConfig> {
    let text = |name: &str| -> Result<Option<String>> {
        crate::secrets::get(name)
            .map(|v| String::from_utf8(v.to_vec()).with_context(|| format!("`${name}` is not UTF-8 text")))
            .transpose()
    };
    let address = text("VAULT_ADDR")?.ok_or(VaultError::NoAddress)?;
    let token = Zeroizing::new(text("VAULT_TOKEN")?.ok_or(VaultError::NoToken)?.trim().to_owned());
    let timeout = match std::env::var("VAULT_CLIENT_TIMEOUT") {
        Ok(value) => {
            let seconds = value.trim().trim_end_matches('s');
            let seconds: u64 = seconds.parse().with_context(|| {
                format!("`VAULT_CLIENT_TIMEOUT` is `{value}`: give the time-out in seconds, e.g. `30`")
            })?;
            Duration::from_secs(seconds.max(1))
        }
        Err(_) => Duration::from_secs(30),
    };
    Ok(VaultConfig {
        address: address.trim().to_owned(),
        token,
        ca_cert: std::env::var_os("VAULT_CACERT").filter(|v| !v.is_empty()).map(PathBuf::from),
        timeout,
        mount: std::env::var("TRANSIT_SECRET_ENGINE_PATH")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "transit".to_owned()),
    })
}
