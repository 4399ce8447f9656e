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

/// The property names of `schema` (one level).
fn property_names(schema: &Value) -> Vec<String> {
    schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn the_security_model_says_what_becomes_of_every_field_of_a_request_and_a_token() {
    let plan: Value = serde_json::from_str(
        &breakglass::schemas::all().into_iter().find(|(f, _)| *f == "plan.schema.json").unwrap().1,
    )
    .unwrap();
    let approval = serde_json::to_value(schemars::schema_for!(breakglass::sign::Approval)).unwrap();
    let mut fields = property_names(&plan);
    fields.extend(property_names(&plan["$defs"]["EmergencyRequest"]));
    fields.extend(property_names(&plan["$defs"]["Activation"]));
    fields.extend(property_names(&approval));
    assert!(fields.len() > 40, "too few fields found: {fields:?}");
    let doc = fs_err::read_to_string(root().join("docs/security.md")).unwrap();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|name| !doc.contains(&format!("`{name}`")) && !doc.contains(&format!(".{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/security.md does not say what becomes of these fields of a request or token: {missing:?}"
    );
}
