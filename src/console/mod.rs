//! `breakglass serve`: the web console — a live dashboard, an approval inbox, and passkey
//! ceremonies.
//!
//! A view and a mailbox, never an authority. It reads the same state (through
//! [`StateStore`](crate::state::StateStore)) and audit log as the CLI, stores
//! submitted requests and the approvals made for them beside the state ([`inbox`]), and renders
//! pages. What it hands out — an approval signed with a passkey — is a token that
//! `apply --emergency` verifies offline against the policy exactly like an Ed25519 approval
//! ([`crate::sign::passkey`]), so a compromised console can withhold or delay, never grant. It
//! never applies anything and holds no provider credential or TOTP secret.
//!
//! Live updates: one task wakes when any process appends to the audit log kept with the state
//! ([`feed`], the console's only reader of the log: the store's bell, a cheap poll of its head
//! as a fallback), reads the new events and the activations they name, and turns what they
//! changed into the next dashboard and one patch for every SSE subscriber ([`live`]), so the
//! cost of a change follows the change: not the size of the state, nor the number of viewers.

pub mod enroll;
pub mod feed;
pub mod inbox;
pub mod live;
pub mod pages;
pub mod server;
pub mod session;
pub mod views;

pub use inbox::{Inbox, InboxError, StoredApproval, StoredPresence, StoredRequest};
pub use server::{Console, Publisher, router};

use crate::cli::output::errln;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS file is unreadable or wrong.
    #[error("TLS: {0}")]
    Tls(String),
    /// Serving failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `address` (port 0 picks a free one).
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen { address, source })
}

/// A TLS acceptor from PEM files: the certificate chain and its private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ServeError::Tls(format!("{}: not a PEM certificate chain ({e})", cert.display()))
        })?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!("{} holds no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Tls(format!("{}: not a PEM private key ({e})", key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Tls(format!("the certificate and key do not fit together: {e}"))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `console` on `listener` until the process stops, over TLS when `tls` is given.
pub async fn serve(
    console: Arc<Console>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<(), ServeError> {
    if let Err(error) = console.refresh(true).await {
        errln!("warning: the console could not read state or the audit log: {error}");
    }
    tokio::spawn(console.clone().watch());
    let app = router(console);
    let Some(acceptor) = tls else {
        axum::serve(listener, app).await?;
        return Ok(());
    };
    loop {
        let (stream, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else { return };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}
