//! The Administration API over the shared HTTP client: URLs, the bearer key, and OpenAI's
//! error bodies turned into errors that say what to do.
//!
//! Retries, backoff, `retry-after-ms` and limits are the shared client's
//! ([`breakglass_provider::http`]); this module only knows OpenAI. Error messages name the
//! provider, the method and the path, never the key: the body of a 401 is not quoted at all
//! (OpenAI echoes part of the key there), and anything shaped like a key in other error
//! bodies is masked.

use breakglass_provider::http::{HttpClient, HttpConfig, HttpResponse};
use breakglass_provider::{ErrorKind, ProviderError, Secret};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{ErrorResponse, Tagged, check_tag};
use crate::config::{ADMIN_KEY_VARIABLE, OpenAiConfig};

/// A configured connection to the Administration API. Clones share limits and counters.
#[derive(Debug, Clone)]
pub struct Api {
    http: HttpClient,
    base_url: Url,
    admin_key: Secret,
    page_size: u32,
}

impl Api {
    /// A connection as `config` says.
    pub fn new(config: &OpenAiConfig) -> Result<Self, ProviderError> {
        let http_config = HttpConfig::default()
            .with_max_attempts(config.max_attempts)
            .with_request_timeout(config.timeout);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
        if config.is_loopback() {
            // A proxy from the environment would send a local test server's traffic elsewhere.
            builder = builder.no_proxy();
        }
        Ok(Self {
            http: HttpClient::from_builder("openai", http_config, builder)?,
            base_url: config.base_url.clone(),
            admin_key: config.admin_key.clone(),
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

    /// `GET` of `segments` (below the base URL) with `query`, decoded as `T` with its tag
    /// checked.
    pub async fn get<T: DeserializeOwned + Tagged>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        self.call(Method::GET, segments, query, None::<&()>).await
    }

    /// `POST` of `body` as JSON.
    pub async fn post<T: DeserializeOwned + Tagged, B: Serialize + Sync>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ProviderError> {
        self.call(Method::POST, segments, &[], Some(body)).await
    }

    /// `DELETE`.
    pub async fn delete<T: DeserializeOwned + Tagged>(
        &self,
        segments: &[&str],
    ) -> Result<T, ProviderError> {
        self.call(Method::DELETE, segments, &[], None::<&()>).await
    }

    async fn call<T: DeserializeOwned + Tagged, B: Serialize + Sync>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ProviderError> {
        let url = self.url(segments, query);
        let what = format!("{method} {}", url.path());
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|error| ProviderError::invalid(format!("openai: {what}: {error}")))?;
        let response = self
            .http
            .send(|client| {
                let mut request = client
                    .request(method.clone(), url.clone())
                    .bearer_auth(self.admin_key.expose())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(body) = &body {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone());
                }
                request.build().map_err(|error| self.http.build_error(error))
            })
            .await?;
        if !response.is_success() {
            return Err(self.error(&what, &response));
        }
        let value: T = response.json().map_err(|error| {
            ProviderError::protocol(format!("openai: {what}: {}", error.message()))
        })?;
        check_tag(value, &what)
    }

    /// `base_url/segment/segment?query`, each segment percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// The error a failed response stands for, with what to do about it.
    fn error(&self, what: &str, response: &HttpResponse) -> ProviderError {
        let status = response.status;
        let detail = || self.detail(response);
        match status {
            StatusCode::UNAUTHORIZED => ProviderError::denied(format!(
                "openai: {what} answered {status}: the admin key was not accepted. Set \
                 {ADMIN_KEY_VARIABLE} (or `admin_key` in the provider \"openai\" block) to an \
                 organization Admin API key (sk-admin-…); project API keys cannot use the \
                 Administration API"
            )),
            StatusCode::FORBIDDEN => ProviderError::denied(format!(
                "openai: {what} answered {status}: {}. The Admin API key in \
                 {ADMIN_KEY_VARIABLE} needs write access to projects (an organization owner \
                 makes admin keys)",
                detail()
            )),
            StatusCode::NOT_FOUND => {
                ProviderError::not_found(format!("openai: {what} answered {status}: {}", detail()))
            }
            status if status.is_client_error() => ProviderError::invalid(format!(
                "openai: OpenAI refused {what} ({status}): {}",
                detail()
            )),
            status => ProviderError::new(
                ErrorKind::Protocol,
                format!(
                    "openai: {what} answered {status}, which it does not document: {}",
                    detail()
                ),
            ),
        }
    }

    /// The message of an `ErrorResponse`, else the start of the body; keys masked either way.
    fn detail(&self, response: &HttpResponse) -> String {
        let text = match response.json::<ErrorResponse>() {
            Ok(body) if !body.error.message.is_empty() => {
                let mut message = body.error.message;
                if let Some(code) = body.error.code.filter(|code| !code.is_null()) {
                    let code = code.as_str().map_or_else(|| code.to_string(), str::to_owned);
                    message.push_str(&format!(" (code {code})"));
                }
                message
            }
            _ => format!("the body is not an OpenAI error; it starts: {}", response.excerpt()),
        };
        mask_keys(&text, &self.admin_key)
    }
}

/// `text` with the admin key, and every word that looks like an OpenAI key (`sk-…`), masked.
pub fn mask_keys(text: &str, key: &Secret) -> String {
    let text = if key.expose().len() >= 8 {
        text.replace(key.expose(), "(sensitive)")
    } else {
        text.to_owned()
    };
    let mut masked = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("sk-") {
        let at_word_start = rest[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        masked.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*')))
            .unwrap_or(after.len());
        if at_word_start {
            masked.push_str("sk-…");
        } else {
            masked.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    masked.push_str(rest);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpenAiConfig;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    fn api(base_url: &str) -> Api {
        let mut attributes = breakglass_provider::Attributes::new();
        attributes.insert("admin_key".into(), json!("sk-admin-0123456789abcdef"));
        attributes.insert("base_url".into(), json!(base_url));
        Api::new(&OpenAiConfig::from_attributes(&attributes, |_| None).unwrap()).unwrap()
    }

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::from_u16(status).unwrap(), HeaderMap::new(), body.to_owned())
    }

    #[test]
    fn urls_are_the_base_url_and_encoded_segments() {
        let api = api("https://api.openai.com/v1/");
        let url = api.url(
            &["organization", "projects", "proj_1", "users"],
            &[("limit", "100".into()), ("after", "user a&b".into())],
        );
        assert_eq!(
            url.as_str(),
            "https://api.openai.com/v1/organization/projects/proj_1/users?limit=100&after=user+a%26b"
        );
        let url = api.url(&["organization", "projects", "../x", "users"], &[]);
        assert_eq!(url.path(), "/v1/organization/projects/..%2Fx/users");
    }

    #[test]
    fn error_bodies_become_errors_that_say_what_to_do() {
        let api = api("https://api.openai.com/v1");
        let error_body = |message: &str, code: &str| {
            json!({"error": {"message": message, "type": "invalid_request_error",
                             "param": null, "code": code}})
            .to_string()
        };
        let cases = [
            (
                401,
                error_body("Incorrect API key provided: sk-admin-0123****cdef.", "invalid_api_key"),
                ErrorKind::Denied,
                "the admin key was not accepted. Set OPENAI_ADMIN_KEY",
            ),
            (
                403,
                error_body("You have insufficient permissions for this operation.", "x"),
                ErrorKind::Denied,
                "insufficient permissions for this operation. (code x). The Admin API key in \
                 OPENAI_ADMIN_KEY needs write access",
            ),
            (
                404,
                error_body("No such project: proj_9", "not_found"),
                ErrorKind::NotFound,
                "No such project: proj_9",
            ),
            (
                400,
                error_body("User user_9 is not a member of the organization", "invalid"),
                ErrorKind::Invalid,
                "OpenAI refused GET /v1/organization/projects (400 Bad Request): User user_9",
            ),
            (
                409,
                "<html>conflict</html>".to_owned(),
                ErrorKind::Invalid,
                "it starts: <html>conflict</html>",
            ),
            (501, "{}".to_owned(), ErrorKind::Protocol, "which it does not document"),
        ];
        for (status, body, kind, expected) in cases {
            let error = api.error("GET /v1/organization/projects", &response(status, &body));
            assert_eq!(error.kind(), kind, "{status}: {error}");
            assert!(error.message().contains(expected), "{status}: {error}");
            assert!(error.message().starts_with("openai: "), "{error}");
            assert!(!error.message().contains("0123"), "no part of the key: {error}");
        }
    }

    #[test]
    fn keys_are_masked_wherever_they_appear() {
        let key = Secret::new("sk-admin-0123456789abcdef");
        let cases = [
            ("key sk-admin-0123456789abcdef leaked", "key (sensitive) leaked"),
            ("Incorrect API key provided: sk-proj-ab**cd.", "Incorrect API key provided: sk-…."),
            ("(sk-abc)", "(sk-…)"),
            ("task-sk-1 stays", "task-sk-1 stays"),
            ("no key here", "no key here"),
        ];
        for (text, expected) in cases {
            assert_eq!(mask_keys(text, &key), expected, "{text}");
        }
    }
}
