//! The evaluated `provider "litellm"` block, with LiteLLM's own environment variables as
//! fallbacks, so one policy runs unchanged against a real proxy and a local server.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};

/// The environment variable holding the proxy's master key.
pub const MASTER_KEY_VAR: &str = "LITELLM_MASTER_KEY";
/// The environment variable holding the proxy's base URL.
pub const BASE_URL_VAR: &str = "LITELLM_BASE_URL";

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct LiteLlmConfig {
    /// The proxy's base URL, without a trailing slash.
    pub base_url: String,
    /// The proxy's master key (or another admin key).
    pub master_key: Secret,
}

impl LiteLlmConfig {
    /// Reads the block's attributes, falling back to `lookup` (the process environment).
    pub fn from_attributes(
        attributes: &Attributes,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let base_url = string(attributes, "base_url")?
            .or_else(|| lookup(BASE_URL_VAR))
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty())
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"litellm\": no proxy URL: set `base_url` in the provider block or \
                     {BASE_URL_VAR} in the environment of the executor (such as \
                     http://litellm.internal:4000)"
                ))
            })?;
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ProviderError::invalid(format!(
                "provider \"litellm\": `base_url` must be an http(s) URL, got \"{base_url}\""
            )));
        }
        let master_key = string(attributes, "master_key")?
            .or_else(|| lookup(MASTER_KEY_VAR))
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"litellm\": no master key: set {MASTER_KEY_VAR} in the environment \
                     of the executor (or `master_key = env(\"{MASTER_KEY_VAR}\")` in the provider \
                     block) to the proxy's master key"
                ))
            })?;
        Ok(Self { base_url, master_key: Secret::new(master_key) })
    }
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => {
            Err(ProviderError::invalid(format!("provider \"litellm\": `{name}` must be a string")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_then_environment_and_missing_values_name_their_variable() {
        let env = |name: &str| match name {
            MASTER_KEY_VAR => Some("sk-master-env".to_owned()),
            BASE_URL_VAR => Some("http://127.0.0.1:4000/".to_owned()),
            _ => None,
        };
        let config = LiteLlmConfig::from_attributes(&Attributes::new(), env).unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:4000");
        assert_eq!(config.master_key.expose(), "sk-master-env");
        let block = Attributes::from([
            ("base_url".to_owned(), json!("https://proxy.test")),
            ("master_key".to_owned(), json!("sk-master-block")),
        ]);
        let config = LiteLlmConfig::from_attributes(&block, env).unwrap();
        assert_eq!(config.master_key.expose(), "sk-master-block");

        let error = LiteLlmConfig::from_attributes(&Attributes::new(), |_| None).unwrap_err();
        assert!(error.message().contains(BASE_URL_VAR), "{error}");
        let url_only = Attributes::from([("base_url".to_owned(), json!("http://x"))]);
        let error = LiteLlmConfig::from_attributes(&url_only, |_| None).unwrap_err();
        assert!(error.message().contains(MASTER_KEY_VAR), "{error}");
        assert!(!format!("{config:?}").contains("sk-master"));
    }
}
