//! `breakglass watch`: a long-lived process that reverts every activation the moment it ends.

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
use crate::activation::ActivationStatus;
use crate::audit::{Event, EventResult};
use crate::engine::reconcile::ReconcileOptions;
use crate::state::{Leadership, State};

/// Arguments of `watch`.
#[derive(Debug, Args)]
#[command(
    about = "Run continuously: revert each activation as it ends, re-scan for drift periodically",
    long_about = "Sleeps until the next activation ends (re-reading state when it changes, so new \
                  activations are seen at once), then reconciles: reverts what ended, retries \
                  reverts that are not yet confirmed, with backoff, and reports every failure. \
                  Every --interval it also re-scans for drift. On SIGTERM or SIGINT it finishes \
                  the change in flight and exits 0.",
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

/// When the next pass is due: now if something needs reverting, else the next end (or start of
/// a planned grant, with --apply-grants).
fn next_due(state: &State, now: Timestamp) -> Option<Timestamp> {
    let mut due: Option<Timestamp> = None;
    for activation in state.activations.values() {
        if activation.status == ActivationStatus::Reverted {
            continue;
        }
        let at = if activation.needs_revert_at(now) { now } else { activation.end };
        due = Some(due.map_or(at, |d| d.min(at)));
    }
    due
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
    let policy = load_policy(output)?;
    let _streaming = Streaming::start(&policy, args.events);
    let store = open_store(&policy)?;
    let audit = Audit::of(&policy);
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
    audit.record_or_warn(Event::new(&actor, "watch.start", EventResult::Ok).details(
        serde_json::json!({
            "interval_seconds": args.interval.as_secs(),
            "apply_grants": args.apply_grants,
        }),
    ));
    eprintln!(
        "Watching {} (drift re-scan every {}s). Stop with Ctrl-C or SIGTERM.",
        policy.dir.display(),
        args.interval.as_secs()
    );
    let mut last_scan: Option<Timestamp> = None;
    let mut last_serial = None;
    let mut failures: u32 = 0;
    // Several watches may share one state (on PostgreSQL, across machines): one leads and
    // reverts; the others stand by and take over within a second if the leader dies.
    let mut leader: Option<Box<dyn Leadership>> = None;
    let mut standing_by = false;
    while !stopping.load(Ordering::SeqCst) {
        match &leader {
            Some(current) if current.still_leading().await => {}
            Some(_) => {
                eprintln!(
                    "warning: lost the lead (the state's database session ended); standing by"
                );
                leader = None;
                continue;
            }
            None => match store.try_lead("watch").await {
                Ok(Some(won)) => {
                    if standing_by {
                        eprintln!("Taking over: the watch that led is gone.");
                    }
                    audit.record_or_warn(Event::new(&actor, "watch.lead", EventResult::Ok));
                    leader = Some(won);
                    standing_by = false;
                    last_scan = None;
                }
                Ok(None) => {
                    if !standing_by {
                        eprintln!("Standing by: another watch leads; taking over if it stops.");
                        standing_by = true;
                    }
                    sleep_or_stop(StdDuration::from_millis(500), &wake).await;
                    continue;
                }
                Err(error) => {
                    eprintln!("error: cannot take part in the leader election: {error}; retrying");
                    sleep_or_stop(StdDuration::from_secs(1), &wake).await;
                    continue;
                }
            },
        }
        let state = match store.read().await {
            Ok(state) => state,
            Err(error) => {
                eprintln!("error: cannot read state: {error}; retrying");
                failures += 1;
                sleep_or_stop(StdDuration::from_secs(1 << failures.min(5)), &wake).await;
                continue;
            }
        };
        let now = crate::clock::now();
        let scan_due = last_scan.is_none_or(|at| {
            now.duration_since(at).as_secs()
                >= i64::try_from(args.interval.as_secs()).unwrap_or(i64::MAX)
        });
        let revert_due = next_due(&state, now).is_some_and(|at| at <= now);
        let changed = last_serial != Some(state.serial);
        if scan_due || revert_due || (changed && args.apply_grants) {
            // "Now" is read by the pass itself once it holds the lock.
            let options = ReconcileOptions {
                at: None,
                dry_run: false,
                apply_grants: args.apply_grants,
                parallelism: policy.settings.parallelism as usize,
            };
            match reconcile_once(&policy, store.as_ref(), &options, args.lock_timeout, output, true)
                .await
            {
                Ok((_, ExitStatus::Success)) => failures = 0,
                Ok((_, status)) => {
                    failures += 1;
                    eprintln!(
                        "warning: reconcile ended with exit code {}; retrying with backoff",
                        status.code()
                    );
                }
                Err(error) => {
                    failures += 1;
                    eprintln!("error: {error:#}; retrying with backoff");
                }
            }
            last_scan = Some(now);
            last_serial = store.read().await.ok().map(|s| s.serial);
            if failures > 0 {
                sleep_or_stop(StdDuration::from_millis(500u64 << failures.min(6)), &wake).await;
            }
            continue;
        }
        last_serial = Some(state.serial);
        // Sleep until the next end or scan, waking every half second to notice new state.
        let next_scan = last_scan
            .and_then(|at| {
                at.checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(args.interval.as_secs()).unwrap_or(60),
                ))
                .ok()
            })
            .unwrap_or(now);
        let next = next_due(&state, now).map_or(next_scan, |due| due.min(next_scan));
        sleep_or_stop(until(next).min(StdDuration::from_millis(500)), &wake).await;
    }
    audit.record_or_warn(Event::new(&actor, "watch.stop", EventResult::Ok));
    eprintln!("Stopped.");
    Ok(ExitStatus::Success)
}

async fn sleep_or_stop(duration: StdDuration, wake: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = wake.notified() => {}
    }
}
