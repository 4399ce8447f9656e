//! The `aws` provider: AWS IAM and IAM Identity Center, managed over their public APIs.
//!
//! Resource types (attribute names as Terraform's AWS provider has them): `aws_iam_role`,
//! `aws_iam_policy`, `aws_iam_role_policy_attachment`, `aws_iam_role_policy`,
//! `aws_iam_user_group_membership`, `aws_ssoadmin_permission_set` and
//! `aws_ssoadmin_account_assignment`. docs/providers/aws.md documents each.
//!
//! Design choices:
//! - **No AWS SDK.** Four services and some forty calls do not need ~200 crates: requests are
//!   built here ([`client`]: Query protocol for IAM and STS, JSON 1.1 for sso-admin and
//!   identitystore), signed with `aws-sigv4` afresh on every attempt, and sent through the
//!   shared HTTP client of `breakglass-provider` (retries, backoff, limits). Answers are decoded
//!   into typed structs ([`iam`], [`sso`]) and AWS's error codes mapped to error kinds
//!   ([`error`]); throttling, which AWS answers with a 400, is retried.
//! - **Credentials as the AWS tools find them** ([`credentials`]), each remembering where it came
//!   from so a rejected signature names the source to fix, and the endpoint overridable
//!   (`endpoint`, `AWS_ENDPOINT_URL`) so the same policy runs against an emulator.
//! - **Bulk refresh** ([`snapshot`]): IAM types are listed from one
//!   `GetAccountAuthorizationDetails` snapshot shared by every type in a refresh, a thousand
//!   items a page, instead of one call per resource.
//! - **Policies compared by meaning** ([`document`]), not text.
//! - **Access ends on AWS's side too**: what a role grant creates carries its end
//!   (`expires_at`) as an IAM condition, and taking it back revokes sessions opened meanwhile
//!   (`aws:TokenIssueTime`). See [`resources::attachment`] and [`resources::role_policy`].

pub mod client;
pub mod config;
pub mod credentials;
pub mod document;
pub mod error;
pub mod iam;
mod provider;
pub mod resources;
pub mod schema;
pub mod snapshot;
pub mod sso;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod xml;

pub use provider::AwsProvider;
pub use schema::schema;
