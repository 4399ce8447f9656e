//! A response read to its end, with helpers to decode it.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::ProviderError;
use crate::http::retry::retry_after;

/// How many characters of a body an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// A platform's answer, body included: [`HttpClient::send`](super::HttpClient::send) reads the
/// body before it returns, so a response is plain data.
///
/// `Debug` shows the status and the body's length, never the headers or the body: a created API
/// key comes back in a body.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl HttpResponse {
    /// A response from its parts; for tests of code that reads responses (a
    /// [`RetryClassifier`](super::RetryClassifier), a provider's error mapping).
    pub fn new(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        Self { status, headers, body: body.into() }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The body as text; bytes that are not UTF-8 become `�`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Decodes the body as JSON of type `T`.
    ///
    /// A body that is not JSON (an HTML error page from a proxy, a truncated answer) is an
    /// [`ErrorKind::Protocol`](crate::ErrorKind::Protocol) error that names the expected type and
    /// quotes the start of the body. A body that is JSON of another shape is the same error, but
    /// quotes no values from the body, since a body can carry a secret.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let expected = short_type_name(std::any::type_name::<T>());
            let status = self.status;
            if error.is_data() {
                ProviderError::protocol(format!(
                    "expected JSON `{expected}` in the {status} response, but the body does not \
                     have that shape: {}",
                    redact_quoted(&error.to_string())
                ))
            } else {
                ProviderError::protocol(format!(
                    "expected JSON `{expected}` in the {status} response, but the body is not \
                     JSON ({error}); it starts: {}",
                    self.excerpt()
                ))
            }
        })
    }

    /// The start of the body as one line of text, at most 200 characters, for error messages.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.is_empty() {
            return "(empty body)".to_owned();
        }
        let mut excerpt: String = text
            .chars()
            .take(EXCERPT_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if text.chars().nth(EXCERPT_CHARS).is_some() {
            excerpt.push('…');
        }
        excerpt
    }

    /// How long the platform asked us to wait, from `Retry-After` (seconds or an HTTP date) or
    /// `retry-after-ms` (OpenAI's milliseconds).
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// `alloc::vec::Vec<my_provider::api::Project>` → `Vec<Project>`. Braces count as part of a
/// path: a type declared in a function is `f::{{closure}}::Project`.
fn short_type_name(full: &str) -> String {
    let mut short = String::with_capacity(full.len());
    let mut path_start = 0;
    for c in full.chars() {
        short.push(c);
        if c == ':' {
            if short.ends_with("::") {
                short.truncate(path_start);
            }
        } else if !(c.is_alphanumeric() || matches!(c, '_' | '{' | '}')) {
            path_start = short.len();
        }
    }
    short
}

/// Replaces the contents of every `"…"` in a serde message, which quotes values from the body
/// (`invalid type: string "sk-…", expected u64`).
fn redact_quoted(message: &str) -> String {
    let mut redacted = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        redacted.push(c);
        if c == '"' {
            redacted.push('…');
            let mut escaped = false;
            for inner in chars.by_ref() {
                match inner {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => break,
                    _ => escaped = false,
                }
            }
            redacted.push('"');
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::{HttpResponse, redact_quoted, short_type_name};
    use crate::ErrorKind;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // only decoded
    struct Project {
        id: String,
        archived: bool,
    }

    fn response(status: u16, body: &str) -> HttpResponse {
        let status = StatusCode::from_u16(status).expect("status");
        HttpResponse::new(status, HeaderMap::new(), body.to_owned())
    }

    #[test]
    fn json_decodes_a_body_of_the_expected_shape() {
        let project: Project =
            response(200, r#"{"id": "p1", "archived": false}"#).json().expect("decodes");
        assert_eq!(project.id, "p1");
    }

    #[test]
    fn a_body_that_is_not_json_is_protocol_with_an_excerpt() {
        let body = format!("<html><body>502 Bad Gateway{}</body></html>", "x".repeat(500));
        let error = response(200, &body).json::<Vec<Project>>().expect_err("not JSON");
        assert_eq!(error.kind(), ErrorKind::Protocol);
        let message = error.message();
        assert!(message.contains("`Vec<Project>`"), "{message}");
        assert!(message.contains("200 OK"), "{message}");
        assert!(message.contains("it starts: <html><body>502 Bad Gateway"), "{message}");
        assert!(message.ends_with('…'), "{message}");
        assert!(message.len() < 400, "the excerpt is truncated: {message}");
    }

    #[test]
    fn a_body_of_another_shape_quotes_no_values() {
        let error = response(201, r#"{"id": 7, "archived": "sk-live-secret"}"#)
            .json::<Project>()
            .expect_err("wrong shape");
        assert_eq!(error.kind(), ErrorKind::Protocol);
        assert!(error.message().contains("`Project`"), "{error}");
        assert!(error.message().contains("does not have that shape"), "{error}");

        let error = response(201, r#"{"archived": "sk-live-secret"}"#)
            .json::<BTreeMap<String, bool>>()
            .expect_err("wrong shape");
        assert!(!error.message().contains("sk-live"), "{error}");
    }

    #[test]
    fn an_empty_body_says_so() {
        let error = response(204, "").json::<Project>().expect_err("empty");
        assert_eq!(error.kind(), ErrorKind::Protocol);
        assert!(error.message().ends_with("(empty body)"), "{error}");
    }

    #[test]
    fn excerpt_is_one_line() {
        assert_eq!(response(500, "  line one\nline two\r\n").excerpt(), "line one line two");
    }

    #[test]
    fn debug_shows_neither_headers_nor_body() {
        let mut headers = HeaderMap::new();
        headers.insert("set-cookie", "session=abc".parse().expect("header"));
        let response = HttpResponse::new(StatusCode::CREATED, headers, "{\"key\":\"sk-live\"}");
        let debug = format!("{response:?}");
        assert!(!debug.contains("sk-live") && !debug.contains("session"), "{debug}");
        assert!(debug.contains("201"), "{debug}");
    }

    #[test]
    fn type_names_lose_their_paths() {
        let cases = [
            ("alloc::vec::Vec<my_provider::api::Project>", "Vec<Project>"),
            ("core::option::Option<(u32, alloc::string::String)>", "Option<(u32, String)>"),
            ("Project", "Project"),
            ("&[a::B]", "&[B]"),
            ("my::tests::show::{{closure}}::Project", "Project"),
        ];
        for (full, short) in cases {
            assert_eq!(short_type_name(full), short, "{full}");
        }
    }

    #[test]
    fn quoted_values_are_redacted() {
        let cases = [
            (
                r#"invalid type: string "sk-1", expected a boolean at line 1 column 20"#,
                r#"invalid type: string "…", expected a boolean at line 1 column 20"#,
            ),
            (r#"a "b\"c" d"#, r#"a "…" d"#),
            ("missing field `id` at line 1 column 2", "missing field `id` at line 1 column 2"),
            (r#"unterminated "abc"#, r#"unterminated "…""#),
        ];
        for (message, redacted) in cases {
            assert_eq!(redact_quoted(message), redacted, "{message}");
        }
    }
}
