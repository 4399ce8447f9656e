//! State errors, each naming the file or lock involved.

use std::path::PathBuf;

use super::store::LockInfo;

/// What went wrong reading, writing or locking state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written (the error names it).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The state file is not a state document.
    #[error("{path} is not a breakglass state file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The state was written by a newer breakglass.
    #[error(
        "{path} has state format {found}, newer than this breakglass understands ({supported}); \
         upgrade breakglass"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Another process holds the lock.
    #[error("the state is locked by {holder}; waited {waited_secs}s. If that process is gone, \
             run `breakglass state unlock {id}`", holder = .info, id = .info.id)]
    Locked {
        /// Who holds it.
        info: LockInfo,
        /// How long we waited.
        waited_secs: u64,
    },
    /// `state unlock` was given an id that does not match the lock.
    #[error("lock id {given} does not match the current lock ({current})")]
    WrongLockId {
        /// The id given.
        given: String,
        /// The lock now held.
        current: LockInfo,
    },
    /// `state unlock` on a lock whose holder is still running.
    #[error("refusing to unlock: {0} is still running; stop it first")]
    HolderAlive(LockInfo),
    /// `state unlock` when nothing is locked.
    #[error("the state is not locked")]
    NotLocked,
    /// The PostgreSQL backend failed; the message says what it was doing and what to check
    /// (never the connection string).
    #[error("postgres state backend: {0}")]
    Postgres(String),
}
