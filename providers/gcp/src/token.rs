//! Access tokens: a fixed one, or one got from Google's token endpoint with a service account's
//! signed JWT, kept until shortly before it expires and fetched again when Google refuses it.
//!
//! Token exchange (RFC 7523 as Google documents it): `POST token_uri` with the form
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`, answered
//! `{"access_token", "expires_in", "token_type": "Bearer"}` or, on failure, an OAuth error
//! `{"error", "error_description"}`. One exchange at a time: callers that find no fresh token
//! wait for the one exchange under way instead of each making their own.

use breakglass_provider::http::HttpClient;
use breakglass_provider::{ProviderError, Secret};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{ACCESS_TOKEN_VARIABLE, Auth};
use crate::credentials::ServiceAccountKey;

/// The grant type of RFC 7523.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long before its expiry a token is replaced, at most: a call started with a token about
/// to expire would fail mid-way.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Where tokens come from; clones share nothing, so the provider holds one in an `Arc`.
#[derive(Debug)]
pub struct Tokens {
    http: HttpClient,
    auth: Auth,
    cached: Mutex<Option<Cached>>,
    exchanges: AtomicU64,
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    replace_at: Instant,
}

/// A successful token response.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

/// An OAuth error response (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

impl Tokens {
    /// Tokens as `auth` says, fetched through `http`.
    pub fn new(http: HttpClient, auth: Auth) -> Self {
        Self { http, auth, cached: Mutex::new(None), exchanges: AtomicU64::new(0) }
    }

    /// Who calls Google, for messages: the service account, or what the token came from.
    pub fn caller(&self) -> String {
        match &self.auth {
            Auth::AccessToken { source, .. } => format!("the access token from {source}"),
            Auth::ServiceAccount { key, .. } => key.client_email.clone(),
        }
    }

    /// Token exchanges made so far (for tests).
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// A token to call with: the cached one while it is fresh, else a new one.
    pub async fn token(&self) -> Result<Secret, ProviderError> {
        let (key, token_uri) = match &self.auth {
            Auth::AccessToken { token, .. } => return Ok(token.clone()),
            Auth::ServiceAccount { key, token_uri } => (key, token_uri),
        };
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref().filter(|c| Instant::now() < c.replace_at) {
            return Ok(current.token.clone());
        }
        let fresh = self.exchange(key, token_uri).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Google refused `token` (401): forgets it, so the next [`Tokens::token`] fetches another.
    /// Returns whether another can be fetched at all (not for a fixed token).
    pub async fn refused(&self, token: &Secret) -> bool {
        if let Auth::AccessToken { .. } = self.auth {
            return false;
        }
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == *token) {
            *cached = None;
        }
        true
    }

    /// What to do about a token Google refused even after a refresh.
    pub fn refused_error(&self, what: &str) -> ProviderError {
        match &self.auth {
            Auth::AccessToken { source, .. } => ProviderError::denied(format!(
                "gcp: {what} answered 401 Unauthorized: the access token from {source} was not \
                 accepted (tokens last an hour). Print a fresh one with `gcloud auth \
                 print-access-token` into {ACCESS_TOKEN_VARIABLE}, or use a service account \
                 key (GOOGLE_APPLICATION_CREDENTIALS), whose tokens breakglass renews itself"
            )),
            Auth::ServiceAccount { key, .. } => ProviderError::denied(format!(
                "gcp: {what} answered 401 Unauthorized twice, with a token just fetched for {} \
                 (key from {}): Google does not accept that account's tokens; check that the \
                 account and its key are enabled",
                key.client_email, key.origin
            )),
        }
    }

    async fn exchange(
        &self,
        key: &ServiceAccountKey,
        token_uri: &Url,
    ) -> Result<Cached, ProviderError> {
        let assertion = key.assertion(token_uri.as_str(), jiff::Timestamp::now())?;
        let response = self
            .http
            .send(|client| {
                client
                    .post(token_uri.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.expose())])
                    .build()
                    .map_err(|error| self.http.build_error(error))
            })
            .await
            .map_err(|error| {
                error.context(format!("getting an access token for {}", key.client_email))
            })?;
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        let what = format!("POST {}", token_uri.path());
        if !response.is_success() {
            let detail = match response.json::<OAuthError>() {
                Ok(error) => match error.error_description {
                    Some(description) => format!("{}: {description}", error.error),
                    None => error.error,
                },
                Err(_) => {
                    format!("the body is not an OAuth error; it starts: {}", response.excerpt())
                }
            };
            let message = format!(
                "gcp: the token endpoint ({what}) refused the signed JWT of service account {} \
                 (key {} from {}), answering {}: {detail}. Check that the key is current (not \
                 deleted or disabled: `gcloud iam service-accounts keys list`) and that this \
                 machine's clock is right",
                key.client_email,
                key.private_key_id.as_deref().unwrap_or("without an id"),
                key.origin,
                response.status,
            );
            return Err(match response.status {
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    ProviderError::denied(message)
                }
                _ => ProviderError::protocol(message),
            });
        }
        let body: TokenResponse = response.json().map_err(|error| {
            ProviderError::protocol(format!("gcp: {what}: {}", error.message()))
        })?;
        if body.access_token.trim().is_empty()
            || !body.token_type.as_deref().is_none_or(|kind| kind.eq_ignore_ascii_case("bearer"))
        {
            return Err(ProviderError::protocol(format!(
                "gcp: {what} answered 200 without a bearer access token"
            )));
        }
        // Google's tokens last an hour; a missing lifetime is taken as five minutes, to be safe.
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(300));
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Ok(Cached {
            token: Secret::new(body.access_token),
            replace_at: Instant::now() + lifetime - margin,
        })
    }
}
