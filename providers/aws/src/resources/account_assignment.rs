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

use breakglass_provider::{Attributes, ChangeContext, ProviderError};
use serde_json::json;

use super::{Context, optional, required};
use crate::schema::ASSIGNMENT;
use crate::sso::{self, AssignmentKey};

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

fn attributes_of(parts: &Parts, key: &AssignmentKey) -> Attributes {
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
    attributes
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

/// `ListAccountAssignments` of the permission set in the account.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let parts = split(id)?;
    let Some(key) = resolve(ctx, &parts).await? else { return Ok(None) };
    Ok(exists(ctx, &key).await?.then(|| attributes_of(&parts, &key)))
}

/// `CreateAccountAssignment` unless it is already there, then waits for AWS to finish.
pub async fn create(ctx: &Context<'_>, id: &str) -> Result<Attributes, ProviderError> {
    let parts = split(id)?;
    let key = resolve(ctx, &parts).await?.ok_or_else(|| {
        ProviderError::invalid(format!(
            "{ASSIGNMENT} {id}: the permission set or the principal it names does not exist in IAM \
             Identity Center"
        ))
    })?;
    if !exists(ctx, &key).await? {
        sso::create_account_assignment(ctx.client, &key, ctx.polling)
            .await
            .map_err(|e| e.context(format!("{ASSIGNMENT} {id}")))?;
    }
    Ok(attributes_of(&parts, &key))
}

/// `DeleteAccountAssignment` if it is there, then waits for AWS to finish.
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
