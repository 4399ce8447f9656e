//! Where state is kept: the trait every backend implements.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

use super::change::{ActivationFilter, AuditHead, Change, EventFilter, Scope, StoredEvent};
use super::error::StateError;
use super::model::State;
use crate::activation::Activation;
use crate::event::{Event, Stamped};
use std::sync::Arc;

/// Who holds the state lock, for messages and `state unlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A random id for this lock.
    pub id: String,
    /// The operation (`apply`, `reconcile`, `watch`).
    pub operation: String,
    /// The host the holder runs on.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// When the lock was taken.
    pub created_at: Timestamp,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {} on {}, since {}, lock id {})",
            self.operation, self.pid, self.host, self.created_at, self.id
        )
    }
}

/// Keeps state and, with it, the audit log.
///
/// Reads decode rows straight into the typed model. Writes go through a [`StateGuard`] (the
/// exclusive lock) as [`Change`]s: only the rows that changed, with the audit events that
/// describe them, in one transaction. Audit events that describe no state write (a request, a
/// refusal) are appended on their own with [`StateStore::append_events`]; every executor
/// sharing the store appends to one chain.
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// The whole current state, without locking (a new state when there is none yet). For
    /// reads that change nothing: plan, show, status, `state pull`.
    async fn read(&self) -> Result<State, StateError>;

    /// Only the rows `scope` names (see [`Scope`]), without locking: what one activation's
    /// work plans against.
    async fn read_scope(&self, scope: &Scope) -> Result<State, StateError>;

    /// The activation records, without resources (status, watch, reports).
    async fn activations(
        &self,
        filter: &ActivationFilter,
    ) -> Result<Vec<Arc<Activation>>, StateError>;

    /// Lineage and serial, cheap to poll: the serial moves with every state write.
    async fn head(&self) -> Result<StateHead, StateError>;

    /// Takes the exclusive lock for `operation`, waiting up to `timeout` with backoff, and
    /// returns a guard through which the state is read and written. The lock is released when
    /// the guard is dropped, and by the operating system (or database) if the process dies.
    async fn lock(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<Box<dyn StateGuard>, StateError>;

    /// Who holds the lock now, if anyone.
    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError>;

    /// Removes a lock left by a process that is gone, if `id` matches it.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError>;

    /// Tries to become the one active `name` (a `watch`) among the executors sharing this
    /// state: `Some` while this process leads, `None` while another does. Leadership ends when
    /// the guard is dropped, or by itself when the leader's process dies.
    async fn try_lead(&self, name: &str) -> Result<Option<Box<dyn Leadership>>, StateError>;

    /// Appends `events` to the audit log, chained to its head, in one transaction of their own
    /// (no lock needed: appends are serialised by the backend). Returns them as recorded.
    async fn append_events(&self, events: Vec<Event>) -> Result<Vec<Stamped>, StateError>;

    /// The audit log's last event: cheap to poll, to learn that another process recorded
    /// something.
    async fn audit_head(&self) -> Result<AuditHead, StateError>;

    /// Calls `each` with every event `filter` selects, in chain order (or grouped by
    /// activation), streaming: memory does not grow with the log. `each` returning `false`
    /// stops the read.
    async fn scan_events(
        &self,
        filter: &EventFilter,
        each: &mut (dyn FnMut(StoredEvent) -> bool + Send),
    ) -> Result<(), StateError>;

    /// The activations the events `filter` selects are about, each once (answered from the
    /// index, without reading the events).
    async fn event_activations(&self, filter: &EventFilter) -> Result<Vec<String>, StateError>;

    /// `(plan digest, activation)` for every plan digest that some event about no activation
    /// names and other events name together with an activation, the activation of the first
    /// such event: how events that know only a request's digest are tied to its activation.
    /// Answered from the indexes on unattached events and on digests, whatever the log's
    /// length.
    async fn digest_links(&self) -> Result<Vec<(String, String)>, StateError>;

    /// Writes `state` as it is (lineage and serial kept) and `log` (lines of a hash-chained
    /// log, in order, kept verbatim so their hashes stay the same) into a store that holds
    /// neither yet: `state migrate`. Refused if this store already holds a state or events.
    /// Returns the number of events imported.
    async fn import(
        &self,
        state: &State,
        log: &mut (dyn Iterator<Item = Result<String, StateError>> + Send),
    ) -> Result<u64, StateError>;

    /// Where the store is, for messages.
    fn describe(&self) -> String;

    /// A bell that rings soon after any process appends to the audit log, where the backend
    /// can tell (a file event on the local database's write-ahead log; PostgreSQL's `LISTEN`),
    /// so a follower such as the console need not poll [`StateStore::audit_head`] often.
    /// `None` where it cannot: poll. A ring is a hint to look, never a promise of news.
    async fn audit_bell(&self) -> Result<Option<AuditBell>, StateError> {
        Ok(None)
    }
}

/// Rings (notifies) when the audit log may have grown, while it lives; see
/// [`StateStore::audit_bell`].
pub struct AuditBell {
    /// Notified on each append (a permit is kept if nobody waits).
    pub rings: Arc<tokio::sync::Notify>,
    /// How often to look anyway while it is alive: a ring may come just before the append is
    /// visible to readers (a file event), or be lost with its connection.
    pub poll: Duration,
    alive: Arc<std::sync::atomic::AtomicBool>,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl AuditBell {
    /// A bell rung through `rings` by whatever `keep` holds (a watcher, a connection), alive
    /// while `alive` says so.
    pub(crate) fn new(
        rings: Arc<tokio::sync::Notify>,
        poll: Duration,
        alive: Arc<std::sync::atomic::AtomicBool>,
        keep: Box<dyn std::any::Any + Send + Sync>,
    ) -> Self {
        Self { rings, poll, alive, _keep: keep }
    }

    /// Whether it can still ring (its connection or watcher is up); when not, poll.
    pub fn alive(&self) -> bool {
        self.alive.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl fmt::Debug for AuditBell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditBell")
            .field("poll", &self.poll)
            .field("alive", &self.alive())
            .finish_non_exhaustive()
    }
}

/// Lineage and serial of a state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateHead {
    /// The state's lineage; empty before the first write.
    pub lineage: String,
    /// Incremented by every write.
    pub serial: u64,
}

/// Held by the leader of an election; see [`StateStore::try_lead`].
#[async_trait]
pub trait Leadership: Send + Sync + fmt::Debug {
    /// Whether this process still leads (a leader checks before each round of work).
    async fn still_leading(&self) -> bool;
}

/// Exclusive access to the state while held.
#[async_trait]
pub trait StateGuard: Send + fmt::Debug {
    /// Lineage and serial as of the lock, or of the last commit through this guard.
    fn head(&self) -> &StateHead;

    /// The whole state (plan-based apply, reconcile).
    async fn read(&mut self) -> Result<State, StateError>;

    /// Only the rows `scope` names: one activation's work.
    async fn read_scope(&mut self, scope: &Scope) -> Result<State, StateError>;

    /// Writes `change` in one transaction: its rows (moving the serial, if it has any) and
    /// its audit events, chained to the log's head. Returns the events as recorded.
    async fn commit(&mut self, change: Change) -> Result<Vec<Stamped>, StateError>;

    /// The lock's record.
    fn info(&self) -> &LockInfo;
}

/// A random lock id.
pub(crate) fn new_lock_id() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

/// This machine's name, for lock records.
pub(crate) fn host_name() -> String {
    fs_err::read_to_string("/etc/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether process `pid` is running on this host.
pub(crate) fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Backoff between lock attempts: 50ms doubling to 1s.
pub(crate) fn lock_backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(5)).min(1_000))
}
