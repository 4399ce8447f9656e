//! Reading declared attributes and natural ids, with errors that name the resource type and the
//! attribute and say what would be right.

use breakglass_provider::{Attributes, ProviderError, Value};

/// The string attribute `name`, which must be set, non-empty, and free of `/` (ids are joined
/// with `/`).
pub fn id_part<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<&'a str, ProviderError> {
    match attributes.get(name) {
        Some(Value::String(text)) if !text.is_empty() && !text.contains('/') => Ok(text),
        Some(Value::String(text)) if text.contains('/') => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must not contain `/`, got {text:?}"
        ))),
        _ => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be set to a non-empty string"
        ))),
    }
}

/// The string attribute `name`, which must be one of `allowed`.
pub fn one_of<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
    allowed: &[&str],
) -> Result<&'a str, ProviderError> {
    match attributes.get(name).and_then(Value::as_str) {
        Some(text) if allowed.contains(&text) => Ok(text),
        other => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be {}, got {}",
            allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(" or "),
            other.map_or_else(|| "nothing".to_owned(), |text| format!("\"{text}\""))
        ))),
    }
}

/// The optional integer attribute `name` (`500`, or `500.0` as HCL may write it). Any
/// integer: OpenAI's spec gives its limits no minimum.
pub fn whole_number(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<i64>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => as_whole(value).map(Some).ok_or_else(|| {
            ProviderError::invalid(format!(
                "{resource_type}: `{name}` must be a whole number, got {value}"
            ))
        }),
    }
}

/// `value` as an integer, if it is one.
pub fn as_whole(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|n| n.fract() == 0.0 && *n >= i64::MIN as f64 && *n <= i64::MAX as f64)
            .map(|n| n as i64)
    })
}

/// The list-of-strings attribute `name`.
pub fn strings(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Vec<String>, ProviderError> {
    let wrong = || {
        ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be a list of non-empty strings"
        ))
    };
    match attributes.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().filter(|s| !s.is_empty()).map(str::to_owned).ok_or_else(wrong)
            })
            .collect(),
        _ => Err(wrong()),
    }
}

/// Splits an id made of two parts joined by `/`.
pub fn split_id<'a>(resource_type: &str, id: &'a str) -> Result<(&'a str, &'a str), ProviderError> {
    id.split_once('/').filter(|(a, b)| !a.is_empty() && !b.is_empty()).ok_or_else(|| {
        ProviderError::invalid(format!(
            "{resource_type}: id {id:?} is not of the form PROJECT_ID/NAME"
        ))
    })
}

/// Attributes from name-value pairs, `None` values left out.
pub fn collect(pairs: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> Attributes {
    pairs
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn id_parts_must_be_plain_non_empty_strings() {
        let good = attributes(json!({"project_id": "proj_1"}));
        assert_eq!(id_part(&good, "t", "project_id").unwrap(), "proj_1");
        for bad in [
            json!({}),
            json!({"project_id": ""}),
            json!({"project_id": 7}),
            json!({"project_id": "a/b"}),
        ] {
            let error = id_part(&attributes(bad.clone()), "t", "project_id").unwrap_err();
            assert!(error.message().starts_with("t: `project_id` must"), "{bad}: {error}");
        }
    }

    #[test]
    fn one_of_lists_what_is_allowed() {
        let error =
            one_of(&attributes(json!({"role": "admin"})), "t", "role", &["owner", "member"])
                .unwrap_err();
        assert_eq!(error.message(), "t: `role` must be \"owner\" or \"member\", got \"admin\"");
    }

    #[test]
    fn whole_numbers_accept_integral_floats_only() {
        let cases = [
            (json!(500), Some(500)),
            (json!(500.0), Some(500)),
            (json!(0), Some(0)),
            (json!(2.5), None),
            (json!(-1), Some(-1)),
            (json!(-2.0), Some(-2)),
            (json!("500"), None),
        ];
        for (value, expected) in cases {
            assert_eq!(as_whole(&value), expected, "{value}");
        }
        assert_eq!(whole_number(&Attributes::new(), "t", "x").unwrap(), None);
        assert_eq!(whole_number(&attributes(json!({"x": -3})), "t", "x").unwrap(), Some(-3));
        assert!(whole_number(&attributes(json!({"x": 0.5})), "t", "x").is_err());
    }

    #[test]
    fn ids_split_at_the_first_slash() {
        assert_eq!(split_id("t", "proj_1/user-a").unwrap(), ("proj_1", "user-a"));
        assert_eq!(split_id("t", "proj_1/ft:gpt/x").unwrap(), ("proj_1", "ft:gpt/x"));
        assert!(split_id("t", "proj_1").is_err());
        assert!(split_id("t", "/u").is_err());
    }
}
