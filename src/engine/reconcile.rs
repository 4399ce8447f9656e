//! The automated path (`reconcile`, `watch`): apply only what takes access away or puts the
//! baseline back — reverts of ended or revoked activations, and drift that widened access where
//! the policy asks for it to be reverted. Anything that grants needs a reviewed plan or an
//! approved emergency request, except planned grants from git when explicitly asked for.

use jiff::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::apply::{ApplyMode, ApplyReport, apply};
use super::compile::Desired;
use super::error::EngineError;
use super::planner::{PlanOptions, make_plan};
use super::progress::Progress;
use super::providers::Providers;
use super::scope::scope_of;
use crate::activation::{ActivationSource, Revocation};
use crate::plan::{Action, Plan, Reason, ResourceChange};
use crate::policy::Policy;
use crate::policy::blocks::DriftMode;
use crate::state::{Scope, StateGuard};

/// Whether the automated path may apply `change`.
pub fn privilege_reducing(change: &ResourceChange, desired: &Desired) -> bool {
    if change.reason.is_revert() {
        return true;
    }
    if change.reason != Reason::Drift {
        return false;
    }
    if change.address.is_baseline() {
        // Putting a baseline object back, where the policy says drift is reverted.
        return desired
            .resources
            .get(&change.address)
            .is_some_and(|r| r.drift == DriftMode::Revert);
    }
    // Privileged access nobody granted (generated only where the provider's drift = "revert").
    !change.address.is_in_activation() && change.action == Action::Delete
}

/// Whether `change` starts a planned grant from git.
fn starts_planned_grant(change: &ResourceChange, desired: &Desired) -> bool {
    matches!(change.reason, Reason::ActivationStarts { .. })
        && change
            .reason
            .activation()
            .and_then(|id| desired.activations.get(id))
            .is_some_and(|a| matches!(a.source, ActivationSource::Grant { .. }))
}

/// How to reconcile.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// The time to reconcile for: `None` for now, read once the state lock is held (so a wait
    /// for the lock can never make it "the past"); a given time must not be earlier than now.
    pub at: Option<Timestamp>,
    /// Show what would be done; change nothing.
    pub dry_run: bool,
    /// Also start planned grants from git that are due.
    pub apply_grants: bool,
    /// Provider calls in flight at once.
    pub parallelism: usize,
    /// Only the reverts of these activations (revoke, one revert of watch): only their rows
    /// are read, their objects refreshed, their changes applied. `None`: everything.
    pub only: Option<BTreeSet<String>>,
}

/// What a reconcile found and did.
#[derive(Debug)]
pub struct Reconciled {
    /// The plan of what it applies (only privilege-reducing changes, plus grants if asked).
    pub plan: Plan,
    /// Changes it left for a reviewed apply.
    pub held_back: Vec<ResourceChange>,
    /// What was applied; `None` for a dry run.
    pub report: Option<ApplyReport>,
    /// Objects a person changed while an activation held them, left as they are: one line
    /// each, for the report and the exit code (a cron job must notice).
    pub conflicts: Vec<String>,
}

/// Activations live now that `at` finds ended are taken back now, before their end: each is
/// recorded as ended early by this run, at the executor's time, so neither the plan nor the
/// audit log says it lasted until its end.
fn end_early(state: &mut crate::state::State, now: Timestamp, at: Timestamp) {
    for activation in state.activations.values_mut() {
        if activation.is_live_at(now) && !activation.is_live_at(at) {
            Arc::make_mut(activation).revoked = Some(Revocation {
                at: now,
                by: "executor".to_owned(),
                reason: format!("ended early by reconcile --at {at}"),
            });
        }
    }
}

/// Reconciles under the lock held by `guard`.
pub async fn reconcile(
    policy: &Policy,
    providers: &Providers,
    guard: &mut dyn StateGuard,
    options: &ReconcileOptions,
    progress: Arc<dyn Progress>,
) -> Result<Reconciled, EngineError> {
    // Now is read here, with the lock held: however long the wait for it was.
    let now = crate::clock::now();
    let at = options.at.unwrap_or(now);
    if at < now {
        return Err(EngineError::Refused(format!(
            "reconcile --at {at} is in the past; it can only look ahead (revert early), never back"
        )));
    }
    let mut state = match &options.only {
        None => guard.read().await?,
        Some(ids) => {
            let records =
                guard.read_scope(&Scope { activations: ids.clone(), ..Scope::default() }).await?;
            let activations: Vec<&crate::activation::Activation> =
                records.activations.values().map(|a| &**a).collect();
            guard.read_scope(&scope_of(policy, providers, &activations, at)?).await?
        }
    };
    if at > now {
        end_early(&mut state, now, at);
    }
    let plan_options = PlanOptions {
        at,
        refresh: true,
        targets: Vec::new(),
        parallelism: options.parallelism,
        revert_interrupted: true,
        scoped: options.only.is_some(),
    };
    let planned =
        make_plan(policy, &state, providers, &plan_options, None, progress.clone()).await?;
    let (mut allowed, mut held_back) = (Vec::new(), Vec::new());
    for change in planned.plan.resource_changes.iter().filter(|c| c.action != Action::NoOp) {
        if let Some(ids) = &options.only
            && !change.reason.activation().is_some_and(|id| ids.contains(id))
        {
            continue;
        }
        let grant = options.apply_grants && starts_planned_grant(change, &planned.desired);
        if privilege_reducing(change, &planned.desired) || grant {
            allowed.push(change.clone());
        } else {
            held_back.push(change.clone());
        }
    }
    let mut plan = planned.plan.clone();
    plan.resource_changes = allowed.clone();
    plan.summary = Plan::summarize(&plan.resource_changes, &plan.drift);
    if !options.apply_grants {
        plan.activations.clear();
    }
    let conflicts = planned.desired.conflicts.iter().map(|c| c.describe()).collect();
    if options.dry_run {
        return Ok(Reconciled { plan, held_back, report: None, conflicts });
    }
    let mode = match &options.only {
        Some(ids) => ApplyMode::Reverts(ids.clone()),
        None if options.apply_grants => ApplyMode::Full,
        None => ApplyMode::RevertOnly,
    };
    let report = apply(
        guard,
        &mut state,
        providers,
        &planned.desired,
        &planned.live,
        &allowed,
        &mode,
        options.parallelism,
        progress,
    )
    .await?;
    Ok(Reconciled { plan, held_back, report: Some(report), conflicts })
}
