//! What the three `*_iam_member` types share: one member's binding to one role in the IAM
//! policy of a project, folder or organization ([`Target`] says which), read, listed and
//! written through [`Policies`].
//!
//! - **Read** groups ids by resource: one `getIamPolicy` per policy, however many bindings.
//! - **List** reads the policy of every resource the scope names and returns every member of
//!   every binding, so a binding nobody declared is seen; those of the privileged roles (the
//!   provider block's `privileged_roles`) are marked, for drift.
//! - **Create / update** bind the member (read-modify-write, idempotent: nothing is written when
//!   the binding is already as asked). With `expires_at`, the binding is written under
//!   breakglass's expiry condition, titled with the activation id; an update (an extension)
//!   rewrites that condition.
//! - **Delete** takes the member out of exactly the binding the id names (the unconditional one,
//!   breakglass's expiring one, or one under a named condition), and nothing else: other
//!   members, other roles, other conditions and the policy's audit settings stay as they are.

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

use crate::binding_id::{BASIC_ROLES, BindingId, check_member, check_role};
use crate::condition;
use crate::policies::Policies;
use crate::policy::{Kind, Membership, Policy};
use crate::schema::EXPIRES_AT;

/// Where a type's bindings live.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The resource type (`gcp_project_iam_member`).
    pub resource_type: &'static str,
    /// The attribute naming the resource (`project`).
    pub attribute: &'static str,
    /// The resource name (`projects/prod`) of the attribute's value, or why it is not one.
    pub resource_name: fn(&str) -> Result<String, String>,
    /// The attribute's value for a resource name, as reads report it.
    pub attribute_value: fn(&str) -> String,
}

impl Target {
    fn resource(&self, attributes: &Attributes) -> Result<String, ProviderError> {
        let value = required(self.resource_type, attributes, self.attribute)?;
        (self.resource_name)(value).map_err(|why| {
            ProviderError::invalid(format!(
                "{}: `{}` {value:?} {why}",
                self.resource_type, self.attribute
            ))
        })
    }

    /// Whether two values of the resource attribute name the same resource.
    pub fn same_resource(&self, a: &Value, b: &Value) -> bool {
        match (a.as_str(), b.as_str()) {
            (Some(a), Some(b)) => match ((self.resource_name)(a), (self.resource_name)(b)) {
                (Ok(a), Ok(b)) => a == b,
                _ => a == b,
            },
            _ => a == b,
        }
    }
}

/// What a list returns: objects by id, calls made, and the privileged ids.
pub type Listing = (BTreeMap<String, Attributes>, u64, BTreeSet<String>);

fn required<'a>(
    resource_type: &str,
    attributes: &'a Attributes,
    name: &str,
) -> Result<&'a str, ProviderError> {
    match attributes.get(name).and_then(Value::as_str) {
        Some(text) if !text.trim().is_empty() => Ok(text.trim()),
        _ => Err(ProviderError::invalid(format!(
            "{resource_type}: `{name}` must be set to a non-empty string"
        ))),
    }
}

/// The declared end, if any.
fn expires_at(
    target: &Target,
    attributes: &Attributes,
) -> Result<Option<Timestamp>, ProviderError> {
    match attributes.get(EXPIRES_AT) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => text.parse().map(Some).map_err(|_| {
            ProviderError::invalid(format!(
                "{}: `{EXPIRES_AT}` {text:?} is not an RFC 3339 time (2031-03-02T01:00:00Z)",
                target.resource_type
            ))
        }),
        Some(other) => Err(ProviderError::invalid(format!(
            "{}: `{EXPIRES_AT}` must be an RFC 3339 time, got {other}",
            target.resource_type
        ))),
    }
}

/// Whether IAM accepts a condition on a binding of `role`: not on the basic roles.
pub fn can_expire(attributes: &Attributes) -> bool {
    attributes.get("role").and_then(Value::as_str).is_none_or(|role| !BASIC_ROLES.contains(&role))
}

/// The binding's id, after checking the declared attributes.
pub fn binding_id(target: &Target, attributes: &Attributes) -> Result<BindingId, ProviderError> {
    let resource = target.resource(attributes)?;
    let role = required(target.resource_type, attributes, "role")?;
    check_role(target.resource_type, role)?;
    let member = required(target.resource_type, attributes, "member")?;
    check_member(target.resource_type, member)?;
    let kind = match expires_at(target, attributes)? {
        None => Kind::Unconditional,
        Some(_) if !can_expire(attributes) => {
            return Err(ProviderError::invalid(format!(
                "{}: {role} is a basic role, which IAM does not let a condition end, so \
                 `{EXPIRES_AT}` cannot be set on it; grant a predefined role instead (basic \
                 roles in a role grant are taken back by breakglass's revert alone)",
                target.resource_type
            )));
        }
        Some(_) => Kind::Expiring,
    };
    Ok(BindingId { resource, role: role.to_owned(), member: member.to_owned(), kind })
}

/// The id as text.
pub fn id(target: &Target, attributes: &Attributes) -> Result<String, ProviderError> {
    binding_id(target, attributes).map(|id| id.to_string())
}

/// A binding's attributes as read.
fn attributes_of(target: &Target, resource: &str, found: &Membership<'_>) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(target.attribute.into(), Value::from((target.attribute_value)(resource)));
    attributes.insert("role".into(), Value::from(found.role));
    attributes.insert("member".into(), Value::from(found.member));
    if let Some(condition) = found.condition {
        if let Some(end) = condition::end_of(condition) {
            attributes.insert(EXPIRES_AT.into(), Value::from(end.to_string()));
        }
        attributes.insert("condition_title".into(), Value::from(condition.title.as_str()));
        attributes
            .insert("condition_expression".into(), Value::from(condition.expression.as_str()));
    }
    attributes
}

fn lookup(target: &Target, policy: &Policy, id: &BindingId) -> Option<Attributes> {
    policy
        .find(&id.role, &id.member, &id.kind)
        .map(|found| attributes_of(target, &id.resource, &found))
}

/// Reads bindings by id, one policy read per resource; ids not found are left out.
pub async fn read(
    policies: &Policies,
    target: &Target,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut by_resource: BTreeMap<String, Vec<(String, BindingId)>> = BTreeMap::new();
    for id in ids {
        let parsed = BindingId::parse(target.resource_type, id)?;
        by_resource.entry(parsed.resource.clone()).or_default().push((id.clone(), parsed));
    }
    let mut objects = BTreeMap::new();
    let mut calls = 0;
    for (resource, wanted) in by_resource {
        let read = policies.read(&resource).await?;
        calls += read.calls;
        for (id, parsed) in wanted {
            if let Some(found) = lookup(target, &read.policy, &parsed) {
                objects.insert(id, found);
            }
        }
    }
    Ok((objects, calls))
}

/// Every binding of every resource the scope names; those of `privileged_roles` marked.
pub async fn list(
    policies: &Policies,
    target: &Target,
    scope: &[Attributes],
    privileged_roles: &[String],
) -> Result<Listing, ProviderError> {
    let resources: BTreeSet<String> = scope
        .iter()
        .filter(|attributes| attributes.get(target.attribute).is_some_and(|v| !v.is_null()))
        .map(|attributes| target.resource(attributes))
        .collect::<Result<_, _>>()?;
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    let mut calls = 0;
    for resource in resources {
        let read = policies.read(&resource).await?;
        calls += read.calls;
        for found in read.policy.memberships() {
            let id = BindingId {
                resource: resource.clone(),
                role: found.role.to_owned(),
                member: found.member.to_owned(),
                kind: found.kind.clone(),
            }
            .to_string();
            if privileged_roles.iter().any(|role| role == found.role) {
                privileged.insert(id.clone());
            }
            objects.insert(id, attributes_of(target, &resource, &found));
        }
    }
    Ok((objects, calls, privileged))
}

/// Binds the member as `wanted` says (create and update alike).
pub async fn put(
    policies: &Policies,
    target: &Target,
    id: &str,
    wanted: &Attributes,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let parsed = binding_id(target, wanted)?;
    if parsed.to_string() != id {
        return Err(ProviderError::invalid(format!(
            "{}: the attributes make the id {parsed}, not {id}: a binding's resource, role, \
             member and whether it expires cannot change in place",
            target.resource_type
        )));
    }
    let expiry = match (&parsed.kind, expires_at(target, wanted)?) {
        (Kind::Expiring, Some(end)) => {
            let activation = context.activation.as_ref().map(|a| a.id.as_str());
            Some(condition::expiry(end, activation))
        }
        (Kind::Unconditional, None) => None,
        _ => {
            return Err(ProviderError::invalid(format!(
                "{}: breakglass writes only unconditional bindings and its own expiring ones, \
                 not {id}",
                target.resource_type
            )));
        }
    };
    let written = policies
        .modify(&parsed.resource, |policy| {
            Ok(policy.grant(&parsed.role, &parsed.member, expiry.as_ref()))
        })
        .await
        .map_err(|error| error.context(format!("{} {id}", target.resource_type)))?;
    lookup(target, &written.policy, &parsed).ok_or_else(|| {
        ProviderError::protocol(format!(
            "gcp: {} {id}: Google accepted the policy but its answer does not hold the binding",
            target.resource_type
        ))
    })
}

/// Takes the member out of the binding the id names; a binding already gone is success.
pub async fn delete(policies: &Policies, target: &Target, id: &str) -> Result<(), ProviderError> {
    let parsed = BindingId::parse(target.resource_type, id)?;
    policies
        .modify(&parsed.resource, |policy| {
            Ok(policy.revoke(&parsed.role, &parsed.member, &parsed.kind))
        })
        .await
        .map_err(|error| error.context(format!("{} {id}", target.resource_type)))?;
    Ok(())
}
