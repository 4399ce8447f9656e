//! Progress of long work, reported to whoever watches (the CLI draws bars or prints lines).

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
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}
