//! `anthropic_workspace`: an existing workspace's name and archived flag.
//!
//! Endpoints (<https://platform.claude.com/docs/en/api/admin/workspaces>):
//! `GET /v1/organizations/workspaces/{workspace_id}`, `POST /v1/organizations/workspaces/{id}`
//! (`{"name": …}`) and `POST /v1/organizations/workspaces/{id}/archive`. The API has no way to
//! delete a workspace or to take it out of the archive, so breakglass never creates or deletes
//! one, and archives only as a baseline change, never within an activation that would have to
//! be reverted.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;
use std::collections::BTreeMap;

use crate::api::Workspace;
use crate::client::{AdminClient, segment};
use crate::provider::required_str;
use crate::schema::WORKSPACE;

/// The workspace id, after checking a declared name fits the API's limits.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let id = segment("workspace_id", required_str(attributes, WORKSPACE, "workspace_id")?)?;
    if let Some(name) = attributes.get("name").and_then(Value::as_str) {
        let length = name.chars().count();
        if !(1..=40).contains(&length) {
            return Err(ProviderError::invalid(format!(
                "{WORKSPACE}: `name` must be 1 to 40 characters, \"{name}\" has {length}"
            )));
        }
    }
    Ok(id.to_owned())
}

fn path(id: &str) -> Result<String, ProviderError> {
    Ok(format!("/v1/organizations/workspaces/{}", segment("workspace_id", id)?))
}

/// The attributes of a live workspace.
pub fn attributes(workspace: &Workspace) -> Attributes {
    Attributes::from([
        ("workspace_id".to_owned(), Value::String(workspace.id.clone())),
        ("name".to_owned(), Value::String(workspace.name.clone())),
        ("archived".to_owned(), Value::Bool(workspace.archived_at.is_some())),
        (
            "archived_at".to_owned(),
            workspace.archived_at.clone().map_or(Value::Null, Value::String),
        ),
    ])
}

/// Reads workspaces by id, one call each.
pub async fn read(
    client: &AdminClient,
    ids: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut found = BTreeMap::new();
    for id in ids {
        if let Some(workspace) = client.get::<Workspace>(&path(id)?).await? {
            found.insert(id.clone(), attributes(&workspace));
        }
    }
    Ok(found)
}

/// Adopts an existing workspace and brings it to the declared name and archived flag.
pub async fn create(
    client: &AdminClient,
    id: &str,
    desired: &Attributes,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let Some(workspace) = client.get::<Workspace>(&path(id)?).await? else {
        return Err(ProviderError::not_found(format!(
            "{WORKSPACE}: the workspace {id} does not exist in this organization; breakglass \
             manages existing workspaces and does not create them"
        )));
    };
    update(client, id, &attributes(&workspace), desired, context).await
}

/// Renames and archives as declared.
pub async fn update(
    client: &AdminClient,
    id: &str,
    before: &Attributes,
    desired: &Attributes,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let archived_now = before.get("archived").and_then(Value::as_bool).unwrap_or(false);
    let archive = desired.get("archived").and_then(Value::as_bool);
    match archive {
        Some(false) if archived_now => {
            return Err(ProviderError::invalid(format!(
                "{WORKSPACE} {id}: the workspace is archived and the Admin API cannot restore it; \
                 declare `archived = true` or remove the resource"
            )));
        }
        Some(true) if !archived_now && context.activation.is_some() => {
            return Err(ProviderError::invalid(format!(
                "{WORKSPACE} {id}: archiving cannot be undone, so no activation may archive a \
                 workspace (its revert could not restore it); archive it in the baseline instead"
            )));
        }
        _ => {}
    }
    let mut live = None;
    if let Some(name) = desired.get("name").and_then(Value::as_str)
        && before.get("name").and_then(Value::as_str) != Some(name)
    {
        live = Some(client.post::<Workspace>(&path(id)?, &json!({ "name": name })).await?);
    }
    if archive == Some(true) && !archived_now {
        live = Some(client.post::<Workspace>(&format!("{}/archive", path(id)?), &json!({})).await?);
    }
    match live {
        Some(workspace) => Ok(attributes(&workspace)),
        None => Ok(before.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_longer_than_the_api_allows_are_refused_at_plan_time() {
        let mut declared = Attributes::from([("workspace_id".to_owned(), json!("wrkspc_ml"))]);
        assert_eq!(id(&declared).unwrap(), "wrkspc_ml");
        declared.insert("name".into(), json!("x".repeat(41)));
        assert!(id(&declared).unwrap_err().message().contains("1 to 40"));
        declared.insert("name".into(), json!(""));
        assert!(id(&declared).is_err());
    }
}
