//! Reading typed values out of attribute maps, with errors that name the resource type.

use breakglass_provider::{Attributes, ProviderError, Value};

/// A required string.
pub fn required_string<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<&'a str, ProviderError> {
    optional_string(attributes, resource_type, name)?.ok_or_else(|| {
        ProviderError::invalid(format!("{resource_type}: `{name}` must be set to a string"))
    })
}

/// An optional string (absent or null is `None`).
pub fn optional_string<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<&'a str>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be a string, got {other}"
        ))),
    }
}

/// An optional boolean.
pub fn optional_bool(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<bool>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be true or false, got {other}"
        ))),
    }
}

/// An optional whole number within `i32`.
pub fn optional_i32(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<i32>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            value.as_i64().and_then(|number| i32::try_from(number).ok()).map(Some).ok_or_else(
                || {
                    ProviderError::invalid(format!(
                        "{resource_type}: `{name}` must be a whole number, got {value}"
                    ))
                },
            )
        }
    }
}

/// An optional list of strings (absent or null is empty).
pub fn string_list(
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
