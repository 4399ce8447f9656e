//! One audit event, the names of the actions breakglass records, and the hash chain that links
//! events into a tamper-evident log.
//!
//! A leaf, beneath `state`: the state backends store the log in the same transaction as the
//! state write each event describes, so the event and its chaining live below both `state` and
//! `audit` (which re-exports them and builds verification, reports and exports on top).

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod chain;

pub use chain::{Chain, ChainError, GENESIS, UnorderedChain, line_hash, prev_of, stamp};

/// The actions breakglass records. Commands write them; reports, exports and sinks key on them.
pub mod action {
    /// `plan --out` saved a signed plan.
    pub const PLAN_SIGNED: &str = "plan.signed";
    /// `request` made and signed an emergency request.
    pub const REQUEST: &str = "request";
    /// `extend` asked to extend a live activation.
    pub const REQUEST_EXTENSION: &str = "request.extension";
    /// `approve` signed an approval token.
    pub const APPROVAL: &str = "approval";
    /// `approve --deny` signed a denial.
    pub const DENIAL: &str = "denial";
    /// `apply --emergency` received a request: the executor's own record of it, with the times
    /// the requester's signed document claims.
    pub const REQUEST_RECEIVED: &str = "request.received";
    /// `apply --emergency` counted an approval.
    pub const APPROVAL_ACCEPTED: &str = "approval.accepted";
    /// `apply --emergency` granted (or extended) an activation.
    pub const APPLY_EMERGENCY: &str = "apply.emergency";
    /// `apply` of a plan starts.
    pub const APPLY_START: &str = "apply.start";
    /// One change applied (or failed, or skipped).
    pub const APPLY_CHANGE: &str = "apply.change";
    /// Something an apply wants on the record.
    pub const APPLY_NOTE: &str = "apply.note";
    /// An apply is done.
    pub const APPLY_FINISH: &str = "apply.finish";
    /// An emergency apply failed (not refused).
    pub const APPLY_FAILED: &str = "apply.failed";
    /// An activation's grant was confirmed.
    pub const ACTIVATION_ACTIVE: &str = "activation.active";
    /// An activation reached its end.
    pub const ACTIVATION_EXPIRED: &str = "activation.expired";
    /// An activation was revoked early.
    pub const ACTIVATION_REVOKED: &str = "activation.revoked";
    /// An activation's revert was confirmed by reading the live objects again.
    pub const ACTIVATION_REVERTED: &str = "activation.reverted";
    /// A revert could not be confirmed; it will be retried.
    pub const REVERT_UNCONFIRMED: &str = "revert.unconfirmed";
    /// Objects changed outside breakglass.
    pub const DRIFT_FOUND: &str = "drift.found";
    /// A check refused an operation.
    pub const REFUSAL: &str = "refusal";
    /// `state unlock` removed a stale lock.
    pub const LOCK_UNLOCKED: &str = "lock.unlocked";
    /// `watch` started.
    pub const WATCH_START: &str = "watch.start";
    /// `watch` stopped.
    pub const WATCH_STOP: &str = "watch.stop";
}

/// What an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subject {
    /// The activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// The plan's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// The resources involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventResult {
    /// It happened.
    Ok,
    /// A check refused it; nothing changed.
    Refused,
    /// It was attempted and failed.
    Failed,
}

/// One event. `prev` is filled by the log when it is appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// When.
    #[schemars(with = "String")]
    pub time: Timestamp,
    /// Who: a person, or `executor` for the process acting on its own (reconcile, watch).
    pub actor: String,
    /// What: `plan.signed`, `request`, `approval`, `denial`, `apply.start`, `apply.change`,
    /// `apply.finish`, `activation.active`, `activation.expired`, `activation.revoked`,
    /// `activation.reverted`, `revert.unconfirmed`, `drift.found`, `refusal`, `lock.unlocked`.
    pub action: String,
    /// What it is about.
    #[serde(default)]
    pub subject: Subject,
    /// How it ended.
    pub result: EventResult,
    /// Why (for refusals and failures, the exact reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Anything else worth keeping (never a secret).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// sha256 (hex) of the previous line; the genesis value for the first.
    #[serde(default)]
    pub prev: String,
}

impl Event {
    /// An event happening now.
    pub fn new(actor: impl Into<String>, action: impl Into<String>, result: EventResult) -> Self {
        Self {
            time: crate::clock::now(),
            actor: actor.into(),
            action: action.into(),
            subject: Subject::default(),
            result,
            reason: None,
            details: serde_json::Value::Null,
            prev: String::new(),
        }
    }

    /// About activation `id`.
    pub fn activation(mut self, id: impl Into<String>) -> Self {
        self.subject.activation = Some(id.into());
        self
    }

    /// About the plan with `digest`.
    pub fn plan(mut self, digest: impl Into<String>) -> Self {
        self.subject.plan_digest = Some(digest.into());
        self
    }

    /// About these resources.
    pub fn addresses(mut self, addresses: impl IntoIterator<Item = String>) -> Self {
        self.subject.addresses.extend(addresses);
        self
    }

    /// With a reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// With details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An event as recorded: with its `prev`, and the sha256 of its line (`hash`), which the next
/// line carries as its `prev`. This is what sinks receive and `audit export` writes, so a
/// receiver can deduplicate retried deliveries and check them against the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// sha256 (hex) of its line in the log.
    pub hash: String,
}
