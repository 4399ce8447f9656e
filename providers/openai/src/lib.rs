//! The `openai` provider: emergency access to an OpenAI organization through its
//! Administration API (`/v1/organization/...`), authenticated with an organization Admin API
//! key as `Authorization: Bearer`.
//!
//! Resource types:
//! - `openai_project_user`: a user's membership of a project with a role (`owner`, `member`).
//!   A role activation adds the user or raises the role; the revert removes the user or puts
//!   the role back. Listed in pages, owners marked privileged, so an owner nobody declared or
//!   granted shows up as drift that widens access.
//! - `openai_project_rate_limit`: a project's per-model rate limit. OpenAI has one per model
//!   and no create or delete, so the natural id is `PROJECT_ID/MODEL` and only the limits
//!   change. An override lifts or lowers them; its revert sends back exactly the values read
//!   before (the engine records them).
//! - `openai_project_model_permissions`: the project's model allow list or deny list. An
//!   override can deny a model (or allow none) and its revert restores the list.
//! - `openai_project`: an existing project adopted by id, to keep its name. Never created,
//!   never archived.
//!
//! Design choices:
//! - **Nothing irreversible.** Archiving a project and deleting an API key cannot be undone,
//!   so no attribute of any type does either, and deleting an `openai_project` is refused
//!   with the reason. What breakglass changes, a revert can change back.
//! - **Every call goes through the shared HTTP client** ([`breakglass_provider::http`]):
//!   throttling (429, with OpenAI's `retry-after-ms`) and 5xx are retried with backoff; this
//!   crate turns OpenAI's error bodies into errors that name the provider, the call and what
//!   to do (a 401 names `OPENAI_ADMIN_KEY`), and never quote the key.
//! - **Strict about what matters, lenient about the rest.** Responses must have the documented
//!   `object` tag and required fields; fields OpenAI adds later are ignored. A list whose
//!   cursor does not advance is an error, never a loop.
//! - **Defaults from the vendor's variables.** `OPENAI_ADMIN_KEY` and `OPENAI_BASE_URL` fill
//!   in what the provider block leaves out, as OpenAI's SDKs do, so a policy runs unchanged
//!   against the real API or a local contract server.
//! - **No native expiry.** OpenAI cannot end a membership or a limit at a given time by
//!   itself, so ending access rests on the reconciler's revert; `native_expiry` says so.
//!
//! The integration tests run every call against a contract server that follows the published
//! OpenAPI description, and validate each request and response against that description.

mod api;
mod attributes;
mod client;
mod config;
mod model_permissions;
mod pages;
mod project;
mod project_user;
mod provider;
mod rate_limit;
mod schema;

pub use config::{ADMIN_KEY_VARIABLE, BASE_URL_VARIABLE, DEFAULT_BASE_URL};
pub use provider::OpenAiProvider;
pub use schema::{
    LIMITS, MODEL_PERMISSIONS, PROJECT, PROJECT_USER, RATE_LIMIT, RESOURCE_TYPES, schema,
};
