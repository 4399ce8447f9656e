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
    /// The local database could not be read or written.
    #[error("state database {path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What failed, and what to check.
        reason: String,
    },
    /// The state is still the JSON document of an earlier breakglass.
    #[error(
        "{legacy} holds the state in the JSON form of an earlier breakglass; this one keeps \
         state and the audit log in one database, {database}. Run `breakglass state migrate \
         --from json --to local` to move the state and its audit log there (the JSON files are \
         left as they are, as a backup); nothing was done"
    )]
    LegacyJson {
        /// The JSON state file found.
        legacy: PathBuf,
        /// The database it should move into.
        database: PathBuf,
    },
    /// A store that should be empty (the destination of `state migrate`) is not.
    #[error("{store} already holds {what}; migrate only into an empty one")]
    NotEmpty {
        /// The store.
        store: String,
        /// What it holds.
        what: String,
    },
    /// The audit log to import does not verify.
    #[error(
        "the audit log to import does not verify: line {line}: {problem}; nothing was migrated"
    )]
    BrokenLog {
        /// The first line that does not verify.
        line: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// The PostgreSQL backend failed; the message says what it was doing and what to check
    /// (never the connection string).
    #[error("postgres state backend: {0}")]
    Postgres(String),
}
