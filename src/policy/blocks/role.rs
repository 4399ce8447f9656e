//! `role "NAME" { … }`: what an emergency grant gives, and the rules for getting it.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

use super::resource::{ResourceTemplate, resource_labels};
use super::rules::AccessRules;
use crate::address::ResourceAddress;
use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::reader::{BlockReader, header_range};

/// A role: a set of resource templates created for the requester while an activation is live.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Role {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// Who may request it and how it is approved.
    #[serde(flatten)]
    pub rules: AccessRules,
    /// The resources an activation adds, by `TYPE` then `NAME` (HCL's JSON form).
    #[serde(rename = "resource")]
    #[schemars(with = "BTreeMap<String, BTreeMap<String, ResourceTemplate>>")]
    #[serde(serialize_with = "serialize_templates")]
    pub resources: Vec<ResourceTemplate>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

fn serialize_templates<S: serde::Serializer>(
    templates: &[ResourceTemplate],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut by_type: BTreeMap<&str, BTreeMap<&str, &ResourceTemplate>> = BTreeMap::new();
    for template in templates {
        by_type
            .entry(&template.address.resource_type)
            .or_default()
            .insert(&template.address.name, template);
    }
    by_type.serialize(serializer)
}

impl Role {
    /// Reads a `role` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let range = reader.range().clone();
        let rules = AccessRules::decode(reader);
        let mut resources: Vec<ResourceTemplate> = Vec::new();
        for block in reader.blocks("resource") {
            let Some((resource_type, resource_name)) = resource_labels(block) else {
                reader.push(
                    Diagnostic::error(
                        format!("resource block in role \"{name}\" needs two labels"),
                        "write resource \"TYPE\" \"NAME\" { … }, as in resource \"local_access\" \"admin\" { … }",
                    )
                    .at(header_range(reader.file(), block)),
                );
                continue;
            };
            let address = ResourceAddress::new(resource_type, resource_name);
            let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
            if let Some(first) = resources.iter().find(|r| r.address == address) {
                inner.push(
                    Diagnostic::error(
                        format!("duplicate resource {address} in role \"{name}\""),
                        format!(
                            "it is first declared at {}; give each a distinct name",
                            first.range
                        ),
                    )
                    .at(inner.range().clone()),
                );
            }
            let template = ResourceTemplate::decode(&mut inner, address);
            for diagnostic in inner.finish() {
                reader.push(diagnostic);
            }
            resources.push(template);
        }
        if resources.is_empty() && reader.block_count() == 0 {
            reader.push(
                Diagnostic::error(
                    format!("role \"{name}\" grants nothing"),
                    "add at least one resource \"TYPE\" \"NAME\" { … } block: what an \
                     activation of the role creates for the requester",
                )
                .at(range.clone()),
            );
        }
        Some(Self { name: name.to_owned(), rules, resources, range })
    }
}
