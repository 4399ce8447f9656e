//! The console's only reader (and writer) of the audit log: "where does it end?", "the events
//! after a position", "the story of one activation", "record this", and a wake-up when any
//! process appends. Everything live on the console (SSE, the recent-refusals list, an
//! activation's story) goes through here.
//!
//! The log is kept with the state ([`crate::state`]): one row per event, numbered in chain
//! order. A position is the number of the last event read, so new events are read with one
//! indexed query from there, never the whole log again; a story page reads only its own events
//! through the store's index by activation. The store's [`AuditBell`] (file events on the local
//! database's write-ahead log, `LISTEN` on PostgreSQL) wakes the console as soon as another
//! process appends; a cheap poll of the log's head covers a store without one.

use crate::cli::output::errln;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{Event, Stamped};
use crate::state::{AuditBell, EventFilter, StateError, StateStore, StoredEvent};

/// How often the head is checked when the store has no bell (or its bell is down). A check is
/// one indexed query.
pub const POLL: Duration = Duration::from_millis(200);

/// A place in the audit log: the number of the last event read (0 before the first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(u64);

impl Position {
    /// The number of the last event read.
    pub fn seq(self) -> u64 {
        self.0
    }
}

/// Reads and appends to the audit log kept in a state store.
#[derive(Debug, Clone)]
pub struct AuditFeed {
    store: Arc<dyn StateStore>,
}

impl AuditFeed {
    /// The feed of the log kept in `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    /// The head now: where the log ends.
    pub async fn head(&self) -> Result<Position, StateError> {
        Ok(Position(self.store.audit_head().await?.events))
    }

    /// The events after `from`, oldest first, and the position after them. Lines that do not
    /// parse are skipped here; `audit verify` is the place that reports them.
    pub async fn events_after(&self, from: Position) -> Result<(Vec<Event>, Position), StateError> {
        let filter = EventFilter { after: Some(from.0), ..EventFilter::default() };
        let mut events = Vec::new();
        let mut to = from;
        self.store
            .scan_events(&filter, &mut |stored| {
                to = Position(stored.seq);
                events.extend(parse(&stored));
                true
            })
            .await?;
        Ok((events, to))
    }

    /// The last `keep` events `select` picks, oldest first, and where the log ends: read once
    /// at start, streaming, so memory does not grow with the log.
    pub async fn last(
        &self,
        keep: usize,
        select: impl Fn(&Event) -> bool + Send + Sync,
    ) -> Result<(VecDeque<Event>, Position), StateError> {
        let mut picked = VecDeque::with_capacity(keep);
        let mut to = Position::default();
        self.store
            .scan_events(&EventFilter::default(), &mut |stored| {
                to = Position(stored.seq);
                if let Some(event) = parse(&stored).filter(|e| select(e)) {
                    if picked.len() == keep {
                        picked.pop_front();
                    }
                    picked.push_back(event);
                }
                true
            })
            .await?;
        Ok((picked, to))
    }

    /// Every event about activation `id`, oldest first (its story), through the store's index.
    pub async fn story(&self, id: &str) -> Result<Vec<Event>, StateError> {
        let filter = EventFilter { activation: Some(id.to_owned()), ..EventFilter::default() };
        let mut events = Vec::new();
        self.store
            .scan_events(&filter, &mut |stored| {
                events.extend(parse(&stored));
                true
            })
            .await?;
        Ok(events)
    }

    /// Appends `event` (the console's own: a submission, a decision), chained like any other.
    pub async fn record(&self, event: Event) -> Result<Stamped, StateError> {
        let mut stamped = self.store.append_events(vec![event]).await?;
        stamped.pop().ok_or_else(|| StateError::Io(std::io::Error::other("nothing was recorded")))
    }

    /// The store's bell, if it has one; `None` (with a warning) means polling every [`POLL`].
    pub async fn bell(&self) -> Option<AuditBell> {
        match self.store.audit_bell().await {
            Ok(bell) => bell,
            Err(error) => {
                errln!(
                    "warning: cannot follow the audit log of {} as it is written ({error}); \
                     checking it every {} ms",
                    self.store.describe(),
                    POLL.as_millis()
                );
                None
            }
        }
    }
}

fn parse(stored: &StoredEvent) -> Option<Event> {
    serde_json::from_str(&stored.line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::EventResult;
    use crate::state::LocalStore;

    fn feed(dir: &std::path::Path) -> AuditFeed {
        AuditFeed::new(Arc::new(LocalStore::new(dir.join(".breakglass/state.db"))))
    }

    #[tokio::test]
    async fn reads_only_what_was_appended_since() {
        let dir = tempfile::tempdir().unwrap();
        let feed = feed(dir.path());
        assert_eq!(feed.head().await.unwrap(), Position(0));
        assert!(feed.events_after(Position(0)).await.unwrap().0.is_empty());
        feed.record(Event::new("alice", "request", EventResult::Ok).activation("act_1"))
            .await
            .unwrap();
        let (first, at) = feed.events_after(Position(0)).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(at, feed.head().await.unwrap());
        feed.record(Event::new("carol", "approval", EventResult::Ok).activation("act_2"))
            .await
            .unwrap();
        let (second, next) = feed.events_after(at).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].actor, "carol");
        assert_eq!(next.seq(), 2);
        let (none, same) = feed.events_after(next).await.unwrap();
        assert!(none.is_empty());
        assert_eq!(same, next);
    }

    #[tokio::test]
    async fn a_story_reads_its_own_events_and_the_start_keeps_the_last_ones_picked() {
        let dir = tempfile::tempdir().unwrap();
        let feed = feed(dir.path());
        for (actor, id) in [("alice", "act_1"), ("bob", "act_2"), ("carol", "act_1")] {
            feed.record(Event::new(actor, "request", EventResult::Ok).activation(id))
                .await
                .unwrap();
        }
        feed.record(Event::new("mallory", "refusal", EventResult::Refused)).await.unwrap();
        let story = feed.story("act_1").await.unwrap();
        assert_eq!(story.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["alice", "carol"]);
        assert!(feed.story("act_3").await.unwrap().is_empty());
        let (last, head) = feed.last(2, |e| e.actor != "bob").await.unwrap();
        assert_eq!(last.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["carol", "mallory"]);
        assert_eq!(head.seq(), 4);
    }

    #[tokio::test]
    async fn the_bell_rings_when_another_process_appends() {
        let dir = tempfile::tempdir().unwrap();
        let feed = feed(dir.path());
        feed.record(Event::new("alice", "request", EventResult::Ok)).await.unwrap();
        let bell = feed.bell().await.expect("file events on this system");
        assert!(bell.alive());
        // Reading (polling the head, reading events) does not ring it…
        for _ in 0..3 {
            feed.head().await.unwrap();
            feed.events_after(Position(0)).await.unwrap();
        }
        let quiet = tokio::time::timeout(Duration::from_millis(300), bell.rings.notified()).await;
        assert!(quiet.is_err(), "a read rang the bell");
        // …an append by another store (another process) does.
        let other = LocalStore::new(dir.path().join(".breakglass/state.db"));
        other.append_events(vec![Event::new("alice", "request", EventResult::Ok)]).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), bell.rings.notified())
            .await
            .expect("a ring within 5 s");
    }
}
