//! What a provider offers: its configuration attributes and its resource types, each attribute
//! typed and flagged. `validate` checks `provider` and `resource` blocks against these schemas,
//! and the engine uses the flags to redact secrets and to choose update versus replace.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The type of one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "element")]
pub enum AttributeType {
    /// A string.
    String,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A list whose elements all have the given type.
    List(Box<AttributeType>),
    /// A map from string keys to values of the given type.
    Map(Box<AttributeType>),
    /// A JSON document held as a string (an IAM policy, say); compared as JSON, not as text,
    /// and diffed line by line.
    Json,
    /// Any value.
    Any,
}

impl AttributeType {
    /// Whether `value` has this type. `null` fits every type (it means "not set").
    pub fn accepts(&self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, value) {
            (_, Value::Null) | (AttributeType::Any, _) => true,
            (AttributeType::String, Value::String(_)) => true,
            (AttributeType::Bool, Value::Bool(_)) => true,
            (AttributeType::Number, Value::Number(_)) => true,
            (AttributeType::Json, Value::String(text)) => {
                serde_json::from_str::<Value>(text).is_ok()
            }
            (AttributeType::Json, Value::Object(_) | Value::Array(_)) => true,
            (AttributeType::List(element), Value::Array(items)) => {
                items.iter().all(|item| element.accepts(item))
            }
            (AttributeType::Map(element), Value::Object(entries)) => {
                entries.values().all(|item| element.accepts(item))
            }
            _ => false,
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeType::String => f.write_str("string"),
            AttributeType::Bool => f.write_str("bool"),
            AttributeType::Number => f.write_str("number"),
            AttributeType::List(element) => write!(f, "list of {element}"),
            AttributeType::Map(element) => write!(f, "map of {element}"),
            AttributeType::Json => f.write_str("JSON document"),
            AttributeType::Any => f.write_str("any value"),
        }
    }
}

/// One attribute of a resource type or of a provider's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AttributeSchema {
    /// Its type.
    #[serde(flatten)]
    pub ty: AttributeType,
    /// What it means, for `--help`-style docs and diagnostics.
    pub description: String,
    /// Must be set in HCL.
    pub required: bool,
    /// Set by the platform, not by HCL (an ARN, a creation time).
    pub computed: bool,
    /// Never printed, signed, logged or stored in clear.
    pub sensitive: bool,
    /// Changing it means deleting and re-creating the object.
    pub forces_replacement: bool,
}

impl AttributeSchema {
    /// An optional, non-sensitive attribute of type `ty`.
    pub fn new(ty: AttributeType) -> Self {
        Self {
            ty,
            description: String::new(),
            required: false,
            computed: false,
            sensitive: false,
            forces_replacement: false,
        }
    }

    /// Marks the attribute required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks the attribute optional (the default; here for readable schemas).
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Marks the attribute as set by the platform.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// Marks the attribute as a secret.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Marks that changing the attribute replaces the object.
    pub fn forces_replacement(mut self) -> Self {
        self.forces_replacement = true;
        self
    }

    /// Describes the attribute.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// A resource type: its attributes and what the platform can do for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResourceSchema {
    /// What the resource is.
    pub description: String,
    /// Attributes by name.
    pub attributes: BTreeMap<String, AttributeSchema>,
    /// The attribute through which the platform itself ends access at a given time (a key's
    /// expiry, a role's `VALID UNTIL`), so access ends even if no reconciler runs again. When an
    /// activation creates an object of this type, the engine sets this attribute to the
    /// activation's end (RFC 3339), so extending an activation is an ordinary update.
    pub expiry_attribute: Option<String>,
    /// `list` can read every object of this type in a scope in a few paged calls.
    pub listable: bool,
}

impl ResourceSchema {
    /// A resource type with no attributes yet.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            attributes: BTreeMap::new(),
            expiry_attribute: None,
            listable: false,
        }
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: impl Into<String>, schema: AttributeSchema) -> Self {
        self.attributes.insert(name.into(), schema);
        self
    }

    /// Declares that the platform enforces an end time itself, held in `attribute`.
    pub fn with_expiry_attribute(mut self, attribute: impl Into<String>) -> Self {
        self.expiry_attribute = Some(attribute.into());
        self
    }

    /// Declares that `list` is offered for this type.
    pub fn with_list(mut self) -> Self {
        self.listable = true;
        self
    }

    /// Names of the attributes HCL may set (everything not computed-only).
    pub fn settable_attributes(&self) -> impl Iterator<Item = &str> {
        self.attributes
            .iter()
            .filter(|(_, attribute)| !attribute.computed)
            .map(|(name, _)| name.as_str())
    }
}

/// Everything a provider offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProviderSchema {
    /// The provider's name, as used in `provider "NAME"` blocks and as the prefix of its
    /// resource types (`local_access`).
    pub name: String,
    /// What the provider manages.
    pub description: String,
    /// Attributes of its `provider` block.
    pub config: BTreeMap<String, AttributeSchema>,
    /// Resource types by full name (`local_access`).
    pub resource_types: BTreeMap<String, ResourceSchema>,
}

impl ProviderSchema {
    /// A provider with no configuration and no resource types yet.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            config: BTreeMap::new(),
            resource_types: BTreeMap::new(),
        }
    }

    /// Adds a configuration attribute.
    pub fn config_attribute(mut self, name: impl Into<String>, schema: AttributeSchema) -> Self {
        self.config.insert(name.into(), schema);
        self
    }

    /// Adds a resource type.
    pub fn resource_type(mut self, name: impl Into<String>, schema: ResourceSchema) -> Self {
        self.resource_types.insert(name.into(), schema);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::AttributeType;
    use serde_json::json;

    #[test]
    fn types_accept_matching_values_and_null() {
        let cases = [
            (AttributeType::String, json!("x"), true),
            (AttributeType::String, json!(1), false),
            (AttributeType::Bool, json!(true), true),
            (AttributeType::Number, json!(2.5), true),
            (AttributeType::Number, json!("2"), false),
            (AttributeType::List(Box::new(AttributeType::String)), json!(["a", "b"]), true),
            (AttributeType::List(Box::new(AttributeType::String)), json!(["a", 1]), false),
            (AttributeType::Map(Box::new(AttributeType::String)), json!({"k": "v"}), true),
            (AttributeType::Json, json!("{\"a\": 1}"), true),
            (AttributeType::Json, json!("{not json"), false),
            (AttributeType::Bool, json!(null), true),
        ];
        for (ty, value, expected) in cases {
            assert_eq!(ty.accepts(&value), expected, "{ty} accepts {value}");
        }
    }
}
