//! `aws_iam_role_policy`: id is `ROLE:NAME`.
//!
//! **Native expiry.** With `expires_at` (set by the engine to the activation's end for inline
//! policies a role grant creates), every `Allow` statement is written with
//! `DateLessThan aws:CurrentTime` at that time, so AWS stops honouring it by itself. Reading
//! back reports the stored document and the end found in it; [`policy_equal`] lets the
//! declared document match a stored one that differs only by that condition.
//!
//! **Revocation that sticks.** Deleting one to take back an activation's access also revokes
//! the role's sessions issued before now.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;

use super::{
    Context, Listing, is_provider_owned, optional, required, revoke_role_sessions, scope_names,
};
use crate::document;
use crate::iam;
use crate::schema::ROLE_POLICY;
use crate::snapshot::Snapshot;
use crate::xml::policy_document;

/// The natural id: role and name.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let name = required(attributes, ROLE_POLICY, "name")?;
    if is_provider_owned(name) {
        return Err(ProviderError::invalid(format!(
            "{ROLE_POLICY}: the name {name:?} is reserved for policies breakglass writes itself"
        )));
    }
    Ok(format!("{}:{name}", required(attributes, ROLE_POLICY, "role")?))
}

fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once(':')
        .ok_or_else(|| ProviderError::invalid(format!("{ROLE_POLICY}: {id:?} is not ROLE:NAME")))
}

/// Whether a declared document and a stored one mean the same, the end time aside.
pub fn policy_equal(desired: &Value, live: &Value) -> bool {
    document::equivalent(desired, live)
        || document::parse(live)
            .is_some_and(|l| document::equivalent(desired, &document::without_expiry(&l)))
}

fn attributes_of(role: &str, name: &str, stored: &str) -> Attributes {
    let parsed = serde_json::from_str::<Value>(stored).unwrap_or(Value::Null);
    let mut attributes = Attributes::new();
    attributes.insert("role".into(), json!(role));
    attributes.insert("name".into(), json!(name));
    attributes.insert("policy".into(), json!(stored));
    attributes.insert(
        "expires_at".into(),
        document::expiry_of(&parsed).map_or(Value::Null, Value::String),
    );
    attributes
}

/// `GetRolePolicy`.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let (role, name) = split(id)?;
    Ok(iam::get_role_policy(ctx.client, role, name)
        .await?
        .map(|stored| attributes_of(role, name, &stored)))
}

/// Inline policies of the roles in scope (those the provider owns left out).
pub fn list(snapshot: &Snapshot, scope: &[Attributes]) -> Listing {
    let roles = scope_names(scope, "role");
    let objects = roles
        .iter()
        .filter_map(|role| snapshot.roles.get(role))
        .flat_map(|detail| {
            detail
                .role_policy_list
                .member
                .iter()
                .filter(|p| !is_provider_owned(&p.policy_name))
                .map(|p| {
                    (
                        format!("{}:{}", detail.role_name, p.policy_name),
                        attributes_of(
                            &detail.role_name,
                            &p.policy_name,
                            &policy_document(&p.policy_document),
                        ),
                    )
                })
        })
        .collect();
    (objects, Default::default())
}

/// `PutRolePolicy` (create and update alike: it replaces the document).
pub async fn put(
    ctx: &Context<'_>,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (role, name) = split(id)?;
    let mut policy = super::document(attributes, ROLE_POLICY, "policy")?;
    if let Some(end) = optional(attributes, "expires_at") {
        let end = end.parse::<jiff::Timestamp>().map_err(|error| {
            ProviderError::invalid(format!(
                "{ROLE_POLICY} {id}: `expires_at` is not an RFC 3339 time: {error}"
            ))
        })?;
        policy = document::with_expiry(&document::without_expiry(&policy), &end.to_string());
    }
    ctx.cache.invalidate();
    let stored = policy.to_string();
    iam::put_role_policy(ctx.client, role, name, &stored)
        .await
        .map_err(|e| e.context(format!("{ROLE_POLICY} {id}")))?;
    Ok(attributes_of(role, name, &stored))
}

/// `DeleteRolePolicy`; on a revert, revokes the role's older sessions too.
pub async fn delete(
    ctx: &Context<'_>,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let (role, name) = split(id)?;
    ctx.cache.invalidate();
    iam::delete_role_policy(ctx.client, role, name).await?;
    let mut notes = Vec::new();
    if context.revert && iam::get_role(ctx.client, role).await?.is_some() {
        notes.push(revoke_role_sessions(ctx, role).await?);
    }
    Ok(notes)
}
