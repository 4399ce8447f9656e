//! The evaluated `provider "aws"` block, and the environment it falls back on.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::client::Endpoints;
use crate::credentials::CredentialInputs;

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// The region requests are signed for (IAM aside).
    pub region: String,
    /// Where each service is reached.
    pub endpoints: Endpoints,
    /// What the credential chain looks at.
    pub credentials: CredentialInputs,
    /// Managed policy ARNs whose attachments are privileged.
    pub privileged_policies: BTreeSet<String>,
    /// Attempts per API call.
    pub max_attempts: Option<u32>,
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ProviderError::invalid(format!(
            "provider \"aws\": `{name}` must be a string, got {other}"
        ))),
    }
}

fn strings(attributes: &Attributes, name: &str) -> Result<Vec<String>, ProviderError> {
    let wrong =
        || ProviderError::invalid(format!("provider \"aws\": `{name}` must be a list of strings"));
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong)).collect()
        }
        Some(_) => Err(wrong()),
    }
}

impl AwsConfig {
    /// Reads the block's attributes, with `env` as the process environment.
    pub fn from_attributes(
        attributes: &Attributes,
        base_dir: &Path,
        env: BTreeMap<String, String>,
    ) -> Result<Self, ProviderError> {
        let resolve = |path: String| -> PathBuf {
            let path = PathBuf::from(path);
            if path.is_absolute() { path } else { base_dir.join(path) }
        };
        let credentials = CredentialInputs {
            access_key: string(attributes, "access_key")?,
            secret_key: string(attributes, "secret_key")?.map(Secret::new),
            token: string(attributes, "token")?.map(Secret::new),
            profile: string(attributes, "profile")?,
            credentials_files: strings(attributes, "shared_credentials_files")?
                .into_iter()
                .map(resolve)
                .collect(),
            config_files: strings(attributes, "shared_config_files")?
                .into_iter()
                .map(resolve)
                .collect(),
            env: env.clone(),
        };
        let from_env = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let region = match string(attributes, "region")?.filter(|r| !r.is_empty()) {
            Some(region) => region,
            None => match from_env("AWS_REGION").or_else(|| from_env("AWS_DEFAULT_REGION")) {
                Some(region) => region,
                None => credentials
                    .profile_settings()
                    .ok()
                    .and_then(|settings| settings.get("region").map(|(r, _)| r.clone()))
                    .unwrap_or_else(|| "us-east-1".to_owned()),
            },
        };
        let endpoints = Endpoints {
            block: string(attributes, "endpoint")?,
            env: env.into_iter().filter(|(k, _)| k.starts_with("AWS_ENDPOINT_URL")).collect(),
        };
        let max_attempts = match attributes.get("max_retries") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|n| (1..=20).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ProviderError::invalid(format!(
                            "provider \"aws\": `max_retries` must be a whole number from 1 to 20, got {value}"
                        ))
                    })?,
            ),
        };
        Ok(Self {
            region,
            endpoints,
            credentials,
            privileged_policies: strings(attributes, "privileged_policies")?.into_iter().collect(),
            max_attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_block_wins_over_the_environment() {
        let env: BTreeMap<String, String> = [
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
            ("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:1".to_owned()),
            ("HOME".to_owned(), "/nonexistent".to_owned()),
        ]
        .into();
        let mut attributes = Attributes::new();
        let config = AwsConfig::from_attributes(&attributes, Path::new("/p"), env.clone()).unwrap();
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.endpoints.env["AWS_ENDPOINT_URL"], "http://127.0.0.1:1");
        attributes.insert("region".into(), json!("ap-south-1"));
        attributes.insert(
            "privileged_policies".into(),
            json!(["arn:aws:iam::aws:policy/AdministratorAccess"]),
        );
        attributes.insert("shared_credentials_files".into(), json!(["creds"]));
        attributes.insert("max_retries".into(), json!(2));
        let config = AwsConfig::from_attributes(&attributes, Path::new("/p"), env.clone()).unwrap();
        assert_eq!(config.region, "ap-south-1");
        assert_eq!(config.credentials.credentials_files, vec![PathBuf::from("/p/creds")]);
        assert_eq!(config.max_attempts, Some(2));
        assert!(config.privileged_policies.contains("arn:aws:iam::aws:policy/AdministratorAccess"));
        attributes.insert("max_retries".into(), json!(0));
        let error = AwsConfig::from_attributes(&attributes, Path::new("/p"), env).unwrap_err();
        assert!(error.message().contains("max_retries"), "{error}");
    }
}
