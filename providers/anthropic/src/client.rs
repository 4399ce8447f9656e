//! The Admin API client: authentication headers, error bodies, strict decoding and cursor
//! pagination, on top of the shared HTTP client.

use breakglass_provider::http::{HttpClient, HttpConfig, HttpResponse, RetryClassifier};
use breakglass_provider::{ErrorKind, ProviderError, Secret};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::api::{ErrorBody, Page, Tagged, check_tag};
use crate::config::{ADMIN_KEY_VAR, AnthropicConfig};

/// The most pages one listing may take: far beyond any real organization, low enough that a
/// server that keeps saying `has_more` is caught.
const MAX_PAGES: u64 = 10_000;

/// Anthropic answers `529 overloaded_error` when the API is overloaded: a passing failure
/// (<https://docs.anthropic.com/en/api/errors>).
struct Overloaded;

impl RetryClassifier for Overloaded {
    fn classify(&self, response: &HttpResponse) -> Option<ProviderError> {
        (response.status.as_u16() == 529).then(|| {
            ProviderError::transient(
                "Anthropic's API is overloaded (overloaded_error); it usually passes within \
                 minutes: run the command again",
            )
        })
    }

    fn status_name(&self, status: StatusCode) -> Option<&'static str> {
        (status.as_u16() == 529).then_some("Overloaded")
    }
}

/// The Admin API at one base URL, with one admin key.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: HttpClient,
    base_url: String,
    admin_key: Secret,
    api_version: String,
    page_size: u64,
}

impl AdminClient {
    /// A client for `config`, on the shared HTTP client with its default retries and limits.
    pub fn new(config: &AnthropicConfig) -> Result<Self, ProviderError> {
        let http = HttpClient::new("anthropic", HttpConfig::default())?
            .with_classifier(Arc::new(Overloaded));
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            admin_key: config.admin_key.clone(),
            api_version: config.api_version.clone(),
            page_size: config.page_size,
        })
    }

    /// `GET path`: the object, or `None` when the API answers 404.
    pub async fn get<T: DeserializeOwned + Tagged>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ProviderError> {
        let response = self.send(Method::GET, path, &[], None).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.decode(&Method::GET, path, &response).map(Some)
    }

    /// `POST path` with a JSON body: the object the API answers with.
    pub async fn post<T: DeserializeOwned + Tagged>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ProviderError> {
        let response = self.send(Method::POST, path, &[], Some(body)).await?;
        self.decode(&Method::POST, path, &response)
    }

    /// `DELETE path`: `true` when deleted, `false` when the API answers 404 (already gone).
    pub async fn delete<T: DeserializeOwned + Tagged>(
        &self,
        path: &str,
    ) -> Result<bool, ProviderError> {
        let response = self.send(Method::DELETE, path, &[], None).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.decode::<T>(&Method::DELETE, path, &response)?;
        Ok(true)
    }

    /// Every item of a list endpoint, following `after_id` cursors until `has_more` is false.
    /// Returns the items and the number of calls made.
    ///
    /// A cursor that does not advance (the same `last_id` twice), `has_more` with no `last_id`
    /// or an empty page, or more than 10,000 pages, is an [`ErrorKind::Protocol`] error.
    pub async fn list<T: DeserializeOwned + Tagged>(
        &self,
        path: &str,
        filters: &[(&str, String)],
    ) -> Result<(Vec<T>, u64), ProviderError> {
        let mut items = Vec::new();
        let mut seen_cursors = BTreeSet::new();
        let mut after: Option<String> = None;
        let mut calls = 0;
        loop {
            let mut query: Vec<(&str, String)> = filters.to_vec();
            query.push(("limit", self.page_size.to_string()));
            if let Some(cursor) = &after {
                query.push(("after_id", cursor.clone()));
            }
            let response = self.send(Method::GET, path, &query, None).await?;
            calls += 1;
            let page: Page<T> = self.decode_page(path, &response)?;
            let stuck = |why: &str| {
                ProviderError::protocol(format!(
                    "anthropic: GET {path} {why} after {calls} pages; the listing was stopped \
                     rather than read forever. This is a fault of the API or of a proxy in front \
                     of it; try again later"
                ))
            };
            let empty = page.data.is_empty();
            items.extend(page.data);
            if !page.has_more {
                return Ok((items, calls));
            }
            let Some(next) = page.last_id else {
                return Err(stuck("said has_more but gave no last_id to continue from"));
            };
            if empty {
                return Err(stuck("said has_more on an empty page"));
            }
            if !seen_cursors.insert(next.clone()) {
                return Err(stuck(&format!(
                    "returned the cursor \"{next}\" again: pagination does not advance"
                )));
            }
            if calls >= MAX_PAGES {
                return Err(stuck("still had more"));
            }
            after = Some(next);
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<HttpResponse, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .http
            .send(|client| {
                let mut request = client
                    .request(method.clone(), &url)
                    .header("x-api-key", self.admin_key.expose())
                    .header("anthropic-version", &self.api_version)
                    .header("accept", "application/json");
                if !query.is_empty() {
                    request = request.query(query);
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                request.build().map_err(|error| self.http.build_error(error))
            })
            .await?;
        if response.is_success() || response.status == StatusCode::NOT_FOUND {
            Ok(response)
        } else {
            Err(error_for(&method, path, &response))
        }
    }

    fn decode<T: DeserializeOwned + Tagged>(
        &self,
        method: &Method,
        path: &str,
        response: &HttpResponse,
    ) -> Result<T, ProviderError> {
        if response.status == StatusCode::NOT_FOUND {
            return Err(error_for(method, path, response));
        }
        let call = format!("{method} {path}");
        let item: T =
            response.json().map_err(|error| error.context(format!("anthropic: {call}")))?;
        check_tag(&item, &call)?;
        Ok(item)
    }

    fn decode_page<T: DeserializeOwned + Tagged>(
        &self,
        path: &str,
        response: &HttpResponse,
    ) -> Result<Page<T>, ProviderError> {
        if response.status == StatusCode::NOT_FOUND {
            return Err(error_for(&Method::GET, path, response));
        }
        let call = format!("GET {path}");
        let page: Page<T> =
            response.json().map_err(|error| error.context(format!("anthropic: {call}")))?;
        for item in &page.data {
            check_tag(item, &call)?;
        }
        Ok(page)
    }
}

/// The error a failed answer stands for: its kind from the status, its message from the
/// documented error body, and what to do about it.
pub fn error_for(method: &Method, path: &str, response: &HttpResponse) -> ProviderError {
    let status = response.status;
    let detail = response.json::<ErrorBody>().ok().map(|body| body.error);
    let what = format!("anthropic: {method} {path} answered {status}");
    let described = match &detail {
        Some(detail) => format!("{what} ({}: {})", detail.kind, detail.message),
        None => format!("{what}: {}", response.excerpt()),
    };
    match status.as_u16() {
        401 => ProviderError::denied(format!(
            "{what}{}: the Admin API key was refused. Set {ADMIN_KEY_VAR} (or `admin_key` in the \
             provider \"anthropic\" block) to a valid Admin API key (sk-ant-admin…)",
            detail.map(|d| format!(" ({})", d.kind)).unwrap_or_default()
        )),
        403 => ProviderError::denied(format!(
            "{described}: the Admin API key may not do this; use an Admin API key issued by an \
             organization admin"
        )),
        404 => ProviderError::not_found(described),
        400 | 409 | 413 | 422 => ProviderError::invalid(described),
        _ => ProviderError::new(ErrorKind::Protocol, described),
    }
}

/// `id` as one URL path segment: ids are made of letters, digits, `_` and `-`, and anything else
/// is refused rather than allowed to reach another path.
pub fn segment<'a>(what: &str, id: &'a str) -> Result<&'a str, ProviderError> {
    let valid = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(id)
    } else {
        Err(ProviderError::invalid(format!(
            "anthropic: `{what}` \"{id}\" is not an Anthropic id (letters, digits, `_` and `-`, \
             such as wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::from_u16(status).unwrap(), HeaderMap::new(), body.to_owned())
    }

    #[test]
    fn statuses_map_to_kinds_and_messages_say_what_to_do() {
        let body = |kind: &str, message: &str| {
            format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}"#)
        };
        let cases = [
            (
                401,
                body("authentication_error", "invalid x-api-key"),
                ErrorKind::Denied,
                "ANTHROPIC_ADMIN_KEY",
            ),
            (403, body("permission_error", "no"), ErrorKind::Denied, "organization admin"),
            (404, body("not_found_error", "gone"), ErrorKind::NotFound, "not_found_error: gone"),
            (400, body("invalid_request_error", "bad role"), ErrorKind::Invalid, "bad role"),
            (418, "<html>teapot</html>".to_owned(), ErrorKind::Protocol, "<html>teapot"),
        ];
        for (status, body, kind, says) in cases {
            let error =
                error_for(&Method::GET, "/v1/organizations/workspaces", &response(status, &body));
            assert_eq!(error.kind(), kind, "{status}");
            assert!(
                error.message().starts_with("anthropic: GET /v1/organizations/workspaces answered"),
                "{error}"
            );
            assert!(error.message().contains(says), "{status}: {error}");
        }
    }

    #[test]
    fn only_plain_ids_become_path_segments() {
        assert!(segment("workspace_id", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ").is_ok());
        for bad in ["", "../api_keys", "a/b", "a?b", "a b"] {
            assert!(segment("workspace_id", bad).is_err(), "{bad}");
        }
    }
}
