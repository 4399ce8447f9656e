//! The HTTP client for Vault's and OpenBao's API (`/v1/…`, the same on both).
//!
//! Every call carries the token in `X-Vault-Token` and the namespace, if any, in
//! `X-Vault-Namespace`, and goes through the shared [`HttpClient`] (timeouts, retries of 429 and
//! 5xx with backoff and jitter, limits on calls in flight). Answers are `{"data": …}` on
//! success and `{"errors": […]}` otherwise; [`VaultClient`] turns the second into a
//! [`ProviderError`] whose kind the engine acts on (see [`failure`]). Listing uses
//! `GET …?list=true`, which both servers accept for `LIST`.

use breakglass_provider::http::{HttpClient, HttpResponse};
use breakglass_provider::{ProviderError, Secret, Value};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Source;

/// What a path segment keeps unescaped: Vault's names are mostly `[A-Za-z0-9_.-]`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// One path segment (a name), escaped.
pub fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// The keys of a `LIST` answer, and `key_info` where the endpoint gives it.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The keys, in the server's order.
    pub keys: Vec<String>,
    /// Details by key (`LIST identity/entity/id` gives each entity's name).
    pub key_info: serde_json::Map<String, Value>,
}

/// The client; cheap to clone (clones share limits and counters).
#[derive(Debug, Clone)]
pub struct VaultClient {
    http: HttpClient,
    address: Arc<str>,
    token: Arc<Secret>,
    token_source: Arc<Source>,
    namespace: Option<Arc<str>>,
    counter: Arc<AtomicU64>,
}

impl VaultClient {
    /// A client for the server at `address` (no trailing slash).
    pub fn new(
        http: HttpClient,
        address: &str,
        token: Secret,
        token_source: Source,
        namespace: Option<String>,
    ) -> Self {
        Self {
            http,
            address: Arc::from(address),
            token: Arc::new(token),
            token_source: Arc::new(token_source),
            namespace: namespace.map(Arc::from),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A clone that counts its own API calls from zero, to report what one operation cost.
    pub fn counted(&self) -> Self {
        Self { counter: Arc::new(AtomicU64::new(0)), ..self.clone() }
    }

    /// API calls made through this counting clone (a retried call counts once).
    pub fn api_calls(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// HTTP requests sent by every clone, retries included.
    pub fn http_calls(&self) -> u64 {
        self.http.calls()
    }

    /// Sends `method` to `/v1/{path}` with `query` and a JSON `body`, and returns the answer
    /// whatever its status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<HttpResponse, ProviderError> {
        self.counter.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let body = body.map(Value::to_string);
        self.http
            .send(|client| {
                let mut request = client
                    .request(method.clone(), &url)
                    .header("X-Vault-Token", self.token.expose())
                    .header("X-Vault-Request", "true");
                if let Some(namespace) = &self.namespace {
                    request = request.header("X-Vault-Namespace", namespace.as_ref());
                }
                if !query.is_empty() {
                    request = request.query(query);
                }
                if let Some(body) = &body {
                    request = request.header("Content-Type", "application/json").body(body.clone());
                }
                request.build().map_err(|error| self.http.build_error(error))
            })
            .await
    }

    /// `GET path`: the answer's `data`, or `None` when the server says 404.
    pub async fn read(&self, path: &str) -> Result<Option<Value>, ProviderError> {
        let response = self.send(Method::GET, path, &[], None).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let answer = self.answer("GET", path, &response)?;
        Ok(Some(answer.get("data").cloned().unwrap_or(Value::Null)))
    }

    /// `LIST path`: the keys (none when the server says 404, as it does for an empty list).
    pub async fn list(&self, path: &str) -> Result<Listing, ProviderError> {
        let response = self.send(Method::GET, path, &[("list", "true")], None).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(Listing::default());
        }
        let answer = self.answer("LIST", path, &response)?;
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        let keys = data
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let key_info = data.get("key_info").and_then(Value::as_object).cloned().unwrap_or_default();
        Ok(Listing { keys, key_info })
    }

    /// `POST path` with `body`: the whole answer (`data`, `auth`, `warnings`), or `Null` for a
    /// 204.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Value, ProviderError> {
        let response = self.send(Method::POST, path, &[], Some(body)).await?;
        self.answer("POST", path, &response)
    }

    /// `DELETE path`; deleting what is not there succeeds.
    pub async fn delete(&self, path: &str) -> Result<(), ProviderError> {
        let response = self.send(Method::DELETE, path, &[], None).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        self.answer("DELETE", path, &response).map(|_| ())
    }

    /// The decoded body of a successful answer, or the error it carries.
    fn answer(
        &self,
        method: &str,
        path: &str,
        response: &HttpResponse,
    ) -> Result<Value, ProviderError> {
        if !response.is_success() {
            return Err(failure(method, path, response, &self.token_source));
        }
        if response.status == StatusCode::NO_CONTENT || response.body.is_empty() {
            return Ok(Value::Null);
        }
        response.json::<Value>().map_err(|error| error.context(format!("vault: {method} {path}")))
    }
}

/// The messages of a Vault error answer (`{"errors": ["…"]}`), joined.
pub fn error_messages(response: &HttpResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    let errors = body.get("errors")?.as_array()?;
    let messages: Vec<String> = errors
        .iter()
        .filter_map(Value::as_str)
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|m| !m.is_empty())
        .collect();
    Some(messages.join("; "))
}

/// An answer that is not a success, as an error of the right kind that says what failed and
/// what would fix it. Never quotes the token, a header or a request body.
pub fn failure(
    method: &str,
    path: &str,
    response: &HttpResponse,
    token_source: &Source,
) -> ProviderError {
    use breakglass_provider::ErrorKind;
    let status = response.status;
    let said = match error_messages(response) {
        Some(messages) if !messages.is_empty() => messages,
        Some(_) => "(no message)".to_owned(),
        None => format!("a body that is not a Vault answer: {}", response.excerpt()),
    };
    let what = format!("vault: {method} /v1/{path} answered {status}: {said}");
    let (kind, hint) = match status.as_u16() {
        400 | 409 | 422 => (ErrorKind::Invalid, String::new()),
        401 | 403 => (
            ErrorKind::Denied,
            format!(
                "; the token from {token_source} is unknown, expired, revoked, or its policies \
                 do not allow this path (docs/providers/vault.md lists what the tool's token \
                 needs)"
            ),
        ),
        404 => (ErrorKind::NotFound, String::new()),
        405 => (
            ErrorKind::Unsupported,
            "; the server does not offer this operation here (is the auth method or secrets \
             engine mounted at this path?)"
                .to_owned(),
        ),
        412 => (ErrorKind::Transient, "; a standby has not caught up yet".to_owned()),
        429 => (ErrorKind::Throttled, String::new()),
        503 => (
            ErrorKind::Transient,
            "; the server is sealed, a standby, or in maintenance".to_owned(),
        ),
        _ if status.is_server_error() => (ErrorKind::Transient, String::new()),
        _ => (ErrorKind::Protocol, String::new()),
    };
    ProviderError::new(kind, format!("{what}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use reqwest::header::HeaderMap;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::from_u16(status).unwrap(), HeaderMap::new(), body.to_owned())
    }

    #[test]
    fn error_answers_map_to_kinds_and_say_what_to_fix() {
        let source = Source::Env("VAULT_TOKEN");
        let cases = [
            (403, r#"{"errors":["permission denied"]}"#, ErrorKind::Denied, "VAULT_TOKEN"),
            (
                400,
                r#"{"errors":["1 error occurred:\n\t* bad policy\n\n"]}"#,
                ErrorKind::Invalid,
                "1 error occurred: * bad policy",
            ),
            (404, r#"{"errors":[]}"#, ErrorKind::NotFound, "(no message)"),
            (405, r#"{"errors":["unsupported operation"]}"#, ErrorKind::Unsupported, "mounted"),
            (503, r#"{"errors":["Vault is sealed"]}"#, ErrorKind::Transient, "sealed"),
            (502, "<html>bad gateway</html>", ErrorKind::Transient, "not a Vault answer: <html>"),
            (418, "{}", ErrorKind::Protocol, "418"),
        ];
        for (status, body, kind, says) in cases {
            let error = failure("GET", "sys/policies/acl/x", &response(status, body), &source);
            assert_eq!(error.kind(), kind, "{status}: {error}");
            assert!(error.message().contains(says), "{status}: {error}");
            assert!(error.message().starts_with("vault: GET /v1/sys/policies/acl/x answered"));
        }
    }

    #[test]
    fn names_are_escaped_as_one_segment() {
        assert_eq!(segment("bg-alice_1.x"), "bg-alice_1.x");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
