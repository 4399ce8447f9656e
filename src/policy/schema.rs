//! The JSON Schema of the policy in HCL's JSON form, generated from the Rust types.

use super::model::Policy;

/// The schema as pretty-printed JSON, as committed in `schemas/policy.schema.json`.
pub fn policy_schema() -> String {
    // The model is serialised (to HCL's JSON form), never deserialised: describe that contract,
    // in which attributes that are skipped when empty are optional.
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<Policy>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
