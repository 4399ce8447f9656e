//! Comparing desired and live: an action per object, attribute-level before and after, and the
//! reason for each change; drift in its own list.

use breakglass_provider::{
    AttributeName, AttributeSchema, AttributeType, Attributes, ResourceSchema, Value,
    attributes_digest, redact_sensitive,
};
use std::collections::{HashMap, HashSet};

use super::compile::{Desired, revert_reason};
use super::parallel::{Run, in_key_runs};
use super::providers::Providers;
use super::refresh::{Identity, Live};
use super::sorted::merge_sorted;
use crate::address::Address;
use crate::plan::{Action, Drift, DriftKind, Reason, ResourceChange};
use crate::state::{ResourceState, State};

/// The result of a diff.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// One change per object desired or in state that still exists, no-ops included, sorted by
    /// address.
    pub changes: Vec<ResourceChange>,
    /// What changed outside breakglass.
    pub drift: Vec<Drift>,
}

/// Whether `desired` and `live` values of an attribute mean the same.
pub(crate) fn equal(
    providers: &Providers,
    provider: &str,
    resource_type: &str,
    name: &str,
    schema: Option<&AttributeSchema>,
    desired: Option<&Value>,
    live: Option<&Value>,
) -> bool {
    let null = Value::Null;
    let (desired, live) = (desired.unwrap_or(&null), live.unwrap_or(&null));
    if desired == live {
        return true;
    }
    if desired.is_null() || live.is_null() {
        return false;
    }
    if schema.is_some_and(|s| s.ty == AttributeType::Json) {
        let parse = |value: &Value| match value {
            Value::String(text) => serde_json::from_str::<Value>(text).ok(),
            other => Some(other.clone()),
        };
        if let (Some(d), Some(l)) = (parse(desired), parse(live))
            && d == l
        {
            return true;
        }
    }
    providers
        .get(provider)
        .map(|p| p.attribute_equal(resource_type, name, desired, live))
        .unwrap_or(false)
}

/// The attributes of `desired` whose values differ from `live`. A sensitive attribute the
/// platform does not read back is compared with the digest state recorded.
#[allow(clippy::too_many_arguments)]
fn differing(
    providers: &Providers,
    provider: &str,
    resource_type: &str,
    schema: Option<&ResourceSchema>,
    desired: &Attributes,
    live: &Attributes,
    recorded: Option<&Attributes>,
) -> Vec<String> {
    desired
        .iter()
        .filter(|(name, value)| {
            let attribute = schema.and_then(|s| s.attributes.get(name.as_str()));
            if attribute.is_some_and(|a| a.computed) {
                return false;
            }
            let live_value = live.get(*name).filter(|v| !v.is_null());
            if attribute.is_some_and(|a| a.sensitive) && live_value.is_none() {
                let mut one = Attributes::new();
                one.insert((*name).clone(), (*value).clone());
                let digest =
                    schema.map(|s| redact_sensitive(s, &one)).and_then(|r| r.get(*name).cloned());
                return recorded.and_then(|r| r.get(*name)) != digest.as_ref();
            }
            !equal(providers, provider, resource_type, name, attribute, Some(value), live_value)
        })
        .map(|(name, _)| name.to_string())
        .collect()
}

/// What the provider also does when it takes this access back (ends sessions, say).
fn revert_note(providers: &Providers, change: &ResourceChange) -> Option<String> {
    providers.get(&change.provider).ok()?.revert_note_for(&change.resource_type, &change.id)
}

fn redact(schema: Option<&ResourceSchema>, attributes: &Attributes) -> Attributes {
    schema.map_or_else(|| attributes.clone(), |s| redact_sensitive(s, attributes))
}

/// The records of objects granted by activations, by type and id: the addresses that hold
/// each (more than one where grants overlap). Built only when some granted object looks
/// drifted.
pub(super) fn holders_of_objects(
    state: &State,
) -> HashMap<(&str, &str), Vec<(&Address, &ResourceState)>, foldhash::fast::RandomState> {
    let mut holders: HashMap<_, Vec<_>, foldhash::fast::RandomState> = HashMap::default();
    for (address, record) in state.resources.iter().filter(|(a, _)| a.is_in_activation()) {
        holders
            .entry((record.resource_type.as_str(), record.id.as_str()))
            .or_default()
            .push((address, record));
    }
    holders
}

/// Below this many desired objects per core, diffing stays on one thread.
const PER_THREAD: usize = 2_000;

/// Diffs `desired` against `live`, using `state` to tell drift from intended change.
pub fn diff(desired: &Desired, live: &Live, state: &State, providers: &Providers) -> Diff {
    // Each address is diffed on its own: runs of addresses go to the cores, in order.
    let runs = in_key_runs(&desired.resources, PER_THREAD, |run| {
        diff_addresses(desired, live, state, providers, run)
    });
    let mut changes = Vec::with_capacity(runs.iter().map(|d| d.changes.len()).sum());
    let mut drift = Vec::with_capacity(runs.iter().map(|d| d.drift.len()).sum());
    for run in runs {
        changes.extend(run.changes);
        drift.extend(run.drift);
    }
    add_unmanaged(&mut changes, &mut drift, desired, live, providers);
    Diff { changes, drift }
}

/// The changes and drift of the addresses desired or in state within `run`.
pub(super) fn diff_addresses(
    desired: &Desired,
    live: &Live,
    state: &State,
    providers: &Providers,
    run: Run<'_, Address>,
) -> Diff {
    let mut changes = Vec::new();
    let mut drift = Vec::new();
    let claims = std::cell::OnceCell::new();
    let holders = std::cell::OnceCell::new();
    for (address, wanted, recorded) in
        merge_sorted(desired.resources.range(run), state.resources.range(run))
    {
        match wanted {
            Some(resource) => {
                let schema = providers.resource_schema(&resource.provider, &resource.resource_type);
                let identity = live.ids.get(address);
                let id = identity.map_or("", |identity| identity.id.as_str());
                let natural = identity.and_then(Identity::natural).unwrap_or(id);
                let Some(current) = live.objects.get(&resource.resource_type, id) else {
                    let reason = if let Some(recorded) = recorded {
                        drift.push(Drift {
                            address: Some(address.clone()),
                            provider: resource.provider.clone(),
                            resource_type: resource.resource_type.clone(),
                            id: recorded.id.clone(),
                            kind: DriftKind::Deleted,
                            recorded: Some(recorded.attributes.clone()),
                            live: None,
                            privileged: false,
                            held_by: None,
                        });
                        if resource.is_baseline() { Reason::Drift } else { resource.reason() }
                    } else {
                        resource.reason()
                    };
                    let mut change = ResourceChange::new(
                        address.clone(),
                        &resource.provider,
                        &resource.resource_type,
                        natural,
                        Action::Create,
                        None,
                        Some(redact(schema, &resource.attributes)),
                        reason,
                    );
                    change.depends_on = resource.depends_on.clone();
                    if let (Some(schema), Some(context)) = (schema, &resource.context().activation)
                        && let Some(attribute) = &schema.expiry_attribute
                        && resource.attributes.contains_key(attribute)
                    {
                        change.notes.push(format!(
                            "the platform itself ends this access at {} ({attribute})",
                            context.end
                        ));
                    }
                    changes.push(change);
                    continue;
                };
                let changed = differing(
                    providers,
                    &resource.provider,
                    &resource.resource_type,
                    schema,
                    &resource.attributes,
                    current,
                    recorded.map(|r| &r.attributes),
                );
                if let Some(recorded) = recorded {
                    let mut drifted: Vec<&AttributeName> = resource
                        .attributes
                        .keys()
                        .filter(|name| {
                            let attribute = schema.and_then(|s| s.attributes.get(name.as_str()));
                            !attribute.is_some_and(|a| a.sensitive || a.computed)
                                && !equal(
                                    providers,
                                    &resource.provider,
                                    &resource.resource_type,
                                    name,
                                    attribute,
                                    recorded.attributes.get(*name),
                                    current.get(*name),
                                )
                        })
                        .collect();
                    if !drifted.is_empty() && address.is_in_activation() {
                        // Overlapping grants: another live activation's address holds the same
                        // object and wrote it last (a later end, say). A value breakglass wrote
                        // through either address is not a change made outside it.
                        let holders = holders.get_or_init(|| holders_of_objects(state));
                        let others = holders
                            .get(&(resource.resource_type.as_str(), id))
                            .map_or(&[][..], Vec::as_slice);
                        drifted.retain(|name| {
                            let attribute = schema.and_then(|s| s.attributes.get(name.as_str()));
                            !others.iter().any(|(other, record)| {
                                *other != address
                                    && equal(
                                        providers,
                                        &resource.provider,
                                        &resource.resource_type,
                                        name,
                                        attribute,
                                        record.attributes.get(*name),
                                        current.get(*name),
                                    )
                            })
                        });
                    }
                    if !drifted.is_empty() {
                        drift.push(Drift {
                            address: Some(address.clone()),
                            provider: resource.provider.clone(),
                            resource_type: resource.resource_type.clone(),
                            id: id.to_owned(),
                            kind: DriftKind::Changed,
                            recorded: Some(recorded.attributes.clone()),
                            live: Some(redact(schema, current)),
                            privileged: false,
                            held_by: None,
                        });
                    }
                }
                let replaces = id != natural
                    || changed.iter().any(|name| {
                        schema
                            .and_then(|s| s.attributes.get(name))
                            .is_some_and(|a| a.forces_replacement)
                    });
                let action = match (changed.is_empty(), replaces) {
                    (true, false) => Action::NoOp,
                    (_, true) => Action::Replace,
                    (false, false) => Action::Update,
                };
                if action == Action::NoOp && recorded.is_some() {
                    // In place and already tracked: nothing to do, nothing to list. (A no-op is
                    // listed only for an object found as desired that breakglass starts to
                    // track, so apply records it.)
                    continue;
                }
                // Putting back what changed outside breakglass, when nothing else asked for it.
                let desired_is_recorded = action != Action::NoOp
                    && recorded.is_some_and(|r| {
                        redact(schema, &resource.attributes).iter().all(|(name, value)| {
                            r.attributes.get(name).unwrap_or(&Value::Null) == value
                        })
                    });
                let reason =
                    if action != Action::NoOp && desired_is_recorded && resource.is_baseline() {
                        Reason::Drift
                    } else {
                        resource.reason()
                    };
                // A no-op carries no attributes: at 100,000 objects, copying each twice would
                // be most of a plan's memory for nothing a reader needs.
                let (before, after) = if action == Action::NoOp {
                    (None, None)
                } else {
                    let mut merged = current.clone();
                    merged.extend(resource.attributes.clone());
                    (Some(redact(schema, current)), Some(redact(schema, &merged)))
                };
                let mut change = ResourceChange::new(
                    address.clone(),
                    &resource.provider,
                    &resource.resource_type,
                    id,
                    action,
                    before,
                    after,
                    reason,
                );
                change.depends_on = resource.depends_on.clone();
                if action != Action::NoOp {
                    change.live_digest = Some(attributes_digest(current));
                }
                if action == Action::Replace && natural != change.id {
                    change.notes.push(format!("replaced by {natural}"));
                }
                changes.push(change);
            }
            None => {
                let Some(recorded) = recorded else { continue };
                // Only desired addresses claim objects, and this one is not desired: any claim
                // is another address's.
                let handed_over = claims
                    .get_or_init(|| live.claimed())
                    .contains(&(recorded.resource_type.as_str(), recorded.id.as_str()));
                if handed_over {
                    // An overlapping grant took the object over: it must not be deleted.
                    continue;
                }
                let Some(current) = live.objects.get(&recorded.resource_type, &recorded.id) else {
                    continue;
                };
                let schema = providers.resource_schema(&recorded.provider, &recorded.resource_type);
                let reason = recorded
                    .activation
                    .as_ref()
                    .and_then(|id| desired.activations.get(id))
                    .map_or(Reason::RemovedFromPolicy, |activation| revert_reason(activation));
                // An object that predates its activation is put back as it was, not deleted.
                let (action, after) = match &recorded.restore {
                    Some(prior) => {
                        let back = differing(
                            providers,
                            &recorded.provider,
                            &recorded.resource_type,
                            schema,
                            prior,
                            current,
                            None,
                        );
                        if back.is_empty() {
                            continue;
                        }
                        let mut after = current.clone();
                        after.extend(prior.clone());
                        (Action::Update, Some(redact(schema, &after)))
                    }
                    None => (Action::Delete, None),
                };
                let mut change = ResourceChange::new(
                    address.clone(),
                    &recorded.provider,
                    &recorded.resource_type,
                    &recorded.id,
                    action,
                    Some(redact(schema, current)),
                    after,
                    reason,
                );
                if recorded.restore.is_some() {
                    change.notes.push(
                        "it was there before the activation: put back as it was, not deleted"
                            .to_owned(),
                    );
                }
                change.depends_on = recorded.depends_on.clone();
                change.live_digest = Some(attributes_digest(current));
                if change.reason.is_revert() {
                    change.notes.extend(revert_note(providers, &change));
                }
                changes.push(change);
            }
        }
    }
    Diff { changes, drift }
}

/// Listed privileged objects no address stands for: drift, and where the policy asks for
/// such drift to be put back, a change that deletes it.
pub(super) fn add_unmanaged(
    changes: &mut Vec<ResourceChange>,
    drift: &mut Vec<Drift>,
    desired: &Desired,
    live: &Live,
    providers: &Providers,
) {
    // Every object some address stands for, by type and id (borrowed: 100,000 entries at scale).
    let known: HashSet<(&str, &str), foldhash::fast::RandomState> = live
        .ids
        .iter()
        .flat_map(|(address, identity)| {
            std::iter::once(identity.id.as_str())
                .chain(identity.natural())
                .map(|id| (address.resource_type(), id))
        })
        .collect();
    for (resource_type, id, attributes) in live.objects.iter() {
        let listed = live.listed.contains(resource_type);
        let is_known = known.contains(&(resource_type, id));
        // Only access that is privileged is drift worth a plan's attention: other objects
        // nobody declared (every ordinary project member, say) are simply not breakglass's.
        if !listed || is_known || !live.is_privileged(resource_type, id) {
            continue;
        }
        let provider = &crate::address::provider_of(resource_type).to_owned();
        let schema = providers.resource_schema(provider, resource_type);
        let privileged = true;
        drift.push(Drift {
            address: None,
            provider: provider.clone(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            kind: DriftKind::Unmanaged,
            recorded: None,
            live: Some(redact(schema, attributes)),
            privileged,
            held_by: None,
        });
        // Access nobody granted, where the policy asks for such drift to be put back.
        if privileged && desired.revert_unmanaged.contains(provider) {
            let mut change = ResourceChange::new(
                Address::unmanaged(resource_type, id),
                provider,
                resource_type,
                id,
                Action::Delete,
                Some(redact(schema, attributes)),
                None,
                Reason::Drift,
            );
            change.live_digest = Some(attributes_digest(attributes));
            change.notes.push("privileged access that nothing in the policy grants".to_owned());
            change.notes.extend(revert_note(providers, &change));
            changes.push(change);
        }
    }
}
