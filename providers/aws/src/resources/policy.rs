//! `aws_iam_policy`: id is `PATH` + `NAME` (`/breakglass/responder`); the ARN is built from the
//! account id. A changed document becomes a new default version (the oldest non-default version
//! is deleted first when IAM's five are taken).

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;

use super::{Context, Listing, optional, required, scope_names, string_map, tags_value};
use crate::document;
use crate::error::has_code;
use crate::iam::{self, tag_map};
use crate::schema::POLICY;
use crate::snapshot::Snapshot;

fn path_of(attributes: &Attributes) -> String {
    optional(attributes, "path").unwrap_or_else(|| "/".to_owned())
}

/// The natural id: path and name.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let path = path_of(attributes);
    if !path.starts_with('/') || !path.ends_with('/') {
        return Err(ProviderError::invalid(format!(
            "{POLICY}: `path` must begin and end with /, got {path:?}"
        )));
    }
    Ok(format!("{path}{}", required(attributes, POLICY, "name")?))
}

/// The partition of ARNs in the configured region.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

async fn arn_of(ctx: &Context<'_>, id: &str) -> Result<String, ProviderError> {
    let account = ctx.client.account_id().await?;
    Ok(format!("arn:{}:iam::{account}:policy{id}", partition(ctx.client.region())))
}

fn attributes_of(
    name: &str,
    path: &str,
    arn: &str,
    description: Option<String>,
    document: Option<String>,
    tags: Value,
) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(name));
    attributes.insert("path".into(), json!(path));
    attributes.insert("arn".into(), json!(arn));
    attributes.insert(
        "description".into(),
        description.filter(|d| !d.is_empty()).map_or(Value::Null, Value::String),
    );
    attributes.insert("policy".into(), document.map_or(Value::Null, Value::String));
    attributes.insert("tags".into(), tags);
    attributes
}

/// `GetPolicy` and `GetPolicyVersion`.
pub async fn read(ctx: &Context<'_>, id: &str) -> Result<Option<Attributes>, ProviderError> {
    let arn = arn_of(ctx, id).await?;
    let Some(policy) = iam::get_policy(ctx.client, &arn).await? else { return Ok(None) };
    let document = iam::get_policy_version(ctx.client, &arn, &policy.default_version_id).await?;
    Ok(Some(attributes_of(
        &policy.policy_name,
        &policy.path,
        &policy.arn,
        policy.description.clone(),
        document,
        tags_value(&tag_map(&policy.tags)),
    )))
}

/// The policies named in `scope`, from the snapshot. Authorization details leave policy tags
/// out, so they are read (`ListPolicyTags`) only for policies whose declaration has tags.
pub async fn list(
    ctx: &Context<'_>,
    snapshot: &Snapshot,
    scope: &[Attributes],
) -> Result<Listing, ProviderError> {
    let names = scope_names(scope, "name");
    let tagged: std::collections::BTreeSet<String> = scope
        .iter()
        .filter(|a| a.get("tags").and_then(Value::as_object).is_some_and(|t| !t.is_empty()))
        .filter_map(|a| optional(a, "name"))
        .collect();
    let mut objects = std::collections::BTreeMap::new();
    for p in snapshot.policies.values().filter(|p| names.contains(p.name())) {
        let tags = if tagged.contains(p.name()) {
            tags_value(&iam::policy_tags(ctx.client, &p.arn).await?)
        } else {
            Value::Null
        };
        objects.insert(
            format!("{}{}", p.path, p.name()),
            attributes_of(
                p.name(),
                &p.path,
                &p.arn,
                p.description.clone(),
                p.default_document(),
                tags,
            ),
        );
    }
    Ok((objects, Default::default()))
}

/// `CreatePolicy`; a policy that already exists gets the declared document.
pub async fn create(
    ctx: &Context<'_>,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let name = required(attributes, POLICY, "name")?;
    let document = super::document(attributes, POLICY, "policy")?.to_string();
    ctx.cache.invalidate();
    let created = iam::create_policy(
        ctx.client,
        name,
        &path_of(attributes),
        &document,
        optional(attributes, "description").as_deref(),
        &string_map(attributes, "tags"),
    )
    .await;
    match created {
        Ok(_) => {}
        Err(error) if has_code(&error, "EntityAlreadyExists") => {
            let before = read(ctx, id).await?.unwrap_or_default();
            return update(ctx, id, &before, attributes).await;
        }
        Err(error) => return Err(error),
    }
    read(ctx, id).await?.ok_or_else(|| {
        ProviderError::transient(format!(
            "aws: policy {id} was created but cannot be read back yet"
        ))
    })
}

/// A new default version when the document changed; tags.
pub async fn update(
    ctx: &Context<'_>,
    id: &str,
    before: &Attributes,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    ctx.cache.invalidate();
    let arn = arn_of(ctx, id).await?;
    let wanted = super::document(after, POLICY, "policy")?;
    let live = before.get("policy").cloned().unwrap_or(Value::Null);
    if !document::equivalent(&wanted, &live) {
        iam::set_policy_document(ctx.client, &arn, &wanted.to_string()).await?;
    }
    if after.contains_key("tags") {
        iam::retag_policy(
            ctx.client,
            &arn,
            &string_map(before, "tags"),
            &string_map(after, "tags"),
        )
        .await?;
    }
    read(ctx, id).await?.ok_or_else(|| {
        ProviderError::not_found(format!("aws: policy {id} disappeared during the update"))
    })
}

/// `DeletePolicy` (after its old versions). Attachments breakglass does not manage make IAM
/// refuse with `DeleteConflict`.
pub async fn delete(ctx: &Context<'_>, id: &str) -> Result<(), ProviderError> {
    ctx.cache.invalidate();
    let arn = arn_of(ctx, id).await?;
    iam::delete_policy(ctx.client, &arn)
        .await
        .map_err(|error| error.context(format!("{POLICY} {id}")))
}
