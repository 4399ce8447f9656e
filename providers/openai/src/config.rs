//! The evaluated `provider "openai"` block, with the environment variables OpenAI's own SDKs
//! read as defaults (`OPENAI_ADMIN_KEY`, `OPENAI_BASE_URL`), so a policy runs unchanged against
//! the real API or a local server.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use reqwest::Url;
use std::time::Duration;

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Where the admin key is read from when the block does not set one.
pub const ADMIN_KEY_VARIABLE: &str = "OPENAI_ADMIN_KEY";
/// Where the base URL is read from when the block does not set one.
pub const BASE_URL_VARIABLE: &str = "OPENAI_BASE_URL";

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The API's base URL, without a trailing slash (`https://api.openai.com/v1`).
    pub base_url: Url,
    /// The organization Admin API key.
    pub admin_key: Secret,
    /// Objects asked for per page.
    pub page_size: u32,
    /// Attempts per call.
    pub max_attempts: u32,
    /// Time allowed per call.
    pub timeout: Duration,
}

impl OpenAiConfig {
    /// Reads the block's attributes, falling back on `environment` (a lookup, so tests need not
    /// touch the process environment).
    pub fn from_attributes(
        attributes: &Attributes,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let admin_key = string(attributes, "admin_key")?
            .or_else(|| environment(ADMIN_KEY_VARIABLE))
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| {
                ProviderError::denied(format!(
                    "provider \"openai\": no admin key: set {ADMIN_KEY_VARIABLE} to an \
                     organization Admin API key (sk-admin-…), or set `admin_key = \
                     env(\"…\")` in the provider block"
                ))
            })?;
        let base_url = string(attributes, "base_url")?
            .or_else(|| environment(BASE_URL_VARIABLE))
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Ok(Self {
            base_url: parse_base_url(&base_url)?,
            admin_key: Secret::new(admin_key.trim()),
            page_size: whole_number(attributes, "page_size", 1, 100)?.unwrap_or(100),
            max_attempts: whole_number(attributes, "max_attempts", 1, 20)?.unwrap_or(5),
            timeout: Duration::from_secs(
                whole_number(attributes, "timeout_seconds", 1, 600)?.unwrap_or(30).into(),
            ),
        })
    }

    /// Whether the API is on this machine (a test server), where proxies must not be used.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.base_url)
    }
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

fn parse_base_url(text: &str) -> Result<Url, ProviderError> {
    // A URL with a user name or a query may carry a secret: it is not quoted back.
    let shown = if text.contains('@') || text.contains('?') {
        "(not shown: it may hold a secret)".to_owned()
    } else {
        format!("{text:?}")
    };
    let wrong = |why: &str| {
        ProviderError::invalid(format!(
            "provider \"openai\": base_url {shown} {why}; expected the API's base URL, such \
             as {DEFAULT_BASE_URL}"
        ))
    };
    let mut url = Url::parse(text.trim()).map_err(|_| wrong("is not a URL"))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(wrong("has a query, a fragment or a user name"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(wrong(
                "would send the admin key unencrypted (plain http is accepted only for a \
                 loopback address)",
            ));
        }
        _ => return Err(wrong("is neither https nor http")),
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => {
            Err(ProviderError::invalid(format!("provider \"openai\": `{name}` must be a string")))
        }
    }
}

fn whole_number(
    attributes: &Attributes,
    name: &str,
    low: u32,
    high: u32,
) -> Result<Option<u32>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (low..=high).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"openai\": `{name}` must be a whole number from {low} to {high}, \
                     got {value}"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    fn config(
        pairs: &[(&str, Value)],
        environment: &[(&str, &str)],
    ) -> Result<OpenAiConfig, ProviderError> {
        let attributes: Attributes =
            pairs.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        let environment: Vec<(String, String)> =
            environment.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        OpenAiConfig::from_attributes(&attributes, |name| {
            environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_block_wins_over_the_environment_which_wins_over_the_defaults() {
        let from_env = config(&[], &[(ADMIN_KEY_VARIABLE, "sk-admin-env")]).unwrap();
        assert_eq!(from_env.admin_key.expose(), "sk-admin-env");
        assert_eq!(from_env.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!((from_env.page_size, from_env.max_attempts), (100, 5));

        let from_block = config(
            &[
                ("admin_key", json!("sk-admin-block")),
                ("base_url", json!("http://127.0.0.1:4010/v1/")),
                ("page_size", json!(7)),
            ],
            &[(ADMIN_KEY_VARIABLE, "sk-admin-env"), (BASE_URL_VARIABLE, "https://x.example/v1")],
        )
        .unwrap();
        assert_eq!(from_block.admin_key.expose(), "sk-admin-block");
        assert_eq!(from_block.base_url.as_str(), "http://127.0.0.1:4010/v1");
        assert!(from_block.is_loopback());
        assert_eq!(from_block.page_size, 7);
    }

    #[test]
    fn a_missing_key_names_the_variable_to_set() {
        let error = config(&[], &[]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert!(error.message().contains("OPENAI_ADMIN_KEY"), "{error}");
        let error = config(&[("admin_key", json!("  "))], &[]).unwrap_err();
        assert!(error.message().contains("OPENAI_ADMIN_KEY"), "{error}");
    }

    #[test]
    fn unusable_settings_are_refused_without_echoing_the_key() {
        let key = ("admin_key", json!("sk-admin-secret"));
        let cases = [
            ("base_url", json!("http://api.example.com/v1"), "unencrypted"),
            ("base_url", json!("ftp://127.0.0.1/v1"), "neither https nor http"),
            ("base_url", json!("not a url"), "is not a URL"),
            ("base_url", json!("https://api.openai.com/v1?key=sk-admin-secret"), "query"),
            ("base_url", json!("https://me:sk-admin-secret@api.openai.com/v1"), "user name"),
            ("page_size", json!(0), "from 1 to 100"),
            ("page_size", json!(101), "from 1 to 100"),
            ("max_attempts", json!(2.5), "whole number"),
            ("timeout_seconds", json!("30"), "whole number"),
            ("admin_key", json!(7), "must be a string"),
        ];
        for (name, value, expected) in cases {
            let pairs = if name == "admin_key" {
                vec![(name, value.clone())]
            } else {
                vec![key.clone(), (name, value.clone())]
            };
            let error = config(&pairs, &[]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{name} = {value}");
            assert!(error.message().contains(expected), "{name} = {value}: {error}");
            assert!(error.message().starts_with("provider \"openai\""), "{error}");
            assert!(!error.message().contains("sk-admin-secret"), "{error}");
        }
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let config = config(&[("admin_key", json!("sk-admin-secret"))], &[]).unwrap();
        assert!(!format!("{config:?}").contains("sk-admin-secret"));
    }
}
