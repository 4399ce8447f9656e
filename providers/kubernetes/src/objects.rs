//! Reads and writes of RBAC objects, written once for the four types ([`Kind`]).
//!
//! - **Optimistic concurrency, never a blind overwrite.** An update starts from the object as
//!   read and sends it back with the `resourceVersion` it was read at; a `409 Conflict` means
//!   someone changed it meanwhile, so it is read again and the change decided again, a bounded
//!   number of times. A delete names the uid and `resourceVersion` it read as preconditions, so
//!   it removes exactly the object it looked at.
//! - **A revert deletes exactly what its activation created.** An emergency grant creates its
//!   binding labelled `breakglass.dev/activation=<activation>`; the revert deletes it only if the
//!   object still carries that label. A binding of the same name made by someone else is left
//!   in place, loudly (the revert stays unconfirmed until someone looks).
//! - **Idempotent writes.** A create that meets its own object (a retry after a lost answer)
//!   converges it; one that meets an object the activation did not create refuses, since the
//!   revert would delete someone else's access.
//! - **Listing** is one paged walk per type, across all namespaces, so refresh reads a cluster
//!   in a few calls and sees privileged bindings nobody declared.

use breakglass_provider::{
    ActivationContext, Attributes, ChangeContext, DryRunResponse, ProviderError,
};
use std::collections::{BTreeMap, BTreeSet};

use crate::api::{DeleteOptions, HasMeta, List};
use crate::client::{Api, FIELD_MANAGER};
use crate::kind::{
    ACTIVATION_KEY, Kind, attributes, created_for, id_of, is_default, split_id, stamp,
};
use crate::pages::all_pages;

/// Times a write is decided again after a `409 Conflict`.
pub const MAX_CONFLICTS: usize = 5;

/// The natural id of the declared object, after checking its attributes.
pub fn id<K: Kind>(declared: &Attributes) -> Result<String, ProviderError> {
    Ok(id_of(K::desired(declared)?.meta()))
}

fn collection<K: Kind>(namespace: Option<&str>) -> Vec<&str> {
    match namespace {
        Some(namespace) => vec!["namespaces", namespace, K::PLURAL],
        None => vec![K::PLURAL],
    }
}

fn item<'a, K: Kind>(namespace: Option<&'a str>, name: &'a str) -> Vec<&'a str> {
    let mut segments = collection::<K>(namespace);
    segments.push(name);
    segments
}

fn write_query(dry_run: bool) -> Vec<(&'static str, String)> {
    let mut query = vec![("fieldManager", FIELD_MANAGER.to_owned())];
    if dry_run {
        query.push(("dryRun", "All".to_owned()));
    }
    query
}

/// The activation a write grants for, if it grants.
fn granting(context: &ChangeContext) -> Option<&ActivationContext> {
    context.activation.as_ref().filter(|_| !context.revert)
}

async fn get<K: Kind>(api: &Api, id: &str) -> Result<Option<K::Object>, ProviderError> {
    let (namespace, name) = split_id::<K>(id)?;
    match api.get(&item::<K>(namespace, name), &[]).await {
        Ok(object) => Ok(Some(object)),
        Err(failure) if failure.is_not_found() => Ok(None),
        Err(failure) => Err(failure.into()),
    }
}

/// Reads objects by id, one call each; ids not found are left out.
pub async fn read<K: Kind>(
    api: &Api,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut objects = BTreeMap::new();
    for id in ids {
        if let Some(object) = get::<K>(api, id).await? {
            objects.insert(id.clone(), attributes::<K>(&object));
        }
    }
    Ok((objects, ids.len() as u64))
}

/// Every object of the type in the cluster, the calls it took, and which of them grant a
/// privileged ClusterRole (Kubernetes' own defaults aside).
pub async fn list<K: Kind>(
    api: &Api,
    privileged_roles: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64, BTreeSet<String>), ProviderError> {
    let what = format!("GET /apis/rbac.authorization.k8s.io/v1/{}", K::PLURAL);
    let (items, calls) = all_pages(&what, |token| {
        let mut query = vec![("limit", api.page_size().to_string())];
        query.extend(token.map(|token| ("continue", token)));
        async move { api.get::<List<K::Object>>(&[K::PLURAL], &query).await }
    })
    .await?;
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    for object in items {
        let id = id_of(object.meta());
        if K::privileged(&object, privileged_roles) && !is_default(object.meta()) {
            privileged.insert(id.clone());
        }
        objects.insert(id, attributes::<K>(&object));
    }
    Ok((objects, calls, privileged))
}

/// The declared object, stamped as breakglass's (and the activation's, when granting).
fn desired<K: Kind>(
    id: &str,
    declared: &Attributes,
    activation: Option<&ActivationContext>,
) -> Result<K::Object, ProviderError> {
    let mut desired = K::desired(declared)?;
    let declared_id = id_of(desired.meta());
    if declared_id != id {
        return Err(ProviderError::invalid(format!(
            "{}: asked to write {id}, but the attributes describe {declared_id}",
            K::TYPE
        )));
    }
    stamp(desired.meta_mut(), activation);
    Ok(desired)
}

/// `live` with the declared body, labels and annotations: what an update sends (with the
/// `resourceVersion` `live` was read at).
fn merged<K: Kind>(live: &K::Object, desired: &K::Object) -> K::Object {
    let mut next = live.clone();
    K::set_body(&mut next, desired);
    let (from, to) = (desired.meta(), next.meta_mut());
    to.labels.extend(from.labels.clone());
    to.annotations.extend(from.annotations.clone());
    next
}

fn changed_too_often<K: Kind>(id: &str) -> ProviderError {
    ProviderError::transient(format!(
        "{} {id} changed {MAX_CONFLICTS} times while breakglass was writing it (409 Conflict \
         each time); nothing was overwritten. Run plan again",
        K::TYPE
    ))
}

/// Updates `live` into `desired`, deciding again from a fresh read after each conflict.
async fn converge<K: Kind>(
    api: &Api,
    id: &str,
    mut live: K::Object,
    desired: &K::Object,
) -> Result<Attributes, ProviderError> {
    let (namespace, name) = split_id::<K>(id)?;
    for _ in 0..MAX_CONFLICTS {
        if let Some(why) = K::immutable_change(&live, desired) {
            return Err(ProviderError::invalid(format!("{} {id}: {why}", K::TYPE)));
        }
        let next = merged::<K>(&live, desired);
        if next == live {
            return Ok(attributes::<K>(&live));
        }
        match api.put::<K::Object, _>(&item::<K>(namespace, name), &write_query(false), &next).await
        {
            Ok(written) => return Ok(attributes::<K>(&written)),
            Err(failure) if failure.is_conflict() => {
                live = get::<K>(api, id).await?.ok_or_else(|| gone_meanwhile::<K>(id))?;
            }
            Err(failure) if failure.is_not_found() => return Err(gone_meanwhile::<K>(id)),
            Err(failure) => return Err(failure.into()),
        }
    }
    Err(changed_too_often::<K>(id))
}

fn gone_meanwhile<K: Kind>(id: &str) -> ProviderError {
    ProviderError::not_found(format!(
        "{} {id} no longer exists (deleted while breakglass was updating it); run plan again",
        K::TYPE
    ))
}

/// Creates the object; a create that meets its own earlier attempt converges it.
pub async fn create<K: Kind>(
    api: &Api,
    id: &str,
    declared: &Attributes,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let activation = granting(context);
    let desired = desired::<K>(id, declared, activation)?;
    let (namespace, _) = split_id::<K>(id)?;
    for _ in 0..MAX_CONFLICTS {
        let created = api
            .post::<K::Object, _>(&collection::<K>(namespace), &write_query(false), &desired)
            .await;
        match created {
            Ok(created) => return Ok(attributes::<K>(&created)),
            Err(failure) if failure.is_already_exists() => {
                // Deleted again meanwhile: try the create once more.
                let Some(existing) = get::<K>(api, id).await? else { continue };
                if let Some(activation) = activation
                    && !created_for(existing.meta(), &activation.id)
                {
                    return Err(ProviderError::invalid(format!(
                        "{} {id} already exists and activation {} did not create it: granting \
                         through it would delete it when the grant ends. Give the {} in the \
                         role another name",
                        K::TYPE,
                        activation.id,
                        K::KIND
                    )));
                }
                return converge::<K>(api, id, existing, &desired).await;
            }
            Err(failure) => return Err(failure.into()),
        }
    }
    Err(changed_too_often::<K>(id))
}

/// Updates the object in place.
pub async fn update<K: Kind>(
    api: &Api,
    id: &str,
    declared: &Attributes,
) -> Result<Attributes, ProviderError> {
    let desired = desired::<K>(id, declared, None)?;
    let live = get::<K>(api, id).await?.ok_or_else(|| {
        ProviderError::not_found(format!(
            "{} {id} no longer exists; run plan again to create it",
            K::TYPE
        ))
    })?;
    converge::<K>(api, id, live, &desired).await
}

/// Deletes the object, exactly the one read; when reverting an activation, only if that
/// activation created it. Already gone is success.
pub async fn delete<K: Kind>(
    api: &Api,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let (namespace, name) = split_id::<K>(id)?;
    for _ in 0..MAX_CONFLICTS {
        let Some(live) = get::<K>(api, id).await? else { return Ok(Vec::new()) };
        let meta = live.meta();
        if context.revert
            && let Some(activation) = &context.activation
            && !created_for(meta, &activation.id)
        {
            let label = meta.labels.get(ACTIVATION_KEY).map_or_else(
                || "it has no such label".to_owned(),
                |l| format!("its label says {l}"),
            );
            return Err(ProviderError::invalid(format!(
                "{} {id} is not the {} activation {} created ({ACTIVATION_KEY}: {label}); it was \
                 left in place. Delete it by hand if that access must end too",
                K::TYPE,
                K::KIND,
                activation.id
            )));
        }
        let (Some(uid), Some(version)) = (&meta.uid, &meta.resource_version) else {
            return Err(ProviderError::protocol(format!(
                "kubernetes: {} {id} was read without a uid or resourceVersion",
                K::TYPE
            )));
        };
        let options = DeleteOptions::exactly(uid, version);
        match api.delete(&item::<K>(namespace, name), &options).await {
            Ok(()) => return Ok(vec![format!("deleted {} {id} (uid {uid})", K::KIND)]),
            Err(failure) if failure.is_not_found() => return Ok(Vec::new()),
            Err(failure) if failure.is_conflict() => {}
            Err(failure) => return Err(failure.into()),
        }
    }
    Err(changed_too_often::<K>(id))
}

/// Asks the API server to run the create (`before` is `None`) or update through validation,
/// admission and RBAC checks without persisting it (`dryRun=All`).
pub async fn dry_run<K: Kind>(
    api: &Api,
    id: &str,
    before: Option<&Attributes>,
    declared: &Attributes,
    context: &ChangeContext,
) -> Result<DryRunResponse, ProviderError> {
    let accepted =
        || vec!["the API server accepted it in a server-side dry run (dryRun=All)".to_owned()];
    let desired = desired::<K>(id, declared, granting(context))?;
    let (namespace, name) = split_id::<K>(id)?;
    if before.is_none() {
        api.post::<K::Object, _>(&collection::<K>(namespace), &write_query(true), &desired).await?;
        return Ok(DryRunResponse::new(accepted()));
    }
    let live = get::<K>(api, id).await?.ok_or_else(|| gone_meanwhile::<K>(id))?;
    if let Some(why) = K::immutable_change(&live, &desired) {
        return Err(ProviderError::invalid(format!("{} {id}: {why}", K::TYPE)));
    }
    let next = merged::<K>(&live, &desired);
    if next == live {
        return Ok(DryRunResponse::default());
    }
    api.put::<K::Object, _>(&item::<K>(namespace, name), &write_query(true), &next).await?;
    Ok(DryRunResponse::new(accepted()))
}
