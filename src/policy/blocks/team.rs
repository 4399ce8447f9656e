//! `team "NAME" { … }`: a set of persons.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostics::SourceRange;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// A team.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Team {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// What the team is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its members: `[person.alice, person.bob]`.
    pub members: Vec<Spanned<Reference>>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl Team {
    /// Reads a `team` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let description = reader.string("description", Presence::Optional).map(|s| s.value);
        let members = reader.references("members", Presence::Required, &[ReferenceKind::Person])?;
        Some(Self {
            name: name.to_owned(),
            description,
            members: members.value,
            range: reader.range().clone(),
        })
    }
}
