//! Why a change is in a plan.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why one object changes: every change in a plan carries one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The baseline declares it so.
    Baseline,
    /// It is in state but no longer declared.
    RemovedFromPolicy,
    /// An activation starts: a role grants this, or an override changes it.
    ActivationStarts {
        /// The activation id.
        activation: String,
        /// `role` or `override`.
        activation_kind: String,
        /// The role's or override's name.
        name: String,
        /// Who it is for.
        requester: String,
        /// When it ends.
        #[schemars(with = "String")]
        end: Timestamp,
    },
    /// An activation ended; this takes back what it gave.
    ActivationExpired {
        /// The activation id.
        activation: String,
        /// `role` or `override`.
        activation_kind: String,
        /// The role's or override's name.
        name: String,
        /// Who it was for.
        requester: String,
        /// When it ended.
        #[schemars(with = "String")]
        end: Timestamp,
    },
    /// An activation was revoked early; this takes back what it gave.
    ActivationRevoked {
        /// The activation id.
        activation: String,
        /// `role` or `override`.
        activation_kind: String,
        /// The role's or override's name.
        name: String,
        /// Who it was for.
        requester: String,
        /// Who revoked it.
        by: String,
    },
    /// It was changed outside breakglass; this puts it back.
    Drift,
}

impl Reason {
    /// The activation the reason is about, if any.
    pub fn activation(&self) -> Option<&str> {
        match self {
            Reason::ActivationStarts { activation, .. }
            | Reason::ActivationExpired { activation, .. }
            | Reason::ActivationRevoked { activation, .. } => Some(activation),
            _ => None,
        }
    }

    /// Whether the change takes access away that an activation gave.
    pub fn is_revert(&self) -> bool {
        matches!(self, Reason::ActivationExpired { .. } | Reason::ActivationRevoked { .. })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Baseline => f.write_str("baseline"),
            Reason::RemovedFromPolicy => f.write_str("no longer in the policy"),
            Reason::ActivationStarts { activation, activation_kind, name, requester, end } => {
                write!(
                    f,
                    "{activation_kind} {name} for {requester} starts ({activation}, until {end})"
                )
            }
            Reason::ActivationExpired { activation, activation_kind, name, requester, end } => {
                write!(
                    f,
                    "{activation_kind} {name} for {requester} expired at {end} ({activation})"
                )
            }
            Reason::ActivationRevoked { activation, activation_kind, name, requester, by } => {
                write!(f, "{activation_kind} {name} for {requester} revoked by {by} ({activation})")
            }
            Reason::Drift => f.write_str("changed outside breakglass"),
        }
    }
}
