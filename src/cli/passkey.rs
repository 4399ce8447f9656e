//! `breakglass passkey enroll PERSON`: make a passkey for a person and print the policy block.

use super::output::{errln, out};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::net::SocketAddr;

use super::context::load_policy;
use super::exit::ExitStatus;
use super::output::Output;
use crate::console::enroll::enrolment;
use crate::console::{bind, tls_acceptor};
use crate::sign::RelyingParty;

/// Arguments of `passkey`.
#[derive(Debug, Args)]
#[command(
    about = "Enrol passkeys (WebAuthn) for approvals and console sign-in",
    after_help = "Example:\n  breakglass passkey enroll carol --name laptop"
)]
pub struct PasskeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PasskeyCommand,
}

/// `passkey` subcommands.
#[derive(Debug, Subcommand)]
pub enum PasskeyCommand {
    /// Serve an enrolment page; print the `passkey` block to add to the person.
    #[command(
        long_about = "Serves one enrolment page at the console's address (the policy's console \
                      url, which passkeys are bound to). Open it in the browser of PERSON, \
                      create the passkey, and this prints the passkey block (credential id, \
                      COSE public key, algorithm) to add to person \"PERSON\" in the policy: \
                      who may approve by passkey is reviewed in git, and `apply --emergency` \
                      verifies passkey approvals against it with no server.",
        after_help = "Example:\n  breakglass passkey enroll carol --name laptop >> carol-passkey.hcl"
    )]
    Enroll(EnrollArgs),
}

/// Arguments of `passkey enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The person (a person block in the policy).
    #[arg(value_name = "PERSON")]
    pub person: String,

    /// The passkey block's name.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub name: String,

    /// Where to listen (the console's address; stop `serve` first, or use another port that
    /// the console url names).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Runs `passkey`.
pub async fn run(args: &PasskeyArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let PasskeyCommand::Enroll(args) = &args.command;
    let policy = load_policy(output)?;
    let Some(person) = policy.persons.get(&args.person) else {
        bail!(
            "{} is not a person in the policy; declare person \"{}\" {{ … }} first",
            args.person,
            args.person
        );
    };
    let Some(console) = &policy.settings.console else {
        bail!(
            "the policy has no console: declare breakglass {{ console {{ url = \"https://…\" }} }} (passkeys are bound to its origin)"
        );
    };
    let rp = RelyingParty { origin: console.origin(), rp_id: console.rp_id.clone() };
    let display = person.display_name.clone().unwrap_or_else(|| args.person.clone());
    let (router, mut enrolled) = enrolment(&args.person, &display, rp.clone());
    let listener = bind(args.listen).await?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    errln!(
        "Open {}/ in {}'s browser to create the passkey (listening on {}).",
        rp.origin,
        args.person,
        args.listen
    );
    let server = tokio::spawn(async move {
        match tls {
            None => axum::serve(listener, router).await.map_err(anyhow::Error::from),
            Some(acceptor) => loop {
                let (stream, _) = listener.accept().await?;
                let acceptor = acceptor.clone();
                let app = router.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            },
        }
    });
    let credential = enrolled.recv().await.context("the enrolment page stopped")?;
    server.abort();
    errln!(
        "Add this block to person \"{}\" in the policy, then commit it for review:",
        args.person
    );
    out!("{}", credential.hcl(&args.name))?;
    Ok(ExitStatus::Success)
}
