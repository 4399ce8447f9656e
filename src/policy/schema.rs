//! The JSON Schema of the policy in HCL's JSON form, generated from the Rust types.

use super::model::Policy;

/// The schema as pretty-printed JSON, as committed in `schemas/policy.schema.json`.
pub fn policy_schema() -> String {
    let schema = schemars::schema_for!(Policy);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
