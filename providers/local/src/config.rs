//! The evaluated `provider "local"` block.

use breakglass_provider::{Attributes, ProviderError};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Where the document lives.
    pub path: PathBuf,
    /// Simulated latency per API call.
    pub latency: Duration,
    /// Objects per simulated `list` call.
    pub page_size: usize,
    /// Ids whose writes fail.
    pub fail_writes_to: BTreeSet<String>,
    /// Roles that grant privileged access.
    pub privileged_roles: BTreeSet<String>,
}

impl LocalConfig {
    /// Reads the block's attributes.
    pub fn from_attributes(
        attributes: &Attributes,
        base_dir: &std::path::Path,
    ) -> Result<Self, ProviderError> {
        let path = attributes
            .get("path")
            .and_then(|value| value.as_str())
            .ok_or_else(|| ProviderError::invalid("provider \"local\": `path` must be a string"))?;
        let latency_ms = number(attributes, "latency_ms")?.unwrap_or(0);
        let page_size = number(attributes, "page_size")?.unwrap_or(100).max(1);
        let fail_writes_to = strings(attributes, "fail_writes_to")?;
        let privileged_roles = strings(attributes, "privileged_roles")?;
        Ok(Self {
            path: base_dir.join(path),
            latency: Duration::from_millis(latency_ms),
            page_size: usize::try_from(page_size).unwrap_or(usize::MAX),
            fail_writes_to,
            privileged_roles,
        })
    }
}

fn strings(attributes: &Attributes, name: &str) -> Result<BTreeSet<String>, ProviderError> {
    let wrong = || {
        ProviderError::invalid(format!("provider \"local\": `{name}` must be a list of strings"))
    };
    match attributes.get(name) {
        None | Some(serde_json::Value::Null) => Ok(BTreeSet::new()),
        Some(serde_json::Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong)).collect()
        }
        Some(_) => Err(wrong()),
    }
}

fn number(attributes: &Attributes, name: &str) -> Result<Option<u64>, ProviderError> {
    match attributes.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            ProviderError::invalid(format!(
                "provider \"local\": `{name}` must be a whole number, got {value}"
            ))
        }),
    }
}
