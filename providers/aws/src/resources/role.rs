//! `aws_iam_role`: id is the role's name.
//!
//! The trust policy the provider writes is `assume_role_policy` with, when `require_mfa` is
//! true, MFA demanded of every AWS principal (see [`crate::document::with_mfa`]). Reading back
//! reports the stored trust policy as it is, and `require_mfa`/`max_mfa_age` as found in it;
//! [`trust_equal`] lets the declared policy match a stored one that differs only by those MFA
//! conditions, so a plan shows the MFA attributes, not a rewritten JSON document.

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;

use super::{Context, Listing, number, optional, required, scope_names, string_map, tags_value};
use crate::document;
use crate::error::has_code;
use crate::iam::{self, NewRole, tag_map};
use crate::schema::ROLE;
use crate::snapshot::Snapshot;
use crate::xml::policy_document;

/// The natural id: the name.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    Ok(required(attributes, ROLE, "name")?.to_owned())
}

/// Whether a declared trust policy and a stored one mean the same, MFA conditions the provider
/// wrote aside.
pub fn trust_equal(desired: &Value, live: &Value) -> bool {
    if document::equivalent(desired, live) {
        return true;
    }
    match document::parse(live) {
        Some(live) => document::equivalent(desired, &document::without_mfa(&live)),
        None => false,
    }
}

/// The trust policy to store for the declared attributes.
fn compiled_trust(attributes: &Attributes) -> Result<String, ProviderError> {
    let trust = super::document(attributes, ROLE, "assume_role_policy")?;
    let require = attributes.get("require_mfa").and_then(Value::as_bool).unwrap_or(false);
    let max_age = number(attributes, ROLE, "max_mfa_age")?;
    if max_age.is_some() && !require {
        return Err(ProviderError::invalid(format!(
            "{ROLE} {}: max_mfa_age needs require_mfa = true",
            optional(attributes, "name").unwrap_or_default()
        )));
    }
    Ok(if require { document::with_mfa(&trust, max_age) } else { trust }.to_string())
}

fn attributes_of(
    name: &str,
    path: &str,
    arn: &str,
    trust_encoded: &str,
    description: Option<String>,
    max_session_duration: Option<u64>,
    tags: Value,
) -> Attributes {
    let trust = policy_document(trust_encoded);
    let parsed = serde_json::from_str::<Value>(&trust).unwrap_or(Value::Null);
    let (require_mfa, max_mfa_age) = document::mfa_of(&parsed);
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(name));
    attributes.insert("path".into(), json!(path));
    attributes.insert("arn".into(), json!(arn));
    attributes.insert("assume_role_policy".into(), json!(trust));
    attributes.insert(
        "description".into(),
        description.filter(|d| !d.is_empty()).map_or(Value::Null, Value::String),
    );
    attributes.insert(
        "max_session_duration".into(),
        max_session_duration.map_or(Value::Null, |d| json!(d)),
    );
    attributes.insert("tags".into(), tags);
    attributes.insert("require_mfa".into(), json!(require_mfa));
    attributes.insert("max_mfa_age".into(), max_mfa_age.map_or(Value::Null, |a| json!(a)));
    attributes
}

/// `GetRole`.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let Some(role) = iam::get_role(ctx.client, id).await? else { return Ok(None) };
    Ok(Some(attributes_of(
        &role.role_name,
        &role.path,
        &role.arn,
        &role.assume_role_policy_document,
        role.description.clone(),
        role.max_session_duration,
        tags_value(&tag_map(&role.tags)),
    )))
}

/// The roles named in `scope`, from the snapshot.
pub fn list(snapshot: &Snapshot, scope: &[Attributes]) -> Listing {
    let names = scope_names(scope, "name");
    let objects = names
        .iter()
        .filter_map(|name| {
            let detail = snapshot.roles.get(name)?;
            let summary = snapshot.role_summaries.get(name);
            Some((
                name.clone(),
                attributes_of(
                    &detail.role_name,
                    &detail.path,
                    &detail.arn,
                    &detail.assume_role_policy_document,
                    summary.and_then(|s| s.description.clone()),
                    summary.and_then(|s| s.max_session_duration),
                    tags_value(&tag_map(&detail.tags)),
                ),
            ))
        })
        .collect();
    (objects, Default::default())
}

/// `CreateRole`; a role that already exists is brought to the declared attributes.
pub async fn create(
    ctx: &Context<'_>,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let new = NewRole {
        name: id.to_owned(),
        path: optional(attributes, "path").unwrap_or_else(|| "/".to_owned()),
        trust: compiled_trust(attributes)?,
        description: optional(attributes, "description"),
        max_session_duration: number(attributes, ROLE, "max_session_duration")?,
        tags: string_map(attributes, "tags"),
    };
    ctx.cache.invalidate();
    match iam::create_role(ctx.client, &new).await {
        Ok(_) => {}
        Err(error) if has_code(&error, "EntityAlreadyExists") => {
            let before = read(ctx, id).await?.unwrap_or_default();
            return update(ctx, id, &before, attributes).await;
        }
        Err(error) => return Err(error),
    }
    read(ctx, id).await?.ok_or_else(|| {
        ProviderError::transient(format!("aws: role {id} was created but cannot be read back yet"))
    })
}

/// Changes the trust policy, description, longest session and tags in place.
pub async fn update(
    ctx: &Context<'_>,
    id: &str,
    before: &Attributes,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    ctx.cache.invalidate();
    let trust = compiled_trust(after)?;
    let live_trust = before.get("assume_role_policy").cloned().unwrap_or(Value::Null);
    if !document::equivalent(&Value::String(trust.clone()), &live_trust) {
        iam::update_trust(ctx.client, id, &trust).await?;
    }
    let description = optional(after, "description");
    let duration = number(after, ROLE, "max_session_duration")?;
    let description_changed =
        after.contains_key("description") && description != optional(before, "description");
    let duration_changed =
        duration.is_some() && duration != number(before, ROLE, "max_session_duration")?;
    if description_changed || duration_changed {
        let description = if after.contains_key("description") {
            description
        } else {
            optional(before, "description")
        };
        iam::update_role(ctx.client, id, description.as_deref(), duration).await?;
    }
    if after.contains_key("tags") {
        iam::retag_role(ctx.client, id, &string_map(before, "tags"), &string_map(after, "tags"))
            .await?;
    }
    read(ctx, id).await?.ok_or_else(|| {
        ProviderError::not_found(format!("aws: role {id} disappeared during the update"))
    })
}

/// Deletes the inline policies the provider put on the role (expiry guards, session
/// revocation), then the role. Attachments and inline policies that breakglass does not
/// manage make IAM refuse (`DeleteConflict`), with a message that says so.
pub async fn delete(ctx: &Context<'_>, id: &str) -> Result<(), ProviderError> {
    ctx.cache.invalidate();
    if let Some(names) = iam::role_policy_names(ctx.client, id).await? {
        for name in names.iter().filter(|n| super::is_provider_owned(n)) {
            iam::delete_role_policy(ctx.client, id, name).await?;
        }
    }
    iam::delete_role(ctx.client, id).await.map_err(|error| error.context(format!("{ROLE} {id}")))
}
