//! The evaluated `provider "gcp"` block, with the environment variables Google's own tools read
//! as defaults (`GOOGLE_APPLICATION_CREDENTIALS`, `GOOGLE_OAUTH_ACCESS_TOKEN`,
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER`), so one policy runs unchanged
//! against Google or a local contract server.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use reqwest::Url;
use std::path::Path;
use std::time::Duration;

use crate::credentials::ServiceAccountKey;
use crate::schema::DEFAULT_PRIVILEGED_ROLES;

/// Google's API.
pub const DEFAULT_ENDPOINT: &str = "https://cloudresourcemanager.googleapis.com/";
/// Where a service account key file is named when the block names none.
pub const CREDENTIALS_VARIABLE: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Where an access token is read from when the block gives none.
pub const ACCESS_TOKEN_VARIABLE: &str = "GOOGLE_OAUTH_ACCESS_TOKEN";
/// gcloud's override of the Cloud Resource Manager endpoint.
pub const ENDPOINT_VARIABLE: &str = "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER";

/// How the provider authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A token used as it is; a 401 cannot be cured by refreshing it.
    AccessToken {
        /// The token.
        token: Secret,
        /// Where it came from, for messages (`GOOGLE_OAUTH_ACCESS_TOKEN`, or the block).
        source: String,
    },
    /// A service account key: signed JWTs exchanged for tokens, refreshed as they expire.
    ServiceAccount {
        /// The key.
        key: ServiceAccountKey,
        /// The token endpoint the JWT is sent to (and its audience).
        token_uri: Url,
    },
}

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct GcpConfig {
    /// Credentials.
    pub auth: Auth,
    /// Cloud Resource Manager's root URL, ending with `/`.
    pub endpoint: Url,
    /// Roles whose undeclared bindings are privileged drift.
    pub privileged_roles: Vec<String>,
    /// Attempts per call.
    pub max_attempts: u32,
    /// Time allowed per call.
    pub timeout: Duration,
}

impl GcpConfig {
    /// Reads the block's attributes, falling back on `environment` (a lookup, so tests need not
    /// touch the process environment); relative paths resolve against `base_dir`.
    pub fn from_attributes(
        attributes: &Attributes,
        base_dir: &Path,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let token_uri = string(attributes, "token_uri")?;
        // The block before the environment; at each level a token before a key file, as
        // Terraform's Google provider takes `access_token` over `credentials`.
        let block_token = string(attributes, "access_token")?;
        let block_key = string(attributes, "credentials")?;
        let env_token = || environment(ACCESS_TOKEN_VARIABLE).filter(|t| !t.trim().is_empty());
        let auth = if let Some(token) = block_token {
            access_token(token, "`access_token` in the provider \"gcp\" block")?
        } else if let Some(key) = block_key {
            service_account(Some(key), base_dir, &environment, token_uri)?
        } else if let Some(token) = env_token() {
            access_token(token, ACCESS_TOKEN_VARIABLE)?
        } else {
            service_account(None, base_dir, &environment, token_uri)?
        };
        let endpoint = string(attributes, "endpoint")?
            .or_else(|| environment(ENDPOINT_VARIABLE))
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        Ok(Self {
            auth,
            endpoint: parse_url("endpoint", &endpoint, DEFAULT_ENDPOINT)?,
            privileged_roles: strings(attributes, "privileged_roles")?.unwrap_or_else(|| {
                DEFAULT_PRIVILEGED_ROLES.iter().map(|role| (*role).to_owned()).collect()
            }),
            max_attempts: whole_number(attributes, "max_attempts", 1, 20)?.unwrap_or(5),
            timeout: Duration::from_secs(
                whole_number(attributes, "timeout_seconds", 1, 600)?.unwrap_or(30).into(),
            ),
        })
    }

    /// Whether every URL the provider calls is on this machine (a test server), where proxies
    /// must not be used.
    pub fn is_loopback(&self) -> bool {
        let token_local = match &self.auth {
            Auth::AccessToken { .. } => true,
            Auth::ServiceAccount { token_uri, .. } => is_loopback(token_uri),
        };
        token_local && is_loopback(&self.endpoint)
    }
}

fn access_token(token: String, source: &str) -> Result<Auth, ProviderError> {
    let token = token.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProviderError::invalid(format!(
            "provider \"gcp\": the access token from {source} is not a token (it is empty or \
             holds spaces); print one with `gcloud auth print-access-token`"
        )));
    }
    Ok(Auth::AccessToken { token: Secret::new(token), source: source.to_owned() })
}

fn service_account(
    declared: Option<String>,
    base_dir: &Path,
    environment: &impl Fn(&str) -> Option<String>,
    token_uri: Option<String>,
) -> Result<Auth, ProviderError> {
    let (text, origin) = match declared {
        Some(value) if value.trim_start().starts_with('{') => {
            (value, "`credentials` in the provider \"gcp\" block".to_owned())
        }
        Some(path) => read_key_file(&base_dir.join(path.trim()), "`credentials`")?,
        None => match environment(CREDENTIALS_VARIABLE).filter(|p| !p.trim().is_empty()) {
            Some(path) => read_key_file(&base_dir.join(path.trim()), CREDENTIALS_VARIABLE)?,
            None => {
                return Err(ProviderError::denied(format!(
                    "provider \"gcp\": no credentials: set {CREDENTIALS_VARIABLE} to a service \
                     account key file (JSON), or {ACCESS_TOKEN_VARIABLE} to an access token \
                     (`gcloud auth print-access-token`), or `credentials = \"…\"` in the \
                     provider block"
                )));
            }
        },
    };
    let key = ServiceAccountKey::parse(&text, &origin)?;
    let token_uri = match token_uri.filter(|uri| !uri.trim().is_empty()) {
        Some(uri) => parse_url("token_uri", &uri, crate::credentials::DEFAULT_TOKEN_URI)?,
        None => parse_url("token_uri", &key.token_uri, crate::credentials::DEFAULT_TOKEN_URI)
            .map_err(|error| error.context(format!("the key file from {origin}")))?,
    };
    Ok(Auth::ServiceAccount { key, token_uri })
}

fn read_key_file(path: &Path, named_by: &str) -> Result<(String, String), ProviderError> {
    let origin = format!("{} (named by {named_by})", path.display());
    let text = fs_err::read_to_string(path).map_err(|error| {
        ProviderError::denied(format!(
            "provider \"gcp\": cannot read the service account key file: {error}; set \
             {CREDENTIALS_VARIABLE} to the path of a key file made with `gcloud iam \
             service-accounts keys create`"
        ))
    })?;
    Ok((text, origin))
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

/// An https URL (http only for loopback), without query, fragment or user name. `endpoint`
/// gets a trailing `/` so API paths join below it.
fn parse_url(name: &str, text: &str, example: &str) -> Result<Url, ProviderError> {
    // A URL with a user name or a query may carry a secret: it is not quoted back.
    let shown = if text.contains('@') || text.contains('?') {
        "(not shown: it may hold a secret)".to_owned()
    } else {
        format!("{text:?}")
    };
    let wrong = |why: &str| {
        ProviderError::invalid(format!(
            "provider \"gcp\": {name} {shown} {why}; expected a URL such as {example}"
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
                "would send credentials unencrypted (plain http is accepted only for a loopback \
                 address)",
            ));
        }
        _ => return Err(wrong("is neither https nor http")),
    }
    if name == "endpoint" && !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => {
            Err(ProviderError::invalid(format!("provider \"gcp\": `{name}` must be a string")))
        }
    }
}

fn strings(attributes: &Attributes, name: &str) -> Result<Option<Vec<String>>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_str() {
                Some(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
                _ => Err(ProviderError::invalid(format!(
                    "provider \"gcp\": `{name}` must be a list of role names, got {item}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ProviderError::invalid(format!(
            "provider \"gcp\": `{name}` must be a list of role names, got {other}"
        ))),
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
                    "provider \"gcp\": `{name}` must be a whole number from {low} to {high}, \
                     got {value}"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::tests::{PRIVATE_KEY_MARKER, key_file};
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    fn config(
        pairs: &[(&str, Value)],
        environment: &[(&str, &str)],
    ) -> Result<GcpConfig, ProviderError> {
        let attributes: Attributes =
            pairs.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        let environment: Vec<(String, String)> =
            environment.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        GcpConfig::from_attributes(&attributes, Path::new("/nonexistent"), |name| {
            environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_block_wins_over_the_environment_and_a_token_over_a_key_file() {
        let from_block = config(
            &[("credentials", json!(key_file()))],
            &[(ACCESS_TOKEN_VARIABLE, "ya29.token"), (CREDENTIALS_VARIABLE, "/no/such/file")],
        )
        .unwrap();
        assert!(matches!(from_block.auth, Auth::ServiceAccount { .. }), "{from_block:?}");
        let both = config(
            &[("credentials", json!(key_file())), ("access_token", json!("ya29.block"))],
            &[],
        )
        .unwrap();
        assert!(matches!(both.auth, Auth::AccessToken { .. }), "{both:?}");

        let config = config(
            &[],
            &[(ACCESS_TOKEN_VARIABLE, "ya29.token"), (CREDENTIALS_VARIABLE, "/no/such/file")],
        )
        .unwrap();
        match config.auth {
            Auth::AccessToken { token, source } => {
                assert_eq!(token.expose(), "ya29.token");
                assert_eq!(source, ACCESS_TOKEN_VARIABLE);
            }
            other => panic!("expected the token, got {other:?}"),
        }
        assert_eq!(config.endpoint.as_str(), DEFAULT_ENDPOINT);
        assert_eq!(config.privileged_roles, ["roles/owner", "roles/editor"]);
    }

    #[test]
    fn a_key_files_token_uri_is_used_unless_the_block_overrides_it() {
        let from_key = config(&[("credentials", json!(key_file()))], &[]).unwrap();
        let Auth::ServiceAccount { key, token_uri } = &from_key.auth else { panic!() };
        assert_eq!(key.client_email, "breakglass@example-project.iam.gserviceaccount.com");
        assert_eq!(token_uri.as_str(), "https://oauth2.googleapis.com/token");
        assert!(!from_key.is_loopback());

        let local = config(
            &[
                ("credentials", json!(key_file())),
                ("token_uri", json!("http://127.0.0.1:9/token")),
                ("endpoint", json!("http://127.0.0.1:9")),
            ],
            &[],
        )
        .unwrap();
        let Auth::ServiceAccount { token_uri, .. } = &local.auth else { panic!() };
        assert_eq!(token_uri.as_str(), "http://127.0.0.1:9/token");
        assert_eq!(local.endpoint.as_str(), "http://127.0.0.1:9/");
        assert!(local.is_loopback());
    }

    #[test]
    fn missing_credentials_name_the_variables_to_set() {
        let error = config(&[], &[]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert!(error.message().contains(CREDENTIALS_VARIABLE), "{error}");
        assert!(error.message().contains(ACCESS_TOKEN_VARIABLE), "{error}");

        let error = config(&[], &[(CREDENTIALS_VARIABLE, "missing.json")]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert!(error.message().contains("/nonexistent/missing.json"), "{error}");
    }

    #[test]
    fn unusable_settings_are_refused_without_echoing_secrets() {
        let key = ("credentials", json!(key_file()));
        let cases = [
            ("endpoint", json!("http://crm.example.com/"), "unencrypted"),
            ("endpoint", json!("ftp://127.0.0.1/"), "neither https nor http"),
            ("token_uri", json!("https://me:pa55word@oauth2.example.com/token"), "user name"),
            ("endpoint", json!("not a url"), "is not a URL"),
            ("privileged_roles", json!("roles/owner"), "list of role names"),
            ("max_attempts", json!(0), "from 1 to 20"),
            ("timeout_seconds", json!(2.5), "whole number"),
            ("access_token", json!("two words"), "not a token"),
        ];
        for (name, value, expected) in cases {
            let error = config(&[key.clone(), (name, value.clone())], &[]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{name} = {value}");
            assert!(error.message().contains(expected), "{name} = {value}: {error}");
            assert!(!error.message().contains("pa55word"), "{error}");
        }
    }

    #[test]
    fn debug_shows_neither_the_key_nor_the_token() {
        let config = config(&[("credentials", json!(key_file()))], &[]).unwrap();
        assert!(!format!("{config:?}").contains(PRIVATE_KEY_MARKER));
        let config = config_with_token();
        assert!(!format!("{config:?}").contains("ya29.secret"));
    }

    fn config_with_token() -> GcpConfig {
        config(&[("access_token", json!("ya29.secret"))], &[]).unwrap()
    }
}
