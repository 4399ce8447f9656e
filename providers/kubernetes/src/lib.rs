//! The `kubernetes` provider: emergency access to a Kubernetes cluster through RBAC
//! (`rbac.authorization.k8s.io/v1`), authenticated as a kubeconfig context says.
//!
//! Resource types (a file each): `kubernetes_role`, `kubernetes_cluster_role`,
//! `kubernetes_role_binding`, `kubernetes_cluster_role_binding`. The emergency grant is a
//! binding in a `role` block: a user or group bound to `cluster-admin` (or a declared role) for
//! the activation's time.
//!
//! Design choices:
//! - **No native expiry, said plainly.** Kubernetes cannot end a binding at a given time by
//!   itself, so no type has an expiry attribute: access ends with the revert, which the engine
//!   retries until a re-read confirms the binding is gone. The binding carries its activation
//!   and end in annotations, so `kubectl get` tells whoever looks.
//! - **A revert deletes exactly what its activation created**: the binding is labelled
//!   `breakglass.dev/activation=<id>` when created, and deleted (with uid and resourceVersion
//!   preconditions) only while it still carries that label ([`objects`]).
//! - **Never a blind overwrite**: updates carry the `resourceVersion` they were read at; a
//!   `409 Conflict` is decided again from a fresh read.
//! - **Refresh lists**: one paged walk (`limit`/`continue`) per type, across namespaces; an
//!   expired `continue` token (410 Gone) starts the list again. Bindings to privileged
//!   ClusterRoles that nothing declares are reported as drift (and removed where the provider
//!   block says `drift = "revert"`).
//! - **`plan` asks the API server first**: creates and updates are sent with `dryRun=All`
//!   ([`breakglass_provider::Provider::dry_run`]), so validation, admission and RBAC escalation
//!   checks refuse at plan time, not half-way through an apply.
//! - **Credentials as kubectl finds them**: `KUBECONFIG` / `~/.kube/config`, contexts, bearer
//!   tokens, client certificates, CA data and `exec` plugins, read with kube-rs's kubeconfig
//!   loader; every call goes through the SDK's shared HTTP client (retries, `Retry-After`).
//!
//! The integration tests run every call against a contract server checked against the
//! official OpenAPI description of the API group.

mod api;
mod body;
mod client;
mod cluster_role;
mod cluster_role_binding;
mod config;
mod exec;
mod kind;
mod kubeconfig;
mod objects;
mod pages;
mod provider;
mod role;
mod role_binding;
mod schema;

pub use config::KUBECONFIG_VARIABLE;
pub use kind::{ACTIVATION_KEY, MANAGED_BY_KEY};
pub use provider::KubernetesProvider;
pub use schema::{CLUSTER_ROLE, CLUSTER_ROLE_BINDING, RESOURCE_TYPES, ROLE, ROLE_BINDING, schema};
