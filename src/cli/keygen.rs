//! `breakglass keygen`: make an Ed25519 key pair for signing requests, approvals and plans.

use super::output::outln;
use clap::Args;
use std::path::PathBuf;

use super::exit::ExitStatus;
use crate::sign::{generate_key_pair, key_id};

/// Arguments of `keygen`.
#[derive(Debug, Args)]
#[command(
    about = "Make an Ed25519 key pair: FILE (private, mode 0600) and its .pub",
    long_about = "Makes an Ed25519 key pair for signing requests, approvals and plans. The \
                  private key goes to FILE (PEM, PKCS#8, mode 0600) and the public key to \
                  FILE.pub (PEM, SPKI; NAME.key gives NAME.pub), which the policy names in a person block: \
                  public_key = file(\"keys/alice.pub\"). Existing files are never overwritten.",
    after_help = "Examples:\n  breakglass keygen --out ~/.breakglass/alice.key\n  \
                  breakglass keygen --out keys/ci.key"
)]
pub struct KeygenArgs {
    /// Where to write the private key; the public key goes beside it (NAME.key → NAME.pub,
    /// otherwise FILE.pub).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `keygen`.
pub fn run(args: &KeygenArgs) -> anyhow::Result<ExitStatus> {
    let (public_path, public) = generate_key_pair(&args.out)?;
    outln!("Private key: {} (keep it secret; mode 0600)", args.out.display())?;
    outln!("Public key:  {}", public_path.display())?;
    outln!("Key id:      {}", key_id(&public))?;
    Ok(ExitStatus::Success)
}
