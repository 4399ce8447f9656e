//! The reconciler: compile desired state, refresh live objects, diff, plan, apply.
//!
//! The engine is the only code that calls providers. Each stage is a function with plain data
//! in and out — [`compile()`] (policy and activations → desired), [`refresh()`] (providers → live),
//! [`diff`] (desired × live × state → changes and drift), [`apply()`] (changes → providers and
//! state) — so each can be tested alone, and every command (plan, apply, reconcile, watch)
//! reuses the same pipeline. Automatic revert is not a special path: an activation that ended
//! is no longer desired, so the next diff takes it back.

pub mod apply;
pub mod claims;
pub mod compile;
pub mod diff;
pub mod dry_run;
pub mod emergency;
mod error;
#[cfg(test)]
mod fake;
pub mod missing;
mod parallel;
pub mod planner;
pub mod progress;
pub mod providers;
pub mod reconcile;
pub mod refresh;
pub mod scope;
mod sorted;

pub use apply::{ApplyMode, ApplyReport, ChangeOutcome, apply};
pub use compile::{CompileOptions, Desired, DesiredResource, compile, compile_with};
pub use dry_run::dry_run;
pub use error::EngineError;
pub use planner::{PlanOptions, Planned, check_still_holds, make_plan};
pub use progress::{Progress, Silent};
pub use providers::Providers;
pub use refresh::{Live, refresh};

#[cfg(test)]
mod tests;
