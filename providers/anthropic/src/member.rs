//! `anthropic_workspace_member`: a user's role in a workspace.
//!
//! Endpoints (<https://platform.claude.com/docs/en/api/admin/workspaces/members>):
//! `GET/POST /v1/organizations/workspaces/{workspace_id}/members` (list with cursor pagination,
//! add) and `GET/POST/DELETE /v1/organizations/workspaces/{workspace_id}/members/{user_id}`
//! (read, change role, remove).

use breakglass_provider::{Attributes, ErrorKind, ListResponse, ProviderError, Value};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use crate::api::{WorkspaceMember, WorkspaceMemberDeleted};
use crate::client::{AdminClient, segment};
use crate::provider::required_str;
use crate::schema::{MEMBER, SETTABLE_ROLES};

/// `workspace_id/user_id`, after checking the declared role can be set through the API.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let workspace = segment("workspace_id", required_str(attributes, MEMBER, "workspace_id")?)?;
    let user = segment("user_id", required_str(attributes, MEMBER, "user_id")?)?;
    let role = required_str(attributes, MEMBER, "workspace_role")?;
    if !SETTABLE_ROLES.contains(&role) {
        return Err(ProviderError::invalid(format!(
            "{MEMBER}: `workspace_role` \"{role}\" cannot be given through the Admin API; use one \
             of {}",
            SETTABLE_ROLES.join(", ")
        )));
    }
    Ok(format!("{workspace}/{user}"))
}

fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    let (workspace, user) = id.split_once('/').ok_or_else(|| {
        ProviderError::invalid(format!("{MEMBER}: \"{id}\" is not a workspace_id/user_id pair"))
    })?;
    Ok((segment("workspace_id", workspace)?, segment("user_id", user)?))
}

fn members_path(workspace: &str) -> String {
    format!("/v1/organizations/workspaces/{workspace}/members")
}

fn member_path(workspace: &str, user: &str) -> String {
    format!("/v1/organizations/workspaces/{workspace}/members/{user}")
}

/// The attributes of a live member.
pub fn attributes(member: &WorkspaceMember) -> Attributes {
    Attributes::from([
        ("workspace_id".to_owned(), Value::String(member.workspace_id.clone())),
        ("user_id".to_owned(), Value::String(member.user_id.clone())),
        ("workspace_role".to_owned(), Value::String(member.workspace_role.clone())),
    ])
}

/// Reads members by id, one call each; absent ids are not members.
pub async fn read(
    client: &AdminClient,
    ids: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut found = BTreeMap::new();
    for id in ids {
        let (workspace, user) = split(id)?;
        if let Some(member) = client.get::<WorkspaceMember>(&member_path(workspace, user)).await? {
            found.insert(id.clone(), attributes(&member));
        }
    }
    Ok(found)
}

/// Lists every member of every workspace the scope names, marking holders of a privileged role.
pub async fn list(
    client: &AdminClient,
    scope: &[Attributes],
    privileged_roles: &BTreeSet<String>,
) -> Result<ListResponse, ProviderError> {
    let workspaces: BTreeSet<&str> = scope
        .iter()
        .filter_map(|attributes| attributes.get("workspace_id").and_then(Value::as_str))
        .collect();
    let mut objects = BTreeMap::new();
    let mut privileged = Vec::new();
    let mut calls = 0;
    for workspace in workspaces {
        let workspace = segment("workspace_id", workspace)?;
        let (members, pages) =
            client.list::<WorkspaceMember>(&members_path(workspace), &[]).await?;
        calls += pages;
        for member in members {
            let id = format!("{}/{}", member.workspace_id, member.user_id);
            if privileged_roles.contains(&member.workspace_role) {
                privileged.push(id.clone());
            }
            objects.insert(id, attributes(&member));
        }
    }
    Ok(ListResponse::new(objects, calls).with_privileged(privileged))
}

/// Adds the member. A retry whose first attempt already added it finds it there and, if its role
/// differs, sets the role.
pub async fn create(
    client: &AdminClient,
    id: &str,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (workspace, user) = split(id)?;
    let role = required_str(desired, MEMBER, "workspace_role")?;
    let body = json!({ "user_id": user, "workspace_role": role });
    match client.post::<WorkspaceMember>(&members_path(workspace), &body).await {
        Ok(member) => Ok(attributes(&member)),
        Err(error) if error.kind() == ErrorKind::Invalid => {
            // Already a member (a retried create, or added meanwhile): converge on the role.
            match client.get::<WorkspaceMember>(&member_path(workspace, user)).await? {
                Some(member) if member.workspace_role == role => Ok(attributes(&member)),
                Some(_) => update(client, id, desired).await,
                None => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Sets the member's role.
pub async fn update(
    client: &AdminClient,
    id: &str,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (workspace, user) = split(id)?;
    let role = required_str(desired, MEMBER, "workspace_role")?;
    let member: WorkspaceMember =
        client.post(&member_path(workspace, user), &json!({ "workspace_role": role })).await?;
    Ok(attributes(&member))
}

/// Removes the member; one already gone is success.
pub async fn delete(client: &AdminClient, id: &str) -> Result<(), ProviderError> {
    let (workspace, user) = split(id)?;
    client.delete::<WorkspaceMemberDeleted>(&member_path(workspace, user)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: &str) -> Attributes {
        Attributes::from([
            ("workspace_id".to_owned(), json!("wrkspc_ml")),
            ("user_id".to_owned(), json!("user_alice")),
            ("workspace_role".to_owned(), json!(role)),
        ])
    }

    #[test]
    fn the_id_is_the_pair_and_roles_the_api_cannot_give_are_refused() {
        assert_eq!(id(&member("workspace_admin")).unwrap(), "wrkspc_ml/user_alice");
        for role in ["workspace_billing", "admin", "workspace_owner"] {
            let error = id(&member(role)).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid);
            assert!(error.message().contains("workspace_developer"), "{error}");
        }
        let mut sneaky = member("workspace_user");
        sneaky.insert("user_id".into(), json!("../../api_keys"));
        assert!(id(&sneaky).is_err());
        assert_eq!(split("wrkspc_ml/user_alice").unwrap(), ("wrkspc_ml", "user_alice"));
        assert!(split("no-slash").is_err());
    }
}
