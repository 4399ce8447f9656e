//! `aws_iam_role_policy_attachment`: id is `ROLE/POLICY_ARN`.
//!
//! **Native expiry.** An attachment cannot carry a condition, so when `expires_at` is set (the
//! engine sets it to the activation's end for attachments a role grant creates) the provider
//! puts a guard beside it: an inline policy on the role, `breakglass-expiry-…`, that denies
//! everything from `expires_at` on (see [`crate::document::expiry_guard`]). The role loses the
//! access at the end even if no reconciler ever runs again. The guard is named after the
//! attached policy, is read back as `expires_at`, and goes with the attachment.
//!
//! **Revocation that sticks.** Deleting an attachment to take back an activation's access
//! (`ChangeContext.revert`) also puts `breakglass-revoke-sessions` on the role: a deny on
//! sessions issued before now (`aws:TokenIssueTime`), AWS's documented way to end a role's
//! active sessions, so a session opened during the grant cannot outlive it.
//!
//! **Drift.** Listing returns every attachment of the roles in scope, and every attachment of
//! a `privileged_policies` policy anywhere in the account, marked privileged.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Listing, optional, required, revoke_role_sessions, scope_names};
use crate::document;
use crate::iam;
use crate::schema::ATTACHMENT;
use crate::snapshot::Snapshot;
use crate::xml::policy_document;

/// The prefix of guard policies' names.
pub const GUARD_PREFIX: &str = "breakglass-expiry-";

/// The natural id: role and policy ARN.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    Ok(format!(
        "{}/{}",
        required(attributes, ATTACHMENT, "role")?,
        required(attributes, ATTACHMENT, "policy_arn")?
    ))
}

fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/').filter(|(role, arn)| !role.is_empty() && arn.starts_with("arn:")).ok_or_else(
        || ProviderError::invalid(format!("{ATTACHMENT}: {id:?} is not ROLE/POLICY_ARN")),
    )
}

/// The guard's name for an attached policy: readable, unique per ARN, within IAM's 128.
pub fn guard_name(policy_arn: &str) -> String {
    let name: String =
        policy_arn.rsplit('/').next().unwrap_or(policy_arn).chars().take(90).collect();
    let digest = hex::encode(Sha256::digest(policy_arn.as_bytes()));
    format!("{GUARD_PREFIX}{name}-{}", &digest[..8])
}

fn attributes_of(role: &str, arn: &str, expires_at: Option<String>) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("role".into(), json!(role));
    attributes.insert("policy_arn".into(), json!(arn));
    attributes.insert("expires_at".into(), expires_at.map_or(Value::Null, Value::String));
    attributes
}

fn guard_end(encoded: &str) -> Option<String> {
    serde_json::from_str::<Value>(&policy_document(encoded))
        .ok()
        .and_then(|d| document::guard_end(&d))
}

/// `ListAttachedRolePolicies` and `GetRolePolicy` for the guard.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let (role, arn) = split(id)?;
    let Some(attached) = iam::attached_role_policies(ctx.client, role).await? else {
        return Ok(None);
    };
    if !attached.iter().any(|a| a.policy_arn == arn) {
        return Ok(None);
    }
    let guard = iam::get_role_policy(ctx.client, role, &guard_name(arn)).await?;
    Ok(Some(attributes_of(role, arn, guard.and_then(|g| guard_end(&g)))))
}

/// Attachments of the roles in scope, and privileged attachments anywhere.
pub fn list(
    snapshot: &Snapshot,
    scope: &[Attributes],
    privileged_policies: &BTreeSet<String>,
) -> Listing {
    let roles = scope_names(scope, "role");
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    for detail in snapshot.roles.values() {
        let in_scope = roles.contains(&detail.role_name);
        let guards: BTreeMap<&str, &str> = detail
            .role_policy_list
            .member
            .iter()
            .map(|p| (p.policy_name.as_str(), p.policy_document.as_str()))
            .collect();
        for attached in &detail.attached_managed_policies.member {
            let is_privileged = privileged_policies.contains(&attached.policy_arn);
            if !in_scope && !is_privileged {
                continue;
            }
            let id = format!("{}/{}", detail.role_name, attached.policy_arn);
            let expires_at =
                guards.get(guard_name(&attached.policy_arn).as_str()).and_then(|g| guard_end(g));
            objects.insert(
                id.clone(),
                attributes_of(&detail.role_name, &attached.policy_arn, expires_at),
            );
            if is_privileged {
                privileged.insert(id);
            }
        }
    }
    (objects, privileged)
}

async fn put_guard(
    ctx: &Context<'_>,
    role: &str,
    arn: &str,
    end: &str,
) -> Result<(), ProviderError> {
    let end = end.parse::<jiff::Timestamp>().map_err(|error| {
        ProviderError::invalid(format!(
            "{ATTACHMENT} {role}/{arn}: `expires_at` is not an RFC 3339 time: {error}"
        ))
    })?;
    let guard = document::expiry_guard(&end.to_string()).to_string();
    iam::put_role_policy(ctx.client, role, &guard_name(arn), &guard).await
}

/// `AttachRolePolicy` (attaching twice is a no-op in IAM), then the guard when `expires_at`
/// is set. If the guard cannot be written the attachment is taken back, so access never
/// stands without its end.
pub async fn create(
    ctx: &Context<'_>,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (role, arn) = split(id)?;
    ctx.cache.invalidate();
    iam::attach_role_policy(ctx.client, role, arn)
        .await
        .map_err(|e| e.context(format!("{ATTACHMENT} {id}")))?;
    let expires_at = optional(attributes, "expires_at");
    if let Some(end) = &expires_at
        && let Err(error) = put_guard(ctx, role, arn, end).await
    {
        let _ = iam::detach_role_policy(ctx.client, role, arn).await;
        return Err(error.context(format!(
            "{ATTACHMENT} {id}: the expiry guard could not be written, so the attachment was taken back"
        )));
    }
    Ok(attributes_of(role, arn, expires_at))
}

/// Moves, adds or removes the guard (`expires_at` is the only attribute that changes in place).
pub async fn update(
    ctx: &Context<'_>,
    id: &str,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (role, arn) = split(id)?;
    ctx.cache.invalidate();
    let expires_at = optional(after, "expires_at");
    match &expires_at {
        Some(end) => put_guard(ctx, role, arn, end).await?,
        None => iam::delete_role_policy(ctx.client, role, &guard_name(arn)).await?,
    }
    Ok(attributes_of(role, arn, expires_at))
}

/// `DetachRolePolicy` and the guard; on a revert, revokes the role's older sessions too.
pub async fn delete(
    ctx: &Context<'_>,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let (role, arn) = split(id)?;
    ctx.cache.invalidate();
    iam::detach_role_policy(ctx.client, role, arn)
        .await
        .map_err(|e| e.context(format!("{ATTACHMENT} {id}")))?;
    iam::delete_role_policy(ctx.client, role, &guard_name(arn)).await?;
    let mut notes = Vec::new();
    if context.revert && iam::get_role(ctx.client, role).await?.is_some() {
        notes.push(revoke_role_sessions(ctx, role).await?);
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_guard_names() {
        let mut attributes = Attributes::new();
        attributes.insert("role".into(), json!("breakglass-admin"));
        attributes
            .insert("policy_arn".into(), json!("arn:aws:iam::aws:policy/AdministratorAccess"));
        let id = id(&attributes).unwrap();
        assert_eq!(id, "breakglass-admin/arn:aws:iam::aws:policy/AdministratorAccess");
        assert_eq!(
            split(&id).unwrap(),
            ("breakglass-admin", "arn:aws:iam::aws:policy/AdministratorAccess")
        );
        assert!(split("no-arn").is_err());
        let guard = guard_name("arn:aws:iam::aws:policy/AdministratorAccess");
        assert!(guard.starts_with("breakglass-expiry-AdministratorAccess-"), "{guard}");
        assert_ne!(guard, guard_name("arn:aws:iam::123456789012:policy/other/AdministratorAccess"));
        assert!(guard_name(&format!("arn:aws:iam::1:policy/{}", "x".repeat(200))).len() <= 128);
    }
}
