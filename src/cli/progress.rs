//! Progress on stderr: bars when stderr is a terminal, plain lines otherwise (CI logs).

use super::output::errln;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

use crate::engine::Progress;
use crate::plan::{Action, ResourceChange};

/// Draws progress for refresh and apply.
#[derive(Debug)]
pub struct CliProgress {
    interactive: bool,
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl CliProgress {
    /// Bars when `interactive`; nothing at all when `quiet` (machine-readable output).
    pub fn new(interactive: bool, quiet: bool) -> Self {
        Self { interactive, quiet, bar: Mutex::new(None) }
    }

    fn line(&self, text: &str) {
        if !self.quiet {
            errln!("{text}");
        }
    }
}

impl Progress for CliProgress {
    fn refresh_started(&self, objects: usize) {
        if self.quiet {
            return;
        }
        if self.interactive {
            let bar = ProgressBar::new(objects as u64).with_style(
                ProgressStyle::with_template("Refreshing {bar:30} {pos}/{len} objects {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        } else {
            self.line(&format!("Refreshing {objects} objects..."));
        }
    }

    fn refresh_advanced(&self, objects: usize) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.inc(objects as u64);
        }
    }

    fn refresh_finished(&self, objects: usize, api_calls: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
        self.line(&format!("Refreshed {objects} objects in {api_calls} API calls."));
    }

    fn change_started(&self, change: &ResourceChange) {
        let (address, action) = (&change.address, change.action);
        let verb = match action {
            Action::Create => "Creating",
            Action::Update => "Updating",
            Action::Replace => "Replacing",
            Action::Delete => "Destroying",
            Action::NoOp => return,
        };
        self.line(&format!("{address}: {verb}..."));
    }

    fn change_finished(&self, change: &ResourceChange, result: Result<(), &str>) {
        let (address, action) = (&change.address, change.action);
        match result {
            Ok(()) => self.line(&format!(
                "{address}: {} complete",
                match action {
                    Action::Create => "Creation",
                    Action::Update => "Modifications",
                    Action::Replace => "Replacement",
                    Action::Delete => "Destruction",
                    Action::NoOp => return,
                }
            )),
            Err(error) => self.line(&format!("{address}: failed: {error}")),
        }
    }
}
