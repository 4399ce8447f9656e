//! Cloud Resource Manager v3's IAM methods over the shared HTTP client, with a bearer token
//! from [`Tokens`] (fetched again once when Google answers 401), and Google's error bodies
//! (`{"error": {"code", "message", "status"}}`, the API Design Guide's error model) turned
//! into errors that say what to do.
//!
//! Methods (discovery document `cloudresourcemanager:v3`): `POST v3/{+resource}:getIamPolicy`
//! with a `GetIamPolicyRequest`, and `POST v3/{+resource}:setIamPolicy` with a
//! `SetIamPolicyRequest`, for `projects/*`, `folders/*` and `organizations/*` alike; both
//! answer a `Policy`. Throttling (429 `RESOURCE_EXHAUSTED`) and 5xx are retried with backoff
//! by the shared client.

use breakglass_provider::http::{HttpClient, HttpConfig, HttpResponse};
use breakglass_provider::{ErrorKind, ProviderError, Secret};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use crate::config::GcpConfig;
use crate::policy::Policy;
use crate::token::Tokens;

/// The outcome of a `setIamPolicy`.
#[derive(Debug)]
pub enum Written {
    /// The policy as Google now holds it.
    Done(Policy),
    /// Someone changed the policy since it was read (409 `ABORTED`): nothing was written.
    Conflict,
}

/// A configured connection to Cloud Resource Manager. Clones share limits and the token.
#[derive(Debug, Clone)]
pub struct Api {
    http: HttpClient,
    endpoint: Url,
    tokens: Arc<Tokens>,
}

/// Google's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

impl Api {
    /// A connection as `config` says.
    pub fn new(config: &GcpConfig) -> Result<Self, ProviderError> {
        let http_config = HttpConfig::default()
            .with_max_attempts(config.max_attempts)
            .with_request_timeout(config.timeout);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
        if config.is_loopback() {
            // A proxy from the environment would send a local test server's traffic elsewhere.
            builder = builder.no_proxy();
        }
        let http = HttpClient::from_builder("gcp", http_config, builder)?;
        let tokens = Arc::new(Tokens::new(http.clone(), config.auth.clone()));
        Ok(Self { http, endpoint: config.endpoint.clone(), tokens })
    }

    /// HTTP requests sent so far, token exchanges and retries included.
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// Token exchanges so far.
    pub fn token_exchanges(&self) -> u64 {
        self.tokens.exchanges()
    }

    /// `getIamPolicy`, asking for version 3 so conditional bindings come back whole (a lower
    /// version hides their conditions behind `_withcond_` role names).
    pub async fn get_iam_policy(&self, resource: &str) -> Result<Policy, ProviderError> {
        let body = json!({"options": {"requestedPolicyVersion": 3}});
        let (what, response) = self.call(resource, "getIamPolicy", &body).await?;
        if !response.is_success() {
            return Err(self.error(&what, resource, &response));
        }
        decode(&what, &response)
    }

    /// `setIamPolicy` of `policy`, which carries the etag of the policy it was made from.
    pub async fn set_iam_policy(
        &self,
        resource: &str,
        policy: &Policy,
    ) -> Result<Written, ProviderError> {
        let body = json!({"policy": policy});
        let (what, response) = self.call(resource, "setIamPolicy", &body).await?;
        if response.status == StatusCode::CONFLICT
            || response.status == StatusCode::PRECONDITION_FAILED
        {
            return Ok(Written::Conflict);
        }
        if !response.is_success() {
            return Err(self.error(&what, resource, &response));
        }
        decode(&what, &response).map(Written::Done)
    }

    /// Sends one method call; on 401, fetches a new token and sends it once more.
    async fn call(
        &self,
        resource: &str,
        method: &str,
        body: &serde_json::Value,
    ) -> Result<(String, HttpResponse), ProviderError> {
        let url = self.endpoint.join(&format!("v3/{resource}:{method}")).map_err(|error| {
            ProviderError::invalid(format!("gcp: {resource} makes no URL: {error}"))
        })?;
        let what = format!("POST {}", url.path());
        let body = serde_json::to_vec(body)
            .map_err(|error| ProviderError::invalid(format!("gcp: {what}: {error}")))?;
        let token = self.tokens.token().await?;
        let response = self.send(&url, &token, &body).await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok((what, response));
        }
        if !self.tokens.refused(&token).await {
            return Err(self.tokens.refused_error(&what));
        }
        let token = self.tokens.token().await?;
        let response = self.send(&url, &token, &body).await?;
        if response.status == StatusCode::UNAUTHORIZED {
            return Err(self.tokens.refused_error(&what));
        }
        Ok((what, response))
    }

    async fn send(
        &self,
        url: &Url,
        token: &Secret,
        body: &[u8],
    ) -> Result<HttpResponse, ProviderError> {
        self.http
            .send(|client| {
                client
                    .post(url.clone())
                    .bearer_auth(token.expose())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_vec())
                    .build()
                    .map_err(|error| self.http.build_error(error))
            })
            .await
    }

    /// The error a failed response stands for, with what to do about it.
    fn error(&self, what: &str, resource: &str, response: &HttpResponse) -> ProviderError {
        let status = response.status;
        let (detail, code) = match response.json::<ErrorBody>() {
            Ok(body) => (body.error.message, body.error.status),
            Err(_) => (
                format!("the body is not a Google error; it starts: {}", response.excerpt()),
                String::new(),
            ),
        };
        let code = if code.is_empty() { String::new() } else { format!(" {code}") };
        match status {
            StatusCode::FORBIDDEN => {
                let (collection, method) = what
                    .rsplit_once(':')
                    .map(|(path, method)| {
                        let collection = if path.contains("/folders/") {
                            "folders"
                        } else if path.contains("/organizations/") {
                            "organizations"
                        } else {
                            "projects"
                        };
                        (collection, method)
                    })
                    .unwrap_or(("projects", "getIamPolicy"));
                ProviderError::denied(format!(
                    "gcp: {what} answered {status}{code}: {detail}. {} needs the permission \
                     resourcemanager.{collection}.{method} on {resource} (Google answers the \
                     same when {resource} does not exist); see docs/providers/gcp.md",
                    self.tokens.caller()
                ))
            }
            StatusCode::NOT_FOUND => {
                ProviderError::not_found(format!("gcp: {what} answered {status}{code}: {detail}"))
            }
            status if status.is_client_error() => ProviderError::invalid(format!(
                "gcp: Google refused {what} ({status}{code}): {detail}"
            )),
            status => ProviderError::new(
                ErrorKind::Protocol,
                format!(
                    "gcp: {what} answered {status}{code}, which it does not document: {detail}"
                ),
            ),
        }
    }
}

fn decode(what: &str, response: &HttpResponse) -> Result<Policy, ProviderError> {
    response
        .json()
        .map_err(|error| ProviderError::protocol(format!("gcp: {what}: {}", error.message())))
}
