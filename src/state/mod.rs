//! State: what breakglass manages and every activation's record.
//!
//! The model ([`State`], [`Activation`](crate::activation::Activation)) knows nothing of files or databases; a [`StateStore`]
//! keeps it. Writes are atomic and made under an exclusive lock that records who holds it, so a
//! crash at any point leaves either the old state or the new one, never a torn one, and two
//! executors never interleave. A write is a [`Change`] (only the rows that changed, and the
//! audit events describing them, in one transaction), so its cost follows the change, not the
//! size of the state. The local backend ([`LocalStore`]) keeps state and audit log in one
//! SQLite database, `.breakglass/state.db`, beside a lock file; the PostgreSQL backend
//! ([`PostgresStore`]) keeps them in tables shared by many executors, under a session advisory
//! lock. [`JsonState`] reads the JSON document earlier versions kept, for `state migrate`.

mod change;
mod error;
mod json;
mod model;
mod postgres;
mod sqlite;
mod store;

pub use change::{ActivationFilter, AuditHead, Change, EventFilter, Scope, Started, StoredEvent};
pub use error::StateError;
pub use json::JsonState;
pub use model::{ResourceState, STATE_FORMAT_VERSION, State, UsedNonce, UsedTotp};
pub use postgres::{LeaderGuard, PostgresGuard, PostgresStore};
pub use sqlite::LocalStore;
pub use store::{AuditBell, Leadership, LockInfo, StateGuard, StateHead, StateStore};
