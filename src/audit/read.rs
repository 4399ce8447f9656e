//! Reading the log kept with the state, streamed: `audit verify` holds one line at a time, a
//! report holds one activation's events at a time (and every activation's summary), an export
//! writes each event as it is read. Filters (`--since`, `--until`, `--activation`) are answered
//! by the store's indexes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::log::{AuditError, Verified};
use super::ocsf::Context;
use super::report::{Facts, Integrity, Report, ReportBuilder, ReportOptions, Sink};
use crate::activation::Activation;
use crate::event::{Chain, ChainError, Event, Stamped, action};
use crate::policy::Policy;
use crate::state::{ActivationFilter, EventFilter, State, StateStore, StoredEvent};

/// Verifies the whole chain kept in `store` (and that `anchor`, if given, is in it), reading
/// one event at a time. `full` also checks that every line is a well-formed event.
pub async fn verify(
    store: &dyn StateStore,
    anchor: Option<&str>,
    full: bool,
) -> Result<Result<Verified, ChainError>, AuditError> {
    let mut chain = Chain::new(anchor);
    if !full {
        chain = chain.links_only();
    }
    let mut broken = None;
    store
        .scan_events(&EventFilter::default(), &mut |event| check(&mut chain, &event, &mut broken))
        .await?;
    if let Some(error) = broken {
        return Ok(Err(error));
    }
    Ok(chain.finish().map(|anchor_line| Verified {
        lines: usize::try_from(chain.lines()).unwrap_or(usize::MAX),
        head: chain.head().to_owned(),
        anchor_line: anchor_line.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
    }))
}

fn check(chain: &mut Chain, event: &StoredEvent, broken: &mut Option<ChainError>) -> bool {
    if event.seq != chain.lines() + 1 {
        *broken = Some(ChainError {
            line: chain.lines() + 1,
            problem: format!(
                "the next event recorded is number {}: events were removed here",
                event.seq
            ),
        });
        return false;
    }
    match chain.push(&event.line) {
        Ok(hash) if hash == event.hash => true,
        Ok(_) => {
            *broken = Some(ChainError {
                line: event.seq,
                problem: "its recorded hash is not the hash of its line: the line was edited"
                    .to_owned(),
            });
            false
        }
        Err(error) => {
            *broken = Some(error);
            false
        }
    }
}

fn parse(event: StoredEvent) -> Option<(usize, Stamped)> {
    let parsed: Event = serde_json::from_str(&event.line).ok()?;
    Some((
        usize::try_from(event.seq).unwrap_or(usize::MAX),
        Stamped { event: parsed, hash: event.hash },
    ))
}

/// The state's activation records, by id, without resources.
pub async fn activation_records(
    store: &dyn StateStore,
) -> Result<BTreeMap<String, Arc<Activation>>, AuditError> {
    Ok(store
        .activations(&ActivationFilter::default())
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect())
}

/// Whether the chain kept in `store` verifies, as the report states it.
async fn integrity(store: &dyn StateStore) -> Result<Integrity, AuditError> {
    Ok(match verify(store, None, false).await? {
        Ok(verified) => Integrity {
            path: store.describe(),
            lines: verified.lines,
            verified: true,
            head: Some(verified.head),
            broken_at: None,
            problem: None,
        },
        Err(error) => Integrity {
            path: store.describe(),
            lines: usize::try_from(store.audit_head().await?.events).unwrap_or(usize::MAX),
            verified: false,
            head: None,
            broken_at: Some(usize::try_from(error.line).unwrap_or(usize::MAX)),
            problem: Some(error.problem),
        },
    })
}

/// The report on the log kept in `store`, built one activation at a time: the chain is
/// verified in one pass, on a thread of its own while the activations are read (only the
/// report's end needs its result); each activation's events are read together (grouped by the
/// index on activation) and parsed (the chain pass reads only each line's link), and its report
/// handed to `sink` as soon as it is built; only its summary is kept. Call it on a multi-threaded runtime (the verifying thread waits on
/// it for a store that does I/O).
pub async fn report(
    store: &Arc<dyn StateStore>,
    policy: Option<&Policy>,
    options: &ReportOptions,
    sink: &mut Sink<'_>,
) -> Result<Report, AuditError> {
    let verifying = {
        let store = Arc::clone(store);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(integrity(store.as_ref())))
    };
    let store = store.as_ref();
    let mut state = State::new();
    // Every record: limits count them all, whatever the report shows.
    state.activations = activation_records(store).await?;
    // Events that know only a request's digest belong to its activation.
    let mut by_digest: BTreeMap<String, String> = BTreeMap::new();
    for (digest, id) in store.digest_links().await? {
        by_digest.entry(digest).or_insert(id);
    }
    let mut attached: BTreeMap<String, Vec<(usize, Stamped)>> = BTreeMap::new();
    let mut loose = Vec::new();
    store
        .scan_events(&EventFilter { unattached: true, ..EventFilter::default() }, &mut |event| {
            let Some(entry) = parse(event) else { return true };
            let linked = entry.1.event.subject.plan_digest.as_ref().and_then(|d| by_digest.get(d));
            match linked {
                Some(id) => attached.entry(id.clone()).or_default().push(entry),
                None if entry.1.event.action == action::REFUSAL => loose.push(entry),
                None => {}
            }
            true
        })
        .await?;

    let mut builder = ReportBuilder::new(policy, options, sink);
    // Which activations to read: one, those with events in the period, or all.
    let wanted: Option<BTreeSet<String>> = match (&options.activation, options.since) {
        (Some(id), _) => Some([id.clone()].into()),
        (None, Some(since)) => {
            let mut ids: BTreeSet<String> = store
                .event_activations(&EventFilter { since: Some(since), ..EventFilter::default() })
                .await?
                .into_iter()
                .collect();
            // Live ones are current whatever their events' times.
            ids.extend(
                state
                    .activations
                    .values()
                    .filter(|a| a.status != crate::activation::ActivationStatus::Reverted)
                    .map(|a| a.id.clone()),
            );
            ids.extend(attached.keys().cloned());
            Some(ids)
        }
        (None, None) => None,
    };
    let mut group =
        |id: &str, events: Vec<(usize, Stamped)>, builder: &mut ReportBuilder<'_, '_>| {
            let mut events = events;
            if let Some(extra) = attached.remove(id) {
                events.extend(extra);
                events.sort_by_key(|(line, _)| *line);
            }
            let borrowed: Vec<&(usize, Stamped)> = events.iter().collect();
            builder.activation(id, state.activations.get(id).map(|a| &**a), &borrowed);
        };
    match wanted {
        Some(ids) => {
            for id in ids {
                let mut events = Vec::new();
                store
                    .scan_events(
                        &EventFilter { activation: Some(id.clone()), ..EventFilter::default() },
                        &mut |event| {
                            events.extend(parse(event));
                            true
                        },
                    )
                    .await?;
                group(&id, events, &mut builder);
            }
        }
        None => {
            // One pass, grouped by activation: one activation's events in memory at a time.
            let mut current: Option<(String, Vec<(usize, Stamped)>)> = None;
            store
                .scan_events(
                    &EventFilter { by_activation: true, ..EventFilter::default() },
                    &mut |event| {
                        let Some(entry) = parse(event) else { return true };
                        let id = entry.1.event.subject.activation.clone().unwrap_or_default();
                        match &mut current {
                            Some((open, events)) if *open == id => events.push(entry),
                            _ => {
                                if let Some((done, events)) = current.replace((id, vec![entry])) {
                                    group(&done, events, &mut builder);
                                }
                            }
                        }
                        true
                    },
                )
                .await?;
            if let Some((id, events)) = current {
                group(&id, events, &mut builder);
            }
            let rest: Vec<(String, Vec<(usize, Stamped)>)> =
                std::mem::take(&mut attached).into_iter().collect();
            for (id, events) in rest {
                let borrowed: Vec<&(usize, Stamped)> = events.iter().collect();
                builder.activation(&id, state.activations.get(&id).map(|a| &**a), &borrowed);
            }
        }
    }
    let integrity = match verifying.await {
        Ok(integrity) => integrity?,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    };
    let loose: Vec<&(usize, Stamped)> = loose.iter().collect();
    Ok(builder.finish(integrity, &state, &loose))
}

/// What an export needs to describe each event: facts about every activation (from state,
/// else its `request` event) and the activation of each request digest.
pub async fn export_context(store: &dyn StateStore) -> Result<Context, AuditError> {
    let mut facts = BTreeMap::new();
    store
        .scan_events(
            &EventFilter { action: Some(action::REQUEST.to_owned()), ..EventFilter::default() },
            &mut |event| {
                let Some((_, stamped)) = parse(event) else { return true };
                let event = &stamped.event;
                let Some(id) = &event.subject.activation else { return true };
                let detail =
                    |key: &str| event.details.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                facts.insert(
                    id.clone(),
                    Facts {
                        requester: event.actor.clone(),
                        kind: detail("kind").unwrap_or_else(|| "role".to_owned()),
                        name: detail("name").unwrap_or_default(),
                        end: detail("end").and_then(|t| t.parse().ok()),
                    },
                );
                true
            },
        )
        .await?;
    for (id, activation) in activation_records(store).await? {
        facts.insert(
            id,
            Facts {
                requester: activation.requester.clone(),
                kind: activation.kind.as_str().to_owned(),
                name: activation.name.clone(),
                end: Some(activation.end),
            },
        );
    }
    let mut by_digest = BTreeMap::new();
    for (digest, id) in store.digest_links().await? {
        by_digest.entry(digest).or_insert(id);
    }
    Ok(Context { facts, by_digest })
}
