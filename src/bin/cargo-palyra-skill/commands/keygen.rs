//! `keygen`: a new Ed25519 publisher key, PKCS#8 PEM (0600) plus `FILE.pub` (SPKI PEM).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cargo_palyra_skill::fsutil::{Existing, write_atomic};
use cargo_palyra_skill::signing::SecretKey;
use clap::Args;
use serde::Serialize;

use crate::Outcome;
use crate::shell::{MessageFormat, OutputArgs, Shell};

/// Generate an Ed25519 signing key for publishing skills.
///
/// Writes the private key as PKCS#8 PEM (mode 0600) and the public key as
/// SPKI PEM (`PUBLIC KEY`, which `openssl pkey -pubin` reads, and which can
/// never load as a private key) to `FILE.pub`. The hex that
/// `--trusted-publisher` and trust stores take is printed. The private key
/// is never printed.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  cargo palyra-skill keygen --out ~/.config/palyra/acme.pem\n",
    "  cargo palyra-skill keygen --out acme.pem --publisher acme --message-format json\n\n",
    exit_status!()
))]
pub struct Opts {
    /// Where to write the private key
    #[arg(long, short, value_name = "FILE", default_value = "palyra-signing-key.pem")]
    out: PathBuf,
    /// Replace existing key files
    #[arg(long)]
    force: bool,
    /// Publisher name to show in the trust-store hint
    #[arg(long, value_name = "PUBLISHER", default_value = "<publisher>")]
    publisher: String,
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
        let mut public_path = self.out.clone().into_os_string();
        public_path.push(".pub");
        let public_path = PathBuf::from(public_path);
        let existing = if self.force { Existing::Replace } else { Existing::Refuse };
        if !self.force {
            for path in [&self.out, &public_path] {
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
        if let Some(dir) = self.out.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            cargo_palyra_skill::fsutil::create_private_dir(dir)
                .with_context(|| format!("could not create `{}`", dir.display()))?;
        }
        let key = SecretKey::generate()?;
        let public = key.public();
        write_atomic(&self.out, key.to_pkcs8_pem().as_bytes(), Some(0o600), existing)
            .with_context(|| format!("could not write private key `{}`", self.out.display()))?;
        // SPKI PEM, never hex: 64 hex characters would also load as a
        // private seed, and sign with a key anyone can derive.
        write_atomic(&public_path, public.to_spki_pem().as_bytes(), Some(0o644), existing)
            .with_context(|| format!("could not write public key `{}`", public_path.display()))?;

        shell.status(
            "Generated",
            format_args!(
                "{} in `{}` (public key in `{}`)",
                public.key_id(),
                self.out.display(),
                public_path.display()
            ),
        );
        let report = Report {
            private_key_path: self.out,
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
                    self.publisher,
                    report.public_key_hex,
                    report.private_key_path.display()
                ));
            }
        }
        Ok(Outcome::Success)
    }
}
