//! The IAM Identity Center calls the provider makes (JSON protocol): sso-admin for permission
//! sets and account assignments, identitystore to turn user and group names into ids.
//!
//! References: <https://docs.aws.amazon.com/singlesignon/latest/APIReference/welcome.html> and
//! <https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/welcome.html>.
//! Lists are paged with `NextToken`. Account assignments are created and deleted
//! asynchronously: the call returns a request id whose status is polled until it is
//! `SUCCEEDED` or `FAILED`.

use breakglass_provider::{ErrorKind, ProviderError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

use crate::client::{AwsClient, Service};
use crate::error::found;

/// An Identity Center instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    /// Its ARN.
    pub instance_arn: String,
    /// Its identity store.
    #[serde(default)]
    pub identity_store_id: String,
}

/// A permission set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSet {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub permission_set_arn: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// ISO 8601 duration of sessions (`PT1H`).
    #[serde(default, deserialize_with = "iso_duration")]
    pub session_duration: Option<String>,
    /// Where users land after sign-in.
    #[serde(default)]
    pub relay_state: Option<String>,
}

/// AWS answers `SessionDuration` as an ISO 8601 string (`PT1H`); some emulators answer the
/// default as a number of seconds, which is turned into the same string.
fn iso_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        Some(Value::Number(seconds)) => seconds.as_u64().map(|s| {
            let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
            let mut text = "PT".to_owned();
            for (n, unit) in [(h, 'H'), (m, 'M'), (s, 'S')] {
                if n > 0 {
                    text.push_str(&format!("{n}{unit}"));
                }
            }
            if text == "PT" { "PT0S".to_owned() } else { text }
        }),
        _ => None,
    })
}

/// One account assignment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AccountAssignment {
    /// The account.
    pub account_id: String,
    /// The permission set.
    pub permission_set_arn: String,
    /// `USER` or `GROUP`.
    pub principal_type: String,
    /// The identity store id of the user or group.
    pub principal_id: String,
}

/// The status of an asynchronous assignment request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationStatus {
    /// `IN_PROGRESS`, `FAILED` or `SUCCEEDED`.
    #[serde(default)]
    pub status: Option<String>,
    /// The request to poll.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// The ways an assignment is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentKey {
    /// The instance.
    pub instance_arn: String,
    /// The account (`TargetId`).
    pub target_id: String,
    /// `AWS_ACCOUNT`.
    pub target_type: String,
    /// The permission set.
    pub permission_set_arn: String,
    /// `USER` or `GROUP`.
    pub principal_type: String,
    /// The user or group id.
    pub principal_id: String,
}

/// `ListInstances`, every page.
pub async fn instances(client: &AwsClient) -> Result<Vec<Instance>, ProviderError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Page {
        #[serde(default)]
        instances: Vec<Instance>,
        #[serde(default)]
        next_token: Option<String>,
    }
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page: Page = client.json(Service::SsoAdmin, "ListInstances", &body).await?;
        all.extend(page.instances);
        match page.next_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(all)
}

/// `ListPermissionSets`, every page: permission set ARNs.
pub async fn permission_set_arns(
    client: &AwsClient,
    instance: &str,
) -> Result<Vec<String>, ProviderError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Page {
        #[serde(default)]
        permission_sets: Vec<String>,
        #[serde(default)]
        next_token: Option<String>,
    }
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"InstanceArn": instance, "MaxResults": 100});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page: Page = client.json(Service::SsoAdmin, "ListPermissionSets", &body).await?;
        all.extend(page.permission_sets);
        match page.next_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(all)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct PermissionSetAnswer {
    #[serde(default)]
    permission_set: Option<PermissionSet>,
}

/// `DescribePermissionSet`, or `None` when it does not exist.
pub async fn describe_permission_set(
    client: &AwsClient,
    instance: &str,
    arn: &str,
) -> Result<Option<PermissionSet>, ProviderError> {
    let body = json!({"InstanceArn": instance, "PermissionSetArn": arn});
    let answer = found(
        client.json::<PermissionSetAnswer>(Service::SsoAdmin, "DescribePermissionSet", &body).await,
    )?;
    Ok(answer.and_then(|answer| answer.permission_set))
}

/// The settable fields of a permission set.
#[derive(Debug, Clone, Default)]
pub struct PermissionSetFields {
    /// Description.
    pub description: Option<String>,
    /// ISO 8601 session duration.
    pub session_duration: Option<String>,
    /// Relay state.
    pub relay_state: Option<String>,
}

impl PermissionSetFields {
    fn into_body(self, mut body: Value) -> Value {
        if let Some(description) = self.description {
            body["Description"] = json!(description);
        }
        if let Some(duration) = self.session_duration {
            body["SessionDuration"] = json!(duration);
        }
        if let Some(relay) = self.relay_state {
            body["RelayState"] = json!(relay);
        }
        body
    }
}

/// `CreatePermissionSet`.
pub async fn create_permission_set(
    client: &AwsClient,
    instance: &str,
    name: &str,
    fields: PermissionSetFields,
) -> Result<PermissionSet, ProviderError> {
    let body = fields.into_body(json!({"InstanceArn": instance, "Name": name}));
    let answer: PermissionSetAnswer =
        client.json(Service::SsoAdmin, "CreatePermissionSet", &body).await?;
    answer.permission_set.ok_or_else(|| {
        ProviderError::protocol(
            "aws: sso-admin CreatePermissionSet answered without a PermissionSet",
        )
    })
}

/// `UpdatePermissionSet`.
pub async fn update_permission_set(
    client: &AwsClient,
    instance: &str,
    arn: &str,
    fields: PermissionSetFields,
) -> Result<(), ProviderError> {
    let body = fields.into_body(json!({"InstanceArn": instance, "PermissionSetArn": arn}));
    let _: Value = client.json(Service::SsoAdmin, "UpdatePermissionSet", &body).await?;
    Ok(())
}

/// `DeletePermissionSet`; one already gone is deleted.
pub async fn delete_permission_set(
    client: &AwsClient,
    instance: &str,
    arn: &str,
) -> Result<(), ProviderError> {
    let body = json!({"InstanceArn": instance, "PermissionSetArn": arn});
    match client.json::<Value>(Service::SsoAdmin, "DeletePermissionSet", &body).await {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// `ListAccountAssignments` of one permission set in one account, every page.
pub async fn account_assignments(
    client: &AwsClient,
    instance: &str,
    account: &str,
    permission_set: &str,
) -> Result<Vec<AccountAssignment>, ProviderError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Page {
        #[serde(default)]
        account_assignments: Vec<AccountAssignment>,
        #[serde(default)]
        next_token: Option<String>,
    }
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({
            "InstanceArn": instance, "AccountId": account, "PermissionSetArn": permission_set,
            "MaxResults": 100
        });
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page: Page = match client.json(Service::SsoAdmin, "ListAccountAssignments", &body).await
        {
            Ok(page) => page,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(all),
            Err(error) => return Err(error),
        };
        all.extend(page.account_assignments);
        match page.next_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(all)
}

fn assignment_body(key: &AssignmentKey) -> Value {
    json!({
        "InstanceArn": key.instance_arn,
        "TargetId": key.target_id,
        "TargetType": key.target_type,
        "PermissionSetArn": key.permission_set_arn,
        "PrincipalType": key.principal_type,
        "PrincipalId": key.principal_id,
    })
}

/// How the provider polls an asynchronous request.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    /// The first wait; it doubles up to 5 s.
    pub first: Duration,
    /// How long to keep polling before giving up.
    pub timeout: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Self { first: Duration::from_millis(200), timeout: Duration::from_secs(300) }
    }
}

/// An asynchronous operation: its name, the call that reports its status, and the fields of
/// that call.
struct Operation {
    what: &'static str,
    describe: &'static str,
    id_field: &'static str,
    status_field: &'static str,
}

const CREATION: Operation = Operation {
    what: "CreateAccountAssignment",
    describe: "DescribeAccountAssignmentCreationStatus",
    id_field: "AccountAssignmentCreationRequestId",
    status_field: "AccountAssignmentCreationStatus",
};

const DELETION: Operation = Operation {
    what: "DeleteAccountAssignment",
    describe: "DescribeAccountAssignmentDeletionStatus",
    id_field: "AccountAssignmentDeletionRequestId",
    status_field: "AccountAssignmentDeletionStatus",
};

const PROVISIONING: Operation = Operation {
    what: "ProvisionPermissionSet",
    describe: "DescribePermissionSetProvisioningStatus",
    id_field: "ProvisionPermissionSetRequestId",
    status_field: "PermissionSetProvisioningStatus",
};

/// Pushes a changed permission set to the accounts it is provisioned to
/// (`ListAccountsForProvisionedPermissionSet`, then `ProvisionPermissionSet` for
/// `ALL_PROVISIONED_ACCOUNTS`, polled until done): AWS applies a changed session duration or
/// relay state to an account only when the set is provisioned there again.
/// <https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_ProvisionPermissionSet.html>
pub async fn reprovision(
    client: &AwsClient,
    instance: &str,
    permission_set: &str,
    polling: Polling,
) -> Result<bool, ProviderError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Accounts {
        #[serde(default)]
        account_ids: Vec<String>,
    }
    let body = json!({"InstanceArn": instance, "PermissionSetArn": permission_set});
    let accounts: Accounts =
        client.json(Service::SsoAdmin, "ListAccountsForProvisionedPermissionSet", &body).await?;
    if accounts.account_ids.is_empty() {
        return Ok(false);
    }
    let body = json!({"InstanceArn": instance, "PermissionSetArn": permission_set,
                      "TargetType": "ALL_PROVISIONED_ACCOUNTS"});
    let answer: Value = client.json(Service::SsoAdmin, "ProvisionPermissionSet", &body).await?;
    let status: OperationStatus = serde_json::from_value(
        answer.get("PermissionSetProvisioningStatus").cloned().unwrap_or(Value::Null),
    )
    .map_err(|error| {
        ProviderError::protocol(format!("aws: sso-admin ProvisionPermissionSet: {error}"))
    })?;
    wait_for(client, instance, &PROVISIONING, status, polling).await?;
    Ok(true)
}

/// Polls a creation or deletion request until it succeeds (`Ok`) or fails (an error with
/// AWS's reason).
async fn wait_for(
    client: &AwsClient,
    instance: &str,
    operation: &Operation,
    first: OperationStatus,
    polling: Polling,
) -> Result<(), ProviderError> {
    let Operation { what, describe, id_field, status_field } = *operation;
    let mut status = first;
    let mut wait = polling.first;
    let started = std::time::Instant::now();
    loop {
        match status.status.as_deref() {
            Some("SUCCEEDED") => return Ok(()),
            Some("FAILED") => {
                return Err(ProviderError::invalid(format!(
                    "aws: sso-admin {what} failed: {}",
                    status.failure_reason.as_deref().unwrap_or("AWS gave no reason")
                )));
            }
            _ => {}
        }
        let Some(request_id) = status.request_id.clone() else {
            return Err(ProviderError::protocol(format!(
                "aws: sso-admin {what} answered status {:?} without a request id to poll",
                status.status
            )));
        };
        if started.elapsed() > polling.timeout {
            return Err(ProviderError::transient(format!(
                "aws: sso-admin {what} was still {} after {:?} (request {request_id}); run \
                 apply again to check it",
                status.status.as_deref().unwrap_or("pending"),
                polling.timeout
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
        let body = json!({"InstanceArn": instance, id_field: request_id});
        let answer: Value = client.json(Service::SsoAdmin, describe, &body).await?;
        status = serde_json::from_value(answer.get(status_field).cloned().unwrap_or(Value::Null))
            .map_err(|error| {
            ProviderError::protocol(format!(
                "aws: sso-admin {describe}: unexpected answer: {error}"
            ))
        })?;
    }
}

/// `CreateAccountAssignment`, then polls `DescribeAccountAssignmentCreationStatus` until done.
pub async fn create_account_assignment(
    client: &AwsClient,
    key: &AssignmentKey,
    polling: Polling,
) -> Result<(), ProviderError> {
    let answer: Value =
        client.json(Service::SsoAdmin, "CreateAccountAssignment", &assignment_body(key)).await?;
    let status: OperationStatus = serde_json::from_value(
        answer.get("AccountAssignmentCreationStatus").cloned().unwrap_or(Value::Null),
    )
    .map_err(|error| {
        ProviderError::protocol(format!("aws: sso-admin CreateAccountAssignment: {error}"))
    })?;
    wait_for(client, &key.instance_arn, &CREATION, status, polling).await
}

/// `DeleteAccountAssignment`, then polls `DescribeAccountAssignmentDeletionStatus` until done.
pub async fn delete_account_assignment(
    client: &AwsClient,
    key: &AssignmentKey,
    polling: Polling,
) -> Result<(), ProviderError> {
    let answer: Value = match client
        .json(Service::SsoAdmin, "DeleteAccountAssignment", &assignment_body(key))
        .await
    {
        Ok(answer) => answer,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    let status: OperationStatus = serde_json::from_value(
        answer.get("AccountAssignmentDeletionStatus").cloned().unwrap_or(Value::Null),
    )
    .map_err(|error| {
        ProviderError::protocol(format!("aws: sso-admin DeleteAccountAssignment: {error}"))
    })?;
    wait_for(client, &key.instance_arn, &DELETION, status, polling).await
}

/// identitystore `GetUserId` (by `userName`) or `GetGroupId` (by `displayName`), or `None`.
pub async fn principal_id(
    client: &AwsClient,
    identity_store: &str,
    principal_type: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let (operation, path, field) = match principal_type {
        "GROUP" => ("GetGroupId", "displayName", "GroupId"),
        _ => ("GetUserId", "userName", "UserId"),
    };
    let body = json!({
        "IdentityStoreId": identity_store,
        "AlternateIdentifier": {"UniqueAttribute": {"AttributePath": path, "AttributeValue": name}}
    });
    let answer = found(client.json::<Value>(Service::IdentityStore, operation, &body).await)?;
    Ok(answer.and_then(|a| a.get(field).and_then(Value::as_str).map(str::to_owned)))
}

/// `GetInlinePolicyForPermissionSet`: the permission set's one inline policy, or `None`.
/// <https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_GetInlinePolicyForPermissionSet.html>
pub async fn inline_policy(
    client: &AwsClient,
    instance: &str,
    permission_set: &str,
) -> Result<Option<Value>, ProviderError> {
    let body = json!({"InstanceArn": instance, "PermissionSetArn": permission_set});
    let answer: Value =
        client.json(Service::SsoAdmin, "GetInlinePolicyForPermissionSet", &body).await?;
    match answer.get("InlinePolicy").and_then(Value::as_str).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text).map(Some).map_err(|error| {
            ProviderError::protocol(format!(
                "aws: the inline policy of permission set {permission_set} is not JSON: {error}"
            ))
        }),
    }
}

/// `PutInlinePolicyToPermissionSet` (replaces the whole document), or
/// `DeleteInlinePolicyFromPermissionSet` when `document` is `None`.
/// <https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_PutInlinePolicyToPermissionSet.html>
pub async fn set_inline_policy(
    client: &AwsClient,
    instance: &str,
    permission_set: &str,
    document: Option<&Value>,
) -> Result<(), ProviderError> {
    let mut body = json!({"InstanceArn": instance, "PermissionSetArn": permission_set});
    let operation = match document {
        Some(document) => {
            body["InlinePolicy"] = json!(document.to_string());
            "PutInlinePolicyToPermissionSet"
        }
        None => "DeleteInlinePolicyFromPermissionSet",
    };
    let _: Value = client.json(Service::SsoAdmin, operation, &body).await?;
    Ok(())
}

/// identitystore `DescribeUser`: the user's `UserName`, or `None`.
/// <https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_DescribeUser.html>
pub async fn user_name(
    client: &AwsClient,
    identity_store: &str,
    user_id: &str,
) -> Result<Option<String>, ProviderError> {
    let body = json!({"IdentityStoreId": identity_store, "UserId": user_id});
    let answer = found(client.json::<Value>(Service::IdentityStore, "DescribeUser", &body).await)?;
    Ok(answer.and_then(|a| a.get("UserName").and_then(Value::as_str).map(str::to_owned)))
}
