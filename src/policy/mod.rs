//! The policy language: HCL files in a directory, loaded into a typed, validated [`Policy`].
//!
//! Loading keeps every byte span (`hcl-edit`) so each problem names file, line and column, and
//! collects every problem rather than stopping at the first ([`crate::diagnostics`]). Values are
//! evaluated with `hcl-rs`. Each block kind lives in [`blocks`], its model and decoder side by
//! side; [`resolve`] checks blocks against provider schemas and evaluates baseline resources in
//! dependency order; [`validate`] checks across blocks. The policy layer does no I/O beyond
//! reading the policy files and calls no provider.

pub mod blocks;
pub mod context;
pub mod duration;
pub mod eval;
pub mod format;
mod load;
mod model;
pub mod reader;
pub mod reference;
pub mod resolve;
pub mod schema;
pub mod spanned;
pub mod suggest;
pub mod validate;

pub use duration::Duration;
pub use load::{Loaded, ProviderSchemas, Strictness, is_identifier, load, load_with};
pub use model::Policy;
pub use reference::{Reference, ReferenceKind};
pub use spanned::Spanned;
