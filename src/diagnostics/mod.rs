//! Problems found in the user's files, collected rather than returned one at a time.
//!
//! Every later stage (loading, validation, graph building) pushes [`Diagnostic`]s into a
//! [`Diagnostics`] list, so `validate` reports every problem at once, each with the file, line
//! and column it is about, what is wrong, and what would be right — the model of Terraform's
//! `tfdiags`. This is the leaf module of the crate: it depends on nothing else here.

mod diagnostic;
mod render;
mod source;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use render::{render_json, render_text};
pub use source::{NotUtf8, Position, SourceFile, SourceMap, SourceRange};
