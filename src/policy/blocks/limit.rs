//! `limit "NAME" { … }`: overuse rules, checked when a request is made.

use schemars::JsonSchema;
use serde::Serialize;

use super::rules::Risk;
use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::duration::Duration;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// Whom a limit counts activations for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitScope {
    /// Each person separately (default).
    Person,
    /// Everyone together.
    Everyone,
}

/// What happens beyond a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitAction {
    /// The request is refused (default).
    Refuse,
    /// The request goes ahead, flagged in the plan, the audit log and reports.
    Warn,
}

/// A limit: at most `max_activations` of the matching roles per `per` within `window`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Limit {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// What the limit is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The roles and overrides it counts; with `risk`, those of that risk too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Spanned<Reference>>,
    /// Counts every role and override of this risk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// `"person"` (default) or `"everyone"`.
    pub per: LimitScope,
    /// The most activations allowed in the window.
    pub max_activations: u32,
    /// The sliding window counted over.
    pub window: Duration,
    /// `"refuse"` (default) or `"warn"`.
    pub action: LimitAction,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl Limit {
    /// Reads a `limit` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let range = reader.range().clone();
        let description = reader.string("description", Presence::Optional).map(|s| s.value);
        let roles = reader
            .references(
                "roles",
                Presence::Optional,
                &[ReferenceKind::Role, ReferenceKind::Override],
            )
            .map(|list| list.value)
            .unwrap_or_default();
        let risk = reader.keyword("risk", Presence::Optional, &Risk::WORDS).map(|r| r.value);
        let per = reader
            .keyword(
                "per",
                Presence::Optional,
                &[("person", LimitScope::Person), ("everyone", LimitScope::Everyone)],
            )
            .map_or(LimitScope::Person, |p| p.value);
        let max_activations = reader.count("max_activations", Presence::Required);
        let window = reader.duration("window", Presence::Required);
        let action = reader
            .keyword(
                "action",
                Presence::Optional,
                &[("refuse", LimitAction::Refuse), ("warn", LimitAction::Warn)],
            )
            .map_or(LimitAction::Refuse, |a| a.value);
        if roles.is_empty() && risk.is_none() {
            reader.push(
                Diagnostic::error(
                    format!("limit \"{name}\" counts nothing"),
                    "say what it counts: roles = [role.NAME, …], risk = \"high\", or both",
                )
                .at(range.clone()),
            );
        }
        Some(Self {
            name: name.to_owned(),
            description,
            roles,
            risk,
            per,
            max_activations: max_activations?.value,
            window: window?.value,
            action,
            range,
        })
    }
}
