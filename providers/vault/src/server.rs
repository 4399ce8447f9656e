//! What the provider talks to: HashiCorp Vault or OpenBao, and which version.
//!
//! Both serve the same API for everything the provider does, with one exception it uses when it
//! can: OpenBao (from 2.3) can give an ACL policy an `expiration` after which it deletes the
//! policy by itself. The server is told apart by `sys/seal-status`, which needs no token and
//! carries the version: OpenBao's versions start at 2, HashiCorp Vault's are 1.x.

use breakglass_provider::{ProviderError, Value};

use crate::client::VaultClient;

/// The server's flavour and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The version it reports (`2.7.2`, `1.15.2+ent`).
    pub version: String,
    /// Whether it is OpenBao.
    pub openbao: bool,
    /// Whether ACL policies may carry an `expiration` (OpenBao 2.3 and later).
    pub policy_expiration: bool,
}

impl Server {
    /// Reads `version` as Vault or OpenBao reports it.
    pub fn from_version(version: &str) -> Self {
        let mut numbers = version
            .trim_start_matches('v')
            .split(|c: char| !c.is_ascii_digit())
            .map(|part| part.parse::<u64>().ok());
        let major = numbers.next().flatten().unwrap_or(0);
        let minor = numbers.next().flatten().unwrap_or(0);
        let openbao = major >= 2;
        Self {
            version: version.to_owned(),
            openbao,
            policy_expiration: openbao && (major, minor) >= (2, 3),
        }
    }

    /// A name for messages: `OpenBao 2.7.2`, `Vault 1.15.2`.
    pub fn name(&self) -> String {
        let product = if self.openbao { "OpenBao" } else { "Vault" };
        format!("{product} {}", self.version)
    }

    /// Asks the server (`GET sys/seal-status`); a sealed server is an error saying so.
    pub async fn probe(client: &VaultClient) -> Result<Self, ProviderError> {
        let response = client.send(reqwest::Method::GET, "sys/seal-status", &[], None).await?;
        if !response.is_success() {
            return Err(ProviderError::protocol(format!(
                "vault: GET /v1/sys/seal-status answered {}: is the address a Vault or OpenBao \
                 server? It starts: {}",
                response.status,
                response.excerpt()
            )));
        }
        let status: Value = response.json().map_err(|e| e.context("vault: sys/seal-status"))?;
        if status.get("sealed").and_then(Value::as_bool) == Some(true) {
            return Err(ProviderError::transient(
                "vault: the server is sealed; unseal it (bao operator unseal / vault operator \
                 unseal) and run again",
            ));
        }
        let version = status.get("version").and_then(Value::as_str).unwrap_or_default();
        Ok(Self::from_version(version))
    }
}

#[cfg(test)]
mod tests {
    use super::Server;

    #[test]
    fn versions_tell_openbao_from_vault() {
        let cases = [
            ("2.7.2", true, true),
            ("2.3.0-beta20250528", true, true),
            ("2.2.2", true, false),
            ("1.15.2+ent", false, false),
            ("v1.18.0", false, false),
            ("", false, false),
        ];
        for (version, openbao, expiration) in cases {
            let server = Server::from_version(version);
            assert_eq!(
                (server.openbao, server.policy_expiration),
                (openbao, expiration),
                "{version}"
            );
        }
        assert_eq!(Server::from_version("2.7.2").name(), "OpenBao 2.7.2");
    }
}
