//! What roles and overrides share: who may ask, who approves, how, for how long, how risky.

use schemars::JsonSchema;
use serde::Serialize;

use crate::policy::duration::Duration;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// How much harm misuse could do; drives warnings, limits and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Read-only or easily undone.
    Low,
    /// The default.
    Medium,
    /// Production write access, data access, kill switches.
    High,
}

impl Risk {
    /// The words HCL uses.
    pub const WORDS: [(&'static str, Risk); 3] =
        [("low", Risk::Low), ("medium", Risk::Medium), ("high", Risk::High)];

    /// The word for this risk.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// The access rules of a role or an override.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AccessRules {
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `"low"`, `"medium"` (default) or `"high"`.
    pub risk: Spanned<Risk>,
    /// Persons and teams who may request it. Omitted means any person in the policy, which
    /// `validate` warns about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requesters: Option<Spanned<Vec<Spanned<Reference>>>>,
    /// The approvers block that approves requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Spanned<Reference>>,
    /// Approvals needed; defaults to the approvers block's quorum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Spanned<u32>>,
    /// The authentication rule requesters must meet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Spanned<Reference>>,
    /// The longest one activation may last.
    pub max_duration: Spanned<Duration>,
    /// Attributes that were written but could not be read (already reported), so checks that
    /// look for a missing attribute do not report them a second time.
    #[serde(skip)]
    pub unreadable: Vec<&'static str>,
}

impl AccessRules {
    /// Reads the shared attributes of a `role` or `override` block. An attribute that cannot
    /// be read is reported and recorded in `unreadable`, and the rest is still read, so every
    /// other problem of the block (its references, its templates) is reported in the same run.
    pub fn decode(reader: &mut BlockReader<'_>) -> Self {
        let range = reader.range().clone();
        let description = reader.string("description", Presence::Optional).map(|s| s.value);
        let risk = reader
            .keyword("risk", Presence::Optional, &Risk::WORDS)
            .unwrap_or_else(|| Spanned::new(Risk::Medium, range.clone()));
        let written = reader.attribute("requesters", Presence::Optional).is_some();
        let requesters = reader
            .references(
                "requesters",
                Presence::Optional,
                &[ReferenceKind::Person, ReferenceKind::Team],
            )
            // A list that failed to read is an error already; it must not read as "anyone".
            .or_else(|| written.then(|| Spanned::new(Vec::new(), range.clone())));
        let mut unreadable = Vec::new();
        let approvers_written = reader.attribute("approvers", Presence::Optional).is_some();
        let approvers =
            reader.reference("approvers", Presence::Optional, &[ReferenceKind::Approvers]);
        if approvers_written && approvers.is_none() {
            unreadable.push("approvers");
        }
        let quorum = reader.count("quorum", Presence::Optional);
        let authentication = reader.reference(
            "authentication",
            Presence::Optional,
            &[ReferenceKind::Authentication],
        );
        let max_duration =
            reader.duration("max_duration", Presence::Required).unwrap_or_else(|| {
                unreadable.push("max_duration");
                Spanned::new(Duration::from_secs(0), range.clone())
            });
        Self {
            description,
            risk,
            requesters,
            approvers,
            quorum,
            authentication,
            max_duration,
            unreadable,
        }
    }
}
