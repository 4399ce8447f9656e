//! `breakglass totp enroll|code`: manage the executor's TOTP secrets.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::context::load_policy;
use super::exit::ExitStatus;
use super::output::{Output, errln, outln};
use crate::engine::emergency::TotpSecrets;

/// Arguments of `totp`.
#[derive(Debug, Args)]
#[command(
    about = "Enrol a person's authenticator app, or show a current code (demos, drills)",
    long_about = "TOTP secrets live only on the executor, in the file BREAKGLASS_TOTP_SECRETS \
                  names (or breakglass { totp_secrets_file }), never in git. `enroll` creates a \
                  person's secret there and prints the otpauth:// URI to load into their \
                  authenticator app; `code` prints the current code from the file, for demos and \
                  drills — in production the code comes from the person's app.",
    after_help = "Examples:\n  BREAKGLASS_TOTP_SECRETS=/etc/breakglass/totp.json breakglass totp enroll alice\n  \
                  breakglass -C examples/quickstart totp code alice"
)]
pub struct TotpArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TotpCommand,
}

/// `totp` subcommands.
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Create a person's TOTP secret in the executor's file; print the URI for their app.
    #[command(
        after_help = "Example:\n  breakglass totp enroll alice --secrets /etc/breakglass/totp.json"
    )]
    Enroll {
        /// The person.
        person: String,
        /// The secrets file (default: BREAKGLASS_TOTP_SECRETS, then totp_secrets_file).
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// Replace an existing secret.
        #[arg(long)]
        force: bool,
    },
    /// Print a person's current code from the executor's file (demos and drills).
    #[command(after_help = "Example:\n  breakglass -C examples/quickstart totp code alice")]
    Code {
        /// The person.
        person: String,
        /// The secrets file (default: BREAKGLASS_TOTP_SECRETS, then totp_secrets_file).
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
    },
}

/// Runs `totp`.
pub fn run(args: &TotpArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let location = |given: &Option<PathBuf>| {
        given.clone().or_else(|| TotpSecrets::location(&policy)).context(
            "no TOTP secrets file: pass --secrets FILE, set BREAKGLASS_TOTP_SECRETS, or set breakglass { totp_secrets_file }",
        )
    };
    match &args.command {
        TotpCommand::Code { person, secrets } => {
            let path = location(secrets)?;
            let code = TotpSecrets::load(&path)?.code(person, crate::clock::now())?;
            outln!("{code}")?;
        }
        TotpCommand::Enroll { person, secrets, force } => {
            if !policy.persons.contains_key(person) {
                bail!(policy.unknown_person(person));
            }
            let path = location(secrets)?;
            let mut entries: BTreeMap<String, serde_json::Value> =
                match fs_err::read_to_string(&path) {
                    Ok(text) => serde_json::from_str(&text).with_context(|| {
                        format!("{} is not a TOTP secrets file", path.display())
                    })?,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                    Err(error) => return Err(error.into()),
                };
            if entries.contains_key(person) && !force {
                bail!(
                    "{person} already has a TOTP secret in {}; pass --force to replace it",
                    path.display()
                );
            }
            let mut bytes = [0u8; 20];
            rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness for a TOTP secret: {e}"))?;
            let secret = totp_rs::Secret::from(bytes).to_base32();
            entries.insert(person.clone(), secret.clone().into());
            let text = serde_json::to_string_pretty(&entries)? + "\n";
            // Private (0600), replaced through a unique temporary name, never through a link.
            crate::files::replace_private(&path, text.as_bytes())?;
            errln!(
                "Added {person}'s secret to {}. Give {person} this URI (a QR code of it) for their authenticator app, over a private channel:",
                path.display()
            );
            outln!(
                "otpauth://totp/breakglass:{person}?secret={secret}&issuer=breakglass&algorithm=SHA1&digits=6&period=30"
            )?;
        }
    }
    Ok(ExitStatus::Success)
}
