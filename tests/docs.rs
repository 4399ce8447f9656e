//! docs/policy.md stays honest: every attribute and nested block the model has (as the
//! generated policy schema lists them) is documented, and every block kind has its section.

use serde_json::Value;
use std::collections::BTreeSet;

use crate::util::root;

fn policy_schema() -> Value {
    serde_json::from_str(&breakglass::policy::schema::policy_schema())
        .expect("the policy schema is JSON")
}

fn policy_doc() -> String {
    fs_err::read_to_string(root().join("docs/policy.md")).expect("docs/policy.md exists")
}

/// Every property name in `schema`, at any depth: those of the block itself, and those of
/// inline sub-schemas such as a grant's `oneOf` of `role` and `override`.
fn collect_properties(schema: &Value, names: &mut BTreeSet<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = object.get("properties") {
                names.extend(properties.keys().cloned());
            }
            for value in object.values() {
                collect_properties(value, names);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_properties(item, names);
            }
        }
        _ => {}
    }
}

#[test]
fn every_attribute_of_every_block_is_documented() {
    let schema = policy_schema();
    let definitions = schema["$defs"].as_object().expect("the schema has $defs");
    let mut names = BTreeSet::new();
    for definition in definitions.values() {
        collect_properties(definition, &mut names);
    }
    assert!(names.len() > 20, "too few attributes found in the schema: {names:?}");
    let doc = policy_doc();
    let missing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/policy.md does not document these attributes or nested blocks (write each as \
         `name`, in backticks): {}",
        missing.join(", ")
    );
}

#[test]
fn every_block_kind_has_a_section() {
    let schema = policy_schema();
    let keywords: Vec<&str> = schema["properties"]
        .as_object()
        .expect("the schema lists the block kinds")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(keywords.len() >= 11, "too few block kinds found in the schema: {keywords:?}");
    let doc = policy_doc();
    let headings: Vec<&str> = doc.lines().filter(|line| line.starts_with("## ")).collect();
    let missing: Vec<&str> = keywords
        .iter()
        .copied()
        .filter(|keyword| !headings.iter().any(|heading| heading.contains(&format!("`{keyword}`"))))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/policy.md has no `## ` heading for these block kinds (write one as ## `kind`): {}",
        missing.join(", ")
    );
}
