//! `override "NAME" { … }`: a temporary change to attributes of baseline resources (a kill
//! switch, a lifted rate limit).

use schemars::JsonSchema;
use serde::Serialize;

use super::rules::AccessRules;
use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// One `change { resource = TYPE.NAME  set = { … } }` of an override.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OverrideChange {
    /// The baseline resource changed.
    pub resource: Spanned<Reference>,
    /// The attributes set while the override is live, and their values.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub set: Spanned<serde_json::Map<String, serde_json::Value>>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

/// An override.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Override {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// Who may request it and how it is approved.
    #[serde(flatten)]
    pub rules: AccessRules,
    /// What it changes.
    #[serde(rename = "change")]
    pub changes: Vec<OverrideChange>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl Override {
    /// Reads an `override` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let range = reader.range().clone();
        let rules = AccessRules::decode(reader);
        let mut changes = Vec::new();
        for block in reader.blocks("change") {
            let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
            let resource = inner.reference(
                "resource",
                Presence::Required,
                &[ReferenceKind::Resource(String::new())],
            );
            let set = inner.object("set", Presence::Required);
            let change_range = inner.range().clone();
            for diagnostic in inner.finish() {
                reader.push(diagnostic);
            }
            if let (Some(resource), Some(set)) = (resource, set) {
                changes.push(OverrideChange { resource, set, range: change_range });
            }
        }
        if changes.is_empty() && reader.block_count() == 0 {
            reader.push(
                Diagnostic::error(
                    format!("override \"{name}\" changes nothing"),
                    "add a change { resource = TYPE.NAME  set = { attribute = value } } block",
                )
                .at(range.clone()),
            );
        }
        Some(Self { name: name.to_owned(), rules, changes, range })
    }
}
