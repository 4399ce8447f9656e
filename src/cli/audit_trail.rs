//! Writing the audit log from commands: a helper that appends events to the log kept with the
//! state (and hands each, once recorded, to the command's real-time sinks), a progress reporter
//! that draws progress and gives the engine the events recording each change (committed with
//! the state write that records it), and a guard wrapper that publishes what each commit
//! recorded.
//!
//! Sinks are installed per process by [`Streaming::start`] in the commands that run them
//! (`apply`, `reconcile`, `watch`, `revoke`), and every [`Audit`] made afterwards in the process
//! publishes to them. A process runs one command, so this is the command's sinks; keeping them
//! out of `Audit`'s constructor means the code shared between commands (`reconcile_once`) needs
//! no extra parameter to be heard in real time.

use super::output::errln;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use clap::ValueEnum;
use ed25519_dalek::VerifyingKey;

use super::progress::CliProgress;
use crate::activation::Activation;
use crate::audit::sink::{Sinks, Stream};
use crate::audit::{Event, EventResult, Stamped, action};
use crate::engine::{ApplyReport, ChangeOutcome, EngineError, Progress};
use crate::plan::{Drift, Plan, ResourceChange};
use crate::policy::Policy;
use crate::state::{Change, LockInfo, Scope, State, StateError, StateGuard, StateHead, StateStore};

/// `--events FORMAT`: print each audit event as it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    // One JSON object a line on stdout: the event as recorded, plus its `hash`. (A plain
    // comment: a doc comment would make clap print every option's help in the long form.)
    Json,
}

/// The sinks of the running command.
static LIVE: Mutex<Option<Arc<Sinks>>> = Mutex::new(None);

/// The last drift this process recorded, so `watch` records drift when it changes, not every
/// pass.
static LAST_DRIFT: Mutex<Option<String>> = Mutex::new(None);

/// Hands `stamped` to the running command's sinks, if it started any.
pub fn publish(stamped: &Stamped) {
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(sinks) = live {
        sinks.send(stamped);
    }
}

/// The command's sinks, running until this is dropped; dropping it waits (at most each
/// webhook's `timeout`) for queued deliveries and reports what failed.
#[derive(Debug)]
pub struct Streaming {
    sinks: Option<Arc<Sinks>>,
}

impl Streaming {
    /// Starts the sinks the policy declares, and `--events` if given. Problems (an unset
    /// `url_env`, a failing webhook) are printed to stderr as warnings; none stops the command.
    pub fn start(policy: &Policy, events: Option<EventsFormat>) -> Self {
        let stream = events.map(|EventsFormat::Json| Stream::Stdout);
        let sinks = Sinks::start(
            &policy.settings.audit,
            stream,
            &|name| std::env::var(name).ok(),
            Arc::new(|problem| errln!("warning: {problem}")),
        );
        if sinks.is_empty() {
            return Self { sinks: None };
        }
        let sinks = Arc::new(sinks);
        *LIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(sinks.clone());
        Self { sinks: Some(sinks) }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if let Some(sinks) = self.sinks.take() {
            LIVE.lock().unwrap_or_else(PoisonError::into_inner).take();
            sinks.finish();
        }
    }
}

/// The name of the person whose key is `key`, or the key's id.
pub fn signer_name(policy: &Policy, key: &VerifyingKey) -> String {
    policy
        .persons
        .iter()
        .find(|(_, person)| person.public_key.key == *key)
        .map_or_else(|| crate::sign::key_id(key), |(name, _)| name.clone())
}

/// The policy's audit log: kept with the state, in its store.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Result<Arc<dyn StateStore>, String>,
}

impl Audit {
    /// The log kept with the policy's state.
    pub fn of(policy: &Policy) -> Self {
        Self { store: super::context::open_store(policy).map_err(|error| format!("{error:#}")) }
    }

    /// The log kept in `store`.
    pub fn in_store(store: Arc<dyn StateStore>) -> Self {
        Self { store: Ok(store) }
    }

    /// Appends events in one transaction and publishes them to the sinks.
    pub async fn record_all(&self, events: Vec<Event>) -> anyhow::Result<()> {
        let store = self.store.as_ref().map_err(|error| anyhow::anyhow!("{error}"))?;
        for stamped in store.append_events(events).await? {
            publish(&stamped);
        }
        Ok(())
    }

    /// Appends an event. A failure to write the audit log fails the command: nothing that
    /// grants access may go unrecorded.
    pub async fn record(&self, event: Event) -> anyhow::Result<()> {
        self.record_all(vec![event]).await
    }

    /// Appends an event; a failure is reported on stderr but does not stop the command (used
    /// on paths that take access away, which must never be held up).
    pub async fn record_or_warn(&self, event: Event) {
        if let Err(error) = self.record(event).await {
            errln!("warning: could not write the audit log: {error:#}");
        }
    }

    /// Records `error` as a refusal, with its reason, if it is one (a check failed).
    pub async fn record_refusal(&self, actor: &str, command: &str, error: &anyhow::Error) {
        let refused = error.downcast_ref::<EngineError>().is_some_and(EngineError::is_refusal);
        if refused {
            self.record_or_warn(
                Event::new(actor, action::REFUSAL, EventResult::Refused)
                    .reason(format!("{error:#}"))
                    .details(serde_json::json!({ "command": command })),
            )
            .await;
        }
    }

    /// Records that `signer` saved `plan` (digest `digest`) to `file`.
    pub async fn record_plan_signed(
        &self,
        signer: &str,
        plan: &Plan,
        digest: &str,
        file: &std::path::Path,
    ) -> anyhow::Result<()> {
        let addresses = plan
            .resource_changes
            .iter()
            .filter(|c| c.action != crate::plan::Action::NoOp)
            .map(|c| c.address.to_string());
        self.record(
            Event::new(signer, action::PLAN_SIGNED, EventResult::Ok)
                .plan(digest)
                .addresses(addresses)
                .details(serde_json::json!({
                    "file": file,
                    "changes": plan.resource_changes.iter().filter(|c| c.action != crate::plan::Action::NoOp).count(),
                    "summary": plan.summary,
                    "evaluated_at": plan.evaluated_at,
                    "expires_at": plan.expires_at,
                    "policy_digest": plan.policy_digest,
                    "activations": plan.activations.iter().map(|a| &a.id).collect::<Vec<_>>(),
                })),
        )
        .await
    }

    /// Records the drift a plan or reconcile found, unless this process already recorded the
    /// same drift (so `watch` writes it once, not every pass).
    pub async fn record_drift(&self, actor: &str, drift: &[Drift]) {
        let key = serde_json::to_string(drift).unwrap_or_default();
        {
            let mut last = LAST_DRIFT.lock().unwrap_or_else(PoisonError::into_inner);
            if drift.is_empty() {
                *last = None;
                return;
            }
            if last.as_deref() == Some(key.as_str()) {
                return;
            }
            *last = Some(key);
        }
        let entries: Vec<serde_json::Value> = drift
            .iter()
            .map(|d| {
                serde_json::json!({
                    "address": d.address.as_ref().map(ToString::to_string),
                    "provider": d.provider,
                    "type": d.resource_type,
                    "id": d.id,
                    "kind": d.kind,
                    "privileged": d.privileged,
                })
            })
            .collect();
        self.record_or_warn(
            Event::new(actor, action::DRIFT_FOUND, EventResult::Ok)
                .addresses(drift.iter().filter_map(|d| d.address.as_ref().map(ToString::to_string)))
                .details(serde_json::json!({ "drift": entries })),
        )
        .await;
    }
}

/// The events recording what an apply did: skipped changes, and activation by activation.
pub fn report_events(actor: &str, plan_digest: Option<&str>, report: &ApplyReport) -> Vec<Event> {
    let mut events = Vec::new();
    for (change, outcome) in &report.changes {
        if let ChangeOutcome::Skipped = outcome {
            let mut event = Event::new(actor, action::APPLY_CHANGE, EventResult::Failed)
                .addresses([change.address.to_string()])
                .reason("skipped: something it depends on failed");
            if let Some(activation) = change.reason.activation() {
                event = event.activation(activation);
            }
            events.push(event);
        }
    }
    let with_plan = |event: Event| match plan_digest {
        Some(digest) => event.plan(digest),
        None => event,
    };
    for id in &report.activated {
        events.push(with_plan(
            Event::new(actor, action::ACTIVATION_ACTIVE, EventResult::Ok).activation(id),
        ));
    }
    for id in &report.reverted {
        events.push(Event::new(actor, action::ACTIVATION_REVERTED, EventResult::Ok).activation(id));
    }
    for (id, why) in &report.reverting {
        events.push(
            Event::new(actor, action::REVERT_UNCONFIRMED, EventResult::Failed)
                .activation(id)
                .reason(why.clone()),
        );
    }
    for note in &report.notes {
        events.push(Event::new(actor, action::APPLY_NOTE, EventResult::Ok).reason(note.clone()));
    }
    events
}

/// Why each activation an apply starts taking back ended, recorded once: an end, or a
/// revocation by the executor or by the policy (a person's `revoke` records its own event).
pub fn ending_events(actor: &str, activations: &[&Activation]) -> Vec<Event> {
    activations
        .iter()
        .filter_map(|activation| {
            let (name, reason) = match &activation.revoked {
                None => (action::ACTIVATION_EXPIRED, format!("ended at {}", activation.end)),
                Some(revocation) if matches!(revocation.by.as_str(), "executor" | "policy") => (
                    action::ACTIVATION_REVOKED,
                    format!("revoked by {}: {}", revocation.by, revocation.reason),
                ),
                Some(_) => return None,
            };
            Some(Event::new(actor, name, EventResult::Ok).activation(&activation.id).reason(reason))
        })
        .collect()
}

/// A lock whose commits publish the events they recorded to the command's sinks.
#[derive(Debug)]
pub struct Publishing {
    inner: Box<dyn StateGuard>,
}

impl Publishing {
    /// Wraps `guard`.
    pub fn wrap(guard: Box<dyn StateGuard>) -> Box<dyn StateGuard> {
        Box::new(Self { inner: guard })
    }
}

#[async_trait]
impl StateGuard for Publishing {
    fn head(&self) -> &StateHead {
        self.inner.head()
    }

    async fn read(&mut self) -> Result<State, StateError> {
        self.inner.read().await
    }

    async fn read_scope(&mut self, scope: &Scope) -> Result<State, StateError> {
        self.inner.read_scope(scope).await
    }

    async fn commit(&mut self, change: Change) -> Result<Vec<Stamped>, StateError> {
        let stamped = self.inner.commit(change).await?;
        for event in &stamped {
            publish(event);
        }
        Ok(stamped)
    }

    fn info(&self) -> &LockInfo {
        self.inner.info()
    }
}

/// Draws progress, and gives the engine the audit events recording each change and how each
/// activation was settled (committed with the state writes they describe).
#[derive(Debug)]
pub struct RecordingProgress {
    display: Arc<CliProgress>,
    actor: String,
    plan: Option<String>,
}

impl RecordingProgress {
    /// Records as `actor`.
    pub fn new(display: Arc<CliProgress>, actor: impl Into<String>) -> Self {
        Self { display, actor: actor.into(), plan: None }
    }

    /// Names the plan (an emergency request's digest) on activation events.
    pub fn for_plan(mut self, digest: impl Into<String>) -> Self {
        self.plan = Some(digest.into());
        self
    }
}

impl Progress for RecordingProgress {
    fn refresh_started(&self, objects: usize) {
        self.display.refresh_started(objects);
    }

    fn refresh_advanced(&self, objects: usize) {
        self.display.refresh_advanced(objects);
    }

    fn refresh_finished(&self, objects: usize, api_calls: u64) {
        self.display.refresh_finished(objects, api_calls);
    }

    fn apply_started(&self, changes: usize) {
        self.display.apply_started(changes);
    }

    fn change_started(&self, change: &ResourceChange) {
        self.display.change_started(change);
    }

    fn change_finished(&self, change: &ResourceChange, result: Result<(), &str>) {
        self.display.change_finished(change, result);
    }

    fn change_events(&self, change: &ResourceChange, result: Result<(), &str>) -> Vec<Event> {
        let (outcome, reason) = match result {
            Ok(()) => (EventResult::Ok, None),
            Err(error) => (EventResult::Failed, Some(error.to_owned())),
        };
        let mut event = Event::new(&self.actor, action::APPLY_CHANGE, outcome)
            .addresses([change.address.to_string()])
            .details(serde_json::json!({
                "action": change.action.to_string(),
                "provider": change.provider,
                "type": change.resource_type,
                "id": change.id,
                "why": change.reason.to_string(),
                "before": change.before,
                "after": change.after,
            }));
        if let Some(activation) = change.reason.activation() {
            event = event.activation(activation);
        }
        if let Some(reason) = reason {
            event = event.reason(reason);
        }
        vec![event]
    }

    fn reverting_events(&self, activations: &[&Activation]) -> Vec<Event> {
        ending_events(&self.actor, activations)
    }

    fn settled_events(&self, report: &ApplyReport) -> Vec<Event> {
        report_events(&self.actor, self.plan.as_deref(), report)
    }
}
