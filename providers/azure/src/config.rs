//! The evaluated `provider "azure"` block, with the environment variables Azure's own tools read
//! as defaults (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
//! `AZURE_AUTHORITY_HOST`), so a policy runs unchanged against Azure or a local test server.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use reqwest::Url;
use std::collections::BTreeSet;
use std::time::Duration;

use crate::key::{is_guid, role_guid};

/// The Microsoft identity platform of Azure's public cloud.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// Azure Resource Manager in Azure's public cloud.
pub const DEFAULT_RESOURCE_MANAGER: &str = "https://management.azure.com";

/// The tenant, when the block does not name one.
pub const TENANT_VARIABLE: &str = "AZURE_TENANT_ID";
/// The client id, when the block does not name one.
pub const CLIENT_ID_VARIABLE: &str = "AZURE_CLIENT_ID";
/// The client secret, when the block does not set one.
pub const CLIENT_SECRET_VARIABLE: &str = "AZURE_CLIENT_SECRET";
/// The identity platform's host, when the block does not name one (Azure's SDKs read it too).
pub const AUTHORITY_HOST_VARIABLE: &str = "AZURE_AUTHORITY_HOST";
/// Resource Manager's endpoint, when the block does not name one (breakglass's own variable).
pub const RESOURCE_MANAGER_VARIABLE: &str = "AZURE_RESOURCE_MANAGER_ENDPOINT";

/// Built-in roles whose assignments are privileged unless the block names others: Owner,
/// Contributor, User Access Administrator, Role Based Access Control Administrator.
pub const DEFAULT_PRIVILEGED_ROLES: [&str; 4] = [
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
];

/// How the provider was configured. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// The tenant (a GUID or a verified domain).
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// The identity platform, without a trailing slash.
    pub authority_host: Url,
    /// Resource Manager, without a trailing slash.
    pub resource_manager: Url,
    /// Role definition GUIDs (lower case) whose assignments are privileged.
    pub privileged_roles: BTreeSet<String>,
    /// Attempts per call.
    pub max_attempts: u32,
    /// Time allowed per call.
    pub timeout: Duration,
    /// How long a schedule request, or a change to become visible, is waited for.
    pub operation_timeout: Duration,
    /// The first wait between two looks; doubles up to 10 s.
    pub poll_interval: Duration,
}

impl AzureConfig {
    /// Reads the block's attributes, falling back on `environment` (a lookup, so tests need not
    /// touch the process environment).
    pub fn from_attributes(
        attributes: &Attributes,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let setting = |name: &str, variable: &str| -> Result<Option<String>, ProviderError> {
            Ok(string(attributes, name)?
                .or_else(|| environment(variable))
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty()))
        };
        let missing = |name: &str, variable: &str, what: &str| {
            ProviderError::denied(format!(
                "provider \"azure\": no {what}: set {variable}, or `{name}` in the provider block \
                 (breakglass signs in as a service principal with a client secret)"
            ))
        };
        let tenant_id = setting("tenant_id", TENANT_VARIABLE)?
            .ok_or_else(|| missing("tenant_id", TENANT_VARIABLE, "tenant id"))?;
        if !tenant_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
            return Err(ProviderError::invalid(format!(
                "provider \"azure\": tenant_id {tenant_id:?} is neither a tenant GUID nor a \
                 domain name (contoso.onmicrosoft.com)"
            )));
        }
        let client_id = setting("client_id", CLIENT_ID_VARIABLE)?
            .ok_or_else(|| missing("client_id", CLIENT_ID_VARIABLE, "client id"))?;
        if !is_guid(&client_id) {
            return Err(ProviderError::invalid(format!(
                "provider \"azure\": client_id {client_id:?} is not a GUID; it is the \
                 application (client) id of the app registration, as \
                 00000000-0000-0000-0000-000000000000"
            )));
        }
        let client_secret = setting("client_secret", CLIENT_SECRET_VARIABLE)?
            .ok_or_else(|| missing("client_secret", CLIENT_SECRET_VARIABLE, "client secret"))?;
        let authority_host = setting("authority_host", AUTHORITY_HOST_VARIABLE)?
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        let resource_manager = setting("resource_manager_endpoint", RESOURCE_MANAGER_VARIABLE)?
            .unwrap_or_else(|| DEFAULT_RESOURCE_MANAGER.to_owned());
        Ok(Self {
            tenant_id,
            client_id,
            client_secret: Secret::new(client_secret),
            authority_host: parse_endpoint("authority_host", &authority_host)?,
            resource_manager: parse_endpoint("resource_manager_endpoint", &resource_manager)?,
            privileged_roles: privileged_roles(attributes)?,
            max_attempts: number(attributes, "max_attempts", 1.0, 20.0)?.map_or(5, |n| n as u32),
            timeout: seconds(attributes, "timeout_seconds", 1.0, 600.0)?
                .unwrap_or(Duration::from_secs(30)),
            operation_timeout: seconds(attributes, "operation_timeout_seconds", 1.0, 3600.0)?
                .unwrap_or(Duration::from_secs(300)),
            poll_interval: seconds(attributes, "poll_interval_seconds", 0.01, 60.0)?
                .unwrap_or(Duration::from_secs(1)),
        })
    }

    /// The scope the token is asked for: Resource Manager's audience, `ENDPOINT/.default`.
    pub fn token_scope(&self) -> String {
        format!("{}/.default", self.resource_manager.as_str().trim_end_matches('/'))
    }

    /// Whether both endpoints are on this machine (a test server), where proxies must not be
    /// used.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.authority_host) && is_loopback(&self.resource_manager)
    }
}

fn privileged_roles(attributes: &Attributes) -> Result<BTreeSet<String>, ProviderError> {
    let wrong = || {
        ProviderError::invalid(
            "provider \"azure\": `privileged_roles` must be a list of role definition ids \
             (…/providers/Microsoft.Authorization/roleDefinitions/GUID) or GUIDs",
        )
    };
    match attributes.get("privileged_roles") {
        None | Some(Value::Null) => {
            Ok(DEFAULT_PRIVILEGED_ROLES.iter().map(|guid| (*guid).to_owned()).collect())
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let text = item.as_str().ok_or_else(wrong)?;
                if is_guid(text) {
                    Ok(text.to_ascii_lowercase())
                } else {
                    role_guid(text).ok_or_else(wrong)
                }
            })
            .collect(),
        Some(_) => Err(wrong()),
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

/// An endpoint: https (http only for a loopback address), no user, query or fragment, no
/// trailing slash.
fn parse_endpoint(name: &str, text: &str) -> Result<Url, ProviderError> {
    // A URL with a user name or a query may carry a secret: it is not quoted back.
    let shown = if text.contains('@') || text.contains('?') {
        "(not shown: it may hold a secret)".to_owned()
    } else {
        format!("{text:?}")
    };
    let wrong = |why: &str| {
        ProviderError::invalid(format!(
            "provider \"azure\": {name} {shown} {why}; expected a URL such as {}",
            if name == "authority_host" {
                DEFAULT_AUTHORITY_HOST
            } else {
                DEFAULT_RESOURCE_MANAGER
            }
        ))
    };
    let mut url = Url::parse(text).map_err(|_| wrong("is not a URL"))?;
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
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => {
            Err(ProviderError::invalid(format!("provider \"azure\": `{name}` must be a string")))
        }
    }
}

fn number(
    attributes: &Attributes,
    name: &str,
    low: f64,
    high: f64,
) -> Result<Option<f64>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            value.as_f64().filter(|n| (low..=high).contains(n)).map(Some).ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"azure\": `{name}` must be a number from {low} to {high}, got \
                     {value}"
                ))
            })
        }
    }
}

fn seconds(
    attributes: &Attributes,
    name: &str,
    low: f64,
    high: f64,
) -> Result<Option<Duration>, ProviderError> {
    Ok(number(attributes, name, low, high)?.map(Duration::from_secs_f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

    fn config(
        pairs: &[(&str, Value)],
        environment: &[(&str, &str)],
    ) -> Result<AzureConfig, ProviderError> {
        let attributes: Attributes =
            pairs.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        let environment: Vec<(String, String)> =
            environment.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        AzureConfig::from_attributes(&attributes, |name| {
            environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn credentials() -> [(&'static str, &'static str); 3] {
        [
            (TENANT_VARIABLE, TENANT),
            (CLIENT_ID_VARIABLE, CLIENT),
            (CLIENT_SECRET_VARIABLE, "s3cret~value"),
        ]
    }

    #[test]
    fn the_environment_fills_in_what_the_block_leaves_out() {
        let from_env = config(&[], &credentials()).unwrap();
        assert_eq!(from_env.tenant_id, TENANT);
        assert_eq!(from_env.client_secret.expose(), "s3cret~value");
        assert_eq!(from_env.authority_host.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(from_env.token_scope(), "https://management.azure.com/.default");
        assert_eq!(from_env.privileged_roles.len(), 4);
        assert_eq!(from_env.operation_timeout, Duration::from_secs(300));

        let mut environment = credentials().to_vec();
        environment.push((AUTHORITY_HOST_VARIABLE, "http://127.0.0.1:9000/"));
        environment.push((RESOURCE_MANAGER_VARIABLE, "http://127.0.0.1:9000"));
        let local = config(
            &[
                ("tenant_id", json!("contoso.onmicrosoft.com")),
                ("privileged_roles", json!([
                    "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/8E3AF657-A8FF-443C-A75C-2FE8C4BCB635"
                ])),
                ("poll_interval_seconds", json!(0.05)),
            ],
            &environment,
        )
        .unwrap();
        assert_eq!(local.tenant_id, "contoso.onmicrosoft.com");
        assert!(local.is_loopback());
        assert_eq!(local.token_scope(), "http://127.0.0.1:9000/.default");
        assert_eq!(
            local.privileged_roles.iter().collect::<Vec<_>>(),
            ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635"]
        );
        assert_eq!(local.poll_interval, Duration::from_millis(50));
    }

    #[test]
    fn missing_credentials_name_the_variable_to_set() {
        for (missing, variable) in [
            (TENANT_VARIABLE, "AZURE_TENANT_ID"),
            (CLIENT_ID_VARIABLE, "AZURE_CLIENT_ID"),
            (CLIENT_SECRET_VARIABLE, "AZURE_CLIENT_SECRET"),
        ] {
            let environment: Vec<(&str, &str)> =
                credentials().into_iter().filter(|(k, _)| *k != missing).collect();
            let error = config(&[], &environment).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
            assert!(error.message().contains(variable), "{error}");
        }
    }

    #[test]
    fn unusable_settings_are_refused_without_echoing_the_secret() {
        let cases = [
            ("resource_manager_endpoint", json!("http://management.example.com"), "unencrypted"),
            ("authority_host", json!("ftp://127.0.0.1"), "neither https nor http"),
            ("authority_host", json!("https://x/?secret=s3cret~value"), "query"),
            ("client_id", json!("my-app"), "not a GUID"),
            ("tenant_id", json!("a tenant"), "neither a tenant GUID"),
            ("privileged_roles", json!(["Owner"]), "role definition ids"),
            ("max_attempts", json!(0), "from 1 to 20"),
            ("poll_interval_seconds", json!(0), "from 0.01 to 60"),
            ("client_secret", json!(7), "must be a string"),
        ];
        for (name, value, expected) in cases {
            let error = config(&[(name, value.clone())], &credentials()).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{name} = {value}");
            assert!(error.message().contains(expected), "{name} = {value}: {error}");
            assert!(error.message().starts_with("provider \"azure\""), "{error}");
            assert!(!error.message().contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let config = config(&[], &credentials()).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
