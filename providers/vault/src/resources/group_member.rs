//! `vault_identity_group_member`: one entity's membership in an internal identity group; its
//! id is `GROUP/ENTITY` (names).
//!
//! Vault keeps a group's members as one list that every write replaces, so adding or removing
//! one member reads the list, changes it and writes it back, one edit at a time
//! ([`Context::member_edits`]); other members are left alone. Adding a member already there
//! and removing one already gone change nothing.
//!
//! **Revocation that sticks.** A token's identity policies follow the group at every request,
//! but what a token *obtained* while it held them does not: a lease (a dynamic database
//! credential) lives as long as its token. So taking a membership back in a revert also
//! revokes every token of the entity, and with them every lease they hold
//! ([`crate::revocation::revoke_entity_tokens`]): the person logs in again, with what the
//! baseline gives.
//!
//! **Listing** reads each group in scope and each `privileged_groups` group (one call each)
//! and every entity's name (`LIST identity/entity/id`, one call): a thousand members of a few
//! groups in a handful of calls. Members of a privileged group are marked privileged.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use super::{Context, group, json_strings, required};
use crate::client::{VaultClient, segment};
use crate::revocation::revoke_entity_tokens;
use crate::schema::GROUP_MEMBER;

/// The natural id: `GROUP/ENTITY`.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let group = required(attributes, GROUP_MEMBER, "group")?;
    let entity = required(attributes, GROUP_MEMBER, "entity")?;
    if group.contains('/') {
        return Err(ProviderError::invalid(format!(
            "{GROUP_MEMBER}: the group name {group:?} has a `/`, which breakglass does not accept"
        )));
    }
    Ok(format!("{group}/{entity}"))
}

/// `GROUP/ENTITY` split.
pub fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/').filter(|(group, entity)| !group.is_empty() && !entity.is_empty()).ok_or_else(
        || ProviderError::invalid(format!("{GROUP_MEMBER}: {id:?} is not GROUP/ENTITY")),
    )
}

fn attributes_of(group: &str, entity: &str, entity_id: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("group".into(), json!(group));
    attributes.insert("entity".into(), json!(entity));
    attributes.insert("entity_id".into(), json!(entity_id));
    attributes
}

/// The id of the entity named `name` (`GET identity/entity/name/NAME`), or `None`.
pub async fn entity_id(client: &VaultClient, name: &str) -> Result<Option<String>, ProviderError> {
    let data = client.read(&format!("identity/entity/name/{}", segment(name))).await?;
    Ok(data.and_then(|d| d.get("id").and_then(Value::as_str).map(str::to_owned)))
}

/// Every entity's name by id (`LIST identity/entity/id`, one call).
pub async fn entity_names(client: &VaultClient) -> Result<BTreeMap<String, String>, ProviderError> {
    let listing = client.list("identity/entity/id").await?;
    Ok(listing
        .key_info
        .iter()
        .filter_map(|(id, info)| Some((id.clone(), info.get("name")?.as_str()?.to_owned())))
        .collect())
}

/// Reads memberships by id: one `GET` per group and one per entity.
pub async fn read(
    ctx: &Context<'_>,
    ids: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in ids {
        let (group, entity) = split(id)?;
        by_group.entry(group).or_default().push(entity);
    }
    let mut entity_ids: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut found = BTreeMap::new();
    for (group, entities) in by_group {
        let Some(data) = group::data(ctx, group).await? else { continue };
        let members: BTreeSet<String> =
            json_strings(data.get("member_entity_ids")).into_iter().collect();
        for entity in entities {
            if !entity_ids.contains_key(entity) {
                entity_ids.insert(entity, entity_id(ctx.client, entity).await?);
            }
            if let Some(Some(id)) = entity_ids.get(entity)
                && members.contains(id)
            {
                found.insert(format!("{group}/{entity}"), attributes_of(group, entity, id));
            }
        }
    }
    Ok(found)
}

/// Every member of the groups in `groups` (missing groups have none), and which are in a
/// privileged group.
pub async fn list(
    ctx: &Context<'_>,
    groups: &BTreeSet<String>,
) -> Result<(BTreeMap<String, Attributes>, BTreeSet<String>), ProviderError> {
    let names = entity_names(ctx.client).await?;
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    for group in groups {
        let Some(data) = group::data(ctx, group).await? else { continue };
        let is_privileged = ctx.config.privileged_groups.contains(group);
        for member in json_strings(data.get("member_entity_ids")) {
            // An id whose entity is gone grants nobody anything.
            let Some(entity) = names.get(&member) else { continue };
            let id = format!("{group}/{entity}");
            objects.insert(id.clone(), attributes_of(group, entity, &member));
            if is_privileged {
                privileged.insert(id);
            }
        }
    }
    Ok((objects, privileged))
}

/// Changes group `name`'s member list with `edit` (which says whether it changed anything),
/// one edit at a time.
async fn edit_members(
    ctx: &Context<'_>,
    name: &str,
    edit: impl FnOnce(&mut Vec<String>) -> bool,
) -> Result<(), ProviderError> {
    let _one_at_a_time = ctx.member_edits.lock().await;
    let Some(data) = group::data(ctx, name).await? else {
        return Err(ProviderError::invalid(format!(
            "{GROUP_MEMBER}: there is no identity group {name:?}; declare it \
             (vault_identity_group) or create it first"
        )));
    };
    if data.get("type").and_then(Value::as_str) == Some("external") {
        return Err(ProviderError::invalid(format!(
            "{GROUP_MEMBER}: group {name:?} is external: its members come from an auth \
             method's groups and cannot be added by hand; use an internal group"
        )));
    }
    let mut members = json_strings(data.get("member_entity_ids"));
    if !edit(&mut members) {
        return Ok(());
    }
    ctx.client
        .write(&group::path(name), &json!({ "member_entity_ids": members }))
        .await
        .map_err(|e| e.context(format!("{GROUP_MEMBER} {name}")))?;
    Ok(())
}

/// Adds the entity to the group (nothing to do when it is a member already).
pub async fn create(ctx: &Context<'_>, id: &str) -> Result<Attributes, ProviderError> {
    let (group, entity) = split(id)?;
    let Some(member) = entity_id(ctx.client, entity).await? else {
        return Err(ProviderError::invalid(format!(
            "{GROUP_MEMBER} {id}: there is no identity entity named {entity:?}; check the \
             person's identities.vault, or create the entity (and its alias) first"
        )));
    };
    edit_members(ctx, group, |members| {
        if members.contains(&member) {
            return false;
        }
        members.push(member.clone());
        true
    })
    .await?;
    Ok(attributes_of(group, entity, &member))
}

/// Removes the entity from the group; in a revert, also revokes the entity's tokens.
pub async fn delete(
    ctx: &Context<'_>,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let (group, entity) = split(id)?;
    let Some(member) = entity_id(ctx.client, entity).await? else {
        // No entity, no membership, and no token of it.
        return Ok(Vec::new());
    };
    if group::data(ctx, group).await?.is_some() {
        edit_members(ctx, group, |members| {
            let before = members.len();
            members.retain(|m| *m != member);
            members.len() != before
        })
        .await?;
    }
    let mut notes = Vec::new();
    if context.revert {
        notes.push(revoke_entity_tokens(ctx.client, &member, entity, ctx.own_accessor).await?);
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_group_slash_entity() {
        let attributes: Attributes =
            serde_json::from_value(json!({"group": "responders", "entity": "alice"})).unwrap();
        assert_eq!(id(&attributes).unwrap(), "responders/alice");
        assert_eq!(split("responders/alice").unwrap(), ("responders", "alice"));
        assert_eq!(split("responders/a/b").unwrap(), ("responders", "a/b"));
        assert!(split("responders").is_err());
        assert!(split("/alice").is_err());
    }
}
