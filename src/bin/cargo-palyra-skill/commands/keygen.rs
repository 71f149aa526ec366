//! `keygen`: a new Ed25519 publisher key, PKCS#8 PEM (0600, encrypted with
//! a passphrase when one is given) plus `FILE.pub` (SPKI PEM).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
use cargo_palyra_skill::keyfile;
use cargo_palyra_skill::keystore::{Pkcs11Key, Pkcs11Uri};
use cargo_palyra_skill::signing::SecretKey;
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::shell::{MessageFormat, OutputArgs, Shell};

/// Generate an Ed25519 signing key for publishing skills.
///
/// Writes the private key as PKCS#8 PEM (mode 0600; the RFC 8410 form that
/// `openssl genpkey -algorithm ed25519` writes and openssl and Python's
/// cryptography read) and the public key as SPKI PEM (`PUBLIC KEY`, which
/// `openssl pkey -pubin` reads, and which can never load as a private key)
/// to `FILE.pub`. The hex that `--trusted-publisher` and trust stores take
/// is printed. The private key is never printed.
///
/// On a terminal the private key is encrypted with a passphrase, asked
/// twice (PBES2: scrypt and AES-256-CBC, which `openssl pkey` reads);
/// with `PALYRA_SKILL_KEY_PASSPHRASE` set, with that one, without asking.
/// `--no-passphrase`, or no terminal and no variable, writes it in
/// plaintext (for a CI secret).
///
/// Without `--out` the key goes to your configuration directory
/// (`~/.config/palyra-skill/keys/<publisher>.pem`), never the current
/// directory. A private key inside a git work tree is refused unless git
/// ignores its path there, so `git add -A` cannot commit it.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill keygen --publisher acme\n",
    "  cargo palyra-skill keygen --out ~/.config/palyra/acme.pem\n",
    "  PALYRA_SKILL_KEY_PASSPHRASE=\"$(pass show acme)\" cargo palyra-skill keygen --publisher acme\n",
    "  cargo palyra-skill keygen --out ci-secret.pem --no-passphrase\n",
    "  cargo palyra-skill keygen --out acme.pub --pkcs11 \"pkcs11:token=release;object=acme?module-path=$HSM_MODULE\"\n",
    "  cargo palyra-skill keygen --out acme.pem --publisher acme --message-format json\n\n",
    exit_status!("the key pair was written", "could not write it (a key exists there without `--force`, an unignored path in a git work tree, I/O error)")
))]
pub struct Opts {
    /// Where to write the private key [default: `keys/<publisher>.pem` in the configuration directory]
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace existing key files
    #[arg(long)]
    force: bool,
    /// Write the private key in plaintext, even on a terminal or with `PALYRA_SKILL_KEY_PASSPHRASE` set
    #[arg(long)]
    no_passphrase: bool,
    /// Generate the pair inside the PKCS#11 token this URI names (its label
    /// from `object=`); `--out` then names the public key file (SPKI PEM) to write
    #[arg(long, value_name = "URI", conflicts_with_all = ["no_passphrase"])]
    pkcs11: Option<String>,
    /// Publisher name: the default file name, and the trust-store hint
    #[arg(long, value_name = "PUBLISHER")]
    publisher: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_path: Option<PathBuf>,
    /// The key store's URI, for a key generated inside a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key_path: Option<PathBuf>,
    key_id: String,
    public_key_hex: String,
    /// Whether the private key file is encrypted with a passphrase.
    encrypted: bool,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
        if let Some(uri) = &self.pkcs11 {
            return self.in_token(uri, shell);
        }
        let out = match &self.out {
            Some(out) => out.clone(),
            None => default_path(self.publisher.as_deref())?,
        };
        refuse_unignored_in_work_tree(&out)?;
        let mut public_path = out.clone().into_os_string();
        public_path.push(".pub");
        let public_path = PathBuf::from(public_path);
        let existing = if self.force { Existing::Replace } else { Existing::Refuse };
        if !self.force {
            for path in [&out, &public_path] {
                if path.exists() {
                    bail!(
                        "`{}` already exists: choose another `--out` or pass `--force` to replace it",
                        path.display()
                    );
                }
            }
        }

        // A key's folder may not exist yet (`~/.config/palyra/`): create it,
        // private to this user when it is new.
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            cargo_palyra_skill::fsutil::create_private_dir(dir)
                .with_context(|| format!("could not create `{}`", dir.display()))?;
        }
        let passphrase = if self.no_passphrase { None } else { crate::passphrase::for_new_key()? };
        let key = SecretKey::generate()?;
        let public = key.public();
        let pem = match &passphrase {
            Some(passphrase) => keyfile::encrypt(&key, passphrase)?,
            None => key.to_pkcs8_pem(),
        };
        write_atomic(&out, pem.as_bytes(), Some(0o600), existing)
            .with_context(|| format!("could not write private key `{}`", out.display()))?;
        // SPKI PEM, never hex: 64 hex characters would also load as a
        // private seed, and sign with a key anyone can derive.
        write_atomic(&public_path, public.to_spki_pem().as_bytes(), Some(0o644), existing)
            .with_context(|| format!("could not write public key `{}`", public_path.display()))?;

        shell.status(
            "Generated",
            format_args!(
                "{} in `{}`{} (public key in `{}`)",
                public.key_id(),
                out.display(),
                if passphrase.is_some() { ", encrypted" } else { "" },
                public_path.display()
            ),
        );
        let report = Report {
            private_key_path: Some(out.clone()),
            private_key_uri: None,
            public_key_path: Some(public_path),
            key_id: public.key_id(),
            public_key_hex: public.to_hex(),
            encrypted: passphrase.is_some(),
        };
        self.present(&report, &format!("`{}`", out.display()), shell)?;
        Ok(Outcome::Success)
    }

    /// `--pkcs11 URI`: the pair is made inside the token; only the public
    /// key comes out (to `--out`, when given).
    fn in_token(&self, uri: &str, shell: &mut Shell) -> Result<Outcome> {
        let parsed = Pkcs11Uri::parse(uri)?;
        if let Some(out) = &self.out
            && !self.force
            && out.exists()
        {
            bail!(
                "`{}` already exists: choose another `--out` or pass `--force` to replace it",
                out.display()
            );
        }
        let pin = crate::keystore::pin_for(&parsed)?;
        let public = Pkcs11Key::generate(&parsed, pin.as_deref().map(String::as_str))
            .with_context(|| format!("could not generate {}", parsed.describe()))?;
        if let Some(out) = &self.out {
            let existing = if self.force { Existing::Replace } else { Existing::Refuse };
            write_atomic(out, public.to_spki_pem().as_bytes(), Some(0o644), existing)
                .with_context(|| format!("could not write public key `{}`", out.display()))?;
        }
        shell.status("Generated", format_args!("{} in the token as {}", public.key_id(), parsed.describe()));
        let report = Report {
            private_key_path: None,
            private_key_uri: Some(uri_without_pin(uri)),
            public_key_path: self.out.clone(),
            key_id: public.key_id(),
            public_key_hex: public.to_hex(),
            encrypted: false,
        };
        self.present(&report, "the token's PIN", shell)?;
        Ok(Outcome::Success)
    }

    fn present(&self, report: &Report, secret: &str, shell: &mut Shell) -> Result<()> {
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(report)?,
            MessageFormat::Human => {
                shell.print(format_args!(
                    "key_id      {}\npublic key  {}",
                    report.key_id, report.public_key_hex
                ))?;
                shell.note(format_args!(
                    "operators trust this key with `--trusted-publisher {}={}`; keep {secret} secret",
                    self.publisher.as_deref().unwrap_or("<publisher>"),
                    report.public_key_hex,
                ));
            }
        }
        Ok(())
    }
}

/// The URI as it can be shown and stored: any `pin-value` left out.
fn uri_without_pin(uri: &str) -> String {
    match uri.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query.split('&').filter(|a| !a.starts_with("pin-value=")).collect();
            if kept.is_empty() { path.to_owned() } else { format!("{path}?{}", kept.join("&")) }
        }
        None => uri.to_owned(),
    }
}

/// `<config dir>/keys/<publisher>.pem` (`signing-key.pem` without one).
fn default_path(publisher: Option<&str>) -> Result<PathBuf> {
    let name = match publisher {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b)) => {
            return Ok(cargo_palyra_skill::keys::publisher_key_path(p)?);
        }
        Some(p) => bail!(
            "`{}` is not a publisher identifier: use lowercase letters, digits, `.`, `_`, `-` and `:`",
            cargo_palyra_skill::text::escape(p)
        ),
        None => "signing-key".to_owned(),
    };
    Ok(crate::input::config_dir()?.join("keys").join(format!("{name}.pem")))
}

/// A private key must not land where `git add -A` would commit it: inside a
/// work tree, its path must be ignored there.
fn refuse_unignored_in_work_tree(path: &Path) -> Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_owned(),
        None => PathBuf::from("."),
    };
    // The nearest folder that exists: `git -C` needs one.
    let Some(existing) = dir.ancestors().find(|d| d.is_dir()) else {
        return Ok(());
    };
    let git = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(existing)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
    };
    let Some(top) = git(&["rev-parse".as_ref(), "--show-toplevel".as_ref()]).filter(|o| o.status.success())
    else {
        // Not in a work tree (or no git): nothing can commit it by accident.
        return Ok(());
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let ignored = git(&["check-ignore".as_ref(), "-q".as_ref(), "--no-index".as_ref(), absolute.as_os_str()])
        .is_some_and(|o| o.status.success());
    if ignored {
        return Ok(());
    }
    let root = String::from_utf8_lossy(&top.stdout).trim().to_owned();
    bail!(
        "`{}` is inside the git work tree `{root}` and git does not ignore it, so `git add -A` would commit the private key: add the line `*.pem` to `{root}/.gitignore`, or leave out `--out` to write it to your configuration directory",
        path.display()
    )
}
