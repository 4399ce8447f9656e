//! JSON Schemas of every document breakglass writes or reads, generated from the Rust types
//! and committed under `schemas/`; a test fails when a committed file is out of date.

use schemars::JsonSchema;

/// Every generated schema: (file name under `schemas/`, content).
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("policy.schema.json", crate::policy::schema::policy_schema()),
        ("plan.schema.json", for_output::<crate::plan::Plan>()),
        ("state.schema.json", for_output::<crate::state::State>()),
        ("audit-event.schema.json", for_output::<crate::audit::Event>()),
    ]
}

/// The schema of documents breakglass writes (optional fields may be left out).
fn for_output<T: JsonSchema>() -> String {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
