//! One module per resource type: its natural id, and how it is read, created, updated and
//! deleted. They share the [`Context`] and the attribute helpers below.

pub mod group;
pub mod group_member;
pub mod policy;
pub mod token_role;

use breakglass_provider::{Attributes, ProviderError, Value};

use crate::client::VaultClient;
use crate::config::VaultConfig;
use crate::server::Server;

/// What every resource operation may use.
#[derive(Debug)]
pub struct Context<'a> {
    /// The client (a counting clone).
    pub client: &'a VaultClient,
    /// The configuration.
    pub config: &'a VaultConfig,
    /// What the server is (Vault or OpenBao, which version).
    pub server: &'a Server,
    /// The accessor of the tool's own token, which a revocation never revokes.
    pub own_accessor: Option<&'a str>,
    /// Held while a group's member list is read, changed and written back: Vault replaces the
    /// whole list on every write, so two grants applied in parallel must not interleave.
    pub member_edits: &'a tokio::sync::Mutex<()>,
}

/// A required, non-empty string attribute.
pub fn required<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<&'a str, ProviderError> {
    attributes.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        ProviderError::invalid(format!("{resource_type}: `{name}` must be set to a string"))
    })
}

/// An optional string attribute.
pub fn optional(attributes: &Attributes, name: &str) -> Option<String> {
    attributes.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An optional list of strings; anything else is an error naming the attribute.
pub fn strings(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Vec<String>, ProviderError> {
    let wrong =
        || ProviderError::invalid(format!("{resource_type}: `{name}` must be a list of strings"));
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong)).collect()
        }
        Some(_) => Err(wrong()),
    }
}

/// An optional whole number.
pub fn number(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<u64>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            ProviderError::invalid(format!(
                "{resource_type}: `{name}` must be a whole number, got {value}"
            ))
        }),
    }
}

/// An optional boolean.
pub fn boolean(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<bool>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(value) => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be true or false, got {value}"
        ))),
    }
}

/// An optional RFC 3339 time.
pub fn timestamp(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<jiff::Timestamp>, ProviderError> {
    match optional(attributes, name) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|error| {
            ProviderError::invalid(format!(
                "{resource_type}: `{name}` must be an RFC 3339 time as 2031-03-02T01:00:00Z, got \
                 {text:?} ({error})"
            ))
        }),
    }
}

/// Whether two lists of strings hold the same strings, in any order.
pub fn same_set(a: &Value, b: &Value) -> bool {
    let set = |v: &Value| -> Option<std::collections::BTreeSet<String>> {
        match v {
            Value::Null => Some(Default::default()),
            Value::Array(items) => {
                items.iter().map(|item| item.as_str().map(str::to_owned)).collect()
            }
            _ => None,
        }
    };
    matches!((set(a), set(b)), (Some(a), Some(b)) if a == b)
}

/// Whether two values are the same instant, whatever their RFC 3339 spelling.
pub fn same_time(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a == b)
}

/// A list of strings as an attribute value.
pub fn string_list(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// The strings of a JSON list (none when it is absent or null).
pub fn json_strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
