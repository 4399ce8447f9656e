//! Making a plan: compile at a time, refresh, diff, order; and checking, at apply time, that a
//! saved plan still holds.

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;

use super::compile::{
    CompileOptions, Desired, HandChange, compile_with, resolve_conflicts, respect_preexisting,
};
use super::diff::diff;
use super::error::EngineError;
use super::progress::Progress;
use super::providers::Providers;
use super::refresh::{Live, refresh, refresh_by_id};
use crate::activation::Activation;
use crate::address::Address;
use crate::graph::ChangeGraph;
use crate::plan::{
    Action, Drift, DriftKind, HeldBy, PLAN_FORMAT_VERSION, Plan, RefreshSummary, ResourceChange,
    StateRef,
};
use crate::policy::Policy;
use crate::state::State;
use breakglass_provider::Attributes;

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The time to compute desired state for.
    pub at: Timestamp,
    /// Read live objects (false: trust state).
    pub refresh: bool,
    /// Only these addresses and what they depend on; empty means all.
    pub targets: Vec<Address>,
    /// Provider calls in flight at once.
    pub parallelism: usize,
    /// Treat activations still recorded as `applying` as interrupted: no longer live, to be
    /// reverted. True for reconcile and watch, which run under the state lock, so no apply can
    /// be in flight: an `applying` record there is one whose run died.
    pub revert_interrupted: bool,
    /// Plan only what the activations in the (scoped) state and the extra activation touch,
    /// reading their objects by id (see [`CompileOptions::scoped`]).
    pub scoped: bool,
}

/// A plan with what it was computed from, for apply.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Desired state.
    pub desired: Desired,
    /// What refresh read.
    pub live: Live,
}

fn live_digest(live: &Live) -> String {
    let mut hasher = Sha256::new();
    for (resource_type, id, attributes) in live.objects.iter() {
        hasher.update(format!("{resource_type}\0{id}\0").as_bytes());
        hasher.update(breakglass_provider::attributes_digest(attributes).as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The changes for `targets` and everything they depend on (all when `targets` is empty).
fn targeted(changes: Vec<ResourceChange>, targets: &[Address]) -> Vec<ResourceChange> {
    if targets.is_empty() {
        return changes;
    }
    let mut wanted: BTreeSet<Address> = targets.iter().cloned().collect();
    loop {
        let before = wanted.len();
        for change in &changes {
            if wanted.contains(&change.address) {
                wanted.extend(change.depends_on.iter().cloned());
            }
        }
        if wanted.len() == before {
            break;
        }
    }
    changes.into_iter().filter(|c| wanted.contains(&c.address)).collect()
}

/// Reports each conflict once, as a conflict: what it explains is no longer also listed as
/// ordinary drift (an object counted twice, as changed and as conflict, reads as two problems).
fn add_conflicts(drift: &mut Vec<Drift>, desired: &Desired, live: &Live, state: &State) {
    for conflict in &desired.conflicts {
        let provider = crate::address::provider_of(conflict.address.resource_type()).to_owned();
        let (recorded, now, explained): (Attributes, Option<Attributes>, Vec<String>) =
            match &conflict.change {
                HandChange::Overridden(value) => (
                    [(value.attribute.clone(), value.overridden.clone())].into_iter().collect(),
                    Some([(value.attribute.clone(), value.live.clone())].into_iter().collect()),
                    vec![value.attribute.clone()],
                ),
                HandChange::Changed { attributes } => (
                    attributes.iter().map(|(n, held, _)| (n.clone(), held.clone())).collect(),
                    Some(attributes.iter().map(|(n, _, now)| (n.clone(), now.clone())).collect()),
                    attributes.iter().map(|(n, _, _)| n.clone()).collect(),
                ),
                HandChange::Removed => (
                    state
                        .resources
                        .get(&conflict.address)
                        .map(|r| r.attributes.clone())
                        .unwrap_or_default(),
                    None,
                    Vec::new(),
                ),
            };
        // The same object as ordinary drift: drop what the conflict explains.
        drift.retain_mut(|entry| {
            if entry.address.as_ref() != Some(&conflict.address)
                || entry.kind == DriftKind::Conflict
            {
                return true;
            }
            if entry.kind == DriftKind::Deleted || explained.is_empty() {
                return false;
            }
            let (Some(before), Some(after)) = (&mut entry.recorded, &entry.live) else {
                return true;
            };
            before.retain(|name, value| {
                !explained.iter().any(|e| e == name.as_str())
                    && after.get(name.as_str()).unwrap_or(&breakglass_provider::Value::Null)
                        != value
            });
            !before.is_empty()
        });
        drift.push(Drift {
            address: Some(conflict.address.clone()),
            provider,
            resource_type: conflict.address.resource_type().to_owned(),
            id: live
                .id(&conflict.address)
                .or_else(|| state.resources.get(&conflict.address).map(|r| r.id.as_str()))
                .unwrap_or_default()
                .to_owned(),
            kind: DriftKind::Conflict,
            recorded: Some(recorded),
            live: now,
            privileged: false,
            held_by: Some(HeldBy { activation: conflict.activation.clone(), kind: conflict.kind }),
        });
    }
}

/// Plans against `state`. `extra` is an emergency activation to include as live.
pub async fn make_plan(
    policy: &Policy,
    state: &State,
    providers: &Providers,
    options: &PlanOptions,
    extra: Option<&Activation>,
    progress: Arc<dyn Progress>,
) -> Result<Planned, EngineError> {
    let compile_options =
        CompileOptions { revert_interrupted: options.revert_interrupted, scoped: options.scoped };
    let mut desired = compile_with(policy, state, providers, options.at, extra, compile_options)?;
    let live = if options.scoped && options.refresh {
        refresh_by_id(&desired, state, providers, options.parallelism, progress).await?
    } else {
        refresh(&desired, state, providers, options.parallelism, options.refresh, progress).await?
    };
    // The digest of what was read needs nothing else: it is made on another core while the
    // conflicts are worked out (at 100,000 objects each takes some 50 ms).
    let (live_digest, diffed) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| live_digest(&live));
        resolve_conflicts(&mut desired, &live, state, providers);
        respect_preexisting(&mut desired, &live, state, providers);
        let mut diffed = diff(&desired, &live, state, providers);
        add_conflicts(&mut diffed.drift, &desired, &live, state);
        let digest = digest.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (digest, diffed)
    });
    let changes = targeted(diffed.changes, &options.targets);
    let graph = ChangeGraph::build(&changes).map_err(EngineError::Cycle)?;
    // Moved, not cloned, into order: at 100,000 objects a copy of every change costs ~0.3 s and
    // hundreds of MB.
    let mut slots: Vec<Option<ResourceChange>> = changes.into_iter().map(Some).collect();
    let ordered: Vec<ResourceChange> =
        graph.order().into_iter().filter_map(|i| slots[i].take()).collect();
    let created_at = crate::clock::now();
    let activations = desired
        .starting
        .iter()
        .filter_map(|id| desired.activations.get(id).map(|a| (**a).clone()))
        .filter(|a| ordered.iter().any(|c| c.reason.activation() == Some(a.id.as_str())))
        .collect();
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION.to_owned(),
        breakglass_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        evaluated_at: options.at,
        expires_at: created_at
            .checked_add(policy.settings.plan_lifetime.to_signed())
            .unwrap_or(created_at),
        policy_digest: policy.digest.clone(),
        state: StateRef { lineage: state.lineage.clone(), serial: state.serial },
        live_digest,
        targets: options.targets.clone(),
        summary: Plan::summarize(&ordered, &diffed.drift),
        resource_changes: ordered,
        drift: diffed.drift,
        activations,
        request: None,
        refresh: RefreshSummary {
            refreshed: live.refreshed,
            objects: live.objects.len(),
            api_calls: live.api_calls,
        },
    };
    Ok(Planned { plan, desired, live })
}

/// A change as far as staleness is concerned: what it does, to what, from what, to what.
fn fingerprint(change: &ResourceChange) -> (String, Action, String, Option<String>, String) {
    (
        change.address.to_string(),
        change.action,
        change.id.clone(),
        change.live_digest.clone(),
        serde_json::to_string(&change.after).unwrap_or_default(),
    )
}

/// Checks that `saved` (a plan verified as signed and unexpired) still holds: same policy,
/// same state, and the same changes when planned again now against the live objects. Returns
/// the fresh plan to apply.
pub fn check_still_holds(
    saved: &Plan,
    policy: &Policy,
    state: &State,
    fresh: &Plan,
) -> Result<(), EngineError> {
    if saved.policy_digest != policy.digest {
        return Err(EngineError::Stale(
            "the policy files changed since the plan was made".to_owned(),
        ));
    }
    if saved.state.lineage.is_empty() && saved.state.serial != state.serial {
        return Err(EngineError::Stale(format!(
            "the state changed since the plan was made (serial {} then, {} now)",
            saved.state.serial, state.serial
        )));
    }
    if saved.state.lineage != state.lineage {
        return Err(EngineError::Stale(format!(
            "it was made for another state (lineage {:?}, this state is {:?})",
            saved.state.lineage, state.lineage
        )));
    }
    if saved.state.serial != state.serial {
        return Err(EngineError::Stale(format!(
            "the state changed since the plan was made (serial {} then, {} now)",
            saved.state.serial, state.serial
        )));
    }
    let then: Vec<_> = saved
        .resource_changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(fingerprint)
        .collect();
    let now: Vec<_> = fresh
        .resource_changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(fingerprint)
        .collect();
    if then != now {
        let then_set: BTreeSet<_> = then.iter().collect();
        let now_set: BTreeSet<_> = now.iter().collect();
        let mut differences: Vec<String> =
            then_set.symmetric_difference(&now_set).map(|(address, ..)| address.clone()).collect();
        differences.dedup();
        return Err(EngineError::Stale(format!(
            "live objects or time-bound activations changed since the plan was made ({})",
            differences.join(", ")
        )));
    }
    Ok(())
}
