//! Keys given in the environment are read once, at start-up, and removed
//! from the process environment before any thread or child process exists:
//! cargo, rustc, build scripts, proc macros, rustup and git inherit none of
//! them (SECURITY.md, "The signing key never reaches a child process").

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::sync::OnceLock;

use zeroize::Zeroizing;

/// The variables that hold keys whether or not a flag names them: the
/// signing key's default and the registry key the Action passes.
pub const KEY_VARS: [&str; 2] = ["PALYRA_SKILL_SIGNING_KEY", "PALYRA_SKILL_REGISTRY_KEY"];

/// Variables that unlock a key rather than hold one, taken the same way:
/// an encrypted key file's passphrase, a PKCS#11 token's PIN, and the Vault
/// (or OpenBao) server and token of `hashivault://` keys. `VAULT_ADDR`
/// names no secret, but it goes with the token: a child that sees neither
/// cannot tell that a key server exists.
pub const UNLOCK_VARS: [&str; 4] =
    ["PALYRA_SKILL_KEY_PASSPHRASE", "PALYRA_SKILL_PKCS11_PIN", "VAULT_TOKEN", "VAULT_ADDR"];

/// How every PEM private key (PKCS#8, OpenSSH, RSA, EC) ends its first line.
const PEM_MARK: &[u8] = b"PRIVATE KEY-----";

static TAKEN: OnceLock<BTreeMap<OsString, Zeroizing<Vec<u8>>>> = OnceLock::new();

/// Takes every key variable out of the environment: [`KEY_VARS`], [`UNLOCK_VARS`], each
/// variable a `--key-env VAR` in `args` names, and any variable that holds
/// a PEM private key. Call once, first thing in `main`.
pub fn take_from_environment(args: &[OsString]) {
    let mut names: Vec<OsString> = KEY_VARS.iter().chain(&UNLOCK_VARS).map(OsString::from).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--key-env" {
            names.extend(args.next().cloned());
        } else if let Some(name) = arg.to_str().and_then(|a| a.strip_prefix("--key-env=")) {
            names.push(name.into());
        }
    }
    for (name, value) in std::env::vars_os() {
        if value.as_encoded_bytes().windows(PEM_MARK.len()).any(|w| w == PEM_MARK) {
            names.push(name);
        }
    }
    let mut taken = BTreeMap::new();
    for name in names {
        if name.is_empty() || name.as_encoded_bytes().contains(&b'=') {
            continue;
        }
        if let Some(value) = std::env::var_os(&name) {
            taken.insert(name.clone(), Zeroizing::new(value.into_encoded_bytes()));
            // SAFETY: called at the top of `main`, before the program starts
            // any thread, so nothing reads the environment concurrently.
            #[allow(unsafe_code)]
            unsafe {
                std::env::remove_var(&name)
            };
        }
    }
    let _ = TAKEN.set(taken);
    // Our /proc/<pid>/environ still shows the environment we started with,
    // and /proc/<pid>/mem our memory (where a key from a file or stdin
    // lives too): not dumpable, neither is readable by other processes of
    // this user, such as a build script. Root can still read both.
    #[cfg(target_os = "linux")]
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// The value a key variable had at start-up (it is no longer in the environment).
pub fn get(name: &str) -> Option<&'static [u8]> {
    TAKEN.get()?.get(OsStr::new(name)).map(|v| v.as_slice()).filter(|v| !v.is_empty())
}
