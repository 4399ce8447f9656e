//! `vault_identity_group`: an internal identity group at `identity/group/name/NAME`; its id is
//! the name.
//!
//! The group owns its policies and metadata, never its member list: members are
//! `vault_identity_group_member` objects, and a write that leaves out `member_entity_ids`
//! keeps the members Vault has (as Terraform's `external_member_entity_ids` does).

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;

use super::{Context, json_strings, required, string_list, strings};
use crate::client::segment;
use crate::schema::GROUP;

/// The natural id: the name.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let name = required(attributes, GROUP, "name")?;
    if name.contains('/') {
        return Err(ProviderError::invalid(format!(
            "{GROUP}: the name {name:?} has a `/`, which breakglass does not accept in group names"
        )));
    }
    Ok(name.to_owned())
}

/// The API path of group `name`.
pub fn path(name: &str) -> String {
    format!("identity/group/name/{}", segment(name))
}

/// The group's live data (`GET identity/group/name/NAME`), or `None`.
pub async fn data(ctx: &Context<'_>, name: &str) -> Result<Option<Value>, ProviderError> {
    ctx.client.read(&path(name)).await.map_err(|e| e.context(format!("{GROUP} {name}")))
}

fn attributes_of(name: &str, data: &Value) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(name));
    let mut policies = json_strings(data.get("policies"));
    policies.sort();
    attributes.insert("policies".into(), string_list(policies));
    let metadata = data.get("metadata").filter(|m| m.is_object()).cloned().unwrap_or(json!({}));
    attributes.insert("metadata".into(), metadata);
    attributes.insert("id".into(), data.get("id").cloned().unwrap_or(Value::Null));
    attributes
}

/// Reads the group.
pub async fn read(ctx: &Context<'_>, name: &str) -> Result<Option<Attributes>, ProviderError> {
    Ok(data(ctx, name).await?.map(|data| attributes_of(name, &data)))
}

/// `POST identity/group/name/NAME` with policies and metadata (creates or updates; members are
/// left as they are), then reads it back.
pub async fn write(
    ctx: &Context<'_>,
    name: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let policies = strings(attributes, GROUP, "policies")?;
    let metadata = match attributes.get("metadata") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {
            Value::Object(map.clone())
        }
        Some(_) => {
            return Err(ProviderError::invalid(format!(
                "{GROUP} {name}: `metadata` must be a map of strings"
            )));
        }
    };
    if let Some(existing) = data(ctx, name).await?
        && existing.get("type").and_then(Value::as_str) == Some("external")
    {
        return Err(ProviderError::invalid(format!(
            "{GROUP} {name}: the group exists and is external (its members come from an auth \
             method's groups); breakglass manages internal groups only"
        )));
    }
    let body = json!({ "type": "internal", "policies": policies, "metadata": metadata });
    ctx.client.write(&path(name), &body).await.map_err(|e| e.context(format!("{GROUP} {name}")))?;
    read(ctx, name).await?.ok_or_else(|| {
        ProviderError::protocol(format!("{GROUP} {name}: written, but not found when read back"))
    })
}

/// `DELETE identity/group/name/NAME`.
pub async fn delete(ctx: &Context<'_>, name: &str) -> Result<(), ProviderError> {
    ctx.client.delete(&path(name)).await.map_err(|e| e.context(format!("{GROUP} {name}")))
}
