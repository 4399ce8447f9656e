//! The plan model: what would change, why, and everything `apply` needs to check that the plan
//! still holds. Pure data with no I/O: how a plan is signed and stored is `sign`'s business, how
//! it is printed is the CLI's.

mod action;
mod change;
mod model;
mod reason;

pub use action::Action;
pub use change::{Drift, DriftKind, HeldBy, ResourceChange};
pub use model::{
    EmergencyRequest, PLAN_FORMAT_VERSION, Plan, PlanSummary, RefreshSummary, StateRef,
};
pub use reason::Reason;
