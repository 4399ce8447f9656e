//! Access tokens for Resource Manager, from the Microsoft identity platform's token endpoint
//! with the OAuth 2.0 client credentials grant (a service principal and its client secret):
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`,
//! `client_id`, `client_secret` and `scope={resource manager}/.default`.
//!
//! A token is cached until shortly before it expires (five minutes, or half its life if it is
//! shorter), and fetched again at once when Resource Manager refuses it (a 401: expired early,
//! revoked): [`TokenSource::invalidate`]. One fetch happens at a time, so a refresh of
//! hundreds of concurrent calls is one request. Neither the secret nor a token ever reaches an
//! error message; the identity platform's own error (`AADSTS…`) does, with the variable to fix.

use breakglass_provider::http::{HttpClient, HttpResponse};
use breakglass_provider::{ErrorKind, ProviderError, Secret};
use reqwest::Url;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{AzureConfig, CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE, TENANT_VARIABLE};

/// How long before its expiry a token is replaced, at most.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Where tokens come from, and the one in use.
#[derive(Debug)]
pub struct TokenSource {
    http: HttpClient,
    url: Url,
    client_id: String,
    client_secret: Secret,
    scope: String,
    cached: Mutex<Option<Cached>>,
    fetched: AtomicU64,
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    refresh_after: Instant,
}

impl TokenSource {
    /// A source for `config`'s service principal, fetching through `http`.
    pub fn new(config: &AzureConfig, http: HttpClient) -> Self {
        let mut url = config.authority_host.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([config.tenant_id.as_str(), "oauth2", "v2.0", "token"]);
        }
        Self {
            http,
            url,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            scope: config.token_scope(),
            cached: Mutex::new(None),
            fetched: AtomicU64::new(0),
        }
    }

    /// Tokens fetched so far (for tests: a cached token is not fetched again).
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// A token valid for a while yet: the cached one, or a new one.
    pub async fn token(&self) -> Result<Secret, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref()
            && Instant::now() < current.refresh_after
        {
            return Ok(current.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        *cached = Some(Cached {
            token: token.clone(),
            refresh_after: Instant::now() + lifetime - margin,
        });
        Ok(token)
    }

    /// Forgets `used` if it is still the cached token (Resource Manager refused it), so the
    /// next call fetches a fresh one; a token another call already replaced stays.
    pub async fn invalidate(&self, used: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|current| current.token == *used) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(Secret, Duration), ProviderError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        let response = self
            .http
            .send(|client| {
                client
                    .post(self.url.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&form)
                    .build()
                    .map_err(|error| self.http.build_error(error))
            })
            .await?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        if !response.is_success() {
            return Err(refusal(&response, &self.url));
        }
        let body: Value = response.json().map_err(|error| {
            ProviderError::protocol(format!(
                "azure: the token endpoint {}: {}",
                self.url.path(),
                error.message()
            ))
        })?;
        parse_token(&body).ok_or_else(|| {
            ProviderError::protocol(format!(
                "azure: the token endpoint {} answered {} without a bearer `access_token` and \
                 its `expires_in`",
                self.url.path(),
                response.status
            ))
        })
    }
}

/// The token and its lifetime from a token response (`expires_in` in seconds, a number or, as
/// older endpoints send it, a string).
fn parse_token(body: &Value) -> Option<(Secret, Duration)> {
    let token = body.get("access_token")?.as_str().filter(|t| !t.is_empty())?;
    if body
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return None;
    }
    let expires_in = match body.get("expires_in")? {
        Value::Number(n) => n.as_u64()?,
        Value::String(text) => text.parse().ok()?,
        _ => return None,
    };
    Some((Secret::new(token), Duration::from_secs(expires_in)))
}

/// The error for a refused token request, with what to fix. The identity platform's
/// `error_description` starts with an `AADSTS` code and a sentence that names no secret; its
/// trace and correlation ids (later lines) are left out.
fn refusal(response: &HttpResponse, url: &Url) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let error = body.get("error").and_then(Value::as_str).unwrap_or("");
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .and_then(|text| text.lines().next())
        .unwrap_or("")
        .trim()
        .to_owned();
    let codes: Vec<u64> = body
        .get("error_codes")
        .and_then(Value::as_array)
        .map(|codes| codes.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let has = |code: u64| codes.contains(&code) || description.contains(&format!("AADSTS{code}:"));
    let advice = if has(7000215) || has(7000222) {
        format!("{CLIENT_SECRET_VARIABLE} is wrong or has expired: make a new client secret")
    } else if has(700016) {
        format!("{CLIENT_ID_VARIABLE} names no application in this tenant")
    } else if has(90002) || has(900023) {
        format!("{TENANT_VARIABLE} names no tenant")
    } else {
        format!(
            "check {TENANT_VARIABLE}, {CLIENT_ID_VARIABLE} and {CLIENT_SECRET_VARIABLE} (a \
             service principal and one of its client secrets)"
        )
    };
    let status = response.status;
    let said = if error.is_empty() && description.is_empty() {
        format!("the body is not an identity platform error; it starts: {}", response.excerpt())
    } else {
        format!("{error}: {description}")
    };
    let kind = if status.is_client_error() { ErrorKind::Denied } else { ErrorKind::Protocol };
    ProviderError::new(
        kind,
        format!("azure: no access token: POST {} answered {status} ({said}); {advice}", url.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    #[test]
    fn token_responses_are_read_with_either_form_of_expires_in() {
        let (token, lifetime) = parse_token(&json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": "eyJ0eXAi.payload.signature"
        }))
        .unwrap();
        assert_eq!(
            (token.expose(), lifetime),
            ("eyJ0eXAi.payload.signature", Duration::from_secs(3599))
        );
        let (_, lifetime) =
            parse_token(&json!({"token_type": "Bearer", "expires_in": "600", "access_token": "t"}))
                .unwrap();
        assert_eq!(lifetime, Duration::from_secs(600));
        for bad in [
            json!({"token_type": "Bearer", "expires_in": 3599}),
            json!({"token_type": "Bearer", "access_token": "t"}),
            json!({"token_type": "pop", "expires_in": 3599, "access_token": "t"}),
            json!({"token_type": "Bearer", "expires_in": -1, "access_token": "t"}),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn refusals_name_what_to_fix_and_no_trace_ids() {
        let url = Url::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap();
        let refused = |status: u16, body: Value| {
            let response = HttpResponse::new(
                StatusCode::from_u16(status).unwrap(),
                HeaderMap::new(),
                body.to_string(),
            );
            refusal(&response, &url)
        };
        let cases = [
            (
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 0c1d\r\nCorrelation ID: 9f8e", "error_codes": [7000215]}),
                "AZURE_CLIENT_SECRET is wrong or has expired",
            ),
            (
                400,
                json!({"error": "unauthorized_client", "error_description": "AADSTS700016: Application with identifier '04b0' was not found in the directory 'contoso'.", "error_codes": [700016]}),
                "AZURE_CLIENT_ID names no application",
            ),
            (
                400,
                json!({"error": "invalid_request", "error_description": "AADSTS90002: Tenant 'x' not found.", "error_codes": [90002]}),
                "AZURE_TENANT_ID names no tenant",
            ),
            (
                400,
                json!("<html>"),
                "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            ),
        ];
        for (status, body, expected) in cases {
            let error = refused(status, body.clone());
            assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
            assert!(error.message().contains(expected), "{body}: {error}");
            assert!(
                error
                    .message()
                    .starts_with("azure: no access token: POST /t/oauth2/v2.0/token answered"),
                "{error}"
            );
            assert!(!error.message().contains("Trace ID"), "{error}");
        }
    }
}
