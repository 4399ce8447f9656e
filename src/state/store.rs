//! Where state is kept: the trait every backend implements.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

use super::error::StateError;
use super::model::State;

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

/// Keeps state.
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// The current state, without locking (a new state when there is none yet). For reads
    /// that change nothing: plan, show, status.
    async fn read(&self) -> Result<State, StateError>;

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
    /// The state as of the last read or write under this lock.
    fn state(&self) -> &State;

    /// Writes `state` atomically, incrementing its serial; afterwards [`StateGuard::state`]
    /// returns what was written.
    async fn write(&mut self, state: State) -> Result<(), StateError>;

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
