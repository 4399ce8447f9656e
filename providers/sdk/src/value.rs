//! Attribute values: JSON values keyed by attribute name.

use crate::schema::ResourceSchema;
use crate::small_map::SmallMap;
use sha2::{Digest, Sha256};

/// One attribute value. JSON covers every attribute type the schemas offer (string, bool,
/// number, list, map, and JSON documents, which are held as strings).
pub type Value = serde_json::Value;

/// A resource's attributes by name, in a stable (sorted) order so digests are reproducible.
/// A [`SmallMap`]: a resource has a handful of attributes, and a large plan holds 100,000s of
/// these maps.
pub type Attributes = SmallMap<AttributeName, Value>;

/// An attribute's name: held inline (no allocation) up to 24 bytes, which every name is.
pub type AttributeName = compact_str::CompactString;

/// A stable sha256 digest of a set of attributes (hex), used to detect that a live object
/// changed between plan and apply.
pub fn attributes_digest(attributes: &Attributes) -> String {
    let bytes = serde_json::to_vec(attributes).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// A copy of `attributes` with every attribute the schema marks sensitive replaced by a digest
/// marker, so it can be stored, printed or signed without leaking the secret while still showing
/// whether it changed.
pub fn redact_sensitive(schema: &ResourceSchema, attributes: &Attributes) -> Attributes {
    attributes
        .iter()
        .map(|(name, value)| {
            let sensitive =
                schema.attributes.get(name.as_str()).is_some_and(|attribute| attribute.sensitive);
            if sensitive && !value.is_null() {
                let digest = hex::encode(Sha256::digest(value.to_string().as_bytes()));
                (name.clone(), Value::String(format!("(sensitive:sha256:{})", &digest[..16])))
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttributeSchema, AttributeType};
    use serde_json::json;

    #[test]
    fn digest_is_independent_of_insertion_order() {
        let mut a = Attributes::new();
        a.insert("x".into(), json!(1));
        a.insert("y".into(), json!("two"));
        let mut b = Attributes::new();
        b.insert("y".into(), json!("two"));
        b.insert("x".into(), json!(1));
        assert_eq!(attributes_digest(&a), attributes_digest(&b));
        b.insert("x".into(), json!(2));
        assert_ne!(attributes_digest(&a), attributes_digest(&b));
    }

    #[test]
    fn sensitive_attributes_are_replaced_by_a_digest_marker() {
        let schema = ResourceSchema::new("a thing")
            .attribute("name", AttributeSchema::new(AttributeType::String).required())
            .attribute(
                "password",
                AttributeSchema::new(AttributeType::String).optional().sensitive(),
            );
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), json!("svc"));
        attributes.insert("password".into(), json!("hunter2"));
        let redacted = redact_sensitive(&schema, &attributes);
        assert_eq!(redacted["name"], json!("svc"));
        let shown = redacted["password"].as_str().unwrap();
        assert!(shown.starts_with("(sensitive:sha256:"), "{shown}");
        assert!(!shown.contains("hunter2"));
    }
}
