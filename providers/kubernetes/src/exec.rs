//! `exec` credential plugins (`client.authentication.k8s.io`): the kubeconfig names a command
//! (aws eks get-token, gke-gcloud-auth-plugin, kubelogin…) that prints an `ExecCredential`
//! with a bearer token and, usually, when it expires.
//!
//! The plugin runs without a terminal (breakglass runs unattended: a plugin that insists on
//! one is refused with its install hint), with `KUBERNETES_EXEC_INFO` set as the protocol says.
//! The token is kept until a minute before its expiry, or until the API server refuses it
//! (a 401), then fetched again. Tokens are [`Secret`]s: never printed, never in an error.

use breakglass_provider::{ProviderError, Secret};
use jiff::Timestamp;
use kube_client::config::{ExecConfig, ExecInteractiveMode};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a plugin may take.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A token this close to its expiry is fetched again.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A credential plugin and the token it last gave.
#[derive(Debug)]
pub struct ExecPlugin {
    config: ExecConfig,
    command: String,
    context: String,
    server: String,
    cached: Mutex<Option<(Secret, Option<Timestamp>)>>,
}

/// The `status` of an `ExecCredential`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    #[serde(default)]
    kind: String,
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration_timestamp: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
}

impl ExecPlugin {
    /// A plugin as the kubeconfig's user names it; `server` is passed on when the plugin asks
    /// for cluster information.
    pub fn new(config: ExecConfig, server: &str, context: &str) -> Result<Self, ProviderError> {
        let command = config.command.clone().filter(|c| !c.is_empty()).ok_or_else(|| {
            ProviderError::invalid(format!(
                "provider \"kubernetes\": context {context:?}: the user's exec plugin names no \
                 command"
            ))
        })?;
        if config.interactive_mode == Some(ExecInteractiveMode::Always) {
            return Err(ProviderError::invalid(format!(
                "provider \"kubernetes\": context {context:?}: the exec plugin {command} needs \
                 an interactive terminal (interactiveMode: Always), and breakglass runs \
                 unattended; give it a non-interactive way to log in"
            )));
        }
        Ok(Self {
            config,
            command,
            context: context.to_owned(),
            server: server.to_owned(),
            cached: Mutex::new(None),
        })
    }

    /// The token: the one kept, unless it expires within a minute or `refresh` asks for a new
    /// one (after a 401).
    pub async fn token(&self, refresh: bool) -> Result<Secret, ProviderError> {
        let mut cached = self.cached.lock().await;
        if !refresh && let Some((token, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|at| Timestamp::now() + EXPIRY_MARGIN < at);
            if fresh {
                return Ok(token.clone());
            }
        }
        let (token, expiry) = self.run().await?;
        *cached = Some((token.clone(), expiry));
        Ok(token)
    }

    fn error(&self, why: impl std::fmt::Display) -> ProviderError {
        ProviderError::denied(format!(
            "provider \"kubernetes\": context {:?}: the exec credential plugin {} {why}",
            self.context, self.command
        ))
    }

    async fn run(&self) -> Result<(Secret, Option<Timestamp>), ProviderError> {
        let api_version = self
            .config
            .api_version
            .clone()
            .unwrap_or_else(|| "client.authentication.k8s.io/v1".to_owned());
        let mut spec = serde_json::json!({ "interactive": false });
        if self.config.provide_cluster_info {
            spec["cluster"] = serde_json::json!({ "server": self.server });
        }
        let info = serde_json::json!({
            "apiVersion": api_version, "kind": "ExecCredential", "spec": spec,
        });
        let mut command = tokio::process::Command::new(&self.command);
        command
            .args(self.config.args.iter().flatten())
            .env("KUBERNETES_EXEC_INFO", info.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for pair in self.config.env.iter().flatten() {
            if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
                command.env(name, value);
            }
        }
        let output = match tokio::time::timeout(PLUGIN_TIMEOUT, command.output()).await {
            Err(_) => return Err(self.error(format!("did not answer in {PLUGIN_TIMEOUT:?}"))),
            Ok(Err(error)) => {
                let hint = self
                    .config
                    .install_hint
                    .as_deref()
                    .map(|h| format!(" ({})", h.trim()))
                    .unwrap_or_default();
                return Err(self.error(format!("could not be started: {error}{hint}")));
            }
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let excerpt: String = stderr.trim().chars().take(300).collect();
            return Err(self.error(format!("failed ({}): {excerpt}", output.status)));
        }
        let credential: ExecCredential = serde_json::from_slice(&output.stdout)
            .map_err(|_| self.error("did not print an ExecCredential (JSON)"))?;
        if credential.kind != "ExecCredential" {
            return Err(
                self.error(format!("printed a {:?}, not an ExecCredential", credential.kind))
            );
        }
        let status = credential.status.ok_or_else(|| self.error("gave no status"))?;
        let Some(token) = status.token.filter(|t| !t.is_empty()) else {
            let why = if status.client_certificate_data.is_some() {
                "gave a client certificate; only plugins that give a bearer token are supported"
            } else {
                "gave no token"
            };
            return Err(self.error(why));
        };
        let expiry = status
            .expiration_timestamp
            .map(|at| at.parse::<Timestamp>())
            .transpose()
            .map_err(|_| self.error("gave an expirationTimestamp that is not RFC 3339"))?;
        Ok((Secret::new(token), expiry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A plugin that is a shell script printing `body` and counting its runs in a file.
    fn plugin(dir: &std::path::Path, body: &str) -> ExecPlugin {
        let script = dir.join("plugin.sh");
        fs_err::write(
            &script,
            format!(
                "#!/bin/sh\necho run >> \"{}\"\necho \"$KUBERNETES_EXEC_INFO\" > \"{}\"\n{body}\n",
                dir.join("runs").display(),
                dir.join("info").display()
            ),
        )
        .unwrap();
        let config = ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1".to_owned()),
            command: Some("/bin/sh".to_owned()),
            args: Some(vec![script.display().to_string()]),
            env: Some(vec![HashMap::from([
                ("name".to_owned(), "EXTRA".to_owned()),
                ("value".to_owned(), "1".to_owned()),
            ])]),
            provide_cluster_info: true,
            ..ExecConfig::default()
        };
        ExecPlugin::new(config, "https://k8s.example.com", "ops").unwrap()
    }

    fn runs(dir: &std::path::Path) -> usize {
        fs_err::read_to_string(dir.join("runs")).unwrap_or_default().lines().count()
    }

    #[tokio::test]
    async fn a_token_is_kept_until_it_nearly_expires_or_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let later = (Timestamp::now() + Duration::from_secs(3600)).to_string();
        let plugin = plugin(
            dir.path(),
            &format!(
                "echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
                 \"status\":{{\"token\":\"tok-1\",\"expirationTimestamp\":\"{later}\"}}}}'"
            ),
        );
        assert_eq!(plugin.token(false).await.unwrap().expose(), "tok-1");
        assert_eq!(plugin.token(false).await.unwrap().expose(), "tok-1");
        assert_eq!(runs(dir.path()), 1, "kept while fresh");
        plugin.token(true).await.unwrap();
        assert_eq!(runs(dir.path()), 2, "fetched again when refused");
        let info: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(dir.path().join("info")).unwrap())
                .unwrap();
        assert_eq!(info["kind"], "ExecCredential");
        assert_eq!(info["spec"]["interactive"], false);
        assert_eq!(info["spec"]["cluster"]["server"], "https://k8s.example.com");
    }

    #[tokio::test]
    async fn an_expired_token_is_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = plugin(
            dir.path(),
            "echo '{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\",\
             \"expirationTimestamp\":\"2020-01-01T00:00:00Z\"}}'",
        );
        plugin.token(false).await.unwrap();
        plugin.token(false).await.unwrap();
        assert_eq!(runs(dir.path()), 2);
    }

    #[tokio::test]
    async fn a_failing_or_confused_plugin_is_a_clear_denial_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("echo 'login expired' >&2; exit 3", "failed (exit status: 3): login expired"),
            ("echo 'not json'", "did not print an ExecCredential"),
            ("echo '{\"kind\":\"Status\"}'", "printed a \"Status\""),
            ("echo '{\"kind\":\"ExecCredential\",\"status\":{}}'", "gave no token"),
        ];
        for (body, expected) in cases {
            let error = plugin(dir.path(), body).token(false).await.unwrap_err();
            assert_eq!(error.kind(), breakglass_provider::ErrorKind::Denied, "{body}");
            assert!(error.message().contains(expected), "{body}: {error}");
            assert!(error.message().contains("context \"ops\""), "{error}");
        }
        let missing = ExecPlugin::new(
            ExecConfig {
                command: Some("/nonexistent/kubectl-oidc".to_owned()),
                install_hint: Some("install kubelogin".to_owned()),
                ..ExecConfig::default()
            },
            "https://k",
            "ops",
        )
        .unwrap();
        let error = missing.token(false).await.unwrap_err();
        assert!(error.message().contains("could not be started"), "{error}");
        assert!(error.message().contains("install kubelogin"), "{error}");
    }
}
