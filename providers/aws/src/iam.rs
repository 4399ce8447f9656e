//! The IAM API calls the provider makes, with typed answers (Query protocol).
//!
//! Reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html>.
//! Lists are paged with `Marker`/`IsTruncated`; every `List*` and
//! `GetAccountAuthorizationDetails` here follows the markers to the end. Policy documents come
//! back URL-encoded and are decoded here.

use breakglass_provider::ProviderError;
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::client::{AwsClient, Service};
use crate::error::found;
use crate::xml::{Members, policy_document};

/// A tag.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// Tags as a map.
pub fn tag_map(tags: &Members<Tag>) -> BTreeMap<String, String> {
    tags.member.iter().map(|t| (t.key.clone(), t.value.clone())).collect()
}

/// A role (`GetRole`, `CreateRole`, `ListRoles`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// The path.
    #[serde(default)]
    pub path: String,
    /// The name.
    pub role_name: String,
    /// The ARN.
    #[serde(default)]
    pub arn: String,
    /// The trust policy, URL-encoded.
    #[serde(default)]
    pub assume_role_policy_document: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// The longest session, in seconds.
    #[serde(default)]
    pub max_session_duration: Option<u64>,
    /// Tags (`GetRole` only; `ListRoles` leaves them out).
    #[serde(default)]
    pub tags: Members<Tag>,
}

/// A managed policy attached to a principal.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPolicy {
    /// Its name.
    #[serde(default)]
    pub policy_name: String,
    /// Its ARN.
    pub policy_arn: String,
}

/// An inline policy in an authorization details answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    /// Its name.
    pub policy_name: String,
    /// Its document, URL-encoded.
    #[serde(default)]
    pub policy_document: String,
}

/// A customer managed policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    /// Its name.
    pub policy_name: String,
    /// Its ARN.
    pub arn: String,
    /// Its path.
    #[serde(default)]
    pub path: String,
    /// The version in force.
    #[serde(default)]
    pub default_version_id: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// How many principals it is attached to.
    #[serde(default)]
    pub attachment_count: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Members<Tag>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersion {
    /// The document, URL-encoded.
    #[serde(default)]
    pub document: String,
    /// `v1`, `v2`…
    #[serde(default)]
    pub version_id: String,
    /// Whether it is in force.
    #[serde(default)]
    pub is_default_version: bool,
}

/// A group a user belongs to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    /// Its name.
    pub group_name: String,
}

/// A role in `GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleDetail {
    /// The path.
    #[serde(default)]
    pub path: String,
    /// The name.
    pub role_name: String,
    /// The ARN.
    #[serde(default)]
    pub arn: String,
    /// The trust policy, URL-encoded.
    #[serde(default)]
    pub assume_role_policy_document: String,
    /// Inline policies.
    #[serde(default)]
    pub role_policy_list: Members<InlinePolicy>,
    /// Attached managed policies.
    #[serde(default)]
    pub attached_managed_policies: Members<AttachedPolicy>,
    /// Tags.
    #[serde(default)]
    pub tags: Members<Tag>,
}

/// A user in `GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserDetail {
    /// The name.
    pub user_name: String,
    /// Groups it belongs to.
    #[serde(default)]
    pub group_list: Members<String>,
    /// Attached managed policies.
    #[serde(default)]
    pub attached_managed_policies: Members<AttachedPolicy>,
}

/// A group in `GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupDetail {
    /// The name.
    pub group_name: String,
    /// Attached managed policies.
    #[serde(default)]
    pub attached_managed_policies: Members<AttachedPolicy>,
}

/// A managed policy in `GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDetail {
    /// Its name (some emulators leave it out; [`PolicyDetail::name`] falls back on the ARN).
    #[serde(default)]
    pub policy_name: String,
    /// Its ARN.
    pub arn: String,
    /// Its path.
    #[serde(default)]
    pub path: String,
    /// The version in force.
    #[serde(default)]
    pub default_version_id: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its versions.
    #[serde(default)]
    pub policy_version_list: Members<PolicyVersion>,
}

impl PolicyDetail {
    /// Its name: `PolicyName`, else the last part of the ARN.
    pub fn name(&self) -> &str {
        if self.policy_name.is_empty() {
            self.arn.rsplit('/').next().unwrap_or_default()
        } else {
            &self.policy_name
        }
    }

    /// The document in force, decoded.
    pub fn default_document(&self) -> Option<String> {
        self.policy_version_list
            .member
            .iter()
            .find(|v| v.is_default_version || v.version_id == self.default_version_id)
            .map(|v| policy_document(&v.document))
    }
}

/// One page of `GetAccountAuthorizationDetails`, and all pages added up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthorizationDetails {
    /// Users.
    #[serde(default)]
    pub user_detail_list: Members<UserDetail>,
    /// Groups.
    #[serde(default)]
    pub group_detail_list: Members<GroupDetail>,
    /// Roles.
    #[serde(default)]
    pub role_detail_list: Members<RoleDetail>,
    /// Managed policies.
    #[serde(default)]
    pub policies: Members<PolicyDetail>,
    /// More pages follow.
    #[serde(default)]
    pub is_truncated: bool,
    /// Where the next page starts.
    #[serde(default)]
    pub marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleResult {
    role: Role,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyResult {
    policy: Policy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyVersionResult {
    policy_version: PolicyVersion,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RolePolicyResult {
    #[serde(default)]
    policy_document: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page<T> {
    #[serde(
        default,
        alias = "AttachedPolicies",
        alias = "Roles",
        alias = "Groups",
        alias = "PolicyNames",
        alias = "Versions",
        alias = "Tags"
    )]
    items: Members<T>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Empty {}

/// Turns a not-found error into success (deleting what is gone is done).
fn gone(result: Result<Empty, ProviderError>) -> Result<(), ProviderError> {
    found(result).map(|_| ())
}

fn tag_params(tags: &BTreeMap<String, String>) -> Vec<(String, String)> {
    tags.iter()
        .enumerate()
        .flat_map(|(i, (key, value))| {
            [
                (format!("Tags.member.{}.Key", i + 1), key.clone()),
                (format!("Tags.member.{}.Value", i + 1), value.clone()),
            ]
        })
        .collect()
}

fn borrowed(params: &[(String, String)]) -> Vec<(&str, String)> {
    params.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// Follows `Marker` through every page of a `List*` call (the list element is found through
/// `Page`'s aliases).
async fn list_all<T: serde::de::DeserializeOwned + Default>(
    client: &AwsClient,
    action: &str,
    params: &[(&str, String)],
) -> Result<Vec<T>, ProviderError> {
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut all: Vec<(&str, String)> = params.to_vec();
        all.push(("MaxItems", "1000".to_owned()));
        if let Some(marker) = &marker {
            all.push(("Marker", marker.clone()));
        }
        let page: Page<T> = client.query(Service::Iam, action, &all).await?;
        items.extend(page.items.member);
        match (page.is_truncated, page.marker) {
            (true, Some(next)) => marker = Some(next),
            _ => break,
        }
    }
    Ok(items)
}

/// `GetRole`.
pub async fn get_role(client: &AwsClient, name: &str) -> Result<Option<Role>, ProviderError> {
    let result: Result<RoleResult, _> =
        client.query(Service::Iam, "GetRole", &[("RoleName", name.to_owned())]).await;
    Ok(found(result)?.map(|r| r.role))
}

/// What `CreateRole` needs.
#[derive(Debug, Clone, Default)]
pub struct NewRole {
    /// Name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Trust policy (JSON).
    pub trust: String,
    /// Description.
    pub description: Option<String>,
    /// Longest session, seconds.
    pub max_session_duration: Option<u64>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// `CreateRole`.
pub async fn create_role(client: &AwsClient, role: &NewRole) -> Result<Role, ProviderError> {
    let mut params = vec![
        ("RoleName".to_owned(), role.name.clone()),
        ("Path".to_owned(), role.path.clone()),
        ("AssumeRolePolicyDocument".to_owned(), role.trust.clone()),
    ];
    if let Some(description) = &role.description {
        params.push(("Description".to_owned(), description.clone()));
    }
    if let Some(duration) = role.max_session_duration {
        params.push(("MaxSessionDuration".to_owned(), duration.to_string()));
    }
    params.extend(tag_params(&role.tags));
    let result: RoleResult = client.query(Service::Iam, "CreateRole", &borrowed(&params)).await?;
    Ok(result.role)
}

/// `UpdateRole` (description and longest session).
pub async fn update_role(
    client: &AwsClient,
    name: &str,
    description: Option<&str>,
    max_session_duration: Option<u64>,
) -> Result<(), ProviderError> {
    let mut params = vec![("RoleName", name.to_owned())];
    params.push(("Description", description.unwrap_or_default().to_owned()));
    if let Some(duration) = max_session_duration {
        params.push(("MaxSessionDuration", duration.to_string()));
    }
    let _: Empty = client.query(Service::Iam, "UpdateRole", &params).await?;
    Ok(())
}

/// `UpdateAssumeRolePolicy`.
pub async fn update_trust(
    client: &AwsClient,
    name: &str,
    trust: &str,
) -> Result<(), ProviderError> {
    let _: Empty = client
        .query(
            Service::Iam,
            "UpdateAssumeRolePolicy",
            &[("RoleName", name.to_owned()), ("PolicyDocument", trust.to_owned())],
        )
        .await?;
    Ok(())
}

/// `TagRole` / `UntagRole` to go from `before` to `after`.
pub async fn retag_role(
    client: &AwsClient,
    name: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    if !removed.is_empty() {
        let mut params = vec![("RoleName".to_owned(), name.to_owned())];
        for (i, key) in removed.iter().enumerate() {
            params.push((format!("TagKeys.member.{}", i + 1), (*key).clone()));
        }
        let _: Empty = client.query(Service::Iam, "UntagRole", &borrowed(&params)).await?;
    }
    let changed: BTreeMap<String, String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !changed.is_empty() {
        let mut params = vec![("RoleName".to_owned(), name.to_owned())];
        params.extend(tag_params(&changed));
        let _: Empty = client.query(Service::Iam, "TagRole", &borrowed(&params)).await?;
    }
    Ok(())
}

/// `DeleteRole`; a role already gone is deleted.
pub async fn delete_role(client: &AwsClient, name: &str) -> Result<(), ProviderError> {
    gone(client.query(Service::Iam, "DeleteRole", &[("RoleName", name.to_owned())]).await)
}

/// `ListRoles`, every page.
pub async fn list_roles(client: &AwsClient) -> Result<Vec<Role>, ProviderError> {
    list_all(client, "ListRoles", &[]).await
}

/// `ListAttachedRolePolicies`, every page; `None` when the role does not exist.
pub async fn attached_role_policies(
    client: &AwsClient,
    role: &str,
) -> Result<Option<Vec<AttachedPolicy>>, ProviderError> {
    found(list_all(client, "ListAttachedRolePolicies", &[("RoleName", role.to_owned())]).await)
}

/// `AttachRolePolicy`.
pub async fn attach_role_policy(
    client: &AwsClient,
    role: &str,
    arn: &str,
) -> Result<(), ProviderError> {
    let _: Empty = client
        .query(
            Service::Iam,
            "AttachRolePolicy",
            &[("RoleName", role.to_owned()), ("PolicyArn", arn.to_owned())],
        )
        .await?;
    Ok(())
}

/// `DetachRolePolicy`; an attachment already gone is detached.
pub async fn detach_role_policy(
    client: &AwsClient,
    role: &str,
    arn: &str,
) -> Result<(), ProviderError> {
    gone(
        client
            .query(
                Service::Iam,
                "DetachRolePolicy",
                &[("RoleName", role.to_owned()), ("PolicyArn", arn.to_owned())],
            )
            .await,
    )
}

/// Whose inline policy: IAM's calls for a role's and a user's differ only in the noun.
#[derive(Debug, Clone, Copy)]
enum Holder {
    Role,
    User,
}

impl Holder {
    /// `GetRolePolicy`, `PutUserPolicy`…
    fn action(self, verb: &str) -> String {
        format!("{verb}{}Policy", self.noun())
    }

    fn noun(self) -> &'static str {
        match self {
            Holder::Role => "Role",
            Holder::User => "User",
        }
    }

    /// The parameter naming the holder.
    fn key(self) -> &'static str {
        match self {
            Holder::Role => "RoleName",
            Holder::User => "UserName",
        }
    }
}

/// `GetRolePolicy` or `GetUserPolicy`: the decoded document, or `None`.
async fn get_inline_policy(
    client: &AwsClient,
    holder: Holder,
    principal: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let result: Result<RolePolicyResult, _> = client
        .query(
            Service::Iam,
            &holder.action("Get"),
            &[(holder.key(), principal.to_owned()), ("PolicyName", name.to_owned())],
        )
        .await;
    Ok(found(result)?.map(|r| policy_document(&r.policy_document)))
}

/// `PutRolePolicy` or `PutUserPolicy`.
async fn put_inline_policy(
    client: &AwsClient,
    holder: Holder,
    principal: &str,
    name: &str,
    document: &str,
) -> Result<(), ProviderError> {
    let _: Empty = client
        .query(
            Service::Iam,
            &holder.action("Put"),
            &[
                (holder.key(), principal.to_owned()),
                ("PolicyName", name.to_owned()),
                ("PolicyDocument", document.to_owned()),
            ],
        )
        .await?;
    Ok(())
}

/// `GetRolePolicy`: the decoded document, or `None`.
pub async fn get_role_policy(
    client: &AwsClient,
    role: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    get_inline_policy(client, Holder::Role, role, name).await
}

/// `ListRolePolicies`, every page; `None` when the role does not exist.
pub async fn role_policy_names(
    client: &AwsClient,
    role: &str,
) -> Result<Option<Vec<String>>, ProviderError> {
    found(list_all(client, "ListRolePolicies", &[("RoleName", role.to_owned())]).await)
}

/// `PutRolePolicy`.
pub async fn put_role_policy(
    client: &AwsClient,
    role: &str,
    name: &str,
    document: &str,
) -> Result<(), ProviderError> {
    put_inline_policy(client, Holder::Role, role, name, document).await
}

/// `DeleteRolePolicy`; one already gone is deleted.
pub async fn delete_role_policy(
    client: &AwsClient,
    role: &str,
    name: &str,
) -> Result<(), ProviderError> {
    gone(
        client
            .query(
                Service::Iam,
                "DeleteRolePolicy",
                &[("RoleName", role.to_owned()), ("PolicyName", name.to_owned())],
            )
            .await,
    )
}

/// `GetUserPolicy`: the decoded document, or `None`.
pub async fn get_user_policy(
    client: &AwsClient,
    user: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    get_inline_policy(client, Holder::User, user, name).await
}

/// `PutUserPolicy`.
pub async fn put_user_policy(
    client: &AwsClient,
    user: &str,
    name: &str,
    document: &str,
) -> Result<(), ProviderError> {
    put_inline_policy(client, Holder::User, user, name, document).await
}

/// `GetPolicy`.
pub async fn get_policy(client: &AwsClient, arn: &str) -> Result<Option<Policy>, ProviderError> {
    let result: Result<PolicyResult, _> =
        client.query(Service::Iam, "GetPolicy", &[("PolicyArn", arn.to_owned())]).await;
    Ok(found(result)?.map(|r| r.policy))
}

/// `GetPolicyVersion`: the decoded document.
pub async fn get_policy_version(
    client: &AwsClient,
    arn: &str,
    version: &str,
) -> Result<Option<String>, ProviderError> {
    let result: Result<PolicyVersionResult, _> = client
        .query(
            Service::Iam,
            "GetPolicyVersion",
            &[("PolicyArn", arn.to_owned()), ("VersionId", version.to_owned())],
        )
        .await;
    Ok(found(result)?.map(|r| policy_document(&r.policy_version.document)))
}

/// `CreatePolicy`.
pub async fn create_policy(
    client: &AwsClient,
    name: &str,
    path: &str,
    document: &str,
    description: Option<&str>,
    tags: &BTreeMap<String, String>,
) -> Result<Policy, ProviderError> {
    let mut params = vec![
        ("PolicyName".to_owned(), name.to_owned()),
        ("Path".to_owned(), path.to_owned()),
        ("PolicyDocument".to_owned(), document.to_owned()),
    ];
    if let Some(description) = description {
        params.push(("Description".to_owned(), description.to_owned()));
    }
    params.extend(tag_params(tags));
    let result: PolicyResult =
        client.query(Service::Iam, "CreatePolicy", &borrowed(&params)).await?;
    Ok(result.policy)
}

/// `ListPolicyVersions`, every page.
pub async fn policy_versions(
    client: &AwsClient,
    arn: &str,
) -> Result<Vec<PolicyVersion>, ProviderError> {
    list_all(client, "ListPolicyVersions", &[("PolicyArn", arn.to_owned())]).await
}

/// Makes `document` the policy's version in force: `CreatePolicyVersion` with
/// `SetAsDefault`, after deleting the oldest non-default version when the five IAM keeps are
/// all taken.
pub async fn set_policy_document(
    client: &AwsClient,
    arn: &str,
    document: &str,
) -> Result<(), ProviderError> {
    let versions = policy_versions(client, arn).await?;
    if versions.len() >= 5
        && let Some(oldest) = versions
            .iter()
            .filter(|v| !v.is_default_version)
            .min_by_key(|v| v.version_id.trim_start_matches('v').parse::<u64>().unwrap_or(u64::MAX))
    {
        delete_policy_version(client, arn, &oldest.version_id).await?;
    }
    let _: Empty = client
        .query(
            Service::Iam,
            "CreatePolicyVersion",
            &[
                ("PolicyArn", arn.to_owned()),
                ("PolicyDocument", document.to_owned()),
                ("SetAsDefault", "true".to_owned()),
            ],
        )
        .await?;
    Ok(())
}

async fn delete_policy_version(
    client: &AwsClient,
    arn: &str,
    version: &str,
) -> Result<(), ProviderError> {
    gone(
        client
            .query(
                Service::Iam,
                "DeletePolicyVersion",
                &[("PolicyArn", arn.to_owned()), ("VersionId", version.to_owned())],
            )
            .await,
    )
}

/// `DeletePolicy`, after its non-default versions (which IAM requires to go first).
pub async fn delete_policy(client: &AwsClient, arn: &str) -> Result<(), ProviderError> {
    let versions = match found(policy_versions(client, arn).await)? {
        Some(versions) => versions,
        None => return Ok(()),
    };
    for version in versions.iter().filter(|v| !v.is_default_version) {
        delete_policy_version(client, arn, &version.version_id).await?;
    }
    gone(client.query(Service::Iam, "DeletePolicy", &[("PolicyArn", arn.to_owned())]).await)
}

/// `TagPolicy` / `UntagPolicy` to go from `before` to `after`.
pub async fn retag_policy(
    client: &AwsClient,
    arn: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    if !removed.is_empty() {
        let mut params = vec![("PolicyArn".to_owned(), arn.to_owned())];
        for (i, key) in removed.iter().enumerate() {
            params.push((format!("TagKeys.member.{}", i + 1), (*key).clone()));
        }
        let _: Empty = client.query(Service::Iam, "UntagPolicy", &borrowed(&params)).await?;
    }
    let changed: BTreeMap<String, String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !changed.is_empty() {
        let mut params = vec![("PolicyArn".to_owned(), arn.to_owned())];
        params.extend(tag_params(&changed));
        let _: Empty = client.query(Service::Iam, "TagPolicy", &borrowed(&params)).await?;
    }
    Ok(())
}

/// `ListPolicyTags`, every page.
pub async fn policy_tags(
    client: &AwsClient,
    arn: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let tags: Vec<Tag> =
        list_all(client, "ListPolicyTags", &[("PolicyArn", arn.to_owned())]).await?;
    Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
}

/// `ListGroupsForUser`, every page; `None` when the user does not exist.
pub async fn groups_for_user(
    client: &AwsClient,
    user: &str,
) -> Result<Option<Vec<String>>, ProviderError> {
    let groups: Option<Vec<Group>> =
        found(list_all(client, "ListGroupsForUser", &[("UserName", user.to_owned())]).await)?;
    Ok(groups.map(|groups| groups.into_iter().map(|g| g.group_name).collect()))
}

/// `AddUserToGroup`.
pub async fn add_user_to_group(
    client: &AwsClient,
    user: &str,
    group: &str,
) -> Result<(), ProviderError> {
    let _: Empty = client
        .query(
            Service::Iam,
            "AddUserToGroup",
            &[("GroupName", group.to_owned()), ("UserName", user.to_owned())],
        )
        .await?;
    Ok(())
}

/// `RemoveUserFromGroup`; a membership already gone is removed.
pub async fn remove_user_from_group(
    client: &AwsClient,
    user: &str,
    group: &str,
) -> Result<(), ProviderError> {
    gone(
        client
            .query(
                Service::Iam,
                "RemoveUserFromGroup",
                &[("GroupName", group.to_owned()), ("UserName", user.to_owned())],
            )
            .await,
    )
}

/// Which parts of the account `GetAccountAuthorizationDetails` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Filter {
    /// Roles, with their inline policies, attachments and tags.
    Role,
    /// Users, with their groups.
    User,
    /// Groups, with their attachments.
    Group,
    /// Customer managed policies, with their versions.
    LocalManagedPolicy,
}

impl Filter {
    fn as_str(self) -> &'static str {
        match self {
            Filter::Role => "Role",
            Filter::User => "User",
            Filter::Group => "Group",
            Filter::LocalManagedPolicy => "LocalManagedPolicy",
        }
    }
}

/// `GetAccountAuthorizationDetails` for `filters`, every page added up: a whole account's IAM
/// in a few calls.
pub async fn authorization_details(
    client: &AwsClient,
    filters: &[Filter],
) -> Result<AuthorizationDetails, ProviderError> {
    let mut all = AuthorizationDetails::default();
    let mut marker: Option<String> = None;
    loop {
        let mut params: Vec<(String, String)> = filters
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("Filter.member.{}", i + 1), f.as_str().to_owned()))
            .collect();
        params.push(("MaxItems".to_owned(), "1000".to_owned()));
        if let Some(marker) = &marker {
            params.push(("Marker".to_owned(), marker.clone()));
        }
        let page: AuthorizationDetails = client
            .query(Service::Iam, "GetAccountAuthorizationDetails", &borrowed(&params))
            .await?;
        all.user_detail_list.member.extend(page.user_detail_list.member);
        all.group_detail_list.member.extend(page.group_detail_list.member);
        all.role_detail_list.member.extend(page.role_detail_list.member);
        all.policies.member.extend(page.policies.member);
        match (page.is_truncated, page.marker) {
            (true, Some(next)) => marker = Some(next),
            _ => break,
        }
    }
    Ok(all)
}
