//! The built-in `local` provider.
//!
//! It manages records in one JSON document — access entries (`principal`, `role`, `expires_at`)
//! and settings (`key`, `value`) — standing in for "an application's access list" so that the
//! quickstart runs for real with no cloud account. An application that reads the document is
//! expected to ignore access entries whose `expires_at` has passed: that is this provider's
//! native expiry.
//!
//! The document is rewritten atomically (temporary file, fsync, rename) under an exclusive lock
//! on a sibling `.lock` file, so concurrent writers in several processes never lose an update.
//!
//! For benchmarks, drills and failure tests, the provider block can also ask for simulated
//! latency per API call, a page size for `list`, and failures on writes to chosen ids.

mod config;
mod document;
mod provider;
mod schema;

pub use provider::LocalProvider;
pub use schema::schema;
