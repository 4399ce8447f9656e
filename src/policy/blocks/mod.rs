//! The block kinds of the policy language, one file each: the typed model of the block and the
//! decoder that reads it from HCL (as Terraform's `configs` keeps `decodeResourceBlock` beside
//! `Resource`). Decoders report every problem they find through the [`BlockReader`]
//! and return what they could read; cross-block checks live in `validate`.
//!
//! [`BlockReader`]: super::reader::BlockReader

mod approvers;
mod authentication;
mod grant;
mod limit;
mod override_;
mod passkey;
mod person;
mod provider;
mod resource;
mod role;
mod rules;
mod settings;
mod team;

pub use approvers::Approvers;
pub use authentication::Authentication;
pub use grant::{Grant, GrantTarget};
pub use limit::{Limit, LimitAction, LimitScope};
pub use override_::{Override, OverrideChange};
pub use passkey::{Passkey, PasskeyAlgorithm, PasskeyKey};
pub use person::{Person, PublicKey};
pub use provider::ProviderBlock;
pub use resource::{DriftMode, Expression, ResourceDecl, ResourceTemplate, resource_labels};
pub use role::Role;
pub use rules::{AccessRules, Risk};
pub use settings::{
    AuditSettings, ConsoleSettings, Day, Settings, SinkFormat, SinkKind, SinkSettings,
    StateBackend, StateSettings, WorkingHours,
};
pub use team::Team;
