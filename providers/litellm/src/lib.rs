//! The `litellm` provider: a LiteLLM proxy through its admin (management) API.
//!
//! Resource types:
//! - `litellm_key`: a virtual key (alias, models, budget, rpm/tpm limits, team, blocked flag,
//!   expiry). A role grant makes an emergency key that LiteLLM itself stops accepting at the
//!   activation's end (native expiry), and the revert deletes it; an override blocks or unblocks
//!   a key (`/key/block`, `/key/unblock`) or changes its limits, and the revert writes back what
//!   was there.
//! - `litellm_team`: an existing team's blocked flag (`/team/block`, `/team/unblock`): an
//!   override blocks every key of a team at once, and the revert unblocks it.
//!
//! Design choices:
//! - **Absolute expiry, relative wire.** LiteLLM takes a relative `duration` ("3600s") and
//!   stores the absolute `expires`. A declarative policy needs the absolute form, so the
//!   attribute is `expires_at` (RFC 3339) and the provider sends the `duration` that ends the
//!   key then; reading compares within two minutes, the time a request can take to arrive. Every
//!   key made within an activation gets one, even if the template forgot: the second net that
//!   ends access if no reconciler runs again.
//! - **The alias is the identity.** LiteLLM enforces unique key aliases, and the secret key is
//!   shown only once, so `key_alias` is the natural id: a create retried after a timeout finds
//!   the key the first attempt made. The secret never enters attributes, plans, state or errors;
//!   only LiteLLM's hashed `token` is kept, as a computed attribute.
//! - **Strict decoding.** Answers are decoded field by field; a missing field or a value of the
//!   wrong type is an error that names the call, never a default.
//! - **One HTTP client.** Every call goes through the shared [`breakglass_provider::http`]
//!   client (timeouts, retries of 429/5xx with backoff and `retry-after`, concurrency limits).

mod client;
mod config;
mod key;
mod provider;
mod schema;
mod team;

pub use provider::LiteLlmProvider;
pub use schema::schema;
