//! The `azure` provider against a contract server that follows Azure's published Resource
//! Manager API for role assignments and PIM schedule requests (and the identity platform's token
//! endpoint), every exchange checked against Azure's own OpenAPI descriptions: the provider's
//! calls directly (`provider`), and `examples/azure` through the CLI (`cli`).

#[path = "azure/cli.rs"]
mod cli;
#[path = "azure/contract.rs"]
pub(crate) mod contract;
#[path = "azure/provider.rs"]
mod provider;
#[path = "azure/swagger.rs"]
mod swagger;
