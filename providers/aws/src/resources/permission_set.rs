//! `aws_ssoadmin_permission_set`: id is `NAME`, or `NAME,INSTANCE_ARN` when the instance is
//! declared (without it, the account's only Identity Center instance is used). Names are unique
//! per instance; the ARN is looked up by name once and remembered. A change is pushed to the
//! accounts the set is provisioned to (`ProvisionPermissionSet`), as AWS requires.

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;

use super::{Context, optional, required};
use crate::error::has_code;
use crate::schema::PERMISSION_SET;
use crate::sso::{self, PermissionSet, PermissionSetFields};

/// The natural id.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let name = required(attributes, PERMISSION_SET, "name")?;
    Ok(match optional(attributes, "instance_arn") {
        Some(instance) => format!("{name},{instance}"),
        None => name.to_owned(),
    })
}

fn split(id: &str) -> (&str, Option<&str>) {
    match id.split_once(',') {
        Some((name, instance)) => (name, Some(instance)),
        None => (id, None),
    }
}

fn attributes_of(instance: &str, set: &PermissionSet) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(set.name));
    attributes.insert("instance_arn".into(), json!(instance));
    attributes.insert("arn".into(), json!(set.permission_set_arn));
    let text =
        |v: &Option<String>| v.clone().filter(|s| !s.is_empty()).map_or(Value::Null, Value::String);
    attributes.insert("description".into(), text(&set.description));
    attributes.insert("session_duration".into(), text(&set.session_duration));
    attributes.insert("relay_state".into(), text(&set.relay_state));
    attributes
}

/// The instance and the permission set's ARN, if it exists.
async fn locate(ctx: &Context<'_>, id: &str) -> Result<(String, Option<String>), ProviderError> {
    let (name, declared) = split(id);
    let instance = ctx.sso.instance(ctx.client, declared).await?.instance_arn;
    let arn = ctx.sso.permission_set_arn(ctx.client, &instance, name).await?;
    Ok((instance, arn))
}

/// `DescribePermissionSet` (after a look-up by name).
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let (instance, Some(arn)) = locate(ctx, id).await? else { return Ok(None) };
    match sso::describe_permission_set(ctx.client, &instance, &arn).await? {
        Some(set) => Ok(Some(attributes_of(&instance, &set))),
        None => {
            ctx.sso.forget(&instance, split(id).0).await;
            Ok(None)
        }
    }
}

fn fields(attributes: &Attributes) -> PermissionSetFields {
    PermissionSetFields {
        description: optional(attributes, "description"),
        session_duration: optional(attributes, "session_duration"),
        relay_state: optional(attributes, "relay_state"),
    }
}

/// `CreatePermissionSet`; one that already exists is brought to the declared fields.
pub async fn create(
    ctx: &Context<'_>,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (name, declared) = split(id);
    let instance = ctx.sso.instance(ctx.client, declared).await?.instance_arn;
    if ctx.sso.permission_set_arn(ctx.client, &instance, name).await?.is_some() {
        let before = read(ctx, id).await?.unwrap_or_default();
        return update(ctx, id, &before, attributes).await;
    }
    match sso::create_permission_set(ctx.client, &instance, name, fields(attributes)).await {
        Ok(set) => {
            ctx.sso.remember(&instance, name, &set.permission_set_arn).await;
            Ok(attributes_of(&instance, &set))
        }
        Err(error) if has_code(&error, "ConflictException") => {
            let before = read(ctx, id).await?.unwrap_or_default();
            update(ctx, id, &before, attributes).await
        }
        Err(error) => Err(error.context(format!("{PERMISSION_SET} {id}"))),
    }
}

/// `UpdatePermissionSet` with the declared fields.
pub async fn update(
    ctx: &Context<'_>,
    id: &str,
    before: &Attributes,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (instance, arn) = locate(ctx, id).await?;
    let arn = arn
        .ok_or_else(|| ProviderError::not_found(format!("{PERMISSION_SET} {id} does not exist")))?;
    let wanted = fields(after);
    let changed = ["description", "session_duration", "relay_state"]
        .iter()
        .any(|name| after.contains_key(*name) && optional(after, name) != optional(before, name));
    if changed {
        sso::update_permission_set(ctx.client, &instance, &arn, wanted).await?;
    }
    // Even when the fields already match (an earlier update whose provisioning failed), an
    // update provisions again: that is what the earlier attempt did not finish.
    sso::reprovision(ctx.client, &instance, &arn, ctx.polling).await.map_err(|e| {
        e.context(format!("{PERMISSION_SET} {id}: updated, but not yet applied to its accounts"))
    })?;
    read(ctx, id).await?.ok_or_else(|| {
        ProviderError::not_found(format!("{PERMISSION_SET} {id} disappeared during the update"))
    })
}

/// `DeletePermissionSet`.
pub async fn delete(ctx: &Context<'_>, id: &str) -> Result<(), ProviderError> {
    let (instance, arn) = locate(ctx, id).await?;
    if let Some(arn) = arn {
        sso::delete_permission_set(ctx.client, &instance, &arn)
            .await
            .map_err(|e| e.context(format!("{PERMISSION_SET} {id}")))?;
    }
    ctx.sso.forget(&instance, split(id).0).await;
    Ok(())
}
