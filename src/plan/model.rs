//! The plan document.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::action::Action;
use super::change::{Drift, DriftKind, ResourceChange};
use crate::activation::Activation;
use crate::address::Address;

/// The plan JSON format version (`format_version`); bumped on incompatible changes.
pub const PLAN_FORMAT_VERSION: &str = "1.0";

/// The state a plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StateRef {
    /// The state's lineage (empty before the first write).
    pub lineage: String,
    /// The state's serial.
    pub serial: u64,
}

/// What refresh read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefreshSummary {
    /// Whether live objects were read at all (`--refresh=false` uses state instead).
    pub refreshed: bool,
    /// Objects read.
    pub objects: usize,
    /// API calls made.
    pub api_calls: u64,
}

/// Counts of changes by action, and drift found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanSummary {
    /// Objects to create.
    pub create: usize,
    /// Objects to change in place.
    pub update: usize,
    /// Objects to replace.
    pub replace: usize,
    /// Objects to delete.
    pub delete: usize,
    /// Objects changed outside breakglass (conflicts not included).
    pub drift: usize,
    /// Objects a person changed while an activation held them, left as they are (never also
    /// counted as drift).
    #[serde(default)]
    pub conflicts: usize,
}

/// An emergency request: the activation asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmergencyRequest {
    /// The activation: requester, justification, start, end.
    pub activation: Activation,
    /// For an extension of a live activation: its end before the extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub extends: Option<Timestamp>,
    /// Things approvers should know (a limit that is exceeded but only warns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A plan: what applying would change, why, and what it was computed from. This is the
/// documented, versioned JSON contract of `plan --json` (`schemas/plan.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// The format of this document.
    pub format_version: String,
    /// The breakglass version that made it.
    pub breakglass_version: String,
    /// When it was made.
    #[schemars(with = "String")]
    pub created_at: Timestamp,
    /// The time desired state was computed for (`--at`; otherwise when it was made).
    #[schemars(with = "String")]
    pub evaluated_at: Timestamp,
    /// After this, `apply` refuses it.
    #[schemars(with = "String")]
    pub expires_at: Timestamp,
    /// sha256 over the policy files it was made from.
    pub policy_digest: String,
    /// The state it was made against.
    pub state: StateRef,
    /// sha256 over every live object it read.
    pub live_digest: String,
    /// Only these addresses were planned (`--target`); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Address>,
    /// The changes, in the order they would be applied. Objects already as desired are not
    /// listed, except as `no-op` entries for objects breakglass finds as desired and starts to
    /// track (apply records them in state).
    pub resource_changes: Vec<ResourceChange>,
    /// What changed outside breakglass.
    pub drift: Vec<Drift>,
    /// Activations the plan starts (planned grants now due), recorded in state before any
    /// provider call grants anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activations: Vec<Activation>,
    /// The emergency request this plan carries, if it is one (made by `request`, approved with
    /// tokens, applied with `apply --emergency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<EmergencyRequest>,
    /// What refresh read.
    pub refresh: RefreshSummary,
    /// Counts.
    pub summary: PlanSummary,
}

impl Plan {
    /// Counts changes by action and drift entries.
    pub fn summarize(changes: &[ResourceChange], drift: &[Drift]) -> PlanSummary {
        let count = |action| changes.iter().filter(|c| c.action == action).count();
        PlanSummary {
            create: count(Action::Create),
            update: count(Action::Update),
            replace: count(Action::Replace),
            delete: count(Action::Delete),
            drift: drift.iter().filter(|d| d.kind != DriftKind::Conflict).count(),
            conflicts: drift.iter().filter(|d| d.kind == DriftKind::Conflict).count(),
        }
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.resource_changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// Whether a person changed something an activation held (left as is, reported).
    pub fn has_conflicts(&self) -> bool {
        self.drift.iter().any(|d| d.kind == DriftKind::Conflict)
    }

    /// Whether there is drift that no change in this plan puts back (only reported).
    pub fn has_reported_drift(&self) -> bool {
        self.drift.iter().any(|d| {
            d.kind == DriftKind::Unmanaged
                || !self.resource_changes.iter().any(|c| Some(&c.address) == d.address.as_ref())
        })
    }
}
