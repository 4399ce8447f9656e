//! One module per resource type: its natural id, and how it is read, listed, created,
//! updated and deleted. They share the [`Context`] and the attribute helpers below.

pub mod account_assignment;
pub mod attachment;
pub mod membership;
pub mod permission_set;
pub mod policy;
pub mod role;
pub mod role_policy;

use breakglass_provider::{Attributes, ProviderError, Value};
use std::collections::{BTreeMap, BTreeSet};

use crate::client::AwsClient;
use crate::config::AwsConfig;
use crate::snapshot::SnapshotCache;
use crate::sso::Polling;

/// What every resource operation may use.
#[derive(Debug)]
pub struct Context<'a> {
    /// The signed client (a counting clone).
    pub client: &'a AwsClient,
    /// The configuration.
    pub config: &'a AwsConfig,
    /// The shared account snapshot.
    pub cache: &'a SnapshotCache,
    /// How asynchronous Identity Center requests are polled.
    pub polling: Polling,
    /// Identity Center look-ups already made.
    pub sso: &'a SsoCache,
}

/// Identity Center look-ups kept for the life of the provider: instances, and permission set
/// ARNs by name (names are unique per instance; ARNs never change).
#[derive(Debug, Default)]
pub struct SsoCache {
    /// Held while a permission set's inline policy is read, changed and written back: grants
    /// applied in parallel each add their own expiry statement to the one shared document.
    pub inline_policy_edits: tokio::sync::Mutex<()>,
    instances: tokio::sync::Mutex<Option<Vec<crate::sso::Instance>>>,
    permission_sets: tokio::sync::Mutex<BTreeMap<(String, String), String>>,
}

impl SsoCache {
    /// The instance `declared`, or the account's only instance.
    pub async fn instance(
        &self,
        client: &AwsClient,
        declared: Option<&str>,
    ) -> Result<crate::sso::Instance, ProviderError> {
        let mut instances = self.instances.lock().await;
        if instances.is_none() {
            *instances = Some(crate::sso::instances(client).await?);
        }
        let all = instances.as_deref().unwrap_or_default();
        match declared {
            Some(arn) => all.iter().find(|i| i.instance_arn == arn).cloned().ok_or_else(|| {
                ProviderError::invalid(format!(
                    "aws: IAM Identity Center instance {arn} is not among this account's instances ({})",
                    all.iter().map(|i| i.instance_arn.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }),
            None => match all {
                [only] => Ok(only.clone()),
                [] => Err(ProviderError::invalid(
                    "aws: this account has no IAM Identity Center instance; enable Identity Center \
                     or set instance_arn",
                )),
                _ => Err(ProviderError::invalid(format!(
                    "aws: this account has {} IAM Identity Center instances; set instance_arn",
                    all.len()
                ))),
            },
        }
    }

    /// The ARN of the permission set `name` in `instance`, or `None`. Look-ups are made one at
    /// a time, so concurrent reads share what earlier ones found.
    pub async fn permission_set_arn(
        &self,
        client: &AwsClient,
        instance: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        let key = (instance.to_owned(), name.to_owned());
        let mut known = self.permission_sets.lock().await;
        if let Some(arn) = known.get(&key) {
            return Ok(Some(arn.clone()));
        }
        for arn in crate::sso::permission_set_arns(client, instance).await? {
            if known.values().any(|a| *a == arn) {
                continue;
            }
            if let Some(set) = crate::sso::describe_permission_set(client, instance, &arn).await? {
                known.insert((instance.to_owned(), set.name.clone()), arn.clone());
                if set.name == name {
                    return Ok(Some(arn));
                }
            }
        }
        Ok(None)
    }

    /// Records a permission set's ARN.
    pub async fn remember(&self, instance: &str, name: &str, arn: &str) {
        self.permission_sets
            .lock()
            .await
            .insert((instance.to_owned(), name.to_owned()), arn.to_owned());
    }

    /// Forgets a deleted permission set.
    pub async fn forget(&self, instance: &str, name: &str) {
        self.permission_sets.lock().await.remove(&(instance.to_owned(), name.to_owned()));
    }
}

/// Listed objects and which of them are privileged.
pub type Listing = (BTreeMap<String, Attributes>, BTreeSet<String>);

/// A required string attribute.
pub fn required<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<&'a str, ProviderError> {
    attributes.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| {
        ProviderError::invalid(format!("{resource_type}: `{name}` must be set to a string"))
    })
}

/// An optional string attribute.
pub fn optional(attributes: &Attributes, name: &str) -> Option<String> {
    attributes.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// An optional whole number.
pub fn number(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Option<u64>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            ProviderError::invalid(format!(
                "{resource_type}: `{name}` must be a whole number, got {value}"
            ))
        }),
    }
}

/// A map of strings (tags).
pub fn string_map(attributes: &Attributes, name: &str) -> BTreeMap<String, String> {
    attributes
        .get(name)
        .and_then(Value::as_object)
        .map(|map| {
            map.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
        })
        .unwrap_or_default()
}

/// A list of strings.
pub fn string_list(attributes: &Attributes, name: &str) -> Vec<String> {
    attributes
        .get(name)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A JSON document attribute, parsed.
pub fn document(
    attributes: &Attributes,
    resource_type: &str,
    name: &str,
) -> Result<Value, ProviderError> {
    let value = attributes
        .get(name)
        .ok_or_else(|| ProviderError::invalid(format!("{resource_type}: `{name}` must be set")))?;
    crate::document::parse(value).ok_or_else(|| {
        ProviderError::invalid(format!("{resource_type}: `{name}` must be a JSON policy document"))
    })
}

/// Tags as an attribute value.
pub fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    Value::Object(tags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// The names of the scope's objects' `attribute` (the containers a listing looks in).
pub fn scope_names(scope: &[Attributes], attribute: &str) -> BTreeSet<String> {
    scope.iter().filter_map(|a| optional(a, attribute)).collect()
}

/// The inline policies the provider itself puts on principals, which listings leave out.
pub fn is_provider_owned(policy_name: &str) -> bool {
    policy_name.starts_with(attachment::GUARD_PREFIX) || policy_name == REVOCATION_POLICY
}

/// The name of the inline policy that revokes a principal's older sessions.
pub const REVOCATION_POLICY: &str = "breakglass-revoke-sessions";

/// Now, to the second, as AWS condition values are written.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

/// Revokes the role's sessions issued before now (AWS's `aws:TokenIssueTime` pattern), and
/// returns a note for the audit log.
pub async fn revoke_role_sessions(ctx: &Context<'_>, role: &str) -> Result<String, ProviderError> {
    let now = now_rfc3339();
    let document = crate::document::revocation(&now).to_string();
    crate::iam::put_role_policy(ctx.client, role, REVOCATION_POLICY, &document).await?;
    ctx.cache.invalidate();
    Ok(format!(
        "revoked every session of role {role} issued before {now} (inline policy {REVOCATION_POLICY})"
    ))
}

/// Revokes the user's temporary sessions issued before now, and returns a note.
pub async fn revoke_user_sessions(ctx: &Context<'_>, user: &str) -> Result<String, ProviderError> {
    let now = now_rfc3339();
    let document = crate::document::revocation(&now).to_string();
    crate::iam::put_user_policy(ctx.client, user, REVOCATION_POLICY, &document).await?;
    ctx.cache.invalidate();
    Ok(format!(
        "revoked every temporary session of user {user} issued before {now} (inline policy \
         {REVOCATION_POLICY})"
    ))
}
