//! Applying changes: write-ahead activation records, provider calls in graph order with
//! bounded parallelism, state recorded after every change that succeeds, and reverts counted
//! only when a re-read confirms them.
//!
//! Each write is a [`Change`] holding only the rows this apply touched since the last one (and
//! the audit events that describe them), so its cost follows the change, not the size of the
//! state; the state in memory may be the whole state or only the rows one activation's work
//! needs ([`crate::state::Scope`]).

use breakglass_provider::{
    Attributes, ChangeContext, CreateRequest, DeleteRequest, Provider, ProviderError, ReadRequest,
    UpdateRequest, redact_sensitive,
};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::task::JoinSet;

use super::compile::Desired;
use super::error::EngineError;
use super::progress::Progress;
use super::providers::Providers;
use super::refresh::Live;
use crate::activation::{ActivationKind, ActivationStatus};
use crate::address::Address;
use crate::event::Event;
use crate::graph::ChangeGraph;
use crate::plan::{Action, ResourceChange};
use crate::state::{Change, ResourceState, State, StateGuard};

/// How one change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Done.
    Applied,
    /// The provider refused or failed; the message says why.
    Failed(String),
    /// Not attempted because something it depends on failed.
    Skipped,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Every change attempted (no-ops excluded), with how it ended, in the order they ended.
    pub changes: Vec<(ResourceChange, ChangeOutcome)>,
    /// Activations now active.
    pub activated: Vec<String>,
    /// Activations whose revert was confirmed.
    pub reverted: Vec<String>,
    /// Activations whose revert is not confirmed yet, with why.
    pub reverting: Vec<(String, String)>,
    /// Provider notes worth auditing ("terminated 2 sessions").
    pub notes: Vec<String>,
}

impl ApplyReport {
    /// Whether any change failed or was skipped.
    pub fn has_failures(&self) -> bool {
        self.changes.iter().any(|(_, outcome)| *outcome != ChangeOutcome::Applied)
    }
}

/// Everything a change's provider call needs, owned so it can run on its own task.
struct Call {
    index: usize,
    provider: Arc<dyn Provider>,
    change: ResourceChange,
    new_id: String,
    desired: Option<Attributes>,
    live: Option<Attributes>,
    context: ChangeContext,
}

impl Call {
    async fn run(
        self,
    ) -> (usize, Result<(String, Option<Attributes>, Vec<String>), ProviderError>) {
        let Call { index, provider, change, new_id, desired, live, context } = self;
        let resource_type = change.resource_type.clone();
        let before = live.unwrap_or_default();
        let result = async {
            match change.action {
                Action::NoOp => Ok((change.id.clone(), Some(before), Vec::new())),
                Action::Create => {
                    let response = provider
                        .create(CreateRequest::new(
                            resource_type,
                            new_id,
                            desired.unwrap_or_default(),
                            context,
                        ))
                        .await?;
                    Ok((response.id, Some(response.attributes), Vec::new()))
                }
                Action::Update => {
                    let response = provider
                        .update(UpdateRequest::new(
                            resource_type,
                            change.id.clone(),
                            before,
                            desired.unwrap_or_default(),
                            context,
                        ))
                        .await?;
                    Ok((change.id.clone(), Some(response.attributes), Vec::new()))
                }
                Action::Delete => {
                    let response = provider
                        .delete(DeleteRequest::new(
                            resource_type,
                            change.id.clone(),
                            before,
                            context,
                        ))
                        .await?;
                    Ok((change.id.clone(), None, response.notes))
                }
                Action::Replace => {
                    let deleted = provider
                        .delete(DeleteRequest::new(
                            resource_type.clone(),
                            change.id.clone(),
                            before,
                            context.clone(),
                        ))
                        .await?;
                    let response = provider
                        .create(CreateRequest::new(
                            resource_type,
                            new_id,
                            desired.unwrap_or_default(),
                            context,
                        ))
                        .await?;
                    Ok((response.id, Some(response.attributes), deleted.notes))
                }
            }
        }
        .await;
        (index, result)
    }
}

/// Which activations an apply may start, and settle afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyMode {
    /// A reviewed plan: grants now due start, ended activations are reverted.
    Full,
    /// Automated paths (reconcile, watch): nothing starts; ended activations are reverted.
    RevertOnly,
    /// One emergency activation (already recorded in state as `applying`): only it is settled.
    Activation(String),
    /// Only these activations' reverts (revoke, one revert of watch): nothing starts, only
    /// they are settled.
    Reverts(BTreeSet<String>),
}

impl ApplyMode {
    fn may_start(&self, id: &str) -> bool {
        match self {
            ApplyMode::Full => true,
            ApplyMode::RevertOnly | ApplyMode::Reverts(_) => false,
            ApplyMode::Activation(only) => only == id,
        }
    }

    fn may_settle(&self, id: &str) -> bool {
        match self {
            ApplyMode::Full | ApplyMode::RevertOnly => true,
            ApplyMode::Activation(only) => only == id,
            ApplyMode::Reverts(ids) => ids.contains(id),
        }
    }
}

/// The rows touched since the last commit, written with the events that describe them.
struct Writer<'g> {
    guard: &'g mut dyn StateGuard,
    activations: BTreeSet<String>,
    resources: BTreeSet<Address>,
}

impl<'g> Writer<'g> {
    fn new(guard: &'g mut dyn StateGuard) -> Self {
        Self { guard, activations: BTreeSet::new(), resources: BTreeSet::new() }
    }

    fn activation(&mut self, id: &str) {
        self.activations.insert(id.to_owned());
    }

    fn resource(&mut self, address: &Address) {
        self.resources.insert(address.clone());
    }

    /// Commits the touched rows, as `state` now has them, with `events`.
    async fn commit(&mut self, state: &State, events: Vec<Event>) -> Result<(), EngineError> {
        let change = Change {
            activations: std::mem::take(&mut self.activations)
                .into_iter()
                .filter_map(|id| state.activations.get(&id).cloned())
                .collect(),
            resources: std::mem::take(&mut self.resources)
                .into_iter()
                .map(|address| {
                    let record = state.resources.get(&address).cloned();
                    (address, record)
                })
                .collect(),
            events,
            ..Change::default()
        };
        self.guard.commit(change).await?;
        Ok(())
    }
}

/// Applies `changes` (computed from `desired` and `live`, planned against `state`) under the
/// state lock held by `guard`, keeping `state` as written. Activations starting are recorded
/// as `applying` before any provider call; each successful change is recorded as it completes;
/// a failure stops only what depends on it.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    guard: &mut dyn StateGuard,
    state: &mut State,
    providers: &Providers,
    desired: &Desired,
    live: &Live,
    changes: &[ResourceChange],
    mode: &ApplyMode,
    parallelism: usize,
    progress: Arc<dyn Progress>,
) -> Result<ApplyReport, EngineError> {
    let now = crate::clock::now();
    let mut writer = Writer::new(guard);

    // Write-ahead: what is about to be granted is on record before any provider call, and
    // what is about to be taken back is marked so a crash leaves it to be retried.
    let mut reverting = Vec::new();
    for activation in desired.activations.values() {
        let record = state.activations.get(&activation.id);
        if activation.is_live_at(desired.at) {
            if !mode.may_start(&activation.id) {
                continue;
            }
            if record.is_some_and(|r| r.status != ActivationStatus::Applying) {
                continue;
            }
            let mut record: crate::activation::Activation =
                record.map_or_else(|| (**activation).clone(), |r| (**r).clone());
            record.status = ActivationStatus::Applying;
            if record.kind == ActivationKind::Override && record.priors.is_empty() {
                record.priors = override_priors(desired, live, state, &record.id);
            }
            // Already on record as it is (an emergency apply wrote it ahead): no second write.
            if state.activations.get(&record.id).is_none_or(|r| **r != record) {
                writer.activation(&record.id);
                state.activations.insert(record.id.clone(), Arc::new(record));
            }
        } else if mode.may_settle(&activation.id)
            && activation.needs_revert_at(desired.at)
            && record.is_some_and(|r| {
                matches!(r.status, ActivationStatus::Applying | ActivationStatus::Active)
            })
        {
            let record = Arc::make_mut(state.activations.get_mut(&activation.id).expect("present"));
            record.status = ActivationStatus::Reverting;
            if record.revoked.is_none() {
                record.revoked = activation.revoked.clone();
            }
            // A revocation dated at a run's look-ahead time happened now.
            if let Some(revocation) = record.revoked.as_mut().filter(|r| r.at > now) {
                revocation.at = now;
            }
            writer.activation(&activation.id);
            reverting.push(activation.id.clone());
        }
    }
    // The objects about to be granted, on record before any provider call: a crash after the
    // grant leaves a record that reconcile reverts, not an orphan.
    let starting: BTreeSet<&str> = desired
        .activations
        .values()
        .filter(|a| a.is_live_at(desired.at) && mode.may_start(&a.id))
        .filter(|a| {
            state.activations.get(&a.id).is_some_and(|r| r.status == ActivationStatus::Applying)
        })
        .map(|a| a.id.as_str())
        .collect();
    for address in write_ahead_records(state, desired, live, providers, changes, &starting, now) {
        writer.resource(&address);
    }
    // What each activation being taken back held before this apply: its revert is confirmed
    // against it.
    let held = held_by(state, &reverting);
    if !writer.activations.is_empty() || !writer.resources.is_empty() {
        let records: Vec<&crate::activation::Activation> =
            reverting.iter().filter_map(|id| state.activations.get(id)).map(|a| &**a).collect();
        let events = progress.reverting_events(&records);
        writer.commit(state, events).await?;
        crate::crash::point(crate::crash::AFTER_WRITE_AHEAD);
    }

    let graph = ChangeGraph::build(changes).map_err(EngineError::Cycle)?;
    let mut waiting = graph.in_degrees();
    let mut ready: Vec<usize> = graph.order().into_iter().filter(|i| waiting[*i] == 0).collect();
    ready.reverse();
    let mut blocked: BTreeSet<usize> = BTreeSet::new();
    let mut report = ApplyReport::default();
    let mut running = JoinSet::new();
    progress.apply_started(changes.iter().filter(|c| c.action != Action::NoOp).count());

    loop {
        while running.len() < parallelism.max(1) {
            let Some(index) = ready.pop() else { break };
            if blocked.contains(&index) {
                continue;
            }
            let change = &changes[index];
            let resource = desired.resources.get(&change.address);
            if change.action == Action::NoOp {
                // Nothing to call; adopt an object found already as desired into state.
                if !state.resources.contains_key(&change.address) {
                    let current =
                        live.object(&change.address, &change.provider, &change.resource_type);
                    writer.resource(&change.address);
                    record_success(
                        state,
                        desired,
                        live,
                        providers,
                        change,
                        change.id.clone(),
                        current.cloned(),
                        now,
                    );
                }
                for dependent in graph.dependents(index) {
                    waiting[dependent] -= 1;
                    if waiting[dependent] == 0 {
                        ready.push(dependent);
                    }
                }
                continue;
            }
            progress.change_started(change);
            let context = match resource {
                Some(resource) => resource.context(),
                None => ChangeContext::revert(
                    change.reason.activation().and_then(|id| desired.activations.get(id)).map(
                        |a| {
                            breakglass_provider::ActivationContext::new(
                                a.id.clone(),
                                a.requester.clone(),
                                a.start,
                                a.end,
                            )
                        },
                    ),
                ),
            };
            running.spawn(
                Call {
                    index,
                    provider: providers.get(&change.provider)?.clone(),
                    change: change.clone(),
                    new_id: live
                        .natural_id(&change.address)
                        .map_or_else(|| change.id.clone(), str::to_owned),
                    desired: resource.map(|r| r.attributes.clone()).or_else(|| {
                        state.resources.get(&change.address).and_then(|r| r.restore.clone())
                    }),
                    live: live.objects.get(&change.resource_type, &change.id).cloned(),
                    context,
                }
                .run(),
            );
        }
        let Some(joined) = running.join_next().await else { break };
        let (index, result) = joined
            .map_err(|error| EngineError::Refused(format!("an apply task failed: {error}")))?;
        let change = &changes[index];
        match result {
            Ok((id, attributes, notes)) => {
                crate::crash::point(crate::crash::AFTER_GRANT);
                record_success(state, desired, live, providers, change, id, attributes, now);
                writer.resource(&change.address);
                let events = progress.change_events(change, Ok(()));
                writer.commit(state, events).await?;
                crate::crash::point(crate::crash::AFTER_RECORD);
                progress.change_finished(change, Ok(()));
                report.changes.push((change.clone(), ChangeOutcome::Applied));
                report.notes.extend(notes.into_iter().map(|n| format!("{}: {n}", change.address)));
                for dependent in graph.dependents(index) {
                    waiting[dependent] -= 1;
                    if waiting[dependent] == 0 {
                        ready.push(dependent);
                    }
                }
            }
            Err(error) => {
                let message = error.to_string();
                let events = progress.change_events(change, Err(&message));
                writer.commit(state, events).await?;
                progress.change_finished(change, Err(&message));
                report.changes.push((change.clone(), ChangeOutcome::Failed(message)));
                let mut stack = graph.dependents(index);
                while let Some(dependent) = stack.pop() {
                    if blocked.insert(dependent) {
                        if changes[dependent].action != Action::NoOp {
                            report
                                .changes
                                .push((changes[dependent].clone(), ChangeOutcome::Skipped));
                        }
                        stack.extend(graph.dependents(dependent));
                    }
                }
            }
        }
    }

    let settled =
        settle_activations(state, &held, desired, live, providers, mode, &mut report, now).await?;
    for id in settled {
        writer.activation(&id);
    }
    let failed: BTreeSet<Address> = report
        .changes
        .iter()
        .filter(|(_, outcome)| *outcome != ChangeOutcome::Applied)
        .map(|(change, _)| change.address.clone())
        .collect();
    for address in prune(state, desired, live, &failed) {
        writer.resource(&address);
    }
    let events = progress.settled_events(&report);
    writer.commit(state, events).await?;
    Ok(report)
}

/// What each of `ids` held in `state` (its records, and the baseline objects its override
/// changed), before anything is taken back.
fn held_by(state: &State, ids: &[String]) -> HashMap<String, Held> {
    if ids.is_empty() {
        return HashMap::new();
    }
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut held: HashMap<String, Held> = ids
        .iter()
        .filter_map(|id| state.activations.get(id))
        .map(|a| {
            let priors = a
                .priors
                .keys()
                .filter_map(|address| {
                    Some((address.clone(), state.resources.get(address)?.clone()))
                })
                .collect();
            (a.id.clone(), Held { activation: a.clone(), resources: Vec::new(), priors })
        })
        .collect();
    for (address, recorded) in &state.resources {
        if let Some(id) = recorded.activation.as_deref().filter(|id| wanted.contains(id))
            && let Some(entry) = held.get_mut(id)
        {
            entry.resources.push((address.clone(), recorded.clone()));
        }
    }
    held
}

/// What one activation held before an apply took it back.
struct Held {
    activation: Arc<crate::activation::Activation>,
    /// The objects it recorded.
    resources: Vec<(Address, ResourceState)>,
    /// The baseline objects its override changed, as recorded.
    priors: Vec<(Address, ResourceState)>,
}

/// For an override activation: each resource it changes, with the live values of the
/// attributes it sets, read just before the change. Where another override that is not yet
/// reverted already changed the same attribute, its prior is inherited, so whichever ends last
/// restores the value from before either began.
fn override_priors(
    desired: &Desired,
    live: &Live,
    state: &State,
    activation: &str,
) -> BTreeMap<Address, Attributes> {
    desired
        .resources
        .iter()
        .filter(|(address, resource)| {
            resource.activation() == Some(activation) && address.is_baseline()
        })
        .filter_map(|(address, resource)| {
            let current = live.object(address, &resource.provider, &resource.resource_type)?;
            let prior: Attributes = resource
                .attributes
                .keys()
                .filter_map(|name| {
                    let earlier = state
                        .activations
                        .values()
                        .filter(|other| {
                            other.id != activation && other.status != ActivationStatus::Reverted
                        })
                        .find_map(|other| other.priors.get(address)?.get(name));
                    earlier.or_else(|| current.get(name)).map(|value| (name.clone(), value.clone()))
                })
                .collect();
            Some((address.clone(), prior))
        })
        .collect()
}

/// Records, ahead of the provider calls, the objects the `starting` activations are about to
/// grant (with what to put back if the object predates them), for those state does not hold
/// yet. Returns their addresses.
pub(crate) fn write_ahead_records(
    state: &mut State,
    desired: &Desired,
    live: &Live,
    providers: &Providers,
    changes: &[ResourceChange],
    starting: &BTreeSet<&str>,
    now: Timestamp,
) -> Vec<Address> {
    let mut written = Vec::new();
    for change in changes {
        let ours = change.reason.activation().is_some_and(|id| starting.contains(id));
        if !ours
            || !change.address.is_in_activation()
            || change.action == Action::Delete
            || state.resources.contains_key(&change.address)
        {
            continue;
        }
        let Some(resource) = desired.resources.get(&change.address) else { continue };
        let id = live.natural_id(&change.address).map_or_else(|| change.id.clone(), str::to_owned);
        let attributes = live
            .objects
            .get(&change.resource_type, &id)
            .cloned()
            .unwrap_or_else(|| resource.attributes.clone());
        record_success(state, desired, live, providers, change, id, Some(attributes), now);
        written.push(change.address.clone());
    }
    written
}

#[allow(clippy::too_many_arguments)]
fn record_success(
    state: &mut State,
    desired: &Desired,
    live: &Live,
    providers: &Providers,
    change: &ResourceChange,
    id: String,
    attributes: Option<Attributes>,
    now: Timestamp,
) {
    let resource = desired.resources.get(&change.address);
    // Deleted, or (for an object that predates its activation) put back as it was: either way
    // breakglass no longer holds it.
    let (Some(attributes), Some(resource)) = (attributes, resource) else {
        state.resources.remove(&change.address);
        return;
    };
    let restore = match state.resources.get(&change.address) {
        Some(previous) => previous.restore.clone(),
        None if change.address.is_in_activation() => {
            preexisting(state, live, change, &id).map(|before| {
                before
                    .into_iter()
                    .filter(|(name, _)| resource.attributes.contains_key(name))
                    .collect()
            })
        }
        None => None,
    };
    let resource = Some(resource);
    let schema = providers.resource_schema(&change.provider, &change.resource_type);
    // Record what was asked for over what the platform reports, so secrets the platform does
    // not read back are still recorded (as digests) and drift is measured against intent.
    let mut recorded = attributes;
    if let Some(resource) = resource {
        recorded.extend(resource.attributes.clone());
    }
    let recorded = schema.map_or_else(|| recorded.clone(), |s| redact_sensitive(s, &recorded));
    state.resources.insert(
        change.address.clone(),
        ResourceState {
            provider: change.provider.clone(),
            resource_type: change.resource_type.clone(),
            id,
            attributes: recorded,
            activation: resource
                .filter(|_| change.address.is_in_activation())
                .and_then(|r| r.activation().map(str::to_owned)),
            depends_on: resource.map(|r| r.depends_on.clone()).unwrap_or_default(),
            restore,
            updated_at: now,
        },
    );
}

/// What the revert of an activation taking object `id` must write back instead of deleting
/// it: the object's attributes as they were, if it predates the activation. When another
/// activation already holds it (overlapping grants), that one's answer is inherited.
fn preexisting(
    state: &State,
    live: &Live,
    change: &ResourceChange,
    id: &str,
) -> Option<Attributes> {
    let holder = state.resources.values().find(|r| {
        r.provider == change.provider && r.resource_type == change.resource_type && r.id == id
    });
    match holder {
        Some(holder) => holder.restore.clone(),
        None => live.objects.get(&change.resource_type, id).cloned(),
    }
}

/// Marks activations whose grant fully succeeded `active`, and confirms reverts by reading the
/// live objects again: an activation is `reverted` only when nothing it granted is left.
/// Returns the ids of the activations whose record changed.
#[allow(clippy::too_many_arguments)]
async fn settle_activations(
    state: &mut State,
    held: &HashMap<String, Held>,
    desired: &Desired,
    live: &Live,
    providers: &Providers,
    mode: &ApplyMode,
    report: &mut ApplyReport,
    now: Timestamp,
) -> Result<Vec<String>, EngineError> {
    let mut changed = Vec::new();
    let failed: BTreeSet<&str> = report
        .changes
        .iter()
        .filter(|(_, outcome)| *outcome != ChangeOutcome::Applied)
        .filter_map(|(change, _)| change.reason.activation())
        .collect();
    // A live grant's object changed by hand: flagged on the activation once, for its report.
    let role_conflicts = desired.conflicts.iter().filter(|c| c.kind == ActivationKind::Role);
    for conflict in role_conflicts.filter(|c| mode.may_settle(&c.activation)) {
        let flag = conflict.describe();
        if let Some(record) = state.activations.get_mut(&conflict.activation)
            && !record.flags.contains(&flag)
        {
            Arc::make_mut(record).flags.push(flag);
            changed.push(conflict.activation.clone());
        }
    }
    let ids: Vec<String> = match mode {
        ApplyMode::Activation(only) => vec![only.clone()],
        ApplyMode::Reverts(ids) => ids.iter().cloned().collect(),
        ApplyMode::Full | ApplyMode::RevertOnly => state.activations.keys().cloned().collect(),
    };
    for id in ids {
        if !mode.may_settle(&id) || !state.activations.contains_key(&id) {
            continue;
        }
        let Some(effective) = desired.activations.get(&id) else { continue };
        let record_status = state.activations[&id].status;
        if effective.is_live_at(desired.at) && record_status == ActivationStatus::Applying {
            let record = Arc::make_mut(state.activations.get_mut(&id).expect("present"));
            changed.push(id.clone());
            if failed.contains(id.as_str()) {
                record.last_error = Some("some of its changes failed; run apply again".to_owned());
            } else {
                record.status = ActivationStatus::Active;
                record.activated_at = Some(now);
                record.last_error = None;
                report.activated.push(id.clone());
            }
        } else if effective.needs_revert_at(desired.at)
            && record_status != ActivationStatus::Reverted
        {
            let leftover = match held.get(&id) {
                Some(held) => leftover_access(held, desired, live, providers).await,
                None => {
                    // Marked reverting by an earlier run: what it still holds is as recorded.
                    let again = held_by(state, std::slice::from_ref(&id));
                    leftover_access(&again[&id], desired, live, providers).await
                }
            };
            let record = Arc::make_mut(state.activations.get_mut(&id).expect("present"));
            changed.push(id.clone());
            match leftover {
                Ok(None) => {
                    record.status = ActivationStatus::Reverted;
                    record.reverted_at = Some(now);
                    record.last_error = None;
                    for conflict in desired.conflicts.iter().filter(|c| c.activation == id) {
                        let flag = conflict.describe();
                        if !record.flags.contains(&flag) {
                            record.flags.push(flag);
                        }
                    }
                    report.reverted.push(id.clone());
                }
                Ok(Some(why)) | Err(why) => {
                    record.status = ActivationStatus::Reverting;
                    record.revert_attempts += 1;
                    record.last_error = Some(why.clone());
                    report.reverting.push((id.clone(), why));
                }
            }
        }
    }
    Ok(changed)
}

/// Re-reads what activation `id` granted: `Ok(None)` when it is all gone (or restored),
/// `Ok(Some(why))` when some remains, `Err` when it could not be read.
async fn leftover_access(
    held: &Held,
    desired: &Desired,
    live: &Live,
    providers: &Providers,
) -> Result<Option<String>, String> {
    let activation = &held.activation;
    let claims = Claims::of(live);
    let mut to_check: Vec<(Address, String, String, String, Option<Attributes>)> = Vec::new();
    for (address, recorded) in &held.resources {
        if !claims.claimed(&recorded.resource_type, &recorded.id, address) {
            to_check.push((
                address.clone(),
                recorded.provider.clone(),
                recorded.resource_type.clone(),
                recorded.id.clone(),
                recorded.restore.clone(),
            ));
        }
    }
    if activation.kind == ActivationKind::Override {
        for (address, recorded) in &held.priors {
            let Some(resource) = desired.resources.get(address) else {
                continue;
            };
            to_check.push((
                address.clone(),
                recorded.provider.clone(),
                recorded.resource_type.clone(),
                recorded.id.clone(),
                Some(resource.attributes.clone()),
            ));
        }
    }
    for (address, provider_name, resource_type, object_id, expected) in to_check {
        let provider = providers.get(&provider_name).map_err(|e| e.to_string())?;
        let read = provider
            .read(ReadRequest::new(resource_type.clone(), vec![object_id.clone()]))
            .await
            .map_err(|error| format!("{address}: cannot confirm the revert: {error}"))?;
        let current = read.objects.get(&object_id);
        match (expected, current) {
            (None, None) => {}
            (None, Some(_)) => return Ok(Some(format!("{address} still exists"))),
            (Some(_), None) => return Ok(Some(format!("{address} is missing"))),
            (Some(expected), Some(current)) => {
                let schema = providers.resource_schema(&provider_name, &resource_type);
                let differs = expected.iter().any(|(name, value)| {
                    let attribute = schema.and_then(|s| s.attributes.get(name.as_str()));
                    // Secrets are not read back; computed values are the platform's.
                    !attribute.is_some_and(|a| a.sensitive || a.computed)
                        && !super::diff::equal(
                            providers,
                            &provider_name,
                            &resource_type,
                            name,
                            attribute,
                            Some(value),
                            current.get(name),
                        )
                });
                if differs {
                    return Ok(Some(format!("{address} does not yet hold the values from before")));
                }
            }
        }
    }
    Ok(None)
}

/// Forgets objects that are neither desired nor live any more (deleted, or gone by
/// themselves, as native expiry does), records handed over to another address, and objects
/// that predate their activation once they are put back as they were. A live grant's object
/// a person removed is remembered: the record is what keeps it a conflict, not granted again,
/// until the grant ends. Returns the addresses forgotten.
fn prune(
    state: &mut State,
    desired: &Desired,
    live: &Live,
    failed: &BTreeSet<Address>,
) -> Vec<Address> {
    let claims = Claims::of(live);
    let conflicted: BTreeSet<&Address> = desired.conflicts.iter().map(|c| &c.address).collect();
    let mut forgotten = Vec::new();
    state.resources.retain(|address, recorded| {
        if desired.resources.contains_key(address) || failed.contains(address) {
            return true;
        }
        if conflicted.contains(address) {
            return true;
        }
        let keep = !(claims.claimed(&recorded.resource_type, &recorded.id, address)
            || recorded.restore.is_some())
            && (!live.refreshed || live.objects.contains(&recorded.resource_type, &recorded.id));
        if !keep {
            forgotten.push(address.clone());
        }
        keep
    });
    forgotten
}

/// The objects desired addresses stand for, by type and natural id, built once (a lookup per
/// recorded object instead of a scan of every desired address).
struct Claims<'l> {
    by_object: HashMap<(&'l str, &'l str), Vec<&'l Address>, foldhash::fast::RandomState>,
}

impl<'l> Claims<'l> {
    fn of(live: &'l Live) -> Self {
        let mut by_object: HashMap<_, Vec<&Address>, _> = HashMap::default();
        for (address, id) in live.natural_ids() {
            by_object.entry((address.resource_type(), id)).or_default().push(address);
        }
        Self { by_object }
    }

    /// Whether the object `id` that `address` recorded is now wanted under another address (an
    /// overlapping grant took it over).
    fn claimed(&self, resource_type: &str, id: &str, address: &Address) -> bool {
        self.by_object
            .get(&(resource_type, id))
            .is_some_and(|addresses| addresses.iter().any(|other| *other != address))
    }
}
