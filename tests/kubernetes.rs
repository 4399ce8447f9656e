//! The `kubernetes` provider against a contract server that follows the official OpenAPI
//! description of `rbac.authorization.k8s.io/v1`, every exchange checked against it: the
//! provider's calls directly (`provider`, including the refresh benchmark of 1,000 bindings),
//! and `examples/kubernetes` through the CLI (`cli`).

mod cli;
pub(crate) mod contract;
mod provider;
mod spec;
