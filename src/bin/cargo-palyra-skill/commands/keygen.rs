//! `keygen`: a new Ed25519 publisher key, PKCS#8 PEM (0600) plus `FILE.pub` (SPKI PEM).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
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
/// Without `--out` the key goes to your configuration directory
/// (`~/.config/palyra-skill/keys/<publisher>.pem`), never the current
/// directory. A private key inside a git work tree is refused unless git
/// ignores its path there, so `git add -A` cannot commit it.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill keygen --publisher acme\n",
    "  cargo palyra-skill keygen --out ~/.config/palyra/acme.pem\n",
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
    /// Publisher name: the default file name, and the trust-store hint
    #[arg(long, value_name = "PUBLISHER")]
    publisher: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
struct Report {
    private_key_path: PathBuf,
    public_key_path: PathBuf,
    key_id: String,
    public_key_hex: String,
}

impl Opts {
    pub fn run(self, shell: &mut Shell) -> Result<Outcome> {
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
        let key = SecretKey::generate()?;
        let public = key.public();
        write_atomic(&out, key.to_pkcs8_pem().as_bytes(), Some(0o600), existing)
            .with_context(|| format!("could not write private key `{}`", out.display()))?;
        // SPKI PEM, never hex: 64 hex characters would also load as a
        // private seed, and sign with a key anyone can derive.
        write_atomic(&public_path, public.to_spki_pem().as_bytes(), Some(0o644), existing)
            .with_context(|| format!("could not write public key `{}`", public_path.display()))?;

        shell.status(
            "Generated",
            format_args!(
                "{} in `{}` (public key in `{}`)",
                public.key_id(),
                out.display(),
                public_path.display()
            ),
        );
        let report = Report {
            private_key_path: out,
            public_key_path: public_path,
            key_id: public.key_id(),
            public_key_hex: public.to_hex(),
        };
        match self.output.message_format {
            MessageFormat::Json => shell.print_json(&report)?,
            MessageFormat::Human => {
                shell.print(format_args!(
                    "key_id      {}\npublic key  {}",
                    report.key_id, report.public_key_hex
                ))?;
                shell.note(format_args!(
                    "operators trust this key with `--trusted-publisher {}={}`; keep `{}` secret",
                    self.publisher.as_deref().unwrap_or("<publisher>"),
                    report.public_key_hex,
                    report.private_key_path.display()
                ));
            }
        }
        Ok(Outcome::Success)
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
