//! `grant "NAME" { … }`: a planned activation of a role or override, reviewed in a pull
//! request like any change, live from `start` to `end`.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// What a grant activates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GrantTarget {
    /// `role = role.NAME`
    Role(Spanned<Reference>),
    /// `override = override.NAME`
    Override(Spanned<Reference>),
}

impl GrantTarget {
    /// The role or override referred to.
    pub fn reference(&self) -> &Spanned<Reference> {
        match self {
            GrantTarget::Role(reference) | GrantTarget::Override(reference) => reference,
        }
    }
}

/// A planned grant.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Grant {
    /// The block's name (a change ticket, say `chg_1234`).
    #[serde(skip)]
    pub name: String,
    /// The role or override it activates.
    #[serde(flatten)]
    pub target: GrantTarget,
    /// Who receives the role (required for roles; for overrides, who is accountable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Spanned<Reference>>,
    /// When it starts (RFC 3339).
    #[schemars(with = "String")]
    pub start: Spanned<Timestamp>,
    /// When it ends (RFC 3339).
    #[schemars(with = "String")]
    pub end: Spanned<Timestamp>,
    /// Why: shown in plans, status and the audit log.
    pub justification: String,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
    /// Attributes that could not be read (already reported): checks that need them skip the
    /// grant, and its other problems are still reported.
    #[serde(skip)]
    pub unreadable: Vec<&'static str>,
}

impl Grant {
    /// Reads a `grant` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let range = reader.range().clone();
        let role = reader.reference("role", Presence::Optional, &[ReferenceKind::Role]);
        let override_ =
            reader.reference("override", Presence::Optional, &[ReferenceKind::Override]);
        let target = match (role, override_) {
            (Some(role), None) => Some(GrantTarget::Role(role)),
            (None, Some(override_)) => Some(GrantTarget::Override(override_)),
            (Some(_), Some(second)) => {
                reader.push(
                    Diagnostic::error(
                        format!("grant \"{name}\" sets both role and override"),
                        "a grant activates one thing: keep either role = … or override = …",
                    )
                    .at(second.range),
                );
                None
            }
            (None, None) => {
                reader.push(
                    Diagnostic::error(
                        format!("grant \"{name}\" activates nothing"),
                        "add role = role.NAME or override = override.NAME",
                    )
                    .at(range.clone()),
                );
                None
            }
        };
        let to = reader.reference("to", Presence::Optional, &[ReferenceKind::Person]);
        let start = reader.timestamp("start", Presence::Required);
        let end = reader.timestamp("end", Presence::Required);
        let justification = reader.string("justification", Presence::Required);
        if let (Some(GrantTarget::Role(_)), None) = (&target, &to) {
            reader.push(
                Diagnostic::error(
                    format!("grant \"{name}\" does not say who receives the role"),
                    "add to = person.NAME",
                )
                .at(range.clone()),
            );
        }
        if let Some(justification) = &justification
            && justification.value.trim().is_empty()
        {
            reader.push(
                Diagnostic::error(
                    format!("grant \"{name}\" has an empty justification"),
                    "say why the access is needed, with the change or incident ticket",
                )
                .at(justification.range.clone()),
            );
        }
        let mut unreadable = Vec::new();
        let mut or_unread = |value: Option<Spanned<Timestamp>>, attribute: &'static str| {
            value.unwrap_or_else(|| {
                unreadable.push(attribute);
                Spanned::new(Timestamp::UNIX_EPOCH, range.clone())
            })
        };
        let (start, end) = (or_unread(start, "start"), or_unread(end, "end"));
        Some(Self {
            name: name.to_owned(),
            target: target?,
            to,
            start,
            end,
            justification: justification.map(|j| j.value).unwrap_or_default(),
            range,
            unreadable,
        })
    }
}
