//! State: what breakglass manages and every activation's record.
//!
//! The model ([`State`], [`Activation`](crate::activation::Activation)) knows nothing of files or databases; a [`StateStore`]
//! keeps it. Writes are atomic and made under an exclusive lock that records who holds it, so a
//! crash at any point leaves either the old state or the new one, never a torn one, and two
//! executors never interleave. The local backend keeps `.breakglass/state.json` beside a lock
//! file; the PostgreSQL backend ([`PostgresStore`]) keeps it in tables shared by many
//! executors, under a session advisory lock.

mod error;
mod local;
mod model;
mod postgres;
mod store;

pub use error::StateError;
pub use local::LocalStore;
pub use model::{ResourceState, STATE_FORMAT_VERSION, State, UsedNonce, UsedTotp};
pub use postgres::{LeaderGuard, PostgresGuard, PostgresStore};
pub use store::{Leadership, LockInfo, StateGuard, StateStore};
