//! Writing the audit log from commands: a helper that appends events (and hands each, once it
//! is on disk, to the command's real-time sinks), and a progress reporter that records each
//! change as it happens while still drawing progress.
//!
//! Sinks are installed per process by [`Streaming::start`] in the commands that run them
//! (`apply`, `reconcile`, `watch`, `revoke`), and every [`Audit`] made afterwards in the process
//! publishes to them. A process runs one command, so this is the command's sinks; keeping them
//! out of `Audit`'s constructor means the code shared between commands (`reconcile_once`) needs
//! no extra parameter to be heard in real time.

use std::sync::{Arc, Mutex, PoisonError};

use clap::ValueEnum;
use ed25519_dalek::VerifyingKey;

use super::progress::CliProgress;
use crate::audit::sink::{Sinks, Stream};
use crate::audit::{AuditLog, Event, EventResult, Stamped, action};
use crate::engine::{ApplyReport, ChangeOutcome, EngineError, Progress};
use crate::plan::{Drift, Plan, ResourceChange};
use crate::policy::Policy;

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
            Arc::new(|problem| eprintln!("warning: {problem}")),
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

/// The policy's audit log.
#[derive(Debug, Clone)]
pub struct Audit {
    log: AuditLog,
}

impl Audit {
    /// The log the policy's settings name.
    pub fn of(policy: &Policy) -> Self {
        Self { log: AuditLog::new(policy.dir.join(&policy.settings.audit.path)) }
    }

    /// Appends an event. A failure to write the audit log fails the command: nothing that
    /// grants access may go unrecorded.
    pub fn record(&self, event: Event) -> anyhow::Result<()> {
        let stamped = self.log.append(event)?;
        publish(&stamped);
        Ok(())
    }

    /// Appends an event; a failure is reported on stderr but does not stop the command (used
    /// on paths that take access away, which must never be held up).
    pub fn record_or_warn(&self, event: Event) {
        match self.log.append(event) {
            Ok(stamped) => publish(&stamped),
            Err(error) => eprintln!("warning: could not write the audit log: {error}"),
        }
    }

    /// Records `error` as a refusal, with its reason, if it is one (a check failed).
    pub fn record_refusal(&self, actor: &str, command: &str, error: &anyhow::Error) {
        let refused = error.downcast_ref::<EngineError>().is_some_and(EngineError::is_refusal);
        if refused {
            self.record_or_warn(
                Event::new(actor, action::REFUSAL, EventResult::Refused)
                    .reason(format!("{error:#}"))
                    .details(serde_json::json!({ "command": command })),
            );
        }
    }

    /// Records that `signer` saved `plan` (digest `digest`) to `file`.
    pub fn record_plan_signed(
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
    }

    /// Records the drift a plan or reconcile found, unless this process already recorded the
    /// same drift (so `watch` writes it once, not every pass).
    pub fn record_drift(&self, actor: &str, drift: &[Drift]) {
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
        );
    }

    /// Records what an apply did, change by change outcome and activation by activation.
    pub fn record_report(&self, actor: &str, plan_digest: Option<&str>, report: &ApplyReport) {
        for (change, outcome) in &report.changes {
            if let ChangeOutcome::Skipped = outcome {
                let mut event = Event::new(actor, "apply.change", EventResult::Failed)
                    .addresses([change.address.to_string()])
                    .reason("skipped: something it depends on failed");
                if let Some(activation) = change.reason.activation() {
                    event = event.activation(activation);
                }
                self.record_or_warn(event);
            }
        }
        let with_plan = |event: Event| match plan_digest {
            Some(digest) => event.plan(digest),
            None => event,
        };
        for id in &report.activated {
            self.record_or_warn(with_plan(
                Event::new(actor, "activation.active", EventResult::Ok).activation(id),
            ));
        }
        for id in &report.reverted {
            self.record_or_warn(
                Event::new(actor, "activation.reverted", EventResult::Ok).activation(id),
            );
        }
        for (id, why) in &report.reverting {
            self.record_or_warn(
                Event::new(actor, "revert.unconfirmed", EventResult::Failed)
                    .activation(id)
                    .reason(why.clone()),
            );
        }
        for note in &report.notes {
            self.record_or_warn(
                Event::new(actor, "apply.note", EventResult::Ok).reason(note.clone()),
            );
        }
    }
}

/// Draws progress and records every change in the audit log as it finishes.
#[derive(Debug)]
pub struct RecordingProgress {
    display: Arc<CliProgress>,
    audit: Audit,
    actor: String,
}

impl RecordingProgress {
    /// Records as `actor`.
    pub fn new(display: Arc<CliProgress>, audit: Audit, actor: impl Into<String>) -> Self {
        Self { display, audit, actor: actor.into() }
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
        let (outcome, reason) = match result {
            Ok(()) => (EventResult::Ok, None),
            Err(error) => (EventResult::Failed, Some(error.to_owned())),
        };
        let mut event = Event::new(&self.actor, "apply.change", outcome)
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
        self.audit.record_or_warn(event);
    }
}
