//! Writing the audit log from commands: a helper that appends events, and a progress reporter
//! that records each change as it happens while still drawing progress.

use std::sync::Arc;

use super::progress::CliProgress;
use crate::audit::{AuditLog, Event, EventResult};
use crate::engine::{ApplyReport, ChangeOutcome, Progress};
use crate::plan::ResourceChange;
use crate::policy::Policy;

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
        self.log.append(event)?;
        Ok(())
    }

    /// Appends an event; a failure is reported on stderr but does not stop the command (used
    /// on paths that take access away, which must never be held up).
    pub fn record_or_warn(&self, event: Event) {
        if let Err(error) = self.log.append(event) {
            eprintln!("warning: could not write the audit log: {error}");
        }
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
