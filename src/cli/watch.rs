//! `breakglass watch`: a long-lived process that reverts every activation the moment it ends.

use super::output::errln;
use clap::Args;
use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;
use tokio::sync::Notify;

use super::apply::executor;
use super::audit_trail::{Audit, EventsFormat, Streaming};
use super::context::{load_policy, lock_timeout, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use super::reconcile::reconcile_once;
use crate::activation::Activation;
use crate::activation::ActivationStatus;
use crate::audit::{Event, EventResult};
use crate::engine::reconcile::ReconcileOptions;
use crate::state::{ActivationFilter, Leadership, StateStore};

/// Arguments of `watch`.
#[derive(Debug, Args)]
#[command(
    about = "Run continuously: revert each activation as it ends, re-scan for drift periodically",
    long_about = "Sleeps until the next activation ends (re-reading state when it changes, so new \
                  activations are seen at once), then reconciles: reverts what ended, retries \
                  reverts that are not yet confirmed, with backoff, and reports every failure. \
                  Every --interval it also re-scans for drift. On SIGTERM or SIGINT it finishes \
                  the change in flight and exits 0. Every line it prints starts with the time \
                  (RFC 3339, UTC, to the millisecond).",
    after_help = "Examples:\n  breakglass watch\n  breakglass watch --interval 5m --apply-grants"
)]
pub struct WatchArgs {
    /// How often to re-scan for drift even when nothing ends.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = lock_timeout)]
    pub interval: StdDuration,

    /// Also start planned grants from git (grant blocks) when they are due.
    #[arg(long)]
    pub apply_grants: bool,

    /// How long each pass waits for the state lock.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = lock_timeout)]
    pub lock_timeout: StdDuration,

    /// Also print each audit event as it is recorded (json: one JSON object a line on stdout).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventsFormat>,
}

/// The activations to revert now, and when the next one ends: two indexed lookups (status
/// and end), never a read of the whole state.
async fn due(
    store: &dyn StateStore,
    now: Timestamp,
) -> Result<(Vec<String>, Option<Timestamp>), crate::state::StateError> {
    let due: Vec<String> = store
        .activations(&ActivationFilter {
            not_reverted: true,
            ending_by: Some(now),
            first_to_end: false,
        })
        .await?
        .iter()
        .filter(|a| a.status != ActivationStatus::Reverted && a.needs_revert_at(now))
        .map(|a| a.id.clone())
        .collect();
    let next = store
        .activations(&ActivationFilter { not_reverted: true, ending_by: None, first_to_end: true })
        .await?
        .first()
        .map(|a: &std::sync::Arc<Activation>| a.end);
    Ok((due, next))
}

fn until(at: Timestamp) -> StdDuration {
    let now = Timestamp::now();
    if at <= now {
        StdDuration::ZERO
    } else {
        StdDuration::from_millis(u64::try_from(at.duration_since(now).as_millis()).unwrap_or(0))
    }
}

/// Runs `watch` until SIGTERM or SIGINT.
pub async fn run(args: &WatchArgs, output: Output) -> anyhow::Result<ExitStatus> {
    // A long-lived process's lines are a log: each starts with the time.
    super::output::stamp_lines();
    let policy = load_policy(output)?;
    let _streaming = Streaming::start(&policy, args.events);
    let store = open_store(&policy)?;
    let audit = Audit::in_store(store.clone());
    let actor = executor();
    let stopping = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    for signal in
        [tokio::signal::unix::SignalKind::terminate(), tokio::signal::unix::SignalKind::interrupt()]
    {
        let mut stream = tokio::signal::unix::signal(signal)?;
        let (stopping, wake) = (stopping.clone(), wake.clone());
        tokio::spawn(async move {
            stream.recv().await;
            stopping.store(true, Ordering::SeqCst);
            wake.notify_one();
        });
    }
    audit
        .record_or_warn(Event::new(&actor, "watch.start", EventResult::Ok).details(
            serde_json::json!({
                "interval_seconds": args.interval.as_secs(),
                "apply_grants": args.apply_grants,
            }),
        ))
        .await;
    errln!(
        "Watching {} (drift re-scan every {}s). Stop with Ctrl-C or SIGTERM.",
        policy.dir.display(),
        args.interval.as_secs()
    );
    let mut last_scan: Option<Timestamp> = None;
    let mut last_serial = None;
    let mut failures: u32 = 0;
    let mut conflicts_seen: Vec<String> = Vec::new();
    // Several watches may share one state (on PostgreSQL, across machines): one leads and
    // reverts; the others stand by and take over within a second if the leader dies.
    let mut leader: Option<Box<dyn Leadership>> = None;
    let mut standing_by = false;
    while !stopping.load(Ordering::SeqCst) {
        match &leader {
            Some(current) if current.still_leading().await => {}
            Some(_) => {
                errln!("warning: lost the lead (the state's database session ended); standing by");
                leader = None;
                continue;
            }
            None => match store.try_lead("watch").await {
                Ok(Some(won)) => {
                    if standing_by {
                        errln!("Taking over: the watch that led is gone.");
                    }
                    audit.record_or_warn(Event::new(&actor, "watch.lead", EventResult::Ok)).await;
                    leader = Some(won);
                    standing_by = false;
                    last_scan = None;
                }
                Ok(None) => {
                    if !standing_by {
                        errln!("Standing by: another watch leads; taking over if it stops.");
                        standing_by = true;
                    }
                    sleep_or_stop(StdDuration::from_millis(500), &wake).await;
                    continue;
                }
                Err(error) => {
                    errln!("error: cannot take part in the leader election: {error}; retrying");
                    sleep_or_stop(StdDuration::from_secs(1), &wake).await;
                    continue;
                }
            },
        }
        let now = crate::clock::now();
        let read = match store.head().await {
            Ok(head) => due(store.as_ref(), now).await.map(|due| (head.serial, due)),
            Err(error) => Err(error),
        };
        let (serial, (due_now, next_end)) = match read {
            Ok(read) => read,
            Err(error) => {
                errln!("error: cannot read state: {error}; retrying");
                failures += 1;
                sleep_or_stop(StdDuration::from_secs(1 << failures.min(5)), &wake).await;
                continue;
            }
        };
        let scan_due = last_scan.is_none_or(|at| {
            now.duration_since(at).as_secs()
                >= i64::try_from(args.interval.as_secs()).unwrap_or(i64::MAX)
        });
        let changed = last_serial != Some(serial);
        let whole = scan_due || (changed && args.apply_grants);
        if whole || !due_now.is_empty() {
            // A drift scan reads everything; a revert reads only what the ended activations
            // touch.
            let options = ReconcileOptions {
                at: None,
                dry_run: false,
                apply_grants: args.apply_grants,
                parallelism: policy.settings.parallelism as usize,
                only: (!whole).then(|| due_now.iter().cloned().collect()),
            };
            match reconcile_once(&policy, &store, &options, args.lock_timeout, output, true).await {
                Ok((reconciled, ExitStatus::Success | ExitStatus::Conflict)) => {
                    failures = 0;
                    // Each conflict once, when it appears (a live grant's lasts as long as it).
                    for conflict in &reconciled.conflicts {
                        if !conflicts_seen.contains(conflict) {
                            errln!("warning: {conflict}");
                        }
                    }
                    if whole {
                        conflicts_seen = reconciled.conflicts;
                    } else {
                        // A revert-only pass sees only what the ended activations touch.
                        for conflict in reconciled.conflicts {
                            if !conflicts_seen.contains(&conflict) {
                                conflicts_seen.push(conflict);
                            }
                        }
                    }
                }
                Ok((_, status)) => {
                    failures += 1;
                    errln!(
                        "warning: reconcile ended with exit code {}; retrying with backoff",
                        status.code()
                    );
                }
                Err(error) => {
                    failures += 1;
                    errln!("error: {error:#}; retrying with backoff");
                }
            }
            if whole {
                last_scan = Some(now);
            }
            last_serial = store.head().await.ok().map(|h| h.serial);
            if failures > 0 {
                sleep_or_stop(StdDuration::from_millis(500u64 << failures.min(6)), &wake).await;
            }
            continue;
        }
        last_serial = Some(serial);
        // Sleep until the next end or scan, waking every half second to notice new state.
        let next_scan = last_scan
            .and_then(|at| {
                at.checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(args.interval.as_secs()).unwrap_or(60),
                ))
                .ok()
            })
            .unwrap_or(now);
        let next = next_end.map_or(next_scan, |end| end.min(next_scan));
        sleep_or_stop(until(next).min(StdDuration::from_millis(500)), &wake).await;
    }
    audit.record_or_warn(Event::new(&actor, "watch.stop", EventResult::Ok)).await;
    errln!("Stopped.");
    Ok(ExitStatus::Success)
}

async fn sleep_or_stop(duration: StdDuration, wake: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = wake.notified() => {}
    }
}
