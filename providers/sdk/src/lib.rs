//! The provider contract of breakglass.
//!
//! A provider manages the live objects of one platform (an application's access list, AWS IAM,
//! PostgreSQL roles, an AI platform's admin API). The engine talks to every provider through the
//! [`Provider`] trait and nothing else; providers know nothing of HCL, plans or state.
//!
//! Design choices:
//! - **Plain data across the boundary.** Attribute values are JSON values ([`Value`]), grouped in
//!   [`Attributes`]; every call takes one request struct and returns one response struct, each
//!   `#[non_exhaustive]` so fields can be added without breaking providers.
//! - **Natural identities.** A provider derives a resource's id from its declared attributes
//!   ([`Provider::resource_id`]), so a create retried after a crash finds the object it already
//!   made instead of making a second one: every write is idempotent.
//! - **Errors carry a kind** ([`ErrorKind`]) so the engine decides between retrying and stopping
//!   without parsing messages.
//! - **Secrets cannot be printed by accident**: [`Secret`] redacts itself in `Debug` and `Display`.

mod error;
pub mod http;
mod provider;
mod request;
mod schema;
mod secret;
pub mod small_map;
mod value;

pub use error::{ErrorKind, ProviderError};
pub use provider::{Provider, ProviderFactory};
pub use request::{
    ActivationContext, ChangeContext, ConfigureRequest, CreateRequest, CreateResponse,
    DeleteRequest, DeleteResponse, DryRunRequest, DryRunResponse, IdRequest, ListRequest,
    ListResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
pub use schema::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};
pub use secret::Secret;
pub use small_map::SmallMap;
pub use value::{AttributeName, Attributes, Value, attributes_digest, redact_sensitive};
