//! Progress of long work, reported to whoever watches (the CLI draws bars or prints lines),
//! and the audit events that record it: the engine commits those with the state write they
//! describe, in one transaction.

use super::apply::ApplyReport;
use crate::activation::Activation;
use crate::event::Event;
use crate::plan::ResourceChange;

/// Receives progress; every method has a do-nothing default.
pub trait Progress: Send + Sync {
    /// Refresh starts reading `objects` objects.
    fn refresh_started(&self, objects: usize) {
        let _ = objects;
    }
    /// `objects` more objects were read.
    fn refresh_advanced(&self, objects: usize) {
        let _ = objects;
    }
    /// Refresh is done: `objects` read in `api_calls` calls.
    fn refresh_finished(&self, objects: usize, api_calls: u64) {
        let _ = (objects, api_calls);
    }
    /// Apply starts `changes` changes.
    fn apply_started(&self, changes: usize) {
        let _ = changes;
    }
    /// A change starts.
    fn change_started(&self, change: &ResourceChange) {
        let _ = change;
    }
    /// A change is done: `Ok` or the error.
    fn change_finished(&self, change: &ResourceChange, result: Result<(), &str>) {
        let _ = (change, result);
    }
    /// The audit events recording that `change` finished, committed with the state write that
    /// records it (or alone, for a failure).
    fn change_events(&self, change: &ResourceChange, result: Result<(), &str>) -> Vec<Event> {
        let _ = (change, result);
        Vec::new()
    }
    /// The audit events recording that `activations` (as now recorded) are being taken back,
    /// committed with the write that marks them `reverting`.
    fn reverting_events(&self, activations: &[&Activation]) -> Vec<Event> {
        let _ = activations;
        Vec::new()
    }
    /// The audit events recording how the apply settled activations (active, reverted, not yet
    /// confirmed), committed with that write.
    fn settled_events(&self, report: &ApplyReport) -> Vec<Event> {
        let _ = report;
        Vec::new()
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}
