//! The passphrase of an encrypted key file: from `PALYRA_SKILL_KEY_PASSPHRASE`
//! (taken out of the environment at start-up, like the keys), else asked
//! on the terminal without echo, never from an argument.

use std::io::IsTerminal as _;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

/// The variable that holds a key file's passphrase, for scripts.
pub const PASSPHRASE_ENV: &str = crate::secrets::UNLOCK_VARS[0];

/// Whether we may ask: standard input is a terminal (so a person is there;
/// the question itself goes to and comes from the controlling terminal).
fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

fn from_environment() -> Option<Zeroizing<Vec<u8>>> {
    crate::secrets::get(PASSPHRASE_ENV).map(|value| Zeroizing::new(value.to_vec()))
}

fn ask(prompt: &str) -> Result<Zeroizing<Vec<u8>>> {
    let answer =
        rpassword::prompt_password(prompt).context("could not read the passphrase from the terminal")?;
    Ok(Zeroizing::new(answer.into_bytes()))
}

/// The passphrase to open `what` (an encrypted key): the variable, else
/// one question on a terminal, else an error that says how to give it.
pub fn to_open(what: &str) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(passphrase) = from_environment() {
        return Ok(passphrase);
    }
    if !interactive() {
        bail!(
            "{what} is encrypted and there is no terminal to ask for its passphrase: set `${PASSPHRASE_ENV}`"
        );
    }
    ask(&format!("Passphrase for {what}: "))
}

/// The passphrase to encrypt a new key with: the variable; else, on a
/// terminal, asked twice (both must match); else `None` (no one to ask:
/// the key is written in plaintext, as `--no-passphrase` writes it).
pub fn for_new_key() -> Result<Option<Zeroizing<Vec<u8>>>> {
    if let Some(passphrase) = from_environment() {
        return Ok(Some(passphrase));
    }
    if !interactive() {
        return Ok(None);
    }
    let first = ask("Passphrase for the new key (empty for none is not allowed; see `--no-passphrase`): ")?;
    if first.is_empty() {
        bail!(
            "an empty passphrase protects nothing: type one, or pass `--no-passphrase` for a plaintext key"
        );
    }
    let second = ask("The same passphrase again: ")?;
    if first != second {
        bail!("the two passphrases differ: run `keygen` again and type the same one twice");
    }
    Ok(Some(first))
}
