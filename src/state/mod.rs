//! State: what breakglass manages and every activation's record.
//!
//! The model ([`State`], [`Activation`]) knows nothing of files or databases; a [`StateStore`]
//! keeps it. Writes are atomic and made under an exclusive lock that records who holds it, so a
//! crash at any point leaves either the old state or the new one, never a torn one, and two
//! executors never interleave. The local backend keeps `.breakglass/state.json` beside a lock
//! file; the PostgreSQL backend (a later issue) plugs in through the same trait.

mod error;
mod local;
mod model;
mod store;

pub use error::StateError;
pub use local::LocalStore;
pub use model::{ResourceState, STATE_FORMAT_VERSION, State, UsedNonce, UsedTotp};
pub use store::{LockInfo, StateGuard, StateStore};
