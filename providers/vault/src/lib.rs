//! The `vault` provider: HashiCorp Vault and OpenBao (the same HTTP API), for break-glass access
//! to secrets.
//!
//! An emergency grant is a membership (`vault_identity_group_member`) of the person's identity
//! entity in a privileged group (`vault_identity_group`, whose ACL policies, `vault_policy`,
//! say what it may do), and, where tools need tokens of their own, a token role
//! (`vault_token_role`) whose tokens cannot outlive the grant (`token_explicit_max_ttl`, the
//! platform's own second net). docs/providers/vault.md documents each type.
//!
//! Design choices:
//! - **Revocation is what a revert does.** Vault lets what a token obtained outlive the access
//!   that let it: a dynamic database credential (a lease) lives as long as its token. So taking
//!   a membership back revokes the entity's tokens, and deleting a grant's token role revokes
//!   every token made with it (`sys/leases/revoke-prefix`); Vault then revokes their leases,
//!   and a credential issued during the grant dies with it ([`revocation`]). The plan says so
//!   on every revert (`revert_note`). A separate `vault_lease_revocation` resource would have
//!   no object in Vault to read back, so a revert could never be confirmed by a re-read.
//! - **Policies compared by meaning** ([`policy_document`]): HCL or JSON, parsed, so a comment,
//!   the order of paths or capabilities, or the old `policy = "read"` shorthand is no drift.
//! - **Few calls**: group members are listed from each group in scope and one listing of every
//!   entity's name, not one call per member; calls go through the shared HTTP client
//!   (retries, backoff, limits) with the token in `X-Vault-Token`.
//! - **Both servers**: settings come from the block, `VAULT_*` or `BAO_*` ([`config`]); what
//!   only OpenBao offers (a policy's `expiration`) is used only where the server is OpenBao
//!   ([`server`]).

pub mod client;
pub mod config;
pub mod policy_document;
mod provider;
pub mod resources;
pub mod revocation;
pub mod schema;
pub mod server;
#[cfg(any(test, feature = "test-server"))]
pub mod testing;

pub use provider::VaultProvider;
pub use schema::{GROUP, GROUP_MEMBER, POLICY, TOKEN_ROLE, schema};
