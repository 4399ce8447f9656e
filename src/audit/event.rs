//! One audit event.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
