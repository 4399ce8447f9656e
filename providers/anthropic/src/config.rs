//! The evaluated `provider "anthropic"` block, with the environment variables Anthropic's own
//! SDKs read as fallbacks, so one policy runs unchanged against the real API and a local server.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use std::collections::BTreeSet;

/// Where the Admin API lives unless told otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version every request names (`anthropic-version`).
pub const DEFAULT_API_VERSION: &str = "2023-06-01";
/// The environment variable holding the Admin API key.
pub const ADMIN_KEY_VAR: &str = "ANTHROPIC_ADMIN_KEY";
/// The environment variable overriding the base URL.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// Items per list call unless the block says otherwise (the API allows 1 to 1000).
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// The API's base URL, without a trailing slash.
    pub base_url: String,
    /// The Admin API key (`sk-ant-admin…`).
    pub admin_key: Secret,
    /// The `anthropic-version` header.
    pub api_version: String,
    /// `limit` of list calls.
    pub page_size: u64,
    /// Workspace roles whose holders are privileged: such members that nothing in the policy
    /// declares or grants are drift that widens access.
    pub privileged_roles: BTreeSet<String>,
}

impl AnthropicConfig {
    /// Reads the block's attributes, falling back to `lookup` (the process environment) for the
    /// base URL and the admin key.
    pub fn from_attributes(
        attributes: &Attributes,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let base_url = string(attributes, "base_url")?
            .or_else(|| lookup(BASE_URL_VAR).filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ProviderError::invalid(format!(
                "provider \"anthropic\": `base_url` must be an http(s) URL such as \
                 {DEFAULT_BASE_URL}, got \"{base_url}\""
            )));
        }
        let admin_key = string(attributes, "admin_key")?
            .or_else(|| lookup(ADMIN_KEY_VAR))
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"anthropic\": no Admin API key: set {ADMIN_KEY_VAR} in the \
                     environment of the executor (or `admin_key = env(\"{ADMIN_KEY_VAR}\")` in the \
                     provider block) to an Admin API key (sk-ant-admin…)"
                ))
            })?;
        let api_version =
            string(attributes, "api_version")?.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        let page_size = match attributes.get("page_size") {
            None | Some(Value::Null) => DEFAULT_PAGE_SIZE,
            Some(value) => value.as_u64().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"anthropic\": `page_size` must be a whole number from 1 to 1000, \
                     got {value}"
                ))
            })?,
        };
        let privileged_roles = match attributes.get("privileged_roles") {
            None | Some(Value::Null) => BTreeSet::from(["workspace_admin".to_owned()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<BTreeSet<_>>>()
                .ok_or_else(|| list_error("privileged_roles"))?,
            Some(_) => return Err(list_error("privileged_roles")),
        };
        Ok(Self {
            base_url,
            admin_key: Secret::new(admin_key),
            api_version,
            page_size,
            privileged_roles,
        })
    }
}

fn list_error(name: &str) -> ProviderError {
    ProviderError::invalid(format!("provider \"anthropic\": `{name}` must be a list of strings"))
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ProviderError::invalid(format!(
            "provider \"anthropic\": `{name}` must be a string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    fn attributes(pairs: &[(&str, Value)]) -> Attributes {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn the_block_wins_over_the_environment_and_defaults_fill_the_rest() {
        let env = |name: &str| match name {
            ADMIN_KEY_VAR => Some("sk-ant-admin-env".to_owned()),
            BASE_URL_VAR => Some("http://127.0.0.1:9/".to_owned()),
            _ => None,
        };
        let from_env = AnthropicConfig::from_attributes(&Attributes::new(), env).unwrap();
        assert_eq!(from_env.base_url, "http://127.0.0.1:9");
        assert_eq!(from_env.admin_key.expose(), "sk-ant-admin-env");
        assert_eq!(from_env.api_version, DEFAULT_API_VERSION);
        assert_eq!(from_env.page_size, DEFAULT_PAGE_SIZE);
        assert!(from_env.privileged_roles.contains("workspace_admin"));

        let block = attributes(&[
            ("admin_key", json!("sk-ant-admin-block")),
            ("base_url", json!("https://example.test")),
            ("page_size", json!(5)),
            ("privileged_roles", json!(["workspace_admin", "workspace_developer"])),
        ]);
        let from_block = AnthropicConfig::from_attributes(&block, env).unwrap();
        assert_eq!(from_block.base_url, "https://example.test");
        assert_eq!(from_block.admin_key.expose(), "sk-ant-admin-block");
        assert_eq!(from_block.page_size, 5);
        assert_eq!(from_block.privileged_roles.len(), 2);

        let unset = |_: &str| None;
        let defaults =
            AnthropicConfig::from_attributes(&attributes(&[("admin_key", json!("k"))]), unset)
                .unwrap();
        assert_eq!(defaults.base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn a_missing_key_names_the_variable_and_bad_values_are_refused() {
        let error = AnthropicConfig::from_attributes(&Attributes::new(), |_| None).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().contains("ANTHROPIC_ADMIN_KEY"), "{error}");
        let cases = [
            ("page_size", json!(0), "`page_size`"),
            ("page_size", json!(1001), "`page_size`"),
            ("base_url", json!("ftp://x"), "`base_url`"),
            ("privileged_roles", json!("workspace_admin"), "`privileged_roles`"),
            ("admin_key", json!(7), "`admin_key`"),
        ];
        for (name, value, named) in cases {
            let mut block = attributes(&[("admin_key", json!("k"))]);
            block.insert(name.into(), value);
            let error = AnthropicConfig::from_attributes(&block, |_| None).unwrap_err();
            assert!(error.message().contains(named), "{name}: {error}");
        }
    }
}
