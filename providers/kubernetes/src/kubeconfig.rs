//! From kubeconfig files to a connection: the API server's URL, the CA to trust, and who to be
//! (a bearer token, a token file, a client certificate, or an `exec` credential plugin).
//!
//! Parsing, merging several files (KUBECONFIG lists them, as kubectl merges them), relative
//! paths, context selection and CA data are kube-rs's (`kube_client::config`, with its `config`
//! feature only: no second HTTP stack); this module turns the result into settings for the
//! shared reqwest client, and refuses what an access tool must not do: skip TLS verification,
//! send a token in clear to a remote server, or use the long-removed basic-auth and
//! auth-provider mechanisms.

use breakglass_provider::{ProviderError, Secret};
use kube_client::config::{AuthInfo, Config, KubeConfigOptions, Kubeconfig};
use reqwest::Url;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};

use crate::exec::ExecPlugin;

/// How requests prove who they come from.
#[derive(Debug)]
pub enum Credentials {
    /// A bearer token (from `token` or `tokenFile`).
    Token(Secret),
    /// A bearer token from an `exec` plugin, fetched again when it expires.
    Exec(Box<ExecPlugin>),
    /// The TLS client certificate alone.
    Certificate,
}

/// Everything needed to talk to the API server as the kubeconfig says.
#[derive(Debug)]
pub struct Connection {
    /// The API server's URL (`cluster.server`).
    pub server: Url,
    /// The context used, for messages.
    pub context: String,
    /// The kubeconfig user (`users[].name`) of that context, for messages.
    pub user: String,
    /// CA certificates (DER) to trust instead of the system's, when the kubeconfig gives any.
    pub ca: Vec<Vec<u8>>,
    /// The client certificate and key, PEM, when the user has one.
    pub identity: Option<Secret>,
    /// Bearer credentials.
    pub credentials: Credentials,
    /// A proxy the kubeconfig names (`proxy-url`).
    pub proxy: Option<Url>,
    /// `as` / `as-groups`: who to impersonate.
    pub impersonate: Option<(String, Vec<String>)>,
}

impl Connection {
    /// Reads and merges `paths` and resolves `context` (default: the current context).
    pub async fn load(paths: &[PathBuf], context: Option<&str>) -> Result<Self, ProviderError> {
        let kubeconfig = read(paths)?;
        let context_name = context
            .map(str::to_owned)
            .or_else(|| kubeconfig.current_context.clone())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                fail(paths, "names no current-context; set `context` in the provider block")
            })?;
        let context_entry = kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_ref());
        let user = context_entry.and_then(|c| c.user.clone()).unwrap_or_default();
        // Whether the cluster names a CA: if it does, it must be one (never fall back on the
        // system's roots because the data was unreadable).
        let names_ca = context_entry
            .and_then(|c| kubeconfig.clusters.iter().find(|n| n.name == c.cluster))
            .and_then(|n| n.cluster.as_ref())
            .is_some_and(|cluster| {
                [&cluster.certificate_authority, &cluster.certificate_authority_data]
                    .iter()
                    .any(|value| value.as_deref().is_some_and(|v| !v.trim().is_empty()))
            });
        if !kubeconfig.contexts.iter().any(|c| c.name == context_name) {
            let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(fail(
                paths,
                &format!(
                    "has no context {context_name:?}; it has {}",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            ));
        }
        let options =
            KubeConfigOptions { context: Some(context_name.clone()), ..Default::default() };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|error| fail(paths, &format!("context {context_name:?}: {error}")))?;
        if names_ca && config.root_cert.as_ref().is_none_or(Vec::is_empty) {
            return Err(fail(
                paths,
                &format!(
                    "context {context_name:?}: the cluster's certificate-authority holds no PEM \
                     certificate"
                ),
            ));
        }
        Self::from_config(config, paths, context_name, user)
    }

    fn from_config(
        config: Config,
        paths: &[PathBuf],
        context: String,
        user: String,
    ) -> Result<Self, ProviderError> {
        let wrong = |why: &str| fail(paths, &format!("context {context:?}: {why}"));
        let server = Url::parse(&config.cluster_url.to_string())
            .map_err(|_| wrong("the cluster's `server` is not a URL"))?;
        let loopback = is_loopback(&server);
        match server.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(wrong(
                    "the cluster's `server` must be https (plain http only for a loopback \
                     address, such as a local test server): credentials would travel in clear",
                ));
            }
        }
        if config.accept_invalid_certs {
            return Err(wrong(
                "insecure-skip-tls-verify is set: breakglass grants cluster-admin and will not \
                 talk to an API server it cannot authenticate. Give the cluster's CA instead \
                 (certificate-authority-data)",
            ));
        }
        if config.tls_server_name.is_some() {
            return Err(wrong(
                "tls-server-name is not supported; point `server` at a name the API server's \
                 certificate carries",
            ));
        }
        let auth = config.auth_info;
        let impersonate = auth
            .impersonate
            .clone()
            .map(|user| (user, auth.impersonate_groups.clone().unwrap_or_default()));
        let identity = identity(&auth, paths, &context)?;
        let credentials = credentials(&auth, &config.cluster_url.to_string(), paths, &context)?;
        let credentials = match (credentials, &identity) {
            (Some(credentials), _) => credentials,
            (None, Some(_)) => Credentials::Certificate,
            (None, None) => {
                return Err(wrong(&format!(
                    "user {user:?} has no credentials (token, tokenFile, client certificate or \
                     exec plugin)"
                )));
            }
        };
        let proxy = config
            .proxy_url
            .map(|uri| Url::parse(&uri.to_string()))
            .transpose()
            .map_err(|_| wrong("`proxy-url` is not a URL"))?;
        Ok(Self {
            server,
            context,
            user,
            ca: config.root_cert.unwrap_or_default(),
            identity,
            credentials,
            proxy,
            impersonate,
        })
    }

    /// Whether the API server is on this machine (a test server), where proxies from the
    /// environment must not be used.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.server)
    }
}

fn read(paths: &[PathBuf]) -> Result<Kubeconfig, ProviderError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        if !path.exists() {
            continue;
        }
        let next = Kubeconfig::read_from(path).map_err(|error| {
            ProviderError::invalid(format!(
                "provider \"kubernetes\": cannot read the kubeconfig {}: {error}",
                path.display()
            ))
        })?;
        merged = Some(match merged {
            None => next,
            Some(first) => first.merge(next).map_err(|error| {
                ProviderError::invalid(format!(
                    "provider \"kubernetes\": cannot merge the kubeconfig {}: {error}",
                    path.display()
                ))
            })?,
        });
    }
    merged.ok_or_else(|| {
        ProviderError::invalid(format!(
            "provider \"kubernetes\": no kubeconfig found (looked for {}); set KUBECONFIG or \
             `kubeconfig` in the provider block",
            shown(paths)
        ))
    })
}

fn shown(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn fail(paths: &[PathBuf], why: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "provider \"kubernetes\": the kubeconfig ({}) {why}",
        shown(paths)
    ))
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback()),
        None => false,
    }
}

/// The client certificate and key as one PEM, from `*-data` (base64) or files.
fn identity(
    auth: &AuthInfo,
    paths: &[PathBuf],
    context: &str,
) -> Result<Option<Secret>, ProviderError> {
    let certificate = data_or_file(
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_deref(),
        "client-certificate",
        paths,
        context,
    )?;
    let key = data_or_file(
        auth.client_key_data.as_ref().map(|k| k.expose_secret()),
        auth.client_key.as_deref(),
        "client-key",
        paths,
        context,
    )?;
    match (certificate, key) {
        (None, None) => Ok(None),
        (Some(certificate), Some(key)) => {
            let mut pem = String::from_utf8_lossy(&certificate).into_owned();
            if !pem.ends_with('\n') {
                pem.push('\n');
            }
            pem.push_str(&String::from_utf8_lossy(&key));
            Ok(Some(Secret::new(pem)))
        }
        _ => Err(fail(
            paths,
            &format!(
                "context {context:?}: a client certificate needs both its certificate and key"
            ),
        )),
    }
}

fn data_or_file(
    data: Option<&str>,
    file: Option<&str>,
    what: &str,
    paths: &[PathBuf],
    context: &str,
) -> Result<Option<Vec<u8>>, ProviderError> {
    use base64::Engine;
    if let Some(data) = data.filter(|d| !d.trim().is_empty()) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| fail(paths, &format!("context {context:?}: {what}-data is not base64")))?;
        return Ok(Some(bytes));
    }
    match file.filter(|f| !f.is_empty()) {
        None => Ok(None),
        Some(file) => fs_err::read(Path::new(file)).map(Some).map_err(|error| {
            fail(
                paths,
                &format!("context {context:?}: cannot read the {what} file {file}: {error}"),
            )
        }),
    }
}

fn credentials(
    auth: &AuthInfo,
    server: &str,
    paths: &[PathBuf],
    context: &str,
) -> Result<Option<Credentials>, ProviderError> {
    if auth.username.is_some() || auth.password.is_some() {
        return Err(fail(
            paths,
            &format!(
                "context {context:?}: basic authentication (username/password) was removed from \
                 Kubernetes in 1.19; use a token, a client certificate or an exec plugin"
            ),
        ));
    }
    if let Some(provider) = &auth.auth_provider {
        return Err(fail(
            paths,
            &format!(
                "context {context:?}: the auth-provider {:?} mechanism was removed from kubectl \
                 in 1.26; use its exec credential plugin (gke-gcloud-auth-plugin, kubelogin…)",
                provider.name
            ),
        ));
    }
    if let Some(token) = auth.token.as_ref().map(|t| t.expose_secret()).filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::Token(Secret::new(token.trim()))));
    }
    if let Some(file) = auth.token_file.as_deref().filter(|f| !f.is_empty()) {
        let token = fs_err::read_to_string(file).map_err(|error| {
            fail(paths, &format!("context {context:?}: cannot read the tokenFile {file}: {error}"))
        })?;
        return Ok(Some(Credentials::Token(Secret::new(token.trim()))));
    }
    match &auth.exec {
        Some(exec) => {
            Ok(Some(Credentials::Exec(Box::new(ExecPlugin::new(exec.clone(), server, context)?))))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;

    fn kubeconfig(dir: &Path, user: &str, cluster_extra: &str) -> PathBuf {
        let path = dir.join("config");
        fs_err::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: ops\nclusters:\n- name: c\n  \
                 cluster:\n    server: https://k8s.example.com:6443\n{cluster_extra}\
                 contexts:\n- name: ops\n  context:\n    cluster: c\n    user: u\n\
                 users:\n- name: u\n  user:\n{user}"
            ),
        )
        .unwrap();
        path
    }

    async fn load(user: &str, cluster_extra: &str) -> Result<Connection, ProviderError> {
        let dir = tempfile::tempdir().unwrap();
        let path = kubeconfig(dir.path(), user, cluster_extra);
        Connection::load(&[path], None).await
    }

    #[tokio::test]
    async fn a_token_user_connects_with_the_current_context() {
        let connection = load("    token: sekret-token\n", "").await.unwrap();
        assert_eq!(connection.server.as_str(), "https://k8s.example.com:6443/");
        assert_eq!((connection.context.as_str(), connection.user.as_str()), ("ops", "u"));
        assert!(
            matches!(&connection.credentials, Credentials::Token(t) if t.expose() == "sekret-token")
        );
        assert!(!format!("{connection:?}").contains("sekret-token"));
    }

    #[tokio::test]
    async fn what_an_access_tool_must_not_do_is_refused_clearly() {
        let cases = [
            ("    token: t\n", "    insecure-skip-tls-verify: true\n", "insecure-skip-tls-verify"),
            ("    username: a\n    password: b\n", "", "basic authentication"),
            ("    auth-provider:\n      name: gcp\n", "", "auth-provider \"gcp\""),
            ("    client-certificate-data: eA==\n", "", "both its certificate and key"),
            ("    as: someone\n", "", "has no credentials"),
        ];
        for (user, cluster, expected) in cases {
            let error = load(user, cluster).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{expected}");
            assert!(error.message().contains(expected), "{expected}: {error}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = kubeconfig(dir.path(), "    token: t\n", "");
        let error = Connection::load(std::slice::from_ref(&path), Some("prod")).await.unwrap_err();
        assert!(error.message().contains("has no context \"prod\"; it has ops"), "{error}");
        let error = Connection::load(&[dir.path().join("missing")], None).await.unwrap_err();
        assert!(error.message().contains("no kubeconfig found"), "{error}");
    }

    #[tokio::test]
    async fn plain_http_is_for_loopback_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        for (server, ok) in [("http://127.0.0.1:8080", true), ("http://k8s.example.com", false)] {
            fs_err::write(
                &path,
                format!(
                    "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  \
                     cluster:\n    server: {server}\ncontexts:\n- name: t\n  context:\n    \
                     cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"
                ),
            )
            .unwrap();
            let outcome = Connection::load(std::slice::from_ref(&path), None).await;
            assert_eq!(outcome.is_ok(), ok, "{server}: {outcome:?}");
        }
    }

    #[tokio::test]
    async fn certificate_data_and_files_reach_the_tls_stack() {
        use base64::Engine;
        let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let cert = fs_err::read(testdata.join("client-cert.pem")).unwrap();
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let user = format!(
            "    client-certificate-data: {}\n    client-key: {}\n",
            encode(&cert),
            testdata.join("client-key.pem").display()
        );
        let ca = format!("    certificate-authority-data: {}\n", encode(&cert));
        let connection = load(&user, &ca).await.unwrap();
        assert_eq!(connection.ca.len(), 1, "the CA, as DER");
        assert!(matches!(connection.credentials, Credentials::Certificate));
        let pem = connection.identity.as_ref().unwrap().expose().to_owned();
        assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("BEGIN PRIVATE KEY"));
        assert!(!format!("{connection:?}").contains("PRIVATE KEY"), "the key never prints");
        let config = crate::config::KubernetesConfig {
            kubeconfig: vec![],
            context: None,
            privileged_cluster_roles: vec![],
            page_size: 500,
            max_attempts: 1,
            timeout: std::time::Duration::from_secs(1),
        };
        crate::client::Api::new(connection, &config).expect("reqwest takes the CA and identity");

        let error =
            load(&user, "    certificate-authority-data: bm90IGEgY2VydA==\n").await.unwrap_err();
        assert!(
            error.message().contains("certificate-authority holds no PEM certificate"),
            "{error}"
        );
    }
}
