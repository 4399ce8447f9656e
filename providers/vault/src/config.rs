//! The evaluated `provider "vault"` block, and the environment it falls back on.
//!
//! Vault's tools read `VAULT_*` variables and OpenBao's read `BAO_*`; the provider reads both,
//! the block first. Where both variables of a pair are set to different values the provider
//! refuses rather than guess which server or token was meant.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where a setting came from, so an error can name what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The provider block's attribute.
    Block(&'static str),
    /// An environment variable.
    Env(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Block(name) => write!(f, "the provider block's `{name}`"),
            Source::Env(name) => write!(f, "the environment variable {name}"),
        }
    }
}

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// The server's URL, without a trailing slash.
    pub address: String,
    /// The token, and where it came from.
    pub token: Secret,
    /// Where the token came from.
    pub token_source: Source,
    /// The namespace, if any.
    pub namespace: Option<String>,
    /// A PEM bundle of extra CA certificates.
    pub ca_cert: Option<PathBuf>,
    /// Groups whose membership is privileged.
    pub privileged_groups: BTreeSet<String>,
    /// Attempts per API call.
    pub max_attempts: Option<u32>,
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ProviderError::invalid(format!(
            "provider \"vault\": `{name}` must be a string, got {other}"
        ))),
    }
}

fn strings(attributes: &Attributes, name: &str) -> Result<Vec<String>, ProviderError> {
    let wrong = || {
        ProviderError::invalid(format!("provider \"vault\": `{name}` must be a list of strings"))
    };
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong)).collect()
        }
        Some(_) => Err(wrong()),
    }
}

/// The block's `attribute`, else the first of the two variables that is set; both set to
/// different values is an error naming them.
fn setting(
    attributes: &Attributes,
    attribute: &'static str,
    vault: &'static str,
    bao: &'static str,
    env: &BTreeMap<String, String>,
) -> Result<Option<(String, Source)>, ProviderError> {
    if let Some(value) = string(attributes, attribute)? {
        return Ok(Some((value, Source::Block(attribute))));
    }
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    match (get(vault), get(bao)) {
        (Some(a), Some(b)) if a != b => Err(ProviderError::invalid(format!(
            "provider \"vault\": {vault} and {bao} are both set, to different values; unset \
             one, or set `{attribute}` in the provider block"
        ))),
        (Some(value), _) => Ok(Some((value.to_owned(), Source::Env(vault)))),
        (None, Some(value)) => Ok(Some((value.to_owned(), Source::Env(bao)))),
        (None, None) => Ok(None),
    }
}

impl VaultConfig {
    /// Reads the block's attributes, with `env` as the process environment.
    pub fn from_attributes(
        attributes: &Attributes,
        base_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ProviderError> {
        let (address, _) = setting(attributes, "address", "VAULT_ADDR", "BAO_ADDR", env)?
            .ok_or_else(|| {
                ProviderError::invalid(
                    "provider \"vault\": no server address: set `address` in the provider \
                     block, or VAULT_ADDR (or BAO_ADDR), as https://vault.example.com:8200",
                )
            })?;
        let url = address.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(url).is_err()
        {
            return Err(ProviderError::invalid(format!(
                "provider \"vault\": the address {url:?} is not an http:// or https:// URL \
                 (as https://vault.example.com:8200)"
            )));
        }
        let (token, token_source) = setting(attributes, "token", "VAULT_TOKEN", "BAO_TOKEN", env)?
            .ok_or_else(|| {
                ProviderError::invalid(
                    "provider \"vault\": no token: set VAULT_TOKEN (or BAO_TOKEN), or `token = \
                     env(\"NAME\")` in the provider block",
                )
            })?;
        let namespace = setting(attributes, "namespace", "VAULT_NAMESPACE", "BAO_NAMESPACE", env)?
            .map(|(namespace, _)| namespace.trim_matches('/').to_owned())
            .filter(|namespace| !namespace.is_empty());
        let ca_cert = setting(attributes, "ca_cert", "VAULT_CACERT", "BAO_CACERT", env)?.map(
            |(path, source)| {
                let path = PathBuf::from(path);
                match source {
                    Source::Block(_) if path.is_relative() => base_dir.join(path),
                    _ => path,
                }
            },
        );
        let max_attempts = match attributes.get("max_retries") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|n| (1..=20).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ProviderError::invalid(format!(
                            "provider \"vault\": `max_retries` must be a whole number from 1 \
                             to 20, got {value}"
                        ))
                    })?,
            ),
        };
        Ok(Self {
            address: url.to_owned(),
            token: Secret::new(token),
            token_source,
            namespace,
            ca_cert,
            privileged_groups: strings(attributes, "privileged_groups")?.into_iter().collect(),
            max_attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn attrs(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_block_wins_then_vault_variables_then_bao_variables() {
        let base = Path::new("/policy");
        let config = VaultConfig::from_attributes(
            &Attributes::new(),
            base,
            &env(&[
                ("BAO_ADDR", "http://127.0.0.1:8200/"),
                ("BAO_TOKEN", "s.bao"),
                ("VAULT_NAMESPACE", "/team-a/"),
                ("BAO_CACERT", "/etc/ca.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(config.address, "http://127.0.0.1:8200");
        assert_eq!(config.token.expose(), "s.bao");
        assert_eq!(config.token_source, Source::Env("BAO_TOKEN"));
        assert_eq!(config.namespace.as_deref(), Some("team-a"));
        assert_eq!(config.ca_cert, Some(PathBuf::from("/etc/ca.pem")));

        let block = attrs(json!({"address": "https://vault.example.com", "token": "s.block",
            "ca_cert": "certs/ca.pem", "privileged_groups": ["admins"], "max_retries": 2}));
        let config = VaultConfig::from_attributes(
            &block,
            base,
            &env(&[("VAULT_ADDR", "http://other"), ("VAULT_TOKEN", "s.env")]),
        )
        .unwrap();
        assert_eq!(config.address, "https://vault.example.com");
        assert_eq!(config.token_source, Source::Block("token"));
        assert_eq!(config.ca_cert, Some(PathBuf::from("/policy/certs/ca.pem")));
        assert!(config.privileged_groups.contains("admins"));
        assert_eq!(config.max_attempts, Some(2));
        assert!(!format!("{config:?}").contains("s.block"), "the token never prints");
    }

    #[test]
    fn missing_conflicting_or_malformed_settings_are_clear_errors() {
        let base = Path::new(".");
        let cases: [(Attributes, BTreeMap<String, String>, &str); 5] = [
            (Attributes::new(), env(&[("VAULT_TOKEN", "t")]), "no server address"),
            (Attributes::new(), env(&[("VAULT_ADDR", "http://a")]), "no token"),
            (
                Attributes::new(),
                env(&[("VAULT_ADDR", "http://a"), ("BAO_ADDR", "http://b"), ("VAULT_TOKEN", "t")]),
                "VAULT_ADDR and BAO_ADDR are both set",
            ),
            (
                attrs(json!({"address": "vault.example.com:8200"})),
                env(&[("VAULT_TOKEN", "t")]),
                "is not an http:// or https:// URL",
            ),
            (
                attrs(json!({"max_retries": 0})),
                env(&[("VAULT_ADDR", "http://a"), ("VAULT_TOKEN", "t")]),
                "`max_retries` must be a whole number from 1 to 20",
            ),
        ];
        for (attributes, env, expected) in cases {
            let error = VaultConfig::from_attributes(&attributes, base, &env).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid);
            assert!(error.message().contains(expected), "{error}");
        }
    }
}
