//! The post-event audit: for each activation, who asked and why, who approved (when, with what
//! comment), how the requester authenticated, exactly what changed on which system and when,
//! how it ended, and what a reviewer should look at; then refusals, use per person and role,
//! and anomalies across activations.
//!
//! Design choices:
//! - **Two sources, each for what it is authoritative on.** The state's activation record says
//!   what was counted (approvals with comments, authentication factors, revert attempts, limit
//!   flags) and where the activation is now; the log says what happened when (each change, each
//!   refusal, each denial that never reached state). An activation whose record is gone (state
//!   lost, or never applied) is rebuilt from the log alone.
//! - **Events are tied to an activation by id, or by the digest of the request plan** that
//!   `request` recorded with the id, so a refused `apply --emergency` (which only knows the
//!   request file) lands under the activation it was for.
//! - **Anomalies are facts with a threshold, not scores**, each worded so a reviewer knows why
//!   it is listed: outside the declared working hours, a revert that needed retries or is
//!   still unconfirmed, a limit that only warned, refusals before a grant, self-approval, an
//!   approver who approves most of one person's requests when others could have.
//! - The model is plain data (serialised as `--format json`); `cli` renders text and markdown.

use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use super::summary::summarize;
use crate::activation::{Activation, ActivationSource, ActivationStatus};
use crate::event::{EventResult, Stamped, action};
use crate::policy::Policy;
use crate::policy::blocks::{LimitAction, LimitScope, WorkingHours};
use crate::state::State;

/// An approver is flagged when they approved more than this share of one person's activations…
const CONCENTRATION_SHARE: f64 = 0.5;
/// …and at least this many of them.
const CONCENTRATION_MIN: usize = 3;

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Only activations with something on record at or after this time (and refusals since).
    pub since: Option<Timestamp>,
    /// Only activations requested (or started) before this time, and refusals before it.
    pub until: Option<Timestamp>,
    /// Only this activation.
    pub activation: Option<String>,
    /// The time of the report (live activations are measured against it).
    pub now: Timestamp,
}

/// Whether the log verified.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// The log file.
    pub path: String,
    /// Lines in the log.
    pub lines: usize,
    /// Whether the whole chain verified.
    pub verified: bool,
    /// The head hash, when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The first line that does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<usize>,
    /// What is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The working hours the report checked against.
#[derive(Debug, Clone, Serialize)]
pub struct Hours {
    /// `mon,tue,wed,thu,fri 08:00–18:00 UTC`.
    pub description: String,
    /// Declared in the policy (`false`: the default).
    pub declared: bool,
}

/// The whole report but each activation's own section: those go to a sink as they are built
/// (see [`ReportBuilder`]), so a report on any number of activations holds only this.
#[derive(Debug, Clone)]
pub struct Report {
    /// When it was made.
    pub generated_at: Timestamp,
    /// The period it covers, if limited.
    pub since: Option<Timestamp>,
    /// The log and whether it verified.
    pub log: Integrity,
    /// The working hours used.
    pub working_hours: Hours,
    /// Each activation in brief, oldest first; `section` says which section the sink received
    /// for it.
    pub activations: Vec<ActivationSummary>,
    /// Refusals not tied to a reported activation (a request refused outright).
    pub refusals: Vec<Refusal>,
    /// Use per person and role or override.
    pub usage: Vec<Usage>,
    /// Use of each limit, per person (or everyone), now.
    pub limits: Vec<LimitUse>,
    /// Anomalies across activations.
    pub anomalies: Vec<String>,
}

/// One approval or denial.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// Who.
    pub approver: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// When the token was signed.
    pub at: Timestamp,
    /// What they said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether `apply --emergency` counted it.
    pub counted: bool,
}

/// One extension.
#[derive(Debug, Clone, Serialize)]
pub struct ExtensionEntry {
    /// When it was applied.
    pub at: Timestamp,
    /// The end before.
    pub previous_end: Timestamp,
    /// The end after.
    pub new_end: Timestamp,
    /// Why.
    pub justification: String,
    /// Who approved it.
    pub approvers: Vec<String>,
}

/// One change made on a platform.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeEntry {
    /// When it finished.
    pub time: Timestamp,
    /// The object's address.
    pub address: String,
    /// The provider (the system changed).
    pub provider: String,
    /// The resource type.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The provider's id.
    pub id: String,
    /// `create`, `update`, `delete`, `replace`.
    pub action: String,
    /// How it ended.
    pub result: EventResult,
    /// Why it was made (the plan's reason).
    pub why: String,
    /// What changed, in short: `value: "on" → "off"`.
    pub attributes: String,
    /// The error, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an activation ended, or where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Granted and not over.
    Live {
        /// When it ends.
        until: Timestamp,
    },
    /// Reached its end; reverted.
    Expired {
        /// Its end.
        at: Timestamp,
        /// When the revert was confirmed.
        reverted_at: Option<Timestamp>,
    },
    /// Ended early; reverted.
    Revoked {
        /// When.
        at: Timestamp,
        /// By whom.
        by: String,
        /// Why.
        reason: String,
        /// When the revert was confirmed.
        reverted_at: Option<Timestamp>,
    },
    /// Over, but the revert is not confirmed: access may still be live.
    RevertPending {
        /// Expired or revoked, and when.
        ended: String,
        /// Failed revert attempts so far.
        attempts: u32,
        /// The last failure.
        last_error: Option<String>,
    },
    /// Recorded, grant not confirmed (an apply in flight, or one that died: reconcile
    /// reverts it).
    Applying,
    /// Never granted: the last attempt was refused.
    Refused {
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
    /// Requested, never applied.
    NotApplied,
}

impl Outcome {
    /// One line: `expired at …, revert confirmed at …`.
    pub fn describe(&self) -> String {
        let confirmed = |at: &Option<Timestamp>| {
            at.map_or_else(String::new, |t| format!("; revert confirmed at {t}"))
        };
        match self {
            Outcome::Live { until } => format!("live until {until}"),
            Outcome::Expired { at, reverted_at } => {
                format!("expired at {at}{}", confirmed(reverted_at))
            }
            Outcome::Revoked { at, by, reason, reverted_at } => {
                format!("revoked by {by} at {at} ({reason}){}", confirmed(reverted_at))
            }
            Outcome::RevertPending { ended, attempts, last_error } => format!(
                "{ended}; revert NOT confirmed after {attempts} failed attempt(s){}: access may \
                 still be live",
                last_error.as_ref().map_or_else(String::new, |e| format!(" (last error: {e})"))
            ),
            Outcome::Applying => {
                "grant not confirmed (apply in flight or interrupted; reconcile reverts it)"
                    .to_owned()
            }
            Outcome::Refused { at, reason } => format!("refused at {at}: {reason}"),
            Outcome::NotApplied => "requested; never applied".to_owned(),
        }
    }
}

/// One event in an activation's story.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// Its line in the log.
    pub line: usize,
    /// When.
    pub time: Timestamp,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// How it ended.
    pub result: EventResult,
    /// In words.
    pub summary: String,
}

/// The audit of one activation.
#[derive(Debug, Clone, Serialize)]
pub struct ActivationReport {
    /// Its id.
    pub id: String,
    /// `role` or `override`.
    pub kind: String,
    /// The role's or override's name.
    pub name: String,
    /// Its risk, from the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
    /// Who asked (for a role: who received it).
    pub requester: String,
    /// Why.
    pub justification: String,
    /// `emergency request` or `grant NAME`.
    pub source: String,
    /// The request plan's digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// When it was requested: the `request` event's time where this log has it (the
    /// requester's machine), else the time the request claims, by the requester's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
    /// `requested_at` is the requester's claim (from the signed request), not a time this log
    /// recorded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requested_at_claimed: bool,
    /// When the executor received the request (its `request.received` event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<Timestamp>,
    /// When it starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// When it ends (after extensions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    /// Approvals and denials.
    pub approvals: Vec<Approval>,
    /// Approved automatically, as a declared low-risk case.
    pub auto_approved: bool,
    /// Factors the requester presented.
    pub authentication: Vec<String>,
    /// Who ran the apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// When the grant was confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<Timestamp>,
    /// Extensions.
    pub extensions: Vec<ExtensionEntry>,
    /// Every change on a platform, grant and revert, in order.
    pub changes: Vec<ChangeEntry>,
    /// How it ended.
    pub outcome: Outcome,
    /// What a reviewer should look at.
    pub anomalies: Vec<String>,
    /// Every event about it.
    pub timeline: Vec<TimelineEntry>,
}

/// What the report keeps of one activation once its section is made: its summary line, and
/// what use per person, approver concentration and the order of the report need.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationSummary {
    /// The number of its section, in the order the sink received them.
    pub section: usize,
    /// Its id.
    pub id: String,
    /// `role` or `override`.
    pub kind: String,
    /// The role's or override's name.
    pub name: String,
    /// Its risk, from the policy.
    pub risk: Option<String>,
    /// Who asked.
    pub requester: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How many anomalies its section lists.
    pub anomalies: usize,
    /// When the grant was confirmed.
    pub activated_at: Option<Timestamp>,
    /// When it ends.
    pub end: Option<Timestamp>,
    /// Approved automatically.
    pub auto_approved: bool,
    /// Who approved it, counted (each once).
    pub approvers: BTreeSet<String>,
    /// Refusals of its requester in its timeline.
    pub refused: usize,
    /// When it was requested, else when it starts: the report's order.
    pub order: Option<Timestamp>,
}

impl ActivationSummary {
    fn of(report: &ActivationReport, section: usize) -> Self {
        Self {
            section,
            id: report.id.clone(),
            kind: report.kind.clone(),
            name: report.name.clone(),
            risk: report.risk.clone(),
            requester: report.requester.clone(),
            outcome: report.outcome.clone(),
            anomalies: report.anomalies.len(),
            activated_at: report.activated_at,
            end: report.end,
            auto_approved: report.auto_approved,
            approvers: report
                .approvals
                .iter()
                .filter(|a| a.counted && a.decision == "approve")
                .map(|a| a.approver.clone())
                .collect(),
            refused: report
                .timeline
                .iter()
                .filter(|e| e.action == action::REFUSAL && e.actor == report.requester)
                .count(),
            order: report.requested_at.or(report.start),
        }
    }
}

/// A refusal.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// Its line in the log.
    pub line: usize,
    /// When.
    pub time: Timestamp,
    /// Who was refused.
    pub actor: String,
    /// The command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Why.
    pub reason: String,
}

/// Use of one role or override by one person.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Who.
    pub person: String,
    /// `role` or `override`.
    pub kind: String,
    /// Which.
    pub name: String,
    /// Activations granted.
    pub activations: usize,
    /// Time granted in total (until the end, the revocation, or now), in seconds.
    pub granted_seconds: i64,
    /// Requests or applies refused.
    pub refused: usize,
}

/// How much of a limit is used now.
#[derive(Debug, Clone, Serialize)]
pub struct LimitUse {
    /// The limit's name.
    pub limit: String,
    /// The person, or `everyone`.
    pub whom: String,
    /// Matching activations in the window.
    pub used: usize,
    /// The most allowed.
    pub max: u32,
    /// The window.
    pub window: String,
    /// `refuse` or `warn`.
    pub action: String,
}

/// Facts about an activation that single events lack (whose it is, what it is): from state,
/// else from its `request` event. Used by exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Who asked.
    pub requester: String,
    /// `role` or `override`.
    pub kind: String,
    /// Which.
    pub name: String,
    /// When it ends.
    pub end: Option<Timestamp>,
}

/// Facts about every activation the state or the log knows, by id.
pub fn activation_facts(events: &[(usize, Stamped)], state: &State) -> BTreeMap<String, Facts> {
    let mut facts = BTreeMap::new();
    for (_, stamped) in events {
        let event = &stamped.event;
        if event.action != action::REQUEST && event.action != action::REQUEST_RECEIVED {
            continue;
        }
        let Some(id) = &event.subject.activation else { continue };
        if event.action == action::REQUEST_RECEIVED && facts.contains_key(id) {
            // The requester's own `request` event, where the log has it, says it best.
            continue;
        }
        let detail = |key: &str| event.details.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        facts.insert(
            id.clone(),
            Facts {
                requester: event.actor.clone(),
                kind: detail("kind").unwrap_or_else(|| "role".to_owned()),
                name: detail("name").unwrap_or_default(),
                end: detail("end").and_then(|t| t.parse().ok()),
            },
        );
    }
    for (id, activation) in &state.activations {
        facts.insert(
            id.clone(),
            Facts {
                requester: activation.requester.clone(),
                kind: activation.kind.as_str().to_owned(),
                name: activation.name.clone(),
                end: Some(activation.end),
            },
        );
    }
    facts
}

/// The activation each request plan digest belongs to, from the events that name both (the
/// `request` event first of all), so events that only know the request file can be tied to it.
pub fn digest_index(events: &[(usize, Stamped)]) -> BTreeMap<String, String> {
    let mut by_digest = BTreeMap::new();
    for (_, stamped) in events {
        let subject = &stamped.event.subject;
        if let (Some(id), Some(digest)) = (&subject.activation, &subject.plan_digest) {
            by_digest.entry(digest.clone()).or_insert_with(|| id.clone());
        }
    }
    by_digest
}

/// Events grouped by the activation they are about.
struct Index<'a> {
    by_activation: BTreeMap<String, Vec<&'a (usize, Stamped)>>,
    /// Refusals about no known activation.
    loose_refusals: Vec<&'a (usize, Stamped)>,
}

impl<'a> Index<'a> {
    fn new(events: &'a [(usize, Stamped)]) -> Self {
        let by_digest = digest_index(events);
        let mut by_activation: BTreeMap<String, Vec<_>> = BTreeMap::new();
        let mut loose_refusals = Vec::new();
        for entry in events {
            let subject = &entry.1.event.subject;
            let id = subject
                .activation
                .clone()
                .or_else(|| subject.plan_digest.as_ref().and_then(|d| by_digest.get(d).cloned()));
            match id {
                Some(id) => by_activation.entry(id).or_default().push(entry),
                None if entry.1.event.action == action::REFUSAL => loose_refusals.push(entry),
                None => {}
            }
        }
        Self { by_activation, loose_refusals }
    }
}

/// Builds the report from the log's events (with their line numbers), the state, and the
/// policy (risk, approver groups, limits, working hours; a report can be made without it),
/// with every activation's report in memory, in the report's order.
pub fn build(
    events: &[(usize, Stamped)],
    integrity: Integrity,
    state: &State,
    policy: Option<&Policy>,
    options: &ReportOptions,
) -> (Report, Vec<ActivationReport>) {
    let index = Index::new(events);
    let mut built: Vec<ActivationReport> = Vec::new();
    let mut sink = |report: &ActivationReport| built.push(report.clone());
    let mut builder = ReportBuilder::new(policy, options, &mut sink);
    for (id, events) in &index.by_activation {
        builder.activation(id, state.activations.get(id).map(|a| &**a), events);
    }
    let report = builder.finish(integrity, state, &index.loose_refusals);
    let mut sections: Vec<Option<ActivationReport>> = built.into_iter().map(Some).collect();
    let ordered =
        report.activations.iter().filter_map(|a| sections[a.section].take()).collect::<Vec<_>>();
    (report, ordered)
}

/// What receives each activation's report as it is built (to render it, or keep it).
pub type Sink<'s> = dyn FnMut(&ActivationReport) + Send + 's;

/// Builds a report one activation at a time: each activation's report goes to a sink as soon
/// as it is built and only its summary is kept, so a log of any length is reported on in the
/// memory one activation's events and every activation's summary take.
pub struct ReportBuilder<'a, 's> {
    policy: Option<&'a Policy>,
    options: &'a ReportOptions,
    declared: Option<WorkingHours>,
    hours: WorkingHours,
    sink: &'a mut Sink<'s>,
    activations: Vec<ActivationSummary>,
    seen: BTreeSet<String>,
}

impl std::fmt::Debug for ReportBuilder<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportBuilder")
            .field("activations", &self.activations.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'a, 's> ReportBuilder<'a, 's> {
    /// A report on nothing yet, handing each activation's report to `sink`.
    pub fn new(
        policy: Option<&'a Policy>,
        options: &'a ReportOptions,
        sink: &'a mut Sink<'s>,
    ) -> Self {
        let declared = policy.and_then(|p| p.settings.audit.working_hours.clone());
        let hours = declared.clone().unwrap_or_default();
        Self {
            policy,
            options,
            declared,
            hours,
            sink,
            activations: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Whether the report wants activation `id` at all (`--activation`).
    pub fn wants(&self, id: &str) -> bool {
        self.options.activation.as_deref().is_none_or(|wanted| wanted == id)
    }

    /// Adds activation `id` from its state record (if any) and every event about it, in log
    /// order.
    pub fn activation(
        &mut self,
        id: &str,
        record: Option<&Activation>,
        events: &[&(usize, Stamped)],
    ) {
        if !self.wants(id) || !self.seen.insert(id.to_owned()) {
            return;
        }
        let built =
            activation_report(id, record, events, self.policy, &self.hours, self.options.now);
        if let Some(report) = built.filter(|report| {
            self.options.since.is_none_or(|since| last_activity(report) >= since)
                && self.options.until.is_none_or(|until| {
                    report.requested_at.or(report.start).is_none_or(|t| t < until)
                })
        }) {
            (self.sink)(&report);
            let section = self.activations.len();
            self.activations.push(ActivationSummary::of(&report, section));
        }
    }

    /// Ends the report: activations `state` records that had no events, refusals tied to no
    /// activation, use, limits and anomalies.
    pub fn finish(
        mut self,
        integrity: Integrity,
        state: &State,
        loose_refusals: &[&(usize, Stamped)],
    ) -> Report {
        let options = self.options;
        for (id, record) in &state.activations {
            self.activation(id, Some(record), &[]);
        }
        let policy = self.policy;
        let mut activations = self.activations;
        activations.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));
        let in_period = |stamped: &Stamped| {
            options.since.is_none_or(|since| stamped.event.time >= since)
                && options.until.is_none_or(|until| stamped.event.time < until)
        };
        let loose: &[&(usize, Stamped)] =
            if options.activation.is_some() { &[] } else { loose_refusals };
        let refusals: Vec<Refusal> = loose
            .iter()
            .filter(|(_, s)| in_period(s))
            .map(|(line, stamped)| Refusal {
                line: *line,
                time: stamped.event.time,
                actor: stamped.event.actor.clone(),
                command: stamped
                    .event
                    .details
                    .get("command")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned),
                reason: unprefixed(stamped.event.reason.as_deref()),
            })
            .collect();
        // One activation's report speaks of its requester only.
        let only: Option<&str> =
            options.activation.as_ref().and(activations.first().map(|a| a.requester.as_str()));
        let usage = usage(&activations, loose, options.now);
        let limits: Vec<LimitUse> = policy
            .map(|p| limit_use(p, state, options.now))
            .unwrap_or_default()
            .into_iter()
            .filter(|l| only.is_none_or(|person| l.whom == person || l.whom == "everyone"))
            .collect();
        let mut anomalies = concentration(&activations, policy);
        let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
        for row in &usage {
            *refused.entry(row.person.as_str()).or_default() += row.refused;
        }
        for (person, count) in refused.into_iter().filter(|(_, n)| *n > 0) {
            anomalies.push(format!("{person} was refused {count} time(s) in this period"));
        }
        for limit in &limits {
            if limit.used >= limit.max as usize {
                anomalies.push(format!(
                    "{} has used limit \"{}\" fully: {} of {} in {} ({} beyond it)",
                    limit.whom,
                    limit.limit,
                    limit.used,
                    limit.max,
                    limit.window,
                    if limit.action == "warn" {
                        "requests are flagged"
                    } else {
                        "requests are refused"
                    }
                ));
            }
        }
        if !integrity.verified {
            anomalies.insert(
                0,
                format!(
                    "the audit log does NOT verify (line {}: {}); this report may be built on \
                     tampered or damaged records",
                    integrity.broken_at.unwrap_or(0),
                    integrity.problem.as_deref().unwrap_or("unknown problem")
                ),
            );
        }
        Report {
            generated_at: options.now,
            since: options.since,
            log: integrity,
            working_hours: Hours {
                description: self.hours.describe(),
                declared: self.declared.is_some(),
            },
            activations,
            refusals,
            usage,
            limits,
            anomalies,
        }
    }
}

/// When anything last happened to it; an activation that is not over is current.
fn last_activity(report: &ActivationReport) -> Timestamp {
    if matches!(
        report.outcome,
        Outcome::Live { .. } | Outcome::RevertPending { .. } | Outcome::Applying
    ) {
        return Timestamp::MAX;
    }
    let last_event = report.timeline.iter().map(|e| e.time).max();
    [last_event, report.requested_at].into_iter().flatten().max().unwrap_or(Timestamp::MIN)
}

fn activation_report(
    id: &str,
    record: Option<&Activation>,
    events: &[&(usize, Stamped)],
    policy: Option<&Policy>,
    hours: &WorkingHours,
    now: Timestamp,
) -> Option<ActivationReport> {
    let requested = events.iter().find(|(_, s)| s.event.action == action::REQUEST).map(|(_, s)| s);
    // The executor's record of the request: what it received, and when.
    let received = events
        .iter()
        .find(|(_, s)| {
            s.event.action == action::REQUEST_RECEIVED
                && s.event.details.get("request").and_then(|r| r.as_str()) != Some("extension")
        })
        .map(|(_, s)| s);
    let request = requested.or(received);
    let claimed_created_at: Option<Timestamp> = received
        .and_then(|r| r.event.details.get("claimed"))
        .and_then(|c| c.get("created_at"))
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse().ok());
    let detail = |key: &str| {
        request.and_then(|r| r.event.details.get(key)).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let (kind, name, requester, justification) = match record {
        Some(a) => (
            a.kind.as_str().to_owned(),
            a.name.clone(),
            a.requester.clone(),
            a.justification.clone(),
        ),
        None => {
            let request = request?;
            (
                detail("kind").unwrap_or_else(|| "role".to_owned()),
                detail("name").unwrap_or_default(),
                request.event.actor.clone(),
                request.event.reason.clone().unwrap_or_default(),
            )
        }
    };
    let risk = policy
        .and_then(|p| crate::engine::emergency::target(p, &name).ok())
        .map(|(_, rules)| rules.risk.value.as_str().to_owned());
    let source = match record.map(|a| &a.source) {
        Some(ActivationSource::Grant { name }) => format!("grant {name}"),
        _ => "emergency request".to_owned(),
    };
    let plan_digest = match record.map(|a| &a.source) {
        Some(ActivationSource::Emergency { plan_digest }) => Some(plan_digest.clone()),
        Some(ActivationSource::Grant { .. }) => None,
        None => request.and_then(|r| r.event.subject.plan_digest.clone()),
    };
    let of = |name: &'static str| {
        events.iter().filter(move |(_, s)| s.event.action == name).map(|(_, s)| s)
    };

    let mut approvals: Vec<Approval> = record
        .map(|a| {
            a.approvals
                .iter()
                .map(|r| Approval {
                    approver: r.approver.clone(),
                    decision: r.decision.clone(),
                    at: r.issued_at,
                    comment: r.comment.clone(),
                    counted: true,
                })
                .collect()
        })
        .unwrap_or_default();
    if record.is_none() {
        // No record (state lost): the executor's `approval.accepted` events say what counted,
        // at the time each token claims.
        for stamped in of(action::APPROVAL_ACCEPTED) {
            let claimed = stamped.event.details.get("claimed");
            approvals.push(Approval {
                approver: stamped.event.actor.clone(),
                decision: "approve".to_owned(),
                at: claimed
                    .and_then(|c| c.get("issued_at"))
                    .and_then(|t| t.as_str())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(stamped.event.time),
                comment: stamped
                    .event
                    .details
                    .get("comment")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned),
                counted: true,
            });
        }
    }
    let counted_nonces: BTreeSet<String> = match record {
        Some(a) => a.approvals.iter().map(|r| r.nonce.clone()).collect(),
        None => of(action::APPROVAL_ACCEPTED)
            .filter_map(|s| s.event.details.get("nonce").and_then(|n| n.as_str()))
            .map(str::to_owned)
            .collect(),
    };
    for stamped in events.iter().map(|(_, s)| s).filter(|s| {
        (s.event.action == action::APPROVAL || s.event.action == action::DENIAL)
            && s.event.subject.plan_digest == plan_digest
    }) {
        let nonce = stamped.event.details.get("nonce").and_then(|n| n.as_str()).unwrap_or_default();
        if counted_nonces.contains(nonce) {
            continue;
        }
        approvals.push(Approval {
            approver: stamped.event.actor.clone(),
            decision: if stamped.event.action == action::APPROVAL { "approve" } else { "deny" }
                .to_owned(),
            at: stamped.event.time,
            comment: stamped
                .event
                .details
                .get("comment")
                .and_then(|c| c.as_str())
                .map(str::to_owned),
            counted: false,
        });
    }
    approvals.sort_by_key(|a| (a.at, a.approver.clone()));

    let emergency = of(action::APPLY_EMERGENCY)
        .find(|s| s.event.details.get("kind").and_then(|k| k.as_str()) != Some("extension"));
    let executor = emergency
        .and_then(|s| s.event.details.get("executor"))
        .and_then(|e| e.as_str())
        .map(str::to_owned);
    let authentication = match record {
        Some(a) => a.authentication.clone(),
        None => emergency
            .and_then(|s| s.event.details.get("authentication"))
            .and_then(|a| a.as_array())
            .map(|list| list.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    };
    let auto_approved = record.map_or_else(
        || {
            emergency.and_then(|s| s.event.details.get("auto_approved")).and_then(|a| a.as_bool())
                == Some(true)
        },
        |a| a.auto_approved,
    );
    let activated_at = record
        .and_then(|a| a.activated_at)
        .or_else(|| of(action::ACTIVATION_ACTIVE).map(|s| s.event.time).next());
    let extensions: Vec<ExtensionEntry> = record
        .map(|a| {
            a.extensions
                .iter()
                .map(|e| ExtensionEntry {
                    at: e.at,
                    previous_end: e.previous_end,
                    new_end: e.new_end,
                    justification: e.justification.clone(),
                    approvers: e.approvals.iter().map(|r| r.approver.clone()).collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    let changes: Vec<ChangeEntry> = of(action::APPLY_CHANGE).map(change_entry).collect();
    let refusals: Vec<&Stamped> = of(action::REFUSAL).collect();
    let end = record.map(|a| a.end).or_else(|| detail("end").and_then(|t| t.parse().ok()));
    let outcome = outcome(record, &refusals, events, now);

    let mut anomalies = Vec::new();
    if let Some(at) = activated_at.filter(|at| !hours.contains(*at)) {
        let zone = jiff::tz::TimeZone::get(&hours.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        anomalies.push(format!(
            "granted {} ({}), outside working hours ({})",
            at,
            at.to_zoned(zone).strftime("%a %H:%M %Z"),
            hours.describe()
        ));
    }
    let unconfirmed = of(action::REVERT_UNCONFIRMED).count();
    let attempts = record.map_or(0, |a| a.revert_attempts).max(unconfirmed as u32);
    if attempts > 0 && matches!(outcome, Outcome::Expired { .. } | Outcome::Revoked { .. }) {
        anomalies.push(format!(
            "its revert needed {} more attempt(s) before it was confirmed{}",
            attempts,
            record
                .and_then(|a| a.last_error.as_ref())
                .map_or_else(String::new, |e| format!(" (last error: {e})"))
        ));
    }
    if let Outcome::RevertPending { .. } = outcome {
        anomalies.push("its revert is NOT confirmed: access may still be live".to_owned());
    }
    if let Outcome::Live { .. } = outcome {
        anomalies.push("still live".to_owned());
    }
    for flag in record.map(|a| a.flags.as_slice()).unwrap_or_default() {
        anomalies.push(format!("flagged at request time: {flag}"));
    }
    if record.is_none()
        && let Some(warnings) =
            request.and_then(|r| r.event.details.get("warnings")).and_then(|w| w.as_array())
    {
        for warning in warnings.iter().filter_map(|w| w.as_str()) {
            anomalies.push(format!("flagged at request time: {warning}"));
        }
    }
    let granted_after_refusals =
        activated_at.map_or(0, |at| refusals.iter().filter(|s| s.event.time <= at).count());
    if granted_after_refusals > 0 {
        let reasons: Vec<String> = refusals
            .iter()
            .take(granted_after_refusals)
            .map(|s| unprefixed(s.event.reason.as_deref()))
            .collect();
        anomalies.push(format!(
            "granted after {granted_after_refusals} refused attempt(s): {}",
            reasons.join("; ")
        ));
    }
    for approval in approvals.iter().filter(|a| a.approver == requester && a.counted) {
        anomalies.push(format!("{} approved their own request", approval.approver));
    }
    if !extensions.is_empty() {
        anomalies.push(format!(
            "extended {} time(s), to {}",
            extensions.len(),
            extensions.last().map_or_else(String::new, |e| e.new_end.to_string())
        ));
    }
    let failed = changes.iter().filter(|c| c.result != EventResult::Ok).count();
    if failed > 0 {
        anomalies.push(format!("{failed} change(s) failed or were skipped"));
    }

    let timeline = events
        .iter()
        .map(|(line, stamped)| TimelineEntry {
            line: *line,
            time: stamped.event.time,
            actor: stamped.event.actor.clone(),
            action: stamped.event.action.clone(),
            result: stamped.event.result,
            summary: summarize(&stamped.event),
        })
        .collect();
    Some(ActivationReport {
        id: id.to_owned(),
        kind,
        name,
        risk,
        requester,
        justification,
        source,
        plan_digest,
        requested_at: requested
            .map(|r| r.event.time)
            .or(claimed_created_at)
            .or(record.map(|a| a.created_at)),
        requested_at_claimed: requested.is_none() && claimed_created_at.is_some(),
        received_at: received.map(|r| r.event.time),
        start: record.map(|a| a.start).or_else(|| detail("start").and_then(|t| t.parse().ok())),
        end,
        approvals,
        auto_approved,
        authentication,
        executor,
        activated_at,
        extensions,
        changes,
        outcome,
        anomalies,
        timeline,
    })
}

fn outcome(
    record: Option<&Activation>,
    refusals: &[&Stamped],
    events: &[&(usize, Stamped)],
    now: Timestamp,
) -> Outcome {
    let Some(activation) = record else {
        return match refusals.last() {
            Some(refusal) => Outcome::Refused {
                at: refusal.event.time,
                reason: unprefixed(refusal.event.reason.as_deref()),
            },
            None => Outcome::NotApplied,
        };
    };
    let reverted_event = events
        .iter()
        .rev()
        .find(|(_, s)| s.event.action == action::ACTIVATION_REVERTED)
        .map(|(_, s)| s.event.time);
    let reverted_at = activation.reverted_at.or(reverted_event);
    let ended = match &activation.revoked {
        Some(revocation) => format!("revoked by {} at {}", revocation.by, revocation.at),
        None => format!("expired at {}", activation.end),
    };
    match activation.status {
        ActivationStatus::Reverted => match &activation.revoked {
            Some(r) => Outcome::Revoked {
                at: r.at,
                by: r.by.clone(),
                reason: r.reason.clone(),
                reverted_at,
            },
            None => Outcome::Expired { at: activation.end, reverted_at },
        },
        ActivationStatus::Reverting => Outcome::RevertPending {
            ended,
            attempts: activation.revert_attempts,
            last_error: activation.last_error.clone(),
        },
        _ if activation.needs_revert_at(now) => Outcome::RevertPending {
            ended: format!("{ended} (no reconcile has run since)"),
            attempts: activation.revert_attempts,
            last_error: activation.last_error.clone(),
        },
        ActivationStatus::Applying => Outcome::Applying,
        ActivationStatus::Active => Outcome::Live { until: activation.end },
    }
}

/// A refusal's reason without the `refused: ` its error message starts with.
fn unprefixed(reason: Option<&str>) -> String {
    let reason = reason.unwrap_or_default();
    reason.strip_prefix("refused: ").unwrap_or(reason).to_owned()
}

fn change_entry(stamped: &Stamped) -> ChangeEntry {
    let event = &stamped.event;
    let detail = |key: &str| {
        event.details.get(key).and_then(|v| v.as_str()).map(str::to_owned).unwrap_or_default()
    };
    let before = event.details.get("before").and_then(|b| b.as_object());
    let after = event.details.get("after").and_then(|a| a.as_object());
    let attributes = match (before, after) {
        (Some(before), Some(after)) => after
            .iter()
            .filter(|(key, value)| before.get(*key) != Some(*value))
            .map(|(key, value)| {
                format!(
                    "{key}: {} → {}",
                    before.get(key).map_or_else(|| "(none)".to_owned(), short_value),
                    short_value(value)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        (None, Some(attributes)) | (Some(attributes), None) => attributes
            .iter()
            .map(|(key, value)| format!("{key}={}", short_value(value)))
            .collect::<Vec<_>>()
            .join(", "),
        (None, None) => String::new(),
    };
    ChangeEntry {
        time: event.time,
        address: event.subject.addresses.first().cloned().unwrap_or_default(),
        provider: detail("provider"),
        resource_type: detail("type"),
        id: detail("id"),
        action: detail("action"),
        result: event.result,
        why: detail("why"),
        attributes,
        error: if event.result == EventResult::Ok { None } else { event.reason.clone() },
    }
}

fn short_value(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

fn usage(
    activations: &[ActivationSummary],
    loose_refusals: &[&(usize, Stamped)],
    now: Timestamp,
) -> Vec<Usage> {
    let mut rows: BTreeMap<(String, String, String), Usage> = BTreeMap::new();
    for report in activations {
        let key = (report.requester.clone(), report.kind.clone(), report.name.clone());
        let row = rows.entry(key).or_insert_with(|| Usage {
            person: report.requester.clone(),
            kind: report.kind.clone(),
            name: report.name.clone(),
            activations: 0,
            granted_seconds: 0,
            refused: 0,
        });
        row.refused += report.refused;
        let Some(from) = report.activated_at else { continue };
        row.activations += 1;
        let until = match &report.outcome {
            Outcome::Revoked { at, .. } => *at,
            Outcome::Expired { at, .. } => *at,
            _ => report.end.unwrap_or(now).min(now),
        };
        row.granted_seconds += until.duration_since(from).as_secs().max(0);
    }
    // Requests refused outright count against the person and the name they asked for.
    for (_, stamped) in loose_refusals {
        let details = &stamped.event.details;
        if details.get("command").and_then(|c| c.as_str()) != Some("request") {
            continue;
        }
        let Some(name) = details.get("name").and_then(|n| n.as_str()) else { continue };
        let kind = activations
            .iter()
            .find(|a| a.name == name)
            .map_or_else(|| "role".to_owned(), |a| a.kind.clone());
        let person = stamped.event.actor.clone();
        rows.entry((person.clone(), kind.clone(), name.to_owned()))
            .or_insert_with(|| Usage {
                person,
                kind,
                name: name.to_owned(),
                activations: 0,
                granted_seconds: 0,
                refused: 0,
            })
            .refused += 1;
    }
    rows.into_values().collect()
}

/// Counts as `check_limits` (engine::emergency) does, as of `now`: by the executor's time of
/// grant and each activation's whole window.
fn limit_use(policy: &Policy, state: &State, now: Timestamp) -> Vec<LimitUse> {
    use crate::engine::claims::{counts_since, limit_covers};
    let mut uses = Vec::new();
    for limit in policy.limits.values() {
        let since = now.checked_sub(limit.window.to_signed()).unwrap_or(Timestamp::MIN);
        let mut by_whom: BTreeMap<String, usize> = BTreeMap::new();
        for activation in state
            .activations
            .values()
            .filter(|a| counts_since(a, since) && limit_covers(policy, limit, &a.name, a.kind))
        {
            let whom = match limit.per {
                LimitScope::Person => activation.requester.clone(),
                LimitScope::Everyone => "everyone".to_owned(),
            };
            *by_whom.entry(whom).or_default() += 1;
        }
        for (whom, used) in by_whom {
            uses.push(LimitUse {
                limit: limit.name.clone(),
                whom,
                used,
                max: limit.max_activations,
                window: limit.window.to_string(),
                action: match limit.action {
                    LimitAction::Refuse => "refuse",
                    LimitAction::Warn => "warn",
                }
                .to_owned(),
            });
        }
    }
    uses
}

/// The same approver approving most of one person's activations, where the approver group
/// left a choice (more members besides the requester than the quorum needs).
fn concentration(activations: &[ActivationSummary], policy: Option<&Policy>) -> Vec<String> {
    let had_choice = |report: &ActivationSummary| {
        let Some(policy) = policy else { return true };
        let Ok((_, rules)) = crate::engine::emergency::target(policy, &report.name) else {
            return true;
        };
        let Some(group) = rules.approvers.as_ref().and_then(|g| policy.approvers.get(&g.name))
        else {
            return false;
        };
        let quorum = rules.quorum.as_ref().map_or(group.quorum.value, |q| q.value) as usize;
        let members = policy.expand_persons(group.members.iter().map(|m| &m.value));
        members.iter().filter(|m| **m != report.requester).count() > quorum
    };
    let mut by_requester: BTreeMap<&str, Vec<&ActivationSummary>> = BTreeMap::new();
    for report in activations.iter().filter(|a| a.activated_at.is_some() && !a.auto_approved) {
        if had_choice(report) {
            by_requester.entry(&report.requester).or_default().push(report);
        }
    }
    let mut anomalies = Vec::new();
    for (requester, reports) in by_requester {
        let mut by_approver: BTreeMap<&str, usize> = BTreeMap::new();
        for report in &reports {
            for approver in report.approvers.iter().map(String::as_str) {
                *by_approver.entry(approver).or_default() += 1;
            }
        }
        for (approver, count) in by_approver {
            if count >= CONCENTRATION_MIN
                && count as f64 > CONCENTRATION_SHARE * reports.len() as f64
            {
                anomalies.push(format!(
                    "{approver} approved {count} of {requester}'s {} activations where others \
                     could have approved",
                    reports.len()
                ));
            }
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{ActivationKind, ApprovalRecord, Revocation};
    use crate::audit::{Event, EventResult};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn stamped(line: usize, event: Event) -> (usize, Stamped) {
        (line, Stamped { event, hash: format!("{line:064}") })
    }

    fn event(time: &str, actor: &str, name: &str, result: EventResult) -> Event {
        let mut event = Event::new(actor, name, result);
        event.time = at(time);
        event
    }

    fn record(id: &str, requester: &str, approvers: &[&str]) -> Activation {
        Activation {
            id: id.to_owned(),
            kind: ActivationKind::Role,
            name: "prod_admin".to_owned(),
            requester: requester.to_owned(),
            justification: "INC-1".to_owned(),
            start: at("2026-11-28T12:00:00Z"),
            end: at("2026-11-28T12:30:00Z"),
            status: ActivationStatus::Reverted,
            source: ActivationSource::Emergency { plan_digest: format!("sha256:{id}") },
            approvals: approvers
                .iter()
                .map(|a| ApprovalRecord {
                    approver: (*a).to_owned(),
                    decision: "approve".to_owned(),
                    comment: None,
                    issued_at: at("2026-11-28T12:01:00Z"),
                    nonce: format!("{id}-{a}"),
                })
                .collect(),
            auto_approved: false,
            authentication: vec!["signed request".to_owned()],
            priors: BTreeMap::new(),
            created_at: at("2026-11-28T12:02:00Z"),
            activated_at: Some(at("2026-11-28T12:02:00Z")),
            revoked: None,
            reverted_at: Some(at("2026-11-28T12:30:05Z")),
            revert_attempts: 0,
            last_error: None,
            extensions: Vec::new(),
            flags: Vec::new(),
        }
    }

    fn integrity() -> Integrity {
        Integrity {
            path: "audit.jsonl".to_owned(),
            lines: 0,
            verified: true,
            head: None,
            broken_at: None,
            problem: None,
        }
    }

    fn options() -> ReportOptions {
        ReportOptions {
            since: None,
            until: None,
            activation: None,
            now: at("2026-12-01T00:00:00Z"),
        }
    }

    #[test]
    fn a_refused_apply_lands_under_its_request_by_plan_digest() {
        let events = vec![
            stamped(
                1,
                event("2026-11-28T12:00:00Z", "alice", action::REQUEST, EventResult::Ok)
                    .activation("act_1")
                    .plan("sha256:p")
                    .reason("INC-9")
                    .details(serde_json::json!({ "kind": "role", "name": "prod_admin" })),
            ),
            stamped(
                2,
                event("2026-11-28T12:01:00Z", "dave", action::DENIAL, EventResult::Ok)
                    .activation("act_1")
                    .plan("sha256:p")
                    .details(serde_json::json!({ "comment": "use read_logs", "nonce": "n" })),
            ),
            stamped(
                3,
                event("2026-11-28T12:02:00Z", "alice", action::REFUSAL, EventResult::Refused)
                    .plan("sha256:p")
                    .reason("dave denied the request: use read_logs"),
            ),
            stamped(
                4,
                event("2026-11-28T12:03:00Z", "bob", action::REFUSAL, EventResult::Refused)
                    .reason("request x: no")
                    .details(serde_json::json!({ "command": "request", "name": "x" })),
            ),
        ];
        let (report, activations) = build(&events, integrity(), &State::new(), None, &options());
        assert_eq!(report.activations.len(), 1);
        assert_eq!(activations.len(), 1);
        let activation = &activations[0];
        assert_eq!(activation.requester, "alice");
        assert_eq!(activation.justification, "INC-9");
        assert_eq!(
            activation.outcome,
            Outcome::Refused {
                at: at("2026-11-28T12:02:00Z"),
                reason: "dave denied the request: use read_logs".to_owned()
            }
        );
        assert_eq!(activation.approvals[0].decision, "deny");
        assert!(!activation.approvals[0].counted);
        assert_eq!(activation.timeline.len(), 3);
        assert_eq!(report.refusals.len(), 1, "bob's refused request stands alone");
        assert_eq!(report.refusals[0].actor, "bob");
        let bob = report.usage.iter().find(|u| u.person == "bob").unwrap();
        assert_eq!((bob.activations, bob.refused), (0, 1));
    }

    #[test]
    fn anomalies_name_what_a_reviewer_should_look_at() {
        let mut state = State::new();
        let mut night = record("act_night", "alice", &["carol"]);
        night.activated_at = Some(at("2026-11-28T03:00:00Z")); // a Saturday
        night.revert_attempts = 2;
        night.last_error = Some("timeout".to_owned());
        night.flags = vec!["limit \"x\": alice already had 3".to_owned()];
        state.activations.insert(night.id.clone(), night.into());
        let mut pending = record("act_pending", "bob", &["bob"]);
        pending.status = ActivationStatus::Reverting;
        pending.revoked = Some(Revocation {
            at: at("2026-11-28T12:10:00Z"),
            by: "carol".into(),
            reason: "done".into(),
        });
        state.activations.insert(pending.id.clone(), pending.into());
        let (_, activations) = build(&[], integrity(), &state, None, &options());
        let night = activations.iter().find(|a| a.id == "act_night").unwrap();
        assert_eq!(
            night.anomalies,
            [
                "granted 2026-11-28T03:00:00Z (Sat 03:00 UTC), outside working hours \
                 (mon,tue,wed,thu,fri 08:00–18:00 UTC)",
                "its revert needed 2 more attempt(s) before it was confirmed (last error: timeout)",
                "flagged at request time: limit \"x\": alice already had 3",
            ]
        );
        let pending = activations.iter().find(|a| a.id == "act_pending").unwrap();
        assert!(matches!(pending.outcome, Outcome::RevertPending { .. }));
        assert!(
            pending.anomalies.iter().any(|a| a.contains("NOT confirmed")),
            "{:?}",
            pending.anomalies
        );
        assert!(pending.anomalies.iter().any(|a| a == "bob approved their own request"));
    }

    #[test]
    fn an_approver_approving_most_of_one_persons_activations_is_flagged() {
        let mut state = State::new();
        for n in 0..4 {
            let approvers: &[&str] = if n == 0 { &["dave"] } else { &["carol"] };
            let activation = record(&format!("act_{n}"), "alice", approvers);
            state.activations.insert(activation.id.clone(), activation.into());
        }
        let (report, _) = build(&[], integrity(), &state, None, &options());
        assert_eq!(
            report.anomalies,
            ["carol approved 3 of alice's 4 activations where others could have approved"]
        );
        let alice = &report.usage[0];
        assert_eq!((alice.activations, alice.granted_seconds), (4, 4 * 28 * 60));
    }

    #[test]
    fn since_and_activation_filter() {
        let mut state = State::new();
        state.activations.insert("act_a".into(), record("act_a", "alice", &["carol"]).into());
        let (report, _) = build(
            &[],
            integrity(),
            &state,
            None,
            &ReportOptions { since: Some(at("2026-11-29T00:00:00Z")), ..options() },
        );
        assert!(report.activations.is_empty());
        let (report, _) = build(
            &[],
            integrity(),
            &state,
            None,
            &ReportOptions { activation: Some("act_b".into()), ..options() },
        );
        assert!(report.activations.is_empty());
    }
}
