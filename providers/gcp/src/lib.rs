//! The `gcp` provider: emergency access to Google Cloud through IAM role bindings on projects,
//! folders and organizations, managed with the Cloud Resource Manager API (v3).
//!
//! Resource types (Terraform's names, `gcp_` for `google_`): `gcp_project_iam_member`,
//! `gcp_folder_iam_member` and `gcp_organization_iam_member`, each one member's binding to one
//! role in one IAM policy. docs/providers/gcp.md documents them.
//!
//! Design choices:
//! - **Google ends emergency access itself.** A binding a role grant creates carries an IAM
//!   Condition `request.time < timestamp("END")` titled with the activation id ([`condition`]),
//!   so the grant stops working at its end even if breakglass is down; the revert then removes
//!   exactly that conditional binding, and an extension rewrites its condition. IAM refuses
//!   conditions on the basic roles (owner, editor, viewer), so those end by the revert alone
//!   (`expires_natively` says so).
//! - **Read-modify-write that never loses a change** ([`policies`]): the whole policy is read
//!   (version 3, so conditions come back), changed in one place ([`policy`], pure and tested)
//!   and written with its etag; a concurrent change (409 `ABORTED`) restarts from a fresh read.
//!   Fields and bindings breakglass does not manage go back untouched.
//! - **Reads after writes are checked**: Google's IAM reads are eventually consistent, so a
//!   read that answers a policy breakglass's own write replaced is read again, not believed:
//!   a revert is confirmed from what Google really holds.
//! - **Credentials as Google's tools find them** ([`config`], [`credentials`], [`token`]): a
//!   service account key file (`GOOGLE_APPLICATION_CREDENTIALS`) whose RS256-signed JWT is
//!   exchanged for an access token, kept until shortly before it expires and renewed when
//!   Google answers 401; or an access token (`GOOGLE_OAUTH_ACCESS_TOKEN`). The token endpoint
//!   and the API endpoint can be pointed at a local contract server.
//! - **Every call goes through the shared HTTP client** ([`breakglass_provider::http`]):
//!   throttling (429 `RESOURCE_EXHAUSTED`) and 5xx are retried with backoff; Google's error
//!   bodies become errors naming the permission to grant ([`client`]).
//!
//! The integration tests run every call against a contract server that follows Google's
//! discovery document for Cloud Resource Manager v3 and Google's OAuth token endpoint, and
//! validate every request and answer against that document.

pub mod binding_id;
pub mod client;
pub mod condition;
pub mod config;
pub mod credentials;
mod folder_iam_member;
pub mod iam_member;
mod organization_iam_member;
pub mod policies;
pub mod policy;
mod project_iam_member;
mod provider;
pub mod schema;
pub mod token;

pub use config::{ACCESS_TOKEN_VARIABLE, CREDENTIALS_VARIABLE, ENDPOINT_VARIABLE};
pub use provider::GcpProvider;
pub use schema::{
    FOLDER_IAM_MEMBER, ORGANIZATION_IAM_MEMBER, PROJECT_IAM_MEMBER, RESOURCE_TYPES, schema,
};
