//! An activation's record: who asked, why, who approved, when it starts and ends, and where it
//! is in its life. Plain data shared by plans (which carry the activation they start) and state
//! (which keeps every record).

use breakglass_provider::Attributes;
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::address::Address;

/// What an activation activates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivationKind {
    /// A role: adds resources for the requester.
    Role,
    /// An override: changes attributes of baseline resources.
    Override,
}

impl ActivationKind {
    /// `role` or `override`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationKind::Role => "role",
            ActivationKind::Override => "override",
        }
    }
}

/// Where an activation came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ActivationSource {
    /// A `grant` block, reviewed in git.
    Grant {
        /// The grant's name.
        name: String,
    },
    /// An emergency request approved at run time.
    Emergency {
        /// The digest of the signed request plan.
        plan_digest: String,
    },
}

/// Where an activation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivationStatus {
    /// Recorded before any provider call grants anything; if a run dies here, reconcile
    /// reverts whatever was granted.
    Applying,
    /// Granted.
    Active,
    /// Its end passed or it was revoked; the revert is under way or being retried.
    Reverting,
    /// The revert was confirmed by reading the live objects again.
    Reverted,
}

impl ActivationStatus {
    /// The lower-case word.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationStatus::Applying => "applying",
            ActivationStatus::Active => "active",
            ActivationStatus::Reverting => "reverting",
            ActivationStatus::Reverted => "reverted",
        }
    }
}

/// One approval (or denial) counted for an activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRecord {
    /// Who approved.
    pub approver: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When the token was issued.
    #[schemars(with = "String")]
    pub issued_at: Timestamp,
    /// The token's nonce.
    pub nonce: String,
}

/// An early end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Revocation {
    /// When.
    #[schemars(with = "String")]
    pub at: Timestamp,
    /// Who revoked it.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// An activation: a time-bounded patch on top of the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Activation {
    /// `act_01J…` for emergency requests, `grant_NAME` for grants.
    pub id: String,
    /// Role or override.
    pub kind: ActivationKind,
    /// The role's or override's name.
    pub name: String,
    /// Who asked (for a role: who receives it).
    pub requester: String,
    /// Why.
    pub justification: String,
    /// When it starts.
    #[schemars(with = "String")]
    pub start: Timestamp,
    /// When it ends.
    #[schemars(with = "String")]
    pub end: Timestamp,
    /// Where it is in its life.
    pub status: ActivationStatus,
    /// Grant or emergency request.
    pub source: ActivationSource,
    /// Approvals counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalRecord>,
    /// Approved automatically, as a declared low-risk case.
    #[serde(default)]
    pub auto_approved: bool,
    /// Factors the requester presented (`signature`, `totp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication: Vec<String>,
    /// For overrides: each changed resource's attributes as read just before the change, so
    /// the revert writes back exactly what was there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, BTreeMap<String, serde_json::Value>>")]
    pub priors: BTreeMap<Address, Attributes>,
    /// When it was recorded.
    #[schemars(with = "String")]
    pub created_at: Timestamp,
    /// When its grant was confirmed applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub activated_at: Option<Timestamp>,
    /// An early end, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
    /// When the revert was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub reverted_at: Option<Timestamp>,
    /// Failed revert attempts so far.
    #[serde(default)]
    pub revert_attempts: u32,
    /// The last failure met applying or reverting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Extensions approved after the first grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Extension>,
    /// Things a reviewer should look at (a limit exceeded that only warns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// An approved extension of a live activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Extension {
    /// The end before.
    #[schemars(with = "String")]
    pub previous_end: Timestamp,
    /// The end after.
    #[schemars(with = "String")]
    pub new_end: Timestamp,
    /// Why.
    pub justification: String,
    /// The extension request's plan digest.
    pub plan_digest: String,
    /// Its approvals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalRecord>,
    /// When it was applied.
    #[schemars(with = "String")]
    pub at: Timestamp,
}

impl Activation {
    /// Whether the activation should be in effect at `at`: granted (or being granted), not
    /// revoked, started, and not ended.
    pub fn is_live_at(&self, at: Timestamp) -> bool {
        matches!(self.status, ActivationStatus::Applying | ActivationStatus::Active)
            && self.revoked.is_none()
            && self.start <= at
            && at < self.end
    }

    /// Whether what it granted must be taken back at `at`: it was (or may have been) granted,
    /// and it ended or was revoked, and the revert is not yet confirmed.
    pub fn needs_revert_at(&self, at: Timestamp) -> bool {
        self.status != ActivationStatus::Reverted && !self.is_live_at(at)
    }

    /// The key of its resources' addresses: `person:id`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.requester, self.id)
    }
}
