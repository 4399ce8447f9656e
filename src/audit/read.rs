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
use crate::event::{Chain, ChainError, Event, Stamped, UnorderedChain, action, prev_of};
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
    Some((seq(&event), Stamped { event: parsed, hash: event.hash }))
}

/// An event's line number.
fn seq(event: &StoredEvent) -> usize {
    usize::try_from(event.seq).unwrap_or(usize::MAX)
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

/// Events handed from the reading thread to the report, in batches: first every event about
/// no activation, then the others grouped by activation.
enum Batch {
    Unattached(Numbered),
    Grouped(Numbered),
}

/// Events with their line numbers in the log.
type Numbered = Vec<(usize, Stamped)>;

/// Events per batch.
const BATCH: usize = 512;

/// Batches the reading thread may be ahead of the report.
const BATCHES_AHEAD: usize = 32;

/// Reads every event of the log on a thread of its own, parses it and checks it against the
/// chain ([`UnorderedChain`]: the report reads the log grouped by activation, not in order),
/// and sends it to `send` in batches: those about no activation first, then the others grouped
/// by activation. Returns the chain check.
fn read_whole_log(
    store: Arc<dyn StateStore>,
    send: std::sync::mpsc::SyncSender<Batch>,
) -> tokio::task::JoinHandle<Result<UnorderedChain, AuditError>> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let mut chain = UnorderedChain::new();
            // Events about no activation first, then the others grouped by activation.
            for unattached in [true, false] {
                let filter = EventFilter {
                    unattached,
                    by_activation: !unattached,
                    ..EventFilter::default()
                };
                let batch = |events| match unattached {
                    true => Batch::Unattached(events),
                    false => Batch::Grouped(events),
                };
                let mut events = Vec::with_capacity(BATCH);
                let mut wanted = true;
                store
                    .scan_events(&filter, &mut |event| {
                        let parsed: Option<Event> = serde_json::from_str(&event.line).ok();
                        let (line, hash) = (event.line.as_str(), event.hash.as_str());
                        match &parsed {
                            Some(parsed) => chain.push(event.seq, line, hash, Some(&parsed.prev)),
                            None => chain.push(event.seq, line, hash, prev_of(line).as_deref()),
                        }
                        let number = seq(&event);
                        events.extend(
                            parsed.map(|parsed| {
                                (number, Stamped { event: parsed, hash: event.hash })
                            }),
                        );
                        if events.len() == BATCH {
                            let full = std::mem::replace(&mut events, Vec::with_capacity(BATCH));
                            // The report stopped reading: it failed, and says why.
                            wanted = send.send(batch(full)).is_ok();
                        }
                        wanted
                    })
                    .await?;
                if !events.is_empty() {
                    let _ = send.send(batch(events));
                }
            }
            Ok(chain)
        })
    })
}

/// The report on the log kept in `store`, built one activation at a time: each activation's
/// events are read together (grouped by the index on activation), parsed, and its report handed
/// to `sink` as soon as it is built; only its summary is kept. A report on the whole log reads
/// it once, on a thread of its own that also verifies the chain while the report is built
/// (the chain is searched for where it breaks only if it does not verify); a report on some
/// activations verifies the whole chain on a thread of its own while it reads them. Call it on
/// a multi-threaded runtime (the reading thread waits on it for a store that does I/O).
pub async fn report(
    store: &Arc<dyn StateStore>,
    policy: Option<&Policy>,
    options: &ReportOptions,
    sink: &mut Sink<'_>,
) -> Result<Report, AuditError> {
    // A report on the whole log starts reading it at once, while the records load.
    let whole_log = options.activation.is_none() && options.since.is_none();
    let (send, receive) = std::sync::mpsc::sync_channel(BATCHES_AHEAD);
    let reading = whole_log.then(|| read_whole_log(Arc::clone(store), send));
    let mut state = State::new();
    // Every record: limits count them all, whatever the report shows.
    state.activations = activation_records(store.as_ref()).await?;
    // Events that know only a request's digest belong to its activation.
    let mut by_digest: BTreeMap<String, String> = BTreeMap::new();
    for (digest, id) in store.digest_links().await? {
        by_digest.entry(digest).or_insert(id);
    }
    // Which activations to read, if not all: one, or those with events in the period.
    let wanted: BTreeSet<String> = match (&options.activation, options.since) {
        (Some(id), _) => [id.clone()].into(),
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
            ids
        }
        (None, None) => BTreeSet::new(),
    };
    let mut grouping = Grouping {
        builder: ReportBuilder::new(policy, options, sink),
        state: &state,
        by_digest: &by_digest,
        attached: BTreeMap::new(),
        loose: Vec::new(),
        current: None,
    };
    let integrity = match reading {
        Some(reading) => {
            loop {
                let Some(batch) = tokio::task::block_in_place(|| receive.recv().ok()) else {
                    break;
                };
                match batch {
                    Batch::Unattached(events) => {
                        events.into_iter().for_each(|entry| grouping.unattached(entry));
                    }
                    Batch::Grouped(events) => {
                        events.into_iter().for_each(|entry| grouping.grouped(entry));
                    }
                }
            }
            let chain = joined(reading.await)?;
            grouping.close();
            match chain.finish() {
                Some((lines, head)) => Integrity {
                    path: store.describe(),
                    lines: usize::try_from(lines).unwrap_or(usize::MAX),
                    verified: true,
                    head: Some(head),
                    broken_at: None,
                    problem: None,
                },
                // Find where: read in order once more.
                None => integrity(store.as_ref()).await?,
            }
        }
        None => {
            let mut ids = wanted;
            let verifying = {
                let store = Arc::clone(store);
                let runtime = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || runtime.block_on(integrity(store.as_ref())))
            };
            let unattached = EventFilter { unattached: true, ..EventFilter::default() };
            let mut events = Vec::new();
            store
                .scan_events(&unattached, &mut |event| {
                    events.extend(parse(event));
                    true
                })
                .await?;
            events.into_iter().for_each(|entry| grouping.unattached(entry));
            if options.activation.is_none() {
                ids.extend(grouping.attached.keys().cloned());
            }
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
                grouping.activation(&id, events);
            }
            joined(verifying.await)?
        }
    };
    let Grouping { builder, loose, .. } = grouping;
    let loose: Vec<&(usize, Stamped)> = loose.iter().collect();
    Ok(builder.finish(integrity, &state, &loose))
}

/// The result of a thread, its panic carried on.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// The report's grouping of the events it reads into activations.
struct Grouping<'r, 'a, 's> {
    builder: ReportBuilder<'a, 's>,
    state: &'r State,
    by_digest: &'r BTreeMap<String, String>,
    /// Events about no activation that belong to one by their request's digest.
    attached: BTreeMap<String, Vec<(usize, Stamped)>>,
    /// Refusals that belong to no activation.
    loose: Vec<(usize, Stamped)>,
    /// The activation being read, and its events so far.
    current: Option<(String, Vec<(usize, Stamped)>)>,
}

impl Grouping<'_, '_, '_> {
    /// An event about no activation: kept if it belongs to one or is a refusal.
    fn unattached(&mut self, entry: (usize, Stamped)) {
        let linked = entry.1.event.subject.plan_digest.as_ref().and_then(|d| self.by_digest.get(d));
        match linked {
            Some(id) => self.attached.entry(id.clone()).or_default().push(entry),
            None if entry.1.event.action == action::REFUSAL => self.loose.push(entry),
            None => {}
        }
    }

    /// The next event of the log grouped by activation: it ends the activation before it if
    /// it is about another.
    fn grouped(&mut self, entry: (usize, Stamped)) {
        let id = entry.1.event.subject.activation.as_deref().unwrap_or_default();
        match &mut self.current {
            Some((open, events)) if open == id => events.push(entry),
            _ => {
                let next = (id.to_owned(), vec![entry]);
                if let Some((done, events)) = self.current.replace(next) {
                    self.activation(&done, events);
                }
            }
        }
    }

    /// Ends the grouped events, then reports activations whose only events are about no
    /// activation.
    fn close(&mut self) {
        if let Some((id, events)) = self.current.take() {
            self.activation(&id, events);
        }
        for (id, events) in std::mem::take(&mut self.attached) {
            self.report(&id, &events);
        }
    }

    /// Reports activation `id` from its events and those that belong to it by digest.
    fn activation(&mut self, id: &str, mut events: Vec<(usize, Stamped)>) {
        if let Some(extra) = self.attached.remove(id) {
            events.extend(extra);
            events.sort_by_key(|(line, _)| *line);
        }
        self.report(id, &events);
    }

    fn report(&mut self, id: &str, events: &[(usize, Stamped)]) {
        let borrowed: Vec<&(usize, Stamped)> = events.iter().collect();
        self.builder.activation(id, self.state.activations.get(id).map(|a| &**a), &borrowed);
    }
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
