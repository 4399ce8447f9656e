//! breakglass: declarative, signed, time-bounded emergency access.
//!
//! Governance teams declare roles, approvers, authentication rules and override actions in HCL;
//! a plan/apply engine diffs `desired(t) = baseline ⊕ live activations` against what providers
//! read live, produces signed plans, applies them, and reverts every activation when it ends —
//! with no special revert path: an expired activation is simply no longer desired.
//!
//! Layers go one way (a module never imports one further along):
//! [`diagnostics`], [`address`], [`clock`], [`files`], [`event`] (leaves) → [`policy`] (HCL loading and
//! validation) → [`activation`], [`plan`], [`graph`] (pure data and ordering) → [`sign`],
//! [`state`] → [`engine`] (the only code that calls providers) → [`audit`] → [`console`] (the
//! web console: a view and a mailbox over state and the audit log) → [`cli`] (commands and
//! rendering). Providers live in their own crates behind the `breakglass-provider` trait;
//! [`providers`] registers them by name. The map of the whole: `docs/architecture.md`.

pub mod activation;
pub mod address;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod console;
pub mod crash;
pub mod diagnostics;
pub mod engine;
pub mod event;
pub mod files;
pub mod graph;
pub mod plan;
pub mod policy;
pub mod providers;
pub mod schemas;
pub mod sign;
pub mod state;
