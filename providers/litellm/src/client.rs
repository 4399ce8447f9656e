//! The proxy's admin API: bearer authentication, error bodies and field-by-field decoding, on
//! top of the shared HTTP client.

use breakglass_provider::http::{HttpClient, HttpConfig, HttpResponse};
use breakglass_provider::{ErrorKind, ProviderError, Secret, Value};
use reqwest::{Method, StatusCode};
use serde_json::Map;

use crate::config::{LiteLlmConfig, MASTER_KEY_VAR};

/// A JSON object from the API.
pub type Object = Map<String, Value>;

/// The admin API of one proxy, with one master key.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: HttpClient,
    base_url: String,
    master_key: Secret,
}

impl AdminClient {
    /// A client for `config`, on the shared HTTP client with its default retries and limits.
    pub fn new(config: &LiteLlmConfig) -> Result<Self, ProviderError> {
        Ok(Self {
            http: HttpClient::new("litellm", HttpConfig::default())?,
            base_url: config.base_url.clone(),
            master_key: config.master_key.clone(),
        })
    }

    /// `GET path?query`: the JSON object answered, or `None` on 404.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<Object>, ProviderError> {
        let response = self.send(Method::GET, path, query, None).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        object(&Method::GET, path, &response).map(Some)
    }

    /// `POST path` with a JSON body: the JSON object answered.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Object, ProviderError> {
        let response = self.send(Method::POST, path, &[], Some(body)).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Err(error_for(&Method::POST, path, &response));
        }
        object(&Method::POST, path, &response)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<HttpResponse, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .http
            .send(|client| {
                let mut request = client
                    .request(method.clone(), &url)
                    .bearer_auth(self.master_key.expose())
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
}

/// The body as a JSON object, or an error naming the call.
fn object(method: &Method, path: &str, response: &HttpResponse) -> Result<Object, ProviderError> {
    response.json::<Object>().map_err(|error| error.context(format!("litellm: {method} {path}")))
}

/// The error a failed answer stands for. LiteLLM answers
/// `{"error": {"message", "type", "param", "code"}}` (its `ProxyException`), and FastAPI's
/// validation errors `{"detail": …}`; 401 messages are left out because the proxy quotes part of
/// the key it was given.
pub fn error_for(method: &Method, path: &str, response: &HttpResponse) -> ProviderError {
    let status = response.status;
    let what = format!("litellm: {method} {path} answered {status}");
    if status == StatusCode::UNAUTHORIZED {
        return ProviderError::denied(format!(
            "{what}: the master key was refused. Set {MASTER_KEY_VAR} (or `master_key` in the \
             provider \"litellm\" block) to the proxy's master key"
        ));
    }
    let body = response.json::<Object>().ok();
    let message = body.as_ref().and_then(|body| match (body.get("error"), body.get("detail")) {
        (Some(Value::Object(error)), _) => error.get("message").map(text),
        (_, Some(detail)) => Some(text(detail)),
        _ => None,
    });
    let described = match message {
        Some(message) => format!("{what}: {message}"),
        None => format!("{what}: {}", response.excerpt()),
    };
    match status.as_u16() {
        403 => ProviderError::denied(format!(
            "{described}: the key may not do this; use the proxy's master key or a proxy admin key"
        )),
        404 => ProviderError::not_found(described),
        400 | 409 | 422 => ProviderError::invalid(described),
        _ => ProviderError::new(ErrorKind::Protocol, described),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Reads one field of an object the API returned: it must be present (`null` allowed where
/// `nullable`) and of the expected JSON type, else the answer is not what the API documents.
pub fn field<'a>(
    object: &'a Object,
    name: &str,
    expected: Kind,
    call: &str,
) -> Result<Option<&'a Value>, ProviderError> {
    let wrong = |why: String| ProviderError::protocol(format!("litellm: {call}: {why}"));
    match object.get(name) {
        None => Err(wrong(format!("the answer has no `{name}`"))),
        Some(Value::Null) => Ok(None),
        Some(value) if expected.accepts(value) => Ok(Some(value)),
        Some(_) => Err(wrong(format!("`{name}` is not {}", expected.describe()))),
    }
}

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    String,
    /// A number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Bool,
    /// A list of strings.
    Strings,
    /// A JSON object.
    Object,
}

impl Kind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::Number => value.is_number(),
            Kind::Integer => value.is_i64() || value.is_u64(),
            Kind::Bool => value.is_boolean(),
            Kind::Strings => {
                value.as_array().is_some_and(|items| items.iter().all(Value::is_string))
            }
            Kind::Object => value.is_object(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Integer => "a whole number",
            Kind::Bool => "true or false",
            Kind::Strings => "a list of strings",
            Kind::Object => "an object",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::from_u16(status).unwrap(), HeaderMap::new(), body.to_owned())
    }

    #[test]
    fn errors_name_the_call_and_a_401_names_the_variable_but_quotes_nothing() {
        let auth = r#"{"error": {"message": "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...abcd", "type": "auth_error", "param": "None", "code": "401"}}"#;
        let error = error_for(&Method::GET, "/key/list", &response(401, auth));
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert!(error.message().contains(MASTER_KEY_VAR), "{error}");
        assert!(!error.message().contains("abcd"), "{error}");

        let bad = r#"{"error": {"message": "Key with alias 'x' already exists.", "type": "bad_request_error", "param": "key_alias", "code": "400"}}"#;
        let error = error_for(&Method::POST, "/key/generate", &response(400, bad));
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().ends_with("Key with alias 'x' already exists."), "{error}");

        let validation = r#"{"detail": [{"loc": ["body", "key"], "msg": "Field required"}]}"#;
        let error = error_for(&Method::POST, "/key/block", &response(422, validation));
        assert!(error.message().contains("Field required"), "{error}");

        let error = error_for(&Method::GET, "/team/info", &response(418, "<html>"));
        assert_eq!(error.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn fields_must_be_present_and_of_their_type() {
        let object: Object =
            serde_json::from_value(json!({"token": "abc", "models": ["a", 1], "spend": null}))
                .unwrap();
        assert_eq!(field(&object, "token", Kind::String, "c").unwrap(), Some(&json!("abc")));
        assert_eq!(field(&object, "spend", Kind::Number, "c").unwrap(), None);
        assert!(
            field(&object, "missing", Kind::String, "c")
                .unwrap_err()
                .message()
                .contains("no `missing`")
        );
        assert!(field(&object, "models", Kind::Strings, "c").is_err());
        assert!(field(&object, "token", Kind::Bool, "c").is_err());
    }
}
