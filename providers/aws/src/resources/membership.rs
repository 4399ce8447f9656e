//! `aws_iam_user_group_membership`: id is `USER/GROUP1/GROUP2…` (groups sorted), as
//! Terraform imports it. Like Terraform's, it manages only the groups it names and leaves the
//! user's other memberships alone.
//!
//! AWS cannot end a group membership at a given time, and a deny on the user would also cut
//! their standing access, so this type has no native expiry: pair it in a role with an
//! attachment or inline policy that has one. Removing memberships to take back an activation's
//! access revokes the user's temporary sessions issued before now.
//!
//! Listing returns, for the users in scope, each declared membership and each other group as
//! `USER/GROUP`; and anywhere in the account, memberships in groups that have a
//! `privileged_policies` policy attached, marked privileged.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Listing, required, revoke_user_sessions, scope_names, string_list};
use crate::iam;
use crate::schema::MEMBERSHIP;
use crate::snapshot::Snapshot;

fn sorted(groups: Vec<String>) -> Vec<String> {
    let set: BTreeSet<String> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    set.into_iter().collect()
}

/// The natural id: the user and the sorted groups.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let user = required(attributes, MEMBERSHIP, "user")?;
    let groups = sorted(string_list(attributes, "groups"));
    if groups.is_empty() {
        return Err(ProviderError::invalid(format!(
            "{MEMBERSHIP} {user}: `groups` must name at least one group"
        )));
    }
    Ok(format!("{user}/{}", groups.join("/")))
}

fn split(id: &str) -> Result<(&str, Vec<String>), ProviderError> {
    let mut parts = id.split('/');
    let user = parts.next().filter(|u| !u.is_empty());
    let groups: Vec<String> = parts.map(str::to_owned).collect();
    match user {
        Some(user) if !groups.is_empty() => Ok((user, groups)),
        _ => {
            Err(ProviderError::invalid(format!("{MEMBERSHIP}: {id:?} is not USER/GROUP[/GROUP…]")))
        }
    }
}

/// Whether two group lists name the same groups.
pub fn groups_equal(desired: &Value, live: &Value) -> bool {
    let set = |v: &Value| -> Option<BTreeSet<String>> {
        v.as_array()
            .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
    };
    matches!((set(desired), set(live)), (Some(a), Some(b)) if a == b)
}

fn attributes_of(user: &str, groups: Vec<String>) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("user".into(), json!(user));
    attributes.insert("groups".into(), json!(groups));
    attributes
}

/// The object for `id` given the user's groups: the named groups the user is in, or none.
fn present(user: &str, named: &[String], member_of: &BTreeSet<String>) -> Option<Attributes> {
    let held: Vec<String> = named.iter().filter(|g| member_of.contains(*g)).cloned().collect();
    (!held.is_empty()).then(|| attributes_of(user, held))
}

/// `ListGroupsForUser`.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let (user, named) = split(id)?;
    let Some(groups) = iam::groups_for_user(ctx.client, user).await? else { return Ok(None) };
    Ok(present(user, &named, &groups.into_iter().collect()))
}

/// See the module docs.
pub fn list(
    snapshot: &Snapshot,
    scope: &[Attributes],
    privileged_policies: &BTreeSet<String>,
) -> Listing {
    let users = scope_names(scope, "user");
    let declared: Vec<(String, Vec<String>)> = scope
        .iter()
        .filter_map(|a| id(a).ok())
        .filter_map(|i| split(&i).ok().map(|(u, g)| (u.to_owned(), g)))
        .collect();
    let privileged_groups: BTreeSet<&str> = snapshot
        .groups
        .values()
        .filter(|g| {
            g.attached_managed_policies
                .member
                .iter()
                .any(|p| privileged_policies.contains(&p.policy_arn))
        })
        .map(|g| g.group_name.as_str())
        .collect();
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    for detail in snapshot.users.values() {
        let member_of: BTreeSet<String> = detail.group_list.member.iter().cloned().collect();
        let mut covered: BTreeSet<&str> = BTreeSet::new();
        for (user, groups) in declared.iter().filter(|(u, _)| *u == detail.user_name) {
            if let Some(attributes) = present(user, groups, &member_of) {
                objects.insert(format!("{user}/{}", groups.join("/")), attributes);
            }
            covered.extend(groups.iter().map(String::as_str));
        }
        let in_scope = users.contains(&detail.user_name);
        for group in &member_of {
            let is_privileged = privileged_groups.contains(group.as_str());
            if covered.contains(group.as_str()) || !(in_scope || is_privileged) {
                continue;
            }
            let id = format!("{}/{group}", detail.user_name);
            objects.insert(id.clone(), attributes_of(&detail.user_name, vec![group.clone()]));
            if is_privileged {
                privileged.insert(id);
            }
        }
    }
    (objects, privileged)
}

/// `AddUserToGroup` for each group (adding twice is a no-op in IAM).
pub async fn create(ctx: &Context<'_>, id: &str) -> Result<Attributes, ProviderError> {
    let (user, groups) = split(id)?;
    ctx.cache.invalidate();
    for group in &groups {
        iam::add_user_to_group(ctx.client, user, group)
            .await
            .map_err(|e| e.context(format!("{MEMBERSHIP} {id}")))?;
    }
    Ok(attributes_of(user, groups))
}

/// Adds the groups now named, removes those no longer named.
pub async fn update(
    ctx: &Context<'_>,
    id: &str,
    before: &Attributes,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (user, _) = split(id)?;
    ctx.cache.invalidate();
    let wanted = sorted(string_list(after, "groups"));
    let had = sorted(string_list(before, "groups"));
    for group in wanted.iter().filter(|g| !had.contains(g)) {
        iam::add_user_to_group(ctx.client, user, group).await?;
    }
    for group in had.iter().filter(|g| !wanted.contains(g)) {
        iam::remove_user_from_group(ctx.client, user, group).await?;
    }
    Ok(attributes_of(user, wanted))
}

/// `RemoveUserFromGroup` for each group; on a revert, revokes the user's older sessions.
pub async fn delete(
    ctx: &Context<'_>,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let (user, groups) = split(id)?;
    ctx.cache.invalidate();
    for group in &groups {
        iam::remove_user_from_group(ctx.client, user, group).await?;
    }
    let mut notes = Vec::new();
    if context.revert && iam::groups_for_user(ctx.client, user).await?.is_some() {
        notes.push(revoke_user_sessions(ctx, user).await?);
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_groups_and_lists_compare_as_sets() {
        let mut attributes = Attributes::new();
        attributes.insert("user".into(), json!("alice"));
        attributes.insert("groups".into(), json!(["responders", "auditors", "responders"]));
        assert_eq!(id(&attributes).unwrap(), "alice/auditors/responders");
        assert_eq!(split("alice/a/b").unwrap(), ("alice", vec!["a".to_owned(), "b".to_owned()]));
        assert!(split("alice").is_err());
        assert!(groups_equal(&json!(["b", "a"]), &json!(["a", "b"])));
        assert!(!groups_equal(&json!(["a"]), &json!(["a", "b"])));
    }
}
