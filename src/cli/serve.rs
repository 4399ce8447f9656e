//! `breakglass serve`: the web console.

use super::output::errln;
use anyhow::Context as _;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::audit_trail::Streaming;
use super::context::{load_policy, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use crate::console::{Console, Publisher, bind, serve, tls_acceptor};

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(
    about = "Serve the web console: live dashboard, approval inbox, passkey approvals",
    long_about = "Serves the console the policy's breakglass { console { … } } block describes: a \
                  dashboard of who has what now (live, over Server-Sent Events), the inbox of \
                  submitted requests, and approval by passkey. The console reads the same state \
                  and audit log as the CLI and never applies anything: the executor runs \
                  `breakglass apply --emergency --request ID`, which verifies every approval \
                  again. Signing in is by passkey; the console block says who may see the \
                  dashboard (viewers) and who may only see their own requests (requesters).",
    after_help = "Examples:\n  breakglass serve\n  breakglass serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem"
)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The TLS certificate chain (PEM); with --tls-key, serves HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Runs `serve`.
pub async fn run(args: &ServeArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = Arc::new(load_policy(output)?);
    // The console's own events (submissions, decisions) go to the policy's sinks, like those
    // of any command; events other processes record are theirs to deliver.
    let _streaming = Streaming::start(&policy, None);
    let store = open_store(&policy)?;
    let publish = Publisher(Arc::new(super::audit_trail::publish));
    let console = Console::new(policy.clone(), store, publish).map_err(anyhow::Error::msg)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    let listener = bind(args.listen).await?;
    let address = listener.local_addr().context("the listening socket has no address")?;
    let url = policy.settings.console.as_ref().map(|c| c.url.clone()).unwrap_or_default();
    errln!(
        "breakglass console listening on {}://{address} (open {url})",
        if tls.is_some() { "https" } else { "http" }
    );
    serve(console, listener, tls).await?;
    Ok(ExitStatus::Success)
}
