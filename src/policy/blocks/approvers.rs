//! `approvers "NAME" { … }`: who approves, and how many must.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostics::SourceRange;
use crate::policy::duration::Duration;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// A group of approvers.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Approvers {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// What the group is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Persons and teams whose approvals count: `[person.carol, team.leads]`.
    pub members: Spanned<Vec<Spanned<Reference>>>,
    /// How many distinct approvers must approve (default 1).
    pub quorum: Spanned<u32>,
    /// Whether a requester who is also an approver may approve their own request
    /// (default false).
    pub allow_self_approval: Spanned<bool>,
    /// How long an approval token stays valid after it is issued (default 30m).
    pub token_lifetime: Duration,
    /// Roles and overrides this group approves automatically, with no token: declared
    /// low-risk cases. Still recorded and audited as auto-approved.
    pub auto_approve: Vec<Spanned<Reference>>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl Approvers {
    /// Reads an `approvers` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let range = reader.range().clone();
        let description = reader.string("description", Presence::Optional).map(|s| s.value);
        let members = reader.references(
            "members",
            Presence::Required,
            &[ReferenceKind::Person, ReferenceKind::Team],
        );
        let quorum = reader
            .count("quorum", Presence::Optional)
            .unwrap_or_else(|| Spanned::new(1, range.clone()));
        let allow_self_approval = reader
            .bool("allow_self_approval")
            .unwrap_or_else(|| Spanned::new(false, range.clone()));
        let token_lifetime = reader
            .duration("token_lifetime", Presence::Optional)
            .map_or(Duration::from_mins(30), |d| d.value);
        let auto_approve = reader
            .references(
                "auto_approve",
                Presence::Optional,
                &[ReferenceKind::Role, ReferenceKind::Override],
            )
            .map(|list| list.value)
            .unwrap_or_default();
        Some(Self {
            name: name.to_owned(),
            description,
            members: members?,
            quorum,
            allow_self_approval,
            token_lifetime,
            auto_approve,
            range,
        })
    }
}
