//! `aws_ssoadmin_account_assignment`: id is
//! `PRINCIPAL,PRINCIPAL_TYPE,TARGET_ID,TARGET_TYPE,PERMISSION_SET,INSTANCE_ARN` as Terraform
//! writes it, where `PRINCIPAL` is the principal id or `name=USERNAME`, `PERMISSION_SET` the
//! ARN or `name=NAME`, and `INSTANCE_ARN` empty for the account's only instance. Names let a
//! role template say `principal_name = requester.identities.aws_sso` and
//! `permission_set_name = "IncidentResponder"` where ids are only known to AWS.
//!
//! Creation and deletion are asynchronous in AWS: the provider polls the request's status
//! until it succeeds or fails, and only then reports the change done. IAM Identity Center
//! offers no way to end sessions already issued for an assignment; deleting one on a revert
//! says so in the audit notes (they last at most the permission set's session duration).
//!
//! **Native expiry.** An assignment cannot carry an end either. With `expires_at` (set by the
//! engine to the activation's end for assignments a role grant creates) the provider adds a
//! statement to the permission set's inline policy that denies everything, from `expires_at`
//! on, to that user's sessions (`aws:userid` `*:USERNAME`) in that account
//! (`aws:PrincipalAccount`), and provisions the set again so AWS applies it. The user loses the
//! access at the end even if no reconciler runs again; the set's other users are untouched.
//! The statement is read back as `expires_at` and goes with the assignment. Only a `USER`
//! assignment can be guarded: a group's members cannot be told apart in a condition.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Context, optional, required};
use crate::document;
use crate::schema::ASSIGNMENT;
use crate::sso::{self, AssignmentKey};

/// The prefix of the `Sid` of expiry statements in permission sets' inline policies.
pub const GUARD_SID_PREFIX: &str = "BreakglassExpiry";

/// The parts of an assignment id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    principal: String,
    principal_type: String,
    target_id: String,
    target_type: String,
    permission_set: String,
    instance: String,
}

/// The natural id.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let principal =
        match (optional(attributes, "principal_id"), optional(attributes, "principal_name")) {
            (Some(id), None) => id,
            (None, Some(name)) => format!("name={name}"),
            _ => {
                return Err(ProviderError::invalid(format!(
                    "{ASSIGNMENT}: set exactly one of principal_id and principal_name"
                )));
            }
        };
    let permission_set = match (
        optional(attributes, "permission_set_arn"),
        optional(attributes, "permission_set_name"),
    ) {
        (Some(arn), None) => arn,
        (None, Some(name)) => format!("name={name}"),
        _ => {
            return Err(ProviderError::invalid(format!(
                "{ASSIGNMENT}: set exactly one of permission_set_arn and permission_set_name"
            )));
        }
    };
    let principal_type = required(attributes, ASSIGNMENT, "principal_type")?;
    if !matches!(principal_type, "USER" | "GROUP") {
        return Err(ProviderError::invalid(format!(
            "{ASSIGNMENT}: principal_type must be USER or GROUP"
        )));
    }
    let target_type =
        optional(attributes, "target_type").unwrap_or_else(|| "AWS_ACCOUNT".to_owned());
    Ok(format!(
        "{principal},{principal_type},{},{target_type},{permission_set},{}",
        required(attributes, ASSIGNMENT, "target_id")?,
        optional(attributes, "instance_arn").unwrap_or_default()
    ))
}

fn split(id: &str) -> Result<Parts, ProviderError> {
    let wrong =
        || ProviderError::invalid(format!("{ASSIGNMENT}: {id:?} is not a valid assignment id"));
    let mut tail = id.rsplitn(5, ',');
    let instance = tail.next().ok_or_else(wrong)?.to_owned();
    let permission_set = tail.next().ok_or_else(wrong)?.to_owned();
    let target_type = tail.next().ok_or_else(wrong)?.to_owned();
    let target_id = tail.next().ok_or_else(wrong)?.to_owned();
    let (principal, principal_type) =
        tail.next().and_then(|rest| rest.rsplit_once(',')).ok_or_else(wrong)?;
    Ok(Parts {
        principal: principal.to_owned(),
        principal_type: principal_type.to_owned(),
        target_id,
        target_type,
        permission_set,
        instance,
    })
}

/// The assignment's ids, names looked up; `None` when a named permission set or principal
/// does not exist (so neither can the assignment).
async fn resolve(ctx: &Context<'_>, parts: &Parts) -> Result<Option<AssignmentKey>, ProviderError> {
    let declared = Some(parts.instance.as_str()).filter(|i| !i.is_empty());
    let instance = ctx.sso.instance(ctx.client, declared).await?;
    let permission_set_arn = match parts.permission_set.strip_prefix("name=") {
        Some(name) => {
            match ctx.sso.permission_set_arn(ctx.client, &instance.instance_arn, name).await? {
                Some(arn) => arn,
                None => return Ok(None),
            }
        }
        None => parts.permission_set.clone(),
    };
    let principal_id = match parts.principal.strip_prefix("name=") {
        Some(name) => {
            match sso::principal_id(
                ctx.client,
                &instance.identity_store_id,
                &parts.principal_type,
                name,
            )
            .await?
            {
                Some(id) => id,
                None => return Ok(None),
            }
        }
        None => parts.principal.clone(),
    };
    Ok(Some(AssignmentKey {
        instance_arn: instance.instance_arn,
        target_id: parts.target_id.clone(),
        target_type: parts.target_type.clone(),
        permission_set_arn,
        principal_type: parts.principal_type.clone(),
        principal_id,
    }))
}

fn attributes_of(parts: &Parts, key: &AssignmentKey, expires_at: Option<String>) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("instance_arn".into(), json!(key.instance_arn));
    attributes.insert("permission_set_arn".into(), json!(key.permission_set_arn));
    if let Some(name) = parts.permission_set.strip_prefix("name=") {
        attributes.insert("permission_set_name".into(), json!(name));
    }
    attributes.insert("principal_type".into(), json!(key.principal_type));
    attributes.insert("principal_id".into(), json!(key.principal_id));
    if let Some(name) = parts.principal.strip_prefix("name=") {
        attributes.insert("principal_name".into(), json!(name));
    }
    attributes.insert("target_id".into(), json!(key.target_id));
    attributes.insert("target_type".into(), json!(key.target_type));
    attributes.insert("expires_at".into(), expires_at.map_or(Value::Null, Value::String));
    attributes
}

/// The `Sid` of the expiry statement of one user in one account: alphanumeric, as IAM wants.
pub fn guard_sid(principal_id: &str, account: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{principal_id},{account}").as_bytes()));
    format!("{GUARD_SID_PREFIX}{}", &digest[..16])
}

/// The end the permission set's inline policy sets for this assignment, if any.
async fn guard_end(
    ctx: &Context<'_>,
    key: &AssignmentKey,
) -> Result<Option<String>, ProviderError> {
    if key.principal_type != "USER" {
        return Ok(None);
    }
    let document =
        sso::inline_policy(ctx.client, &key.instance_arn, &key.permission_set_arn).await?;
    Ok(document
        .and_then(|d| document::statement_end(&d, &guard_sid(&key.principal_id, &key.target_id))))
}

/// Writes (`end` given) or removes the assignment's expiry statement, keeping every other
/// statement of the permission set's inline policy, then provisions the set so AWS applies it.
async fn set_guard(
    ctx: &Context<'_>,
    parts: &Parts,
    key: &AssignmentKey,
    end: Option<&str>,
) -> Result<(), ProviderError> {
    let sid = guard_sid(&key.principal_id, &key.target_id);
    let statement = match end {
        None => None,
        Some(end) => {
            if key.principal_type != "USER" {
                return Err(ProviderError::invalid(format!(
                    "{ASSIGNMENT}: a GROUP assignment cannot end on AWS's side (a condition cannot \
                     tell a group's members apart); grant to the requester as principal_type = \
                     \"USER\", or leave expires_at unset"
                )));
            }
            let end = end.parse::<jiff::Timestamp>().map_err(|error| {
                ProviderError::invalid(format!(
                    "{ASSIGNMENT}: `expires_at` is not an RFC 3339 time: {error}"
                ))
            })?;
            let user = match parts.principal.strip_prefix("name=") {
                Some(name) => name.to_owned(),
                None => {
                    let instance = ctx.sso.instance(ctx.client, Some(&key.instance_arn)).await?;
                    sso::user_name(ctx.client, &instance.identity_store_id, &key.principal_id)
                        .await?
                        .ok_or_else(|| {
                            ProviderError::not_found(format!(
                                "{ASSIGNMENT}: user {} is not in the identity store",
                                key.principal_id
                            ))
                        })?
                }
            };
            Some(document::assignment_guard(&sid, &end.to_string(), &user, &key.target_id))
        }
    };
    let _edit = ctx.sso.inline_policy_edits.lock().await;
    let current =
        sso::inline_policy(ctx.client, &key.instance_arn, &key.permission_set_arn).await?;
    let has_guard = current.as_ref().is_some_and(|d| document::statement_end(d, &sid).is_some());
    if statement.is_none() && !has_guard {
        return Ok(());
    }
    let wanted = document::with_statement(current.as_ref(), &sid, statement);
    sso::set_inline_policy(ctx.client, &key.instance_arn, &key.permission_set_arn, wanted.as_ref())
        .await?;
    sso::reprovision(ctx.client, &key.instance_arn, &key.permission_set_arn, ctx.polling).await?;
    Ok(())
}

async fn exists(ctx: &Context<'_>, key: &AssignmentKey) -> Result<bool, ProviderError> {
    let assignments = sso::account_assignments(
        ctx.client,
        &key.instance_arn,
        &key.target_id,
        &key.permission_set_arn,
    )
    .await?;
    Ok(assignments
        .iter()
        .any(|a| a.principal_id == key.principal_id && a.principal_type == key.principal_type))
}

/// `ListAccountAssignments` of the permission set in the account, and its inline policy for
/// the expiry statement.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let parts = split(id)?;
    let Some(key) = resolve(ctx, &parts).await? else { return Ok(None) };
    if !exists(ctx, &key).await? {
        return Ok(None);
    }
    let expires_at = guard_end(ctx, &key).await?;
    Ok(Some(attributes_of(&parts, &key, expires_at)))
}

async fn resolved(ctx: &Context<'_>, id: &str) -> Result<(Parts, AssignmentKey), ProviderError> {
    let parts = split(id)?;
    let key = resolve(ctx, &parts).await?.ok_or_else(|| {
        ProviderError::invalid(format!(
            "{ASSIGNMENT} {id}: the permission set or the principal it names does not exist in IAM \
             Identity Center"
        ))
    })?;
    Ok((parts, key))
}

/// `CreateAccountAssignment` unless it is already there, then waits for AWS to finish; then
/// the expiry statement when `expires_at` is set. If that cannot be written the assignment is
/// taken back, so access never stands without its end.
pub async fn create(
    ctx: &Context<'_>,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (parts, key) = resolved(ctx, id).await?;
    let expires_at = optional(attributes, "expires_at");
    if expires_at.is_some() && key.principal_type != "USER" {
        // Refused before anything is assigned.
        set_guard(ctx, &parts, &key, expires_at.as_deref()).await?;
    }
    if !exists(ctx, &key).await? {
        sso::create_account_assignment(ctx.client, &key, ctx.polling)
            .await
            .map_err(|e| e.context(format!("{ASSIGNMENT} {id}")))?;
    }
    if let Some(end) = &expires_at
        && let Err(error) = set_guard(ctx, &parts, &key, Some(end)).await
    {
        let _ = sso::delete_account_assignment(ctx.client, &key, ctx.polling).await;
        return Err(error.context(format!(
            "{ASSIGNMENT} {id}: the expiry statement could not be written, so the assignment was \
             taken back"
        )));
    }
    Ok(attributes_of(&parts, &key, expires_at))
}

/// Moves, adds or removes the expiry statement (`expires_at` is the only attribute that
/// changes in place: the others identify the assignment).
pub async fn update(
    ctx: &Context<'_>,
    id: &str,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (parts, key) = resolved(ctx, id).await?;
    let expires_at = optional(after, "expires_at");
    set_guard(ctx, &parts, &key, expires_at.as_deref())
        .await
        .map_err(|e| e.context(format!("{ASSIGNMENT} {id}")))?;
    Ok(attributes_of(&parts, &key, expires_at))
}

/// `DeleteAccountAssignment` if it is there, then waits for AWS to finish; then the expiry
/// statement.
pub async fn delete(
    ctx: &Context<'_>,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let parts = split(id)?;
    let Some(key) = resolve(ctx, &parts).await? else { return Ok(Vec::new()) };
    if exists(ctx, &key).await? {
        sso::delete_account_assignment(ctx.client, &key, ctx.polling)
            .await
            .map_err(|e| e.context(format!("{ASSIGNMENT} {id}")))?;
    }
    if key.principal_type == "USER" {
        set_guard(ctx, &parts, &key, None)
            .await
            .map_err(|e| e.context(format!("{ASSIGNMENT} {id}")))?;
    }
    let mut notes = Vec::new();
    if context.revert {
        notes.push(format!(
            "IAM Identity Center sessions already issued for {} in account {} stay valid until they \
             expire (at most the permission set's session duration); AWS offers no call to end them",
            parts.principal.trim_start_matches("name="),
            key.target_id
        ));
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_with_names_and_commas() {
        let mut attributes = Attributes::new();
        attributes.insert("principal_name".into(), json!("alice,the,responder"));
        attributes.insert("principal_type".into(), json!("USER"));
        attributes.insert("target_id".into(), json!("123456789012"));
        attributes.insert("permission_set_name".into(), json!("IncidentResponder"));
        let id = id(&attributes).unwrap();
        assert_eq!(
            id,
            "name=alice,the,responder,USER,123456789012,AWS_ACCOUNT,name=IncidentResponder,"
        );
        let parts = split(&id).unwrap();
        assert_eq!(parts.principal, "name=alice,the,responder");
        assert_eq!(parts.principal_type, "USER");
        assert_eq!(parts.permission_set, "name=IncidentResponder");
        assert_eq!(parts.instance, "");
        attributes.insert("principal_id".into(), json!("u-1"));
        assert!(
            super::id(&attributes).unwrap_err().message().contains("exactly one of principal_id")
        );
    }
}
