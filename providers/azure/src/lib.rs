//! The `azure` provider: emergency access to Azure through role-based access control, managed
//! over Azure Resource Manager (`Microsoft.Authorization`) and signed in as a service principal
//! with a client secret.
//!
//! Resource type: `azure_role_assignment` (scope, role definition, principal). In the baseline
//! it is a plain role assignment. Granted by an activation, it is an active assignment of
//! Privileged Identity Management made by a schedule request whose expiration is the
//! activation's end, so **Azure ends the access itself**, even if breakglass never runs again;
//! the revert submits an `AdminRemove` request and waits until Azure no longer lists the
//! assignment. docs/providers/azure.md documents it.
//!
//! Design choices:
//! - **No Azure SDK.** Five endpoints of one API do not need one: requests are built here
//!   ([`arm`]), tokens come from the identity platform's token endpoint ([`token`]), and every
//!   call goes through the shared HTTP client of `breakglass-provider` (throttling with
//!   `Retry-After` and 5xx retried with backoff). ARM's error bodies become errors that name the
//!   call and what to do; ARM's `x-ms-ratelimit-remaining-*` budgets pace the calls.
//! - **Natural ids from the triple** ([`key`]): Azure allows one assignment of a role to a
//!   principal at a scope, so `SCOPE|ROLE_GUID|PRINCIPAL_ID` names it before it exists, and the
//!   names Azure asks callers to choose are GUIDs derived from what the write does: a write sent
//!   twice is one write.
//! - **Confirmed by reading** ([`role_assignment`]): Azure's role assignments are eventually
//!   consistent, and schedule requests finish asynchronously ([`schedule`]); every write waits,
//!   bounded, until a read shows its effect, and says clearly when it does not.
//! - **Nobody else's change is lost**: a grant that finds an assignment made meanwhile by
//!   someone else leaves it as it is and refuses, rather than take it over.
//!
//! The integration tests run every call against a contract server that follows Azure's
//! published OpenAPI descriptions of these endpoints, and validate each request and response
//! against them.

pub mod api;
pub mod arm;
pub mod config;
pub mod key;
mod provider;
pub mod role_assignment;
pub mod schedule;
pub mod schema;
pub mod token;

pub use config::{
    AUTHORITY_HOST_VARIABLE, CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE, RESOURCE_MANAGER_VARIABLE,
    TENANT_VARIABLE,
};
pub use provider::AzureProvider;
pub use schema::{RESOURCE_TYPES, ROLE_ASSIGNMENT, schema};
