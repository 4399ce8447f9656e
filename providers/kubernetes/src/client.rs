//! The API server over the shared HTTP client: URLs below `/apis/rbac.authorization.k8s.io/v1`,
//! credentials from the kubeconfig, and `Status` objects turned into errors that say what to do.
//!
//! Retries of throttling (429 with `Retry-After`) and of 5xx, backoff and limits are the shared
//! client's ([`breakglass_provider::http`]). This module adds what only Kubernetes needs: the
//! cluster's CA (and only it) is trusted, a client certificate is presented, an `exec` token
//! refused with a 401 is fetched again once, and every failure keeps its HTTP code and `Status`
//! reason, so callers can tell a conflict (retry from a fresh read) from an object that is
//! already there or a `continue` token that expired.

use breakglass_provider::http::{HttpClient, HttpConfig, HttpResponse};
use breakglass_provider::{ErrorKind, ProviderError, Secret};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::Status;
use crate::config::KubernetesConfig;
use crate::kubeconfig::{Connection, Credentials};

/// Where RBAC lives, below the server URL.
pub const GROUP_PATH: [&str; 3] = ["apis", "rbac.authorization.k8s.io", "v1"];

/// The field manager named on every write, so `managedFields` show breakglass's hand.
pub const FIELD_MANAGER: &str = "breakglass";

/// A failed call: its HTTP code (0 when no answer came), the `Status` reason, and the error.
#[derive(Debug)]
pub struct Failure {
    /// The HTTP status code, or 0.
    pub code: u16,
    /// The `Status` reason (`Conflict`, `AlreadyExists`, `Expired`…), or empty.
    pub reason: String,
    /// What to report.
    pub error: ProviderError,
}

impl Failure {
    /// Whether the object was not found.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// Whether a write met a newer version of the object (optimistic concurrency) or an unmet
    /// delete precondition: read again and decide again.
    pub fn is_conflict(&self) -> bool {
        self.code == 409 && self.reason != "AlreadyExists"
    }

    /// Whether a create met an object of that name.
    pub fn is_already_exists(&self) -> bool {
        self.code == 409 && self.reason == "AlreadyExists"
    }

    /// Whether a `continue` token expired (410 Gone).
    pub fn is_gone(&self) -> bool {
        self.code == 410
    }
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Self { code: 0, reason: String::new(), error }
    }
}

impl From<Failure> for ProviderError {
    fn from(failure: Failure) -> Self {
        failure.error
    }
}

/// A configured connection to the API server. Clones share limits and counters.
#[derive(Debug, Clone)]
pub struct Api {
    http: HttpClient,
    server: Url,
    credentials: std::sync::Arc<Credentials>,
    impersonate: Option<(String, Vec<String>)>,
    context: String,
    user: String,
    page_size: u32,
}

impl Api {
    /// A connection as the kubeconfig and the provider block say.
    pub fn new(connection: Connection, config: &KubernetesConfig) -> Result<Self, ProviderError> {
        let http_config = HttpConfig::default()
            .with_max_attempts(config.max_attempts)
            .with_request_timeout(config.timeout);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
        if connection.is_loopback() {
            // A proxy from the environment would send a local test server's traffic elsewhere.
            builder = builder.no_proxy();
        }
        if let Some(proxy) = &connection.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy.clone()).map_err(|_| {
                ProviderError::invalid(
                    "provider \"kubernetes\": the kubeconfig's proxy-url is unusable",
                )
            })?);
        }
        if !connection.ca.is_empty() {
            // The cluster's CA, and only it: a public CA has no business vouching for it.
            builder = builder.tls_certs_only(
                connection
                    .ca
                    .iter()
                    .map(|der| reqwest::Certificate::from_der(der))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        ProviderError::invalid(format!(
                            "provider \"kubernetes\": context {:?}: the certificate authority \
                             is not a certificate",
                            connection.context
                        ))
                    })?,
            );
        }
        if let Some(pem) = &connection.identity {
            let identity = reqwest::Identity::from_pem(pem.expose().as_bytes()).map_err(|_| {
                ProviderError::invalid(format!(
                    "provider \"kubernetes\": context {:?}: the client certificate and key are \
                     not a PEM certificate and private key",
                    connection.context
                ))
            })?;
            builder = builder.identity(identity);
        }
        Ok(Self {
            http: HttpClient::from_builder("kubernetes", http_config, builder)?,
            server: connection.server,
            credentials: std::sync::Arc::new(connection.credentials),
            impersonate: connection.impersonate,
            context: connection.context,
            user: connection.user,
            page_size: config.page_size,
        })
    }

    /// Objects to ask for per page.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// HTTP requests sent so far, retries included.
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// `server/apis/rbac.authorization.k8s.io/v1/segment/segment?query`, each segment
    /// percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.server.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(GROUP_PATH).extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// `GET`, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, Failure> {
        self.call(Method::GET, segments, query, None::<&()>).await
    }

    /// `POST` of `body`.
    pub async fn post<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        body: &B,
    ) -> Result<T, Failure> {
        self.call(Method::POST, segments, query, Some(body)).await
    }

    /// `PUT` of `body` (which carries the `resourceVersion` it was read at).
    pub async fn put<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        body: &B,
    ) -> Result<T, Failure> {
        self.call(Method::PUT, segments, query, Some(body)).await
    }

    /// `DELETE` with `DeleteOptions`; the answer (a `Status` or the object) is not needed.
    pub async fn delete<B: Serialize + Sync>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<(), Failure> {
        self.call::<serde_json::Value, B>(Method::DELETE, segments, &[], Some(body)).await?;
        Ok(())
    }

    async fn call<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, Failure> {
        let url = self.url(segments, query);
        let what = format!("{method} {}", url.path());
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|error| ProviderError::invalid(format!("kubernetes: {what}: {error}")))?;
        let mut response = self.send(&method, &url, body.as_deref(), false).await?;
        if response.status == StatusCode::UNAUTHORIZED
            && matches!(*self.credentials, Credentials::Exec(_))
        {
            // An exec token can be revoked or rotated before its stated expiry.
            response = self.send(&method, &url, body.as_deref(), true).await?;
        }
        if !response.is_success() {
            return Err(self.failure(&what, &response));
        }
        response.json().map_err(|error| {
            Failure::from(ProviderError::protocol(format!(
                "kubernetes: {what}: {}",
                error.message()
            )))
        })
    }

    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        refresh: bool,
    ) -> Result<HttpResponse, ProviderError> {
        let token: Option<Secret> = match &*self.credentials {
            Credentials::Token(token) => Some(token.clone()),
            Credentials::Exec(plugin) => Some(plugin.token(refresh).await?),
            Credentials::Certificate => None,
        };
        self.http
            .send(|client| {
                let mut request = client
                    .request(method.clone(), url.clone())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(token) = &token {
                    request = request.bearer_auth(token.expose());
                }
                if let Some((user, groups)) = &self.impersonate {
                    request = request.header("Impersonate-User", user);
                    for group in groups {
                        request = request.header("Impersonate-Group", group);
                    }
                }
                if let Some(body) = body {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.to_vec());
                }
                request.build().map_err(|error| self.http.build_error(error))
            })
            .await
    }

    /// The failure a response stands for, with what to do about it.
    fn failure(&self, what: &str, response: &HttpResponse) -> Failure {
        let status = response.status;
        let parsed: Option<Status> =
            response.json::<Status>().ok().filter(|s| s.kind == "Status" || !s.message.is_empty());
        let reason = parsed.as_ref().map(|s| s.reason.clone()).unwrap_or_default();
        let detail = match &parsed {
            Some(s) => {
                let mut detail = s.message.clone();
                let causes: Vec<String> = s
                    .details
                    .iter()
                    .flat_map(|d| &d.causes)
                    .filter(|c| !c.message.is_empty() && !detail.contains(&c.message))
                    .map(|c| {
                        if c.field.is_empty() {
                            c.message.clone()
                        } else {
                            format!("{}: {}", c.field, c.message)
                        }
                    })
                    .collect();
                if !causes.is_empty() {
                    detail.push_str(&format!(" ({})", causes.join("; ")));
                }
                detail
            }
            None => {
                format!("the body is not a Kubernetes Status; it starts: {}", response.excerpt())
            }
        };
        let who = format!("context {:?} (user {:?})", self.context, self.user);
        let error = match status {
            StatusCode::UNAUTHORIZED => ProviderError::denied(format!(
                "kubernetes: {what} answered {status}: the API server did not accept the \
                 credentials of {who}; check its token, client certificate or exec plugin in \
                 the kubeconfig"
            )),
            StatusCode::FORBIDDEN => ProviderError::denied(format!(
                "kubernetes: {what} answered {status}: {detail}. The identity of {who} needs \
                 the RBAC permissions listed in docs/providers/kubernetes.md"
            )),
            StatusCode::NOT_FOUND => {
                ProviderError::not_found(format!("kubernetes: {what} answered {status}: {detail}"))
            }
            status if status.is_client_error() => ProviderError::invalid(format!(
                "kubernetes: the API server refused {what} ({status}{}): {detail}",
                if reason.is_empty() { String::new() } else { format!(", {reason}") }
            )),
            status => ProviderError::new(
                ErrorKind::Protocol,
                format!("kubernetes: {what} answered {status}: {detail}"),
            ),
        };
        Failure { code: status.as_u16(), reason, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use serde_json::json;
    use std::path::PathBuf;

    fn api() -> Api {
        let connection = Connection {
            server: Url::parse("https://k8s.example.com:6443/prefix/").unwrap(),
            context: "ops".to_owned(),
            user: "ci".to_owned(),
            ca: Vec::new(),
            identity: None,
            credentials: Credentials::Token(Secret::new("s3kr3t-token-value")),
            proxy: None,
            impersonate: None,
        };
        let config = KubernetesConfig {
            kubeconfig: vec![PathBuf::from("/k")],
            context: None,
            privileged_cluster_roles: vec![],
            page_size: 500,
            max_attempts: 1,
            timeout: std::time::Duration::from_secs(1),
        };
        Api::new(connection, &config).unwrap()
    }

    #[test]
    fn urls_are_below_the_group_and_encode_names() {
        let url = api().url(
            &["namespaces", "team a", "rolebindings", "x/y"],
            &[("limit", "500".to_owned()), ("continue", "a&b".to_owned())],
        );
        assert_eq!(
            url.as_str(),
            "https://k8s.example.com:6443/prefix/apis/rbac.authorization.k8s.io/v1/namespaces/\
             team%20a/rolebindings/x%2Fy?limit=500&continue=a%26b"
        );
    }

    #[test]
    fn status_objects_become_errors_that_keep_code_and_reason() {
        let api = api();
        let status = |code: u16, reason: &str, message: &str, causes: serde_json::Value| {
            let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": message, "reason": reason, "code": code,
                              "details": {"causes": causes}});
            HttpResponse::new(
                StatusCode::from_u16(code).unwrap(),
                HeaderMap::new(),
                body.to_string(),
            )
        };
        let cases = [
            (
                status(401, "Unauthorized", "Unauthorized", json!([])),
                ErrorKind::Denied,
                "did not accept the credentials of context \"ops\" (user \"ci\")",
            ),
            (
                status(
                    403,
                    "Forbidden",
                    "clusterrolebindings.rbac.authorization.k8s.io is forbidden: User \"ci\" cannot create resource",
                    json!([]),
                ),
                ErrorKind::Denied,
                "cannot create resource. The identity of context \"ops\"",
            ),
            (
                status(
                    404,
                    "NotFound",
                    "clusterrolebindings.rbac.authorization.k8s.io \"x\" not found",
                    json!([]),
                ),
                ErrorKind::NotFound,
                "\"x\" not found",
            ),
            (
                status(
                    422,
                    "Invalid",
                    "ClusterRoleBinding.rbac.authorization.k8s.io \"x\" is invalid",
                    json!([{"field": "subjects[0].kind", "message": "Unsupported value: \"Robot\""}]),
                ),
                ErrorKind::Invalid,
                "is invalid (subjects[0].kind: Unsupported value: \"Robot\")",
            ),
            (
                status(409, "Conflict", "the object has been modified", json!([])),
                ErrorKind::Invalid,
                "(409 Conflict, Conflict): the object has been modified",
            ),
        ];
        for (response, kind, expected) in cases {
            let failure = api.failure("POST /apis/x", &response);
            assert_eq!(failure.error.kind(), kind, "{}", failure.error);
            assert!(failure.error.message().contains(expected), "{}", failure.error);
            assert!(failure.error.message().starts_with("kubernetes: "), "{}", failure.error);
            assert!(!failure.error.message().contains("s3kr3t"), "{}", failure.error);
        }
        let conflict = api.failure("PUT /x", &status(409, "Conflict", "modified", json!([])));
        assert!(conflict.is_conflict() && !conflict.is_already_exists());
        let exists = api.failure("POST /x", &status(409, "AlreadyExists", "exists", json!([])));
        assert!(exists.is_already_exists() && !exists.is_conflict());
        let gone = api.failure("GET /x", &status(410, "Expired", "too old", json!([])));
        assert!(gone.is_gone());
        let html = HttpResponse::new(StatusCode::BAD_GATEWAY, HeaderMap::new(), "<html>bad</html>");
        let failure = api.failure("GET /x", &html);
        assert_eq!(failure.error.kind(), ErrorKind::Protocol);
        assert!(
            failure.error.message().contains("it starts: <html>bad</html>"),
            "{}",
            failure.error
        );
    }
}
