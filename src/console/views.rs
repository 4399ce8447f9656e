//! What the console shows, as plain data built from the policy, the state, the inbox and the
//! audit log: the pages render it and `GET /api/…` returns it as JSON, so both always agree.
//! Nothing here carries a secret: persons are names, tokens stay in the inbox.

use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::inbox::StoredRequest;
use crate::activation::{Activation, ActivationKind, ActivationSource, ActivationStatus};
use crate::audit::{Event, EventResult};
use crate::policy::blocks::{AccessRules, LimitScope};
use crate::policy::{Policy, ReferenceKind};
use crate::state::State;

/// Every activation in state, by id (shared with the state they were read from).
pub type Activations = BTreeMap<String, Arc<Activation>>;

/// How many recent refusals and anomalies the dashboard keeps.
pub const RECENT: usize = 20;

/// An activation live now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActiveView {
    /// Its id.
    pub id: String,
    /// `role` or `override`.
    pub kind: &'static str,
    /// The role or override.
    pub name: String,
    /// Who has it.
    pub requester: String,
    /// Why.
    pub justification: String,
    /// What it grants: the addresses of the objects it holds.
    pub grants: Vec<String>,
    /// Who approved (empty when auto-approved or a planned grant).
    pub approved_by: Vec<String>,
    /// How it came: `emergency`, `grant NAME`, or `auto-approved`.
    pub source: String,
    /// The factors the requester presented.
    pub authenticated_by: Vec<String>,
    /// `applying`, `active`, `reverting`.
    pub status: &'static str,
    /// When it started.
    pub start: Timestamp,
    /// When it ends.
    pub end: Timestamp,
    /// Seconds left now.
    pub seconds_left: i64,
}

/// A request waiting for approval or apply.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PendingView {
    /// The activation id it asks for.
    pub id: String,
    /// The role or override.
    pub name: String,
    /// Who asks.
    pub requester: String,
    /// Why.
    pub justification: String,
    /// Who approved so far.
    pub approved_by: Vec<String>,
    /// How many approvals it needs.
    pub quorum: u32,
    /// Who rejected it, if anyone.
    pub rejected_by: Option<String>,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was submitted to the console.
    pub submitted_at: Timestamp,
}

/// A planned grant that has not started yet.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedView {
    /// The grant block's name.
    pub grant: String,
    /// The role or override.
    pub target: String,
    /// To whom.
    pub to: Option<String>,
    /// When it starts.
    pub start: Timestamp,
    /// When it ends.
    pub end: Timestamp,
    /// Why.
    pub justification: String,
}

/// A refusal or an anomaly from the audit log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoticeView {
    /// When.
    pub time: Timestamp,
    /// Who.
    pub actor: String,
    /// The event's action.
    pub action: String,
    /// The activation it concerns.
    pub activation: Option<String>,
    /// Why.
    pub reason: String,
}

/// One limit and how much of it is used.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LimitView {
    /// The limit's name.
    pub name: String,
    /// At most this many…
    pub max_activations: u32,
    /// …in this window.
    pub window: String,
    /// `person` or `everyone`.
    pub per: &'static str,
    /// Activations counted, by requester (everyone's under `*`), highest first.
    pub used: Vec<(String, usize)>,
    /// `refuse` or `warn` beyond.
    pub action: String,
}

/// The whole dashboard.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dashboard {
    /// When it was built.
    pub now: Timestamp,
    /// Live activations, soonest end first.
    pub active: Vec<ActiveView>,
    /// Requests waiting.
    pub pending: Vec<PendingView>,
    /// Planned grants to come, soonest first.
    pub planned: Vec<PlannedView>,
    /// Recent refusals and anomalies, newest first.
    pub notices: Vec<NoticeView>,
    /// Limit usage.
    pub limits: Vec<LimitView>,
}

impl ActiveView {
    /// Whether two views show the same thing (the time left aside, which the page counts down
    /// by itself).
    pub fn same_as(&self, other: &Self) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.name == other.name
            && self.requester == other.requester
            && self.justification == other.justification
            && self.grants == other.grants
            && self.approved_by == other.approved_by
            && self.source == other.source
            && self.authenticated_by == other.authenticated_by
            && self.status == other.status
            && self.start == other.start
            && self.end == other.end
    }
}

/// Whether an event is a refusal or an anomaly worth showing.
pub fn is_notice(event: &Event) -> bool {
    event.result != EventResult::Ok
        || matches!(event.action.as_str(), "drift.found" | "revert.unconfirmed" | "lock.unlocked")
}

/// The notice an event makes.
pub fn notice(event: &Event) -> NoticeView {
    NoticeView {
        time: event.time,
        actor: event.actor.clone(),
        action: event.action.clone(),
        activation: event.subject.activation.clone(),
        reason: event.reason.clone().unwrap_or_default(),
    }
}

/// The view of one live activation.
pub fn active_view(activation: &Activation, grants: Vec<String>, now: Timestamp) -> ActiveView {
    let source = match &activation.source {
        ActivationSource::Grant { name } => format!("grant {name}"),
        ActivationSource::Emergency { .. } if activation.auto_approved => {
            "auto-approved".to_owned()
        }
        ActivationSource::Emergency { .. } => "emergency".to_owned(),
    };
    ActiveView {
        id: activation.id.clone(),
        kind: activation.kind.as_str(),
        name: activation.name.clone(),
        requester: activation.requester.clone(),
        justification: activation.justification.clone(),
        grants,
        approved_by: activation.approvals.iter().map(|a| a.approver.clone()).collect(),
        source,
        authenticated_by: activation.authentication.clone(),
        status: activation.status.as_str(),
        start: activation.start,
        end: activation.end,
        seconds_left: activation.end.duration_since(now).as_secs().max(0),
    }
}

/// The quorum a role or override needs.
pub fn quorum_of(policy: &Policy, rules: &AccessRules) -> u32 {
    rules.quorum.as_ref().map(|q| q.value).unwrap_or_else(|| {
        rules
            .approvers
            .as_ref()
            .and_then(|g| policy.approvers.get(&g.name))
            .map_or(1, |g| g.quorum.value)
    })
}

fn rules_named<'a>(policy: &'a Policy, name: &str) -> Option<&'a AccessRules> {
    policy
        .roles
        .get(name)
        .map(|r| &r.rules)
        .or_else(|| policy.overrides.get(name).map(|o| &o.rules))
}

/// The view of a waiting request.
pub fn pending_view(policy: &Policy, request: &StoredRequest) -> PendingView {
    let mut approved_by: Vec<String> = request
        .approvals
        .iter()
        .filter(|a| a.decision == "approve")
        .map(|a| a.approver.clone())
        .collect();
    approved_by.dedup();
    PendingView {
        id: request.id.clone(),
        name: request.name.clone(),
        requester: request.requester.clone(),
        justification: request.justification.clone(),
        approved_by,
        quorum: rules_named(policy, &request.name).map_or(1, |r| quorum_of(policy, r)),
        rejected_by: request.rejected_by().map(str::to_owned),
        expires_at: request.expires_at,
        submitted_at: request.submitted_at,
    }
}

/// What each activation holds, by activation id: the addresses of its objects in `state`.
pub fn grants(state: &State) -> BTreeMap<&str, Vec<String>> {
    let mut grants: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (address, resource) in &state.resources {
        if let Some(id) = resource.activation.as_deref() {
            grants.entry(id).or_default().push(address.to_string());
        }
    }
    grants
}

/// The activations live at `now`, soonest end first, each with what it holds.
pub fn active_views(state: &State, now: Timestamp) -> Vec<ActiveView> {
    let mut grants = grants(state);
    let mut active: Vec<ActiveView> = state
        .activations
        .values()
        .filter(|a| a.status != ActivationStatus::Reverted && a.is_live_at(now))
        .map(|a| active_view(a, grants.remove(a.id.as_str()).unwrap_or_default(), now))
        .collect();
    active.sort_by(|a, b| a.end.cmp(&b.end).then_with(|| a.id.cmp(&b.id)));
    active
}

/// The requests still waiting at `now` (not applied, not expired), newest first.
pub fn pending_views<'a>(
    requests: impl IntoIterator<Item = &'a PendingView>,
    activations: &Activations,
    now: Timestamp,
) -> Vec<PendingView> {
    let mut pending: Vec<PendingView> = requests
        .into_iter()
        .filter(|r| !activations.contains_key(&r.id) && r.expires_at > now)
        .cloned()
        .collect();
    pending.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at).then_with(|| a.id.cmp(&b.id)));
    pending
}

/// The planned grants that have not started at `now`, soonest first.
pub fn planned_views(policy: &Policy, now: Timestamp) -> Vec<PlannedView> {
    let mut planned: Vec<PlannedView> = policy
        .grants
        .values()
        .filter(|g| g.start.value > now)
        .map(|g| PlannedView {
            grant: g.name.clone(),
            target: g.target.reference().value.to_string(),
            to: g.to.as_ref().map(|t| t.value.to_string()),
            start: g.start.value,
            end: g.end.value,
            justification: g.justification.clone(),
        })
        .collect();
    planned.sort_by_key(|p| p.start);
    planned
}

/// How much of each limit is used now (the same counting `apply --emergency` does).
pub fn limit_usage(policy: &Policy, activations: &Activations, now: Timestamp) -> Vec<LimitView> {
    let risk_of = |name: &str| rules_named(policy, name).map(|r| r.risk.value);
    policy
        .limits
        .values()
        .map(|limit| {
            let counts = |a: &Activation| {
                let by_name = limit.roles.iter().any(|r| {
                    r.name == a.name
                        && matches!(
                            (&r.kind, a.kind),
                            (ReferenceKind::Role, ActivationKind::Role)
                                | (ReferenceKind::Override, ActivationKind::Override)
                        )
                });
                by_name || limit.risk.is_some_and(|risk| risk_of(&a.name) == Some(risk))
            };
            let since = now.checked_sub(limit.window.to_signed()).unwrap_or(Timestamp::MIN);
            let mut used: BTreeMap<String, usize> = BTreeMap::new();
            for activation in activations.values() {
                let counted = activation.start >= since
                    && counts(activation)
                    && (activation.activated_at.is_some()
                        || activation.status != ActivationStatus::Applying);
                if counted {
                    let who = match limit.per {
                        LimitScope::Person => activation.requester.clone(),
                        LimitScope::Everyone => "*".to_owned(),
                    };
                    *used.entry(who).or_default() += 1;
                }
            }
            let mut used: Vec<(String, usize)> = used.into_iter().collect();
            used.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            LimitView {
                name: limit.name.clone(),
                max_activations: limit.max_activations,
                window: limit.window.to_string(),
                per: match limit.per {
                    LimitScope::Person => "person",
                    LimitScope::Everyone => "everyone",
                },
                used,
                action: format!("{:?}", limit.action).to_lowercase(),
            }
        })
        .collect()
}
