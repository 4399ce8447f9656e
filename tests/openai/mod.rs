//! The `openai` provider against a contract server that follows OpenAI's published
//! Administration API, every exchange checked against OpenAI's own OpenAPI description:
//! the provider's calls directly (`provider`), and plan/apply/revert through the CLI (`cli`).

mod cli;
pub(crate) mod contract;
mod provider;
mod spec;
