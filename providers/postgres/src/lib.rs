//! The `postgres` provider: PostgreSQL roles, role memberships, privileges and default
//! privileges, for break-glass database access.
//!
//! An emergency grant is a membership (`postgres_grant_role`) of the person's login role in a
//! privileged role (`dba`); a temporary login role a grant creates (`postgres_role`) carries
//! `VALID UNTIL` the activation's end, so PostgreSQL ends it by itself even if no reconciler
//! runs again. Revocation sticks: when a revert revokes a membership or drops a role, the
//! sessions that still hold it are ended (`pg_terminate_backend`), because PostgreSQL lets an
//! open connection (one that ran `SET ROLE dba`, say) outlive the membership that allowed it.
//!
//! Design choices:
//! - **One quoting helper** ([`sql`]): identifiers cannot be bound as parameters in
//!   PostgreSQL, so every name is checked and double-quoted by one type, literals by another,
//!   and keywords (privileges, object kinds) come only from fixed tables. Catalog reads bind
//!   their values as parameters.
//! - **Bulk refresh from the catalogs**: every role in one query on `pg_roles`, every
//!   membership in one on `pg_auth_members`, every grant of a database in three `aclexplode`
//!   queries, default privileges in one on `pg_default_acl` — not one query per object.
//! - **Drift that widens access**: listing roles marks superusers, listing memberships marks
//!   those in the provider block's `privileged_roles`, in the built-in roles that read or write
//!   everything, and in superuser roles. Built-in roles and the provider's own login role are
//!   never listed: they are the platform's, not the policy's.
//! - **Writes are transactions**: the statements of one change are sent as one simple query,
//!   which the server runs as a single transaction.
//! - **Passwords never travel in clear**: they are turned into SCRAM-SHA-256 verifiers here.
//!
//! Connection settings come from the provider block or the libpq variables (`PGHOST`,
//! `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`). TLS is not offered yet: reach remote
//! servers over a Unix socket or a tunnel.

mod attributes;
mod client;
mod config;
mod default_privileges;
mod grant;
mod id;
mod membership;
mod privileges;
mod provider;
mod role;
mod schema;
mod sessions;
pub mod sql;
#[cfg(any(test, feature = "test-cluster"))]
pub mod testing;

pub use config::PostgresConfig;
pub use provider::PostgresProvider;
pub use schema::{DEFAULT_PRIVILEGES, GRANT, GRANT_ROLE, ROLE, schema};
