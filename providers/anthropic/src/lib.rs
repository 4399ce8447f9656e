//! The `anthropic` provider: an Anthropic organization through its Admin API.
//!
//! Resource types:
//! - `anthropic_workspace`: an existing workspace, whose `name` and `archived` flag the baseline
//!   manages. Workspaces are never created or deleted by breakglass (the API cannot delete one,
//!   and archiving cannot be undone), so an override may not archive one.
//! - `anthropic_workspace_member`: a user's role in a workspace. A role grant adds the requester
//!   as a member and its revert deletes the membership; an override raises a member's
//!   `workspace_role` and its revert writes the previous role back.
//! - `anthropic_api_key_status`: whether an API key works (`active`) or not (`inactive`): the
//!   reversible kill switch. `archived` is refused, at plan time, because no API call undoes it.
//!
//! Design choices:
//! - **Live state comes from the list endpoints.** Workspace members are listed per workspace
//!   with the API's cursor pagination (`limit`, `after_id`, `has_more`, `last_id`), so refresh
//!   reads a workspace of any size in `ceil(members / page_size)` calls, and members that nobody
//!   declared show up as drift. A cursor that does not advance, or `has_more` without a cursor,
//!   is an error, never an endless loop.
//! - **Natural ids.** `workspace_id`, `workspace_id/user_id` and `api_key_id` are what the API
//!   itself keys on, so a create retried after a timeout finds what the first attempt made.
//! - **Strict decoding.** Every answer is decoded into a type whose required fields have no
//!   defaults, and its `type` tag is checked: an answer of another shape is an error that names
//!   the call, never a silently empty list or a default role.
//! - **Errors say what to do.** A 401 names the credential variable (`ANTHROPIC_ADMIN_KEY`) and
//!   the provider block attribute; the key itself never appears in an error, a plan or state.
//! - **One HTTP client.** Every call goes through the shared [`breakglass_provider::http`]
//!   client (timeouts, retries of 429/5xx with backoff and `retry-after`, concurrency limits);
//!   Anthropic's `529 overloaded_error` is taught to it as a passing failure.

mod api;
mod api_key_status;
mod client;
mod config;
mod member;
mod provider;
mod schema;
mod workspace;

pub use provider::AnthropicProvider;
pub use schema::schema;
