//! `breakglass reconcile`: revert what has ended, put back drift that widened access — and
//! nothing that grants.

use super::output::{errln, out, outln};
use clap::Args;
use std::sync::Arc;

use super::apply::{executor, print_report};
use super::audit_trail::{Audit, EventsFormat, RecordingProgress, Streaming};
use super::context::{
    configure_providers, load_policy, lock, lock_timeout, open_store, parse_at, progress,
};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use crate::engine::Progress;
use crate::engine::reconcile::{ReconcileOptions, Reconciled, reconcile};
use crate::policy::Policy;
use crate::state::{StateError, StateStore};

/// Arguments of `reconcile`.
#[derive(Debug, Args)]
#[command(
    about = "Revert activations that ended or were revoked (no approval needed; never grants)",
    long_about = "Plans, then applies only changes that take access away or put the baseline back: \
                  reverts of ended, revoked or interrupted activations, and drift that widened \
                  access where the policy says drift = \"revert\". Everything else is listed as \
                  left for a reviewed apply. A revert counts only when re-reading the live objects \
                  confirms it; until then the activation stays `reverting` and the exit code is 7. \
                  Something an activation held that a person changed by hand is a conflict: left \
                  as they set it, listed, and the exit code is 8, so a cron job notices.",
    after_help = "Examples:\n  breakglass reconcile\n  breakglass reconcile --dry-run\n  \
                  breakglass reconcile --at +1h     # end what will have expired in an hour, now"
)]
pub struct ReconcileArgs {
    /// Reconcile as of this time: now (default) or later, to end access early; never earlier.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<jiff::Timestamp>,

    /// Show what would be reverted; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Also start planned grants from git (grant blocks) that are due.
    #[arg(long)]
    pub apply_grants: bool,

    /// How long to wait for the state lock.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = lock_timeout)]
    pub lock_timeout: std::time::Duration,

    /// Provider calls in flight at once (default: the policy's parallelism).
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,

    /// Also print each audit event as it is recorded (json: one JSON object a line on stdout).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventsFormat>,
}

/// One reconcile pass under the lock, with audit events (each committed with the state write
/// it describes); shared by `reconcile`, `revoke` and `watch`.
pub async fn reconcile_once(
    policy: &Policy,
    store: &Arc<dyn StateStore>,
    options: &ReconcileOptions,
    lock_timeout: std::time::Duration,
    output: Output,
    quiet: bool,
) -> anyhow::Result<(Reconciled, ExitStatus)> {
    let providers = configure_providers(policy).await?;
    let audit = Audit::in_store(store.clone());
    let actor = executor();
    let mut guard = lock(store.as_ref(), "reconcile", lock_timeout).await?;
    let progress: Arc<dyn Progress> =
        Arc::new(RecordingProgress::new(progress(output, quiet), actor.clone()));
    let reconciled = reconcile(policy, &providers, guard.as_mut(), options, progress).await?;
    drop(guard);
    audit.record_drift(&actor, &reconciled.plan.drift).await;
    let status = match &reconciled.report {
        None if reconciled.conflicts.is_empty() => ExitStatus::Success,
        None => ExitStatus::Conflict,
        Some(report) => {
            let status = if quiet
                && !report.has_failures()
                && report.reverting.is_empty()
                && report.changes.is_empty()
            {
                ExitStatus::Success
            } else {
                print_report(report)?
            };
            // A failure or an unconfirmed revert says more; otherwise a conflict decides.
            match status {
                ExitStatus::Success if !reconciled.conflicts.is_empty() => ExitStatus::Conflict,
                other => other,
            }
        }
    };
    Ok((reconciled, status))
}

/// Runs `reconcile`.
pub async fn run(args: &ReconcileArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let _streaming = Streaming::start(&policy, args.events);
    let store = open_store(&policy)?;
    let options = ReconcileOptions {
        at: args.at,
        dry_run: args.dry_run,
        apply_grants: args.apply_grants,
        parallelism: args.parallelism.unwrap_or(policy.settings.parallelism as usize),
        only: None,
    };
    let (reconciled, status) =
        match reconcile_once(&policy, &store, &options, args.lock_timeout, output, false).await {
            Ok(done) => done,
            Err(error)
                if matches!(
                    error.downcast_ref::<StateError>(),
                    Some(StateError::Locked { .. })
                ) =>
            {
                errln!("error: {error}");
                return Ok(ExitStatus::Locked);
            }
            Err(error) => {
                Audit::in_store(store.clone())
                    .record_refusal(&executor(), "reconcile", &error)
                    .await;
                return Err(error);
            }
        };
    if args.dry_run {
        out!("{}", plan_view::render_text(&reconciled.plan, output.color))?;
    }
    if !reconciled.held_back.is_empty() {
        outln!(
            "Left for a reviewed apply ({} change(s) that would grant or are not marked drift = \"revert\"):",
            reconciled.held_back.len()
        )?;
        for change in &reconciled.held_back {
            outln!("  {} {} ({})", change.action.symbol(), change.address, change.reason)?;
        }
    }
    if !reconciled.conflicts.is_empty() {
        outln!(
            "Left as a person set it ({} conflict(s); exit code 8): review, then settle it in the \
             policy or on the platform:",
            reconciled.conflicts.len()
        )?;
        for conflict in &reconciled.conflicts {
            outln!("  {conflict}")?;
        }
    }
    Ok(status)
}
