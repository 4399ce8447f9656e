//! The local backend: one SQLite database (`.breakglass/state.db`) the user never sets up,
//! holding the state and the audit log.
//!
//! Design choices (docs/architecture.md, "State and audit storage", says why at length):
//! - **Rows, not a document.** Activations, resources, used nonces and TOTP steps each have a
//!   table; a record is one row (its JSON, decoded straight into the typed model) beside the
//!   columns it is looked up by. A write is a [`Change`]: only the rows that changed, in one
//!   transaction, so one grant costs one small write whatever the size of the state.
//! - **The audit log in the same database**, one row per event holding its line exactly as
//!   hashed, in the same transaction as the state write it describes. Appends that describe no
//!   state write take SQLite's write lock (`BEGIN IMMEDIATE`), so concurrent processes never
//!   fork the chain.
//! - **WAL and `synchronous = FULL`**: a commit is one append to the write-ahead log and one
//!   fsync; a crash at any point (kill -9, power cut) leaves the last committed transaction.
//!   Readers never block the writer.
//! - **The operation lock stays an OS file lock** (`flock` on `state.db.lock`, with a record of
//!   its holder), held across provider calls that may take seconds, which a database
//!   transaction must not be; the kernel releases it when the holder dies.
//! - **Private files**: the directory is 0700, the database 0600 whatever the umask (SQLite
//!   gives its `-wal` and `-shm` files the database's mode), and nothing is opened through a
//!   symbolic link.

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::change::{ActivationFilter, AuditHead, Change, EventFilter, Scope, StoredEvent, nanos};
use super::error::StateError;
use super::model::{ResourceState, STATE_FORMAT_VERSION, State, UsedNonce, UsedTotp, new_lineage};
use super::store::{
    AuditBell, Leadership, LockInfo, StateGuard, StateHead, StateStore, host_name, lock_backoff,
    new_lock_id, process_alive,
};
use crate::activation::Activation;
use crate::address::Address;
use crate::event::{Chain, Event, GENESIS, Stamped, line_hash, stamp};

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 3;

/// What takes a database of an earlier schema version to the next: `(version reached, SQL)`,
/// in order. Append only; [`SCHEMA`] is what a new database gets at once.
const UPGRADES: &[(i64, &str)] = &[(2, PASSKEY_COUNTERS), (3, UNATTACHED_EVENTS)];

/// Schema 2: the highest signature counter seen from each passkey.
const PASSKEY_COUNTERS: &str = "
CREATE TABLE passkey_counters (
    credential_id TEXT PRIMARY KEY,
    counter INTEGER NOT NULL
);
";

/// Schema 3: events about no activation (few), found without reading the whole log.
const UNATTACHED_EVENTS: &str = "
CREATE INDEX audit_events_unattached ON audit_events (seq) WHERE activation IS NULL;
";

const SCHEMA: &str = "
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format_version INTEGER NOT NULL,
    lineage TEXT NOT NULL,
    serial INTEGER NOT NULL
);
INSERT INTO meta (id, format_version, lineage, serial) VALUES (1, 1, '', 0);
CREATE TABLE activations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    requester TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX activations_status_end ON activations (status, end_ns);
CREATE INDEX activations_requester_start ON activations (requester, start_ns);
CREATE INDEX activations_name_start ON activations (name, start_ns);
CREATE INDEX activations_start ON activations (start_ns);
CREATE TABLE resources (
    address TEXT PRIMARY KEY,
    resource_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    activation TEXT,
    record TEXT NOT NULL
);
CREATE INDEX resources_object ON resources (resource_type, object_id);
CREATE INDEX resources_activation ON resources (activation) WHERE activation IS NOT NULL;
CREATE TABLE used_nonces (
    nonce TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE used_totp (
    person TEXT NOT NULL,
    step INTEGER NOT NULL,
    PRIMARY KEY (person, step)
);
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    action TEXT NOT NULL,
    activation TEXT,
    plan_digest TEXT,
    hash TEXT NOT NULL UNIQUE,
    line TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time_ns);
CREATE INDEX audit_events_activation ON audit_events (activation, seq) WHERE activation IS NOT NULL;
CREATE INDEX audit_events_digest ON audit_events (plan_digest) WHERE plan_digest IS NOT NULL;
CREATE INDEX audit_events_unattached ON audit_events (seq) WHERE activation IS NULL;
CREATE TABLE passkey_counters (
    credential_id TEXT PRIMARY KEY,
    counter INTEGER NOT NULL
);
";

/// State and audit log in a local SQLite database (`.breakglass/state.db` by default).
#[derive(Debug, Clone)]
pub struct LocalStore {
    path: PathBuf,
    /// Open even where a JSON state of an earlier version lies beside it (`state migrate`).
    ignore_legacy: bool,
}

impl LocalStore {
    /// A store whose database is `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), ignore_legacy: false }
    }

    /// The same store, opened even where the JSON state of an earlier version lies beside it:
    /// the destination of `state migrate --from json`.
    pub fn ignoring_legacy(mut self) -> Self {
        self.ignore_legacy = true;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The JSON state file an earlier breakglass kept beside it (`state.json` for
    /// `state.db`).
    pub fn legacy_path(&self) -> PathBuf {
        self.path.with_extension("json")
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    fn error(&self, doing: &str, error: impl std::fmt::Display) -> StateError {
        StateError::Database { path: self.path.clone(), reason: format!("{doing}: {error}") }
    }

    /// Opens the database; `None` when there is none and `create` is false. Creates it (and
    /// its private directory) when `create` is true. Refuses a JSON state left by an earlier
    /// version until it is migrated.
    fn open(&self, create: bool) -> Result<Option<Connection>, StateError> {
        match self.path.symlink_metadata() {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(StateError::Io(std::io::Error::other(format!(
                    "{} is a symbolic link; breakglass does not follow links for the files it \
                     keeps (someone may have planted it to redirect a write): remove it, or set \
                     the path to the real file",
                    self.path.display()
                ))));
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let legacy = self.legacy_path();
                if !self.ignore_legacy && legacy != self.path && legacy.symlink_metadata().is_ok() {
                    return Err(StateError::LegacyJson { legacy, database: self.path.clone() });
                }
                if !create {
                    return Ok(None);
                }
                if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    create_private_dir(parent)?;
                }
                create_private_file(&self.path)?;
            }
            Err(error) => return Err(error.into()),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let connection = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| self.error("cannot open", e))?;
        connection
            .busy_timeout(Duration::from_secs(30))
            .map_err(|e| self.error("cannot set up", e))?;
        connection
            .execute_batch("PRAGMA synchronous = FULL;")
            .map_err(|e| self.error("cannot set up", e))?;
        // WAL is a property of the file, set once by whoever creates it. Switching needs the
        // file to itself, and SQLite answers "busy" without waiting when a second first run
        // races for it: try again for a while.
        let mut attempt = 0;
        loop {
            let mode: rusqlite::Result<String> =
                connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0));
            match mode {
                Ok(mode) if mode.eq_ignore_ascii_case("wal") => break,
                Ok(_) | Err(_) if attempt < 100 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20 + 10 * attempt.min(10)));
                }
                Ok(mode) => {
                    return Err(self.error("cannot set up", format!("journal mode {mode}")));
                }
                Err(error) => return Err(self.error("cannot set up", error)),
            }
        }
        self.migrate(&connection)?;
        Ok(Some(connection))
    }

    fn migrate(&self, connection: &Connection) -> Result<(), StateError> {
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.error("cannot read the schema version", e))?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version > SCHEMA_VERSION {
            return Err(self.error(
                "refusing to use it",
                format!(
                    "it was written by a newer breakglass (schema {version}, this one knows \
                     {SCHEMA_VERSION}); upgrade breakglass"
                ),
            ));
        }
        // Two first runs may race: the write lock makes one create, the other see it done.
        let transaction =
            rusqlite::Transaction::new_unchecked(connection, TransactionBehavior::Immediate)
                .map_err(|e| self.error("cannot create the tables", e))?;
        let version: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.error("cannot read the schema version", e))?;
        if version == 0 {
            transaction
                .execute_batch(SCHEMA)
                .and_then(|()| transaction.pragma_update(None, "user_version", SCHEMA_VERSION))
                .map_err(|e| self.error("cannot create the tables", e))?;
        } else {
            for (reached, sql) in UPGRADES.iter().filter(|(reached, _)| *reached > version) {
                transaction
                    .execute_batch(sql)
                    .and_then(|()| transaction.pragma_update(None, "user_version", reached))
                    .map_err(|e| self.error("cannot upgrade the tables", e))?;
            }
        }
        transaction.commit().map_err(|e| self.error("cannot create the tables", e))
    }

    fn holder(file: &mut File) -> Option<LockInfo> {
        // The holder writes its record just after taking the lock: give it a moment.
        for _ in 0..10 {
            let mut text = String::new();
            file.rewind().ok()?;
            file.read_to_string(&mut text).ok()?;
            if let Ok(info) = serde_json::from_str(&text) {
                return Some(info);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn open_lock_file(&self) -> Result<File, StateError> {
        let path = self.lock_path();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        open_private(&path)
    }

    fn read_sync(&self) -> Result<State, StateError> {
        let Some(connection) = self.open(false)? else { return Ok(State::new()) };
        read_all(&connection).map_err(|e| self.error("cannot read the state", e))
    }
}

/// Creates `path` as a folder only its owner can enter (0700), if it is not there.
fn create_private_dir(path: &Path) -> Result<(), StateError> {
    Ok(crate::files::create_private_dir(path)?)
}

/// Creates `path` as a file only its owner can read (0600, whatever the umask), never through a
/// link; an existing file is left as it is.
fn create_private_file(path: &Path) -> Result<(), StateError> {
    crate::files::open_private(path, std::fs::OpenOptions::new().write(true).create(true))?;
    Ok(())
}

/// Opens (creating if needed) a private file for reading and writing, never through a link.
fn open_private(path: &Path) -> Result<File, StateError> {
    Ok(crate::files::open_private(
        path,
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false),
    )?)
}

fn json_error(error: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn read_head(connection: &Connection) -> rusqlite::Result<StateHead> {
    connection.query_row("SELECT lineage, serial FROM meta WHERE id = 1", [], |row| {
        Ok(StateHead { lineage: row.get(0)?, serial: row.get::<_, i64>(1)?.cast_unsigned() })
    })
}

fn read_all(connection: &Connection) -> rusqlite::Result<State> {
    let transaction = connection.unchecked_transaction()?;
    let head = read_head(&transaction)?;
    let mut state = State::new();
    state.lineage = head.lineage;
    state.serial = head.serial;
    {
        let mut statement = transaction.prepare("SELECT address, record FROM resources")?;
        let mut rows = statement.query([])?;
        let mut resources = Vec::new();
        while let Some(row) = rows.next()? {
            let address: Address = row.get_ref(0)?.as_str()?.parse().map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(error),
                )
            })?;
            resources.push((address, decode::<ResourceState>(row.get_ref(1)?.as_str()?)?));
        }
        // Built in one go: full B-tree nodes.
        state.resources = resources.into_iter().collect();
    }
    state.activations = select_activations(&transaction, "SELECT record FROM activations", [])?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    {
        let mut statement = transaction.prepare("SELECT nonce, record FROM used_nonces")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, decode::<UsedNonce>(row.get_ref(1)?.as_str()?)?))
        })?;
        state.used_nonces = rows.collect::<rusqlite::Result<_>>()?;
    }
    {
        let mut statement =
            transaction.prepare("SELECT person, step FROM used_totp ORDER BY rowid")?;
        let rows = statement.query_map([], |row| {
            Ok(UsedTotp { person: row.get(0)?, step: row.get::<_, i64>(1)?.cast_unsigned() })
        })?;
        state.used_totp = rows.collect::<rusqlite::Result<_>>()?;
    }
    {
        let mut statement =
            transaction.prepare("SELECT credential_id, counter FROM passkey_counters")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, counter(row.get(1)?))))?;
        state.passkey_counters = rows.collect::<rusqlite::Result<_>>()?;
    }
    Ok(state)
}

/// A stored signature counter (written from a `u32`).
fn counter(stored: i64) -> u32 {
    u32::try_from(stored).unwrap_or(u32::MAX)
}

fn select_activations(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Arc<Activation>>> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(parameters)?;
    let mut activations = Vec::new();
    while let Some(row) = rows.next()? {
        activations.push(Arc::new(decode::<Activation>(row.get_ref(0)?.as_str()?)?));
    }
    Ok(activations)
}

fn select_resources(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
    into: &mut BTreeMap<Address, ResourceState>,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(parameters)?;
    while let Some(row) = rows.next()? {
        let address: Address = row.get_ref(0)?.as_str()?.parse().map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })?;
        if let std::collections::btree_map::Entry::Vacant(entry) = into.entry(address) {
            entry.insert(decode(row.get_ref(1)?.as_str()?)?);
        }
    }
    Ok(())
}

fn read_scope(connection: &Connection, scope: &Scope) -> rusqlite::Result<State> {
    let transaction = connection.unchecked_transaction()?;
    let head = read_head(&transaction)?;
    let mut state = State::new();
    state.lineage = head.lineage;
    state.serial = head.serial;
    let mut activations: BTreeMap<String, Arc<Activation>> = BTreeMap::new();
    let add = |found: Vec<Arc<Activation>>, into: &mut BTreeMap<String, Arc<Activation>>| {
        for activation in found {
            into.entry(activation.id.clone()).or_insert(activation);
        }
    };
    for id in &scope.activations {
        add(
            select_activations(&transaction, "SELECT record FROM activations WHERE id = ?1", [id])?,
            &mut activations,
        );
    }
    if scope.live_overrides {
        add(
            select_activations(
                &transaction,
                "SELECT record FROM activations WHERE kind = 'override' AND status != 'reverted'",
                [],
            )?,
            &mut activations,
        );
    }
    for started in &scope.started {
        let since = nanos(started.since);
        let found = match (&started.requester, &started.names) {
            (Some(requester), _) => select_activations(
                &transaction,
                "SELECT record FROM activations WHERE requester = ?1 AND (start_ns >= ?2 OR end_ns > ?2)",
                params![requester, since],
            )?,
            (None, Some(names)) => {
                let mut all = Vec::new();
                for name in names {
                    all.extend(select_activations(
                        &transaction,
                        "SELECT record FROM activations WHERE name = ?1 AND (start_ns >= ?2 OR end_ns > ?2)",
                        params![name, since],
                    )?);
                }
                all
            }
            (None, None) => select_activations(
                &transaction,
                "SELECT record FROM activations WHERE start_ns >= ?1 OR end_ns > ?1",
                [since],
            )?,
        };
        add(found, &mut activations);
    }
    let mut resources = BTreeMap::new();
    for address in &scope.addresses {
        select_resources(
            &transaction,
            "SELECT address, record FROM resources WHERE address = ?1",
            [address.to_string()],
            &mut resources,
        )?;
    }
    for (resource_type, id) in &scope.objects {
        select_resources(
            &transaction,
            "SELECT address, record FROM resources WHERE resource_type = ?1 AND object_id = ?2",
            [resource_type, id],
            &mut resources,
        )?;
    }
    if scope.resources_of_activations {
        for id in &scope.activations {
            select_resources(
                &transaction,
                "SELECT address, record FROM resources WHERE activation = ?1",
                [id],
                &mut resources,
            )?;
        }
    }
    // The activations that hold what was found, so overlaps are seen whole.
    let holders: BTreeSet<&str> =
        resources.values().filter_map(|r: &ResourceState| r.activation.as_deref()).collect();
    for id in holders {
        if !activations.contains_key(id) {
            add(
                select_activations(
                    &transaction,
                    "SELECT record FROM activations WHERE id = ?1",
                    [id],
                )?,
                &mut activations,
            );
        }
    }
    state.activations = activations;
    state.resources = resources;
    for nonce in &scope.nonces {
        let mut statement =
            transaction.prepare_cached("SELECT record FROM used_nonces WHERE nonce = ?1")?;
        let found: Option<String> = statement.query_row([nonce], |row| row.get(0)).optional()?;
        if let Some(record) = found {
            state.used_nonces.insert(nonce.clone(), decode(&record)?);
        }
    }
    if let Some((person, from)) = &scope.totp {
        let mut statement = transaction.prepare_cached(
            "SELECT step FROM used_totp WHERE person = ?1 AND step >= ?2 ORDER BY rowid",
        )?;
        let rows = statement.query_map(params![person, from.cast_signed()], |row| {
            Ok(UsedTotp { person: person.clone(), step: row.get::<_, i64>(0)?.cast_unsigned() })
        })?;
        state.used_totp = rows.collect::<rusqlite::Result<_>>()?;
    }
    for credential_id in &scope.passkeys {
        let mut statement = transaction
            .prepare_cached("SELECT counter FROM passkey_counters WHERE credential_id = ?1")?;
        let found: Option<i64> =
            statement.query_row([credential_id], |row| row.get(0)).optional()?;
        if let Some(stored) = found {
            state.passkey_counters.insert(credential_id.clone(), counter(stored));
        }
    }
    Ok(state)
}

/// Writes the rows of `change` (not its events).
fn write_rows(transaction: &Connection, change: &Change) -> rusqlite::Result<()> {
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO activations (id, status, kind, name, requester, start_ns, end_ns, record) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (id) DO UPDATE SET status = ?2, kind = ?3, name = ?4, requester = ?5, \
                 start_ns = ?6, end_ns = ?7, record = ?8",
        )?;
        for activation in &change.activations {
            let record = serde_json::to_string(&**activation).map_err(json_error)?;
            statement.execute(params![
                activation.id,
                activation.status.as_str(),
                activation.kind.as_str(),
                activation.name,
                activation.requester,
                nanos(activation.start),
                nanos(activation.end),
                record,
            ])?;
        }
    }
    {
        let mut upsert = transaction.prepare_cached(
            "INSERT INTO resources (address, resource_type, object_id, activation, record) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (address) DO UPDATE SET resource_type = ?2, object_id = ?3, \
                 activation = ?4, record = ?5",
        )?;
        let mut delete = transaction.prepare_cached("DELETE FROM resources WHERE address = ?1")?;
        for (address, resource) in &change.resources {
            let address = address.to_string();
            match resource {
                Some(resource) => {
                    let record = serde_json::to_string(resource).map_err(json_error)?;
                    upsert.execute(params![
                        address,
                        resource.resource_type,
                        resource.id,
                        resource.activation,
                        record
                    ])?;
                }
                None => {
                    delete.execute([address])?;
                }
            }
        }
    }
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO used_nonces (nonce, record) VALUES (?1, ?2) \
             ON CONFLICT (nonce) DO UPDATE SET record = ?2",
        )?;
        for (nonce, used) in &change.used_nonces {
            statement.execute(params![nonce, serde_json::to_string(used).map_err(json_error)?])?;
        }
    }
    {
        let mut statement = transaction
            .prepare_cached("INSERT OR IGNORE INTO used_totp (person, step) VALUES (?1, ?2)")?;
        for used in &change.used_totp {
            statement.execute(params![used.person, used.step.cast_signed()])?;
        }
    }
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO passkey_counters (credential_id, counter) VALUES (?1, ?2) \
             ON CONFLICT (credential_id) DO UPDATE SET counter = ?2",
        )?;
        for (credential_id, counter) in &change.passkey_counters {
            statement.execute(params![credential_id, i64::from(*counter)])?;
        }
    }
    Ok(())
}

/// Appends `events` to the log, chained to its head; the caller holds the write lock.
fn append(transaction: &Connection, events: Vec<Event>) -> rusqlite::Result<Vec<Stamped>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let (mut seq, mut prev): (i64, String) = transaction
        .query_row("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?
        .unwrap_or((0, GENESIS.to_owned()));
    let mut statement = transaction.prepare_cached(
        "INSERT INTO audit_events (seq, time_ns, action, activation, plan_digest, hash, line) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut stamped = Vec::with_capacity(events.len());
    for mut event in events {
        let (line, hash) = stamp(&mut event, &prev);
        seq += 1;
        statement.execute(params![
            seq,
            nanos(event.time),
            event.action,
            event.subject.activation,
            event.subject.plan_digest,
            hash,
            line
        ])?;
        prev.clone_from(&hash);
        stamped.push(Stamped { event, hash });
    }
    Ok(stamped)
}

/// The `WHERE` clause (possibly empty) and its values for `filter`.
fn conditions(filter: &EventFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut conditions = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let mut bind = |condition: &str, value: rusqlite::types::Value| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("?{}", values.len())));
    };
    if let Some(after) = filter.after {
        bind("seq > ?", after.cast_signed().into());
    }
    if let Some(since) = filter.since {
        bind("time_ns >= ?", nanos(since).into());
    }
    if let Some(until) = filter.until {
        bind("time_ns < ?", nanos(until).into());
    }
    if let Some(activation) = &filter.activation {
        bind("activation = ?", activation.clone().into());
    }
    if let Some(action) = &filter.action {
        bind("action = ?", action.clone().into());
    }
    if filter.unattached {
        conditions.push("activation IS NULL".to_owned());
    }
    if filter.by_activation {
        conditions.push("activation IS NOT NULL".to_owned());
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, values)
}

fn scan(
    connection: &Connection,
    filter: &EventFilter,
    each: &mut (dyn FnMut(StoredEvent) -> bool + Send),
) -> rusqlite::Result<()> {
    let (clause, values) = conditions(filter);
    let mut sql = format!("SELECT seq, line, hash FROM audit_events{clause}");
    sql.push_str(if filter.by_activation { " ORDER BY activation, seq" } else { " ORDER BY seq" });
    let transaction = connection.unchecked_transaction()?;
    let mut statement = transaction.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        let event = StoredEvent {
            seq: row.get::<_, i64>(0)?.cast_unsigned(),
            line: row.get(1)?,
            hash: row.get(2)?,
        };
        if !each(event) {
            break;
        }
    }
    Ok(())
}

fn audit_head(connection: &Connection) -> rusqlite::Result<AuditHead> {
    Ok(connection
        .query_row("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1", [], |row| {
            Ok(AuditHead { events: row.get::<_, i64>(0)?.cast_unsigned(), hash: row.get(1)? })
        })
        .optional()?
        .unwrap_or(AuditHead { events: 0, hash: GENESIS.to_owned() }))
}

/// Writes `change` in one transaction after checking nobody moved the state past `expected`.
fn commit(
    connection: &mut Connection,
    expected: &StateHead,
    change: Change,
) -> Result<(StateHead, Vec<Stamped>), String> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let current = read_head(&transaction).map_err(|e| e.to_string())?;
    if current.serial != expected.serial {
        return Err(format!(
            "the state moved from serial {} to {} while this process held the lock (was it \
             unlocked by force?); nothing was written",
            expected.serial, current.serial
        ));
    }
    let mut head = current;
    if change.touches_state() {
        if head.lineage.is_empty() {
            head.lineage = new_lineage();
        }
        head.serial += 1;
        transaction
            .execute(
                "UPDATE meta SET format_version = ?1, lineage = ?2, serial = ?3 WHERE id = 1",
                params![STATE_FORMAT_VERSION, head.lineage, head.serial.cast_signed()],
            )
            .map_err(|e| e.to_string())?;
        write_rows(&transaction, &change).map_err(|e| e.to_string())?;
    }
    let stamped = append(&transaction, change.events).map_err(|e| e.to_string())?;
    transaction.commit().map_err(|e| e.to_string())?;
    Ok((head, stamped))
}

#[async_trait]
impl StateStore for LocalStore {
    async fn read(&self) -> Result<State, StateError> {
        self.read_sync()
    }

    async fn read_scope(&self, scope: &Scope) -> Result<State, StateError> {
        let Some(connection) = self.open(false)? else { return Ok(State::new()) };
        read_scope(&connection, scope).map_err(|e| self.error("cannot read the state", e))
    }

    async fn activations(
        &self,
        filter: &ActivationFilter,
    ) -> Result<Vec<Arc<Activation>>, StateError> {
        let Some(connection) = self.open(false)? else { return Ok(Vec::new()) };
        let mut sql = "SELECT record FROM activations WHERE true".to_owned();
        if filter.not_reverted {
            sql.push_str(" AND status != 'reverted'");
        }
        let mut values = Vec::new();
        if let Some(by) = filter.ending_by {
            sql.push_str(" AND (end_ns <= ?1 OR status = 'reverting')");
            values.push(nanos(by));
        }
        if filter.first_to_end {
            sql.push_str(" ORDER BY end_ns LIMIT 1");
        }
        select_activations(&connection, &sql, rusqlite::params_from_iter(values))
            .map_err(|e| self.error("cannot read activations", e))
    }

    async fn head(&self) -> Result<StateHead, StateError> {
        let Some(connection) = self.open(false)? else { return Ok(StateHead::default()) };
        read_head(&connection).map_err(|e| self.error("cannot read the state", e))
    }

    async fn lock(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<Box<dyn StateGuard>, StateError> {
        // Refuse a legacy JSON state before taking anything.
        let connection = self.open(true)?.expect("created");
        let mut file = self.open_lock_file()?;
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() >= timeout {
                        let info = Self::holder(&mut file).unwrap_or_else(|| LockInfo {
                            id: "unknown".to_owned(),
                            operation: "unknown operation".to_owned(),
                            host: "unknown host".to_owned(),
                            pid: 0,
                            created_at: jiff::Timestamp::UNIX_EPOCH,
                        });
                        return Err(StateError::Locked {
                            info,
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                    tokio::time::sleep(lock_backoff(attempt)).await;
                    attempt += 1;
                }
                Err(TryLockError::Error(error)) => return Err(error.into()),
            }
        }
        let info = LockInfo {
            id: new_lock_id(),
            operation: operation.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            created_at: crate::clock::now(),
        };
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(serde_json::to_string(&info).unwrap_or_default().as_bytes())?;
        file.sync_all()?;
        let head = read_head(&connection).map_err(|e| self.error("cannot read the state", e))?;
        Ok(Box::new(LocalGuard { store: self.clone(), file, info, connection, head }))
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let mut file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => {
                file.unlock()?;
                Ok(None)
            }
            Err(TryLockError::WouldBlock) => Ok(Self::holder(&mut file)),
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    async fn try_lead(&self, name: &str) -> Result<Option<Box<dyn Leadership>>, StateError> {
        let path = self.sibling(&format!(".{name}.leader"));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let file = open_private(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(LocalLeader { _file: file }))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let mut file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => {
                // Nobody holds it: the operating system already released the lock of a process
                // that died. Clear the stale record so it is not shown again.
                let stale = Self::holder(&mut file);
                file.set_len(0)?;
                file.unlock()?;
                match stale {
                    Some(info) if info.id == id => Ok(info),
                    _ => Err(StateError::NotLocked),
                }
            }
            Err(TryLockError::WouldBlock) => {
                let Some(info) = Self::holder(&mut file) else {
                    return Err(StateError::NotLocked);
                };
                if info.id != id {
                    return Err(StateError::WrongLockId { given: id.to_owned(), current: info });
                }
                if info.host == host_name() && process_alive(info.pid) {
                    return Err(StateError::HolderAlive(info));
                }
                // Held by a process on another host (a shared filesystem) that is known gone:
                // removing the file lets new lockers take a fresh one.
                fs_err::remove_file(self.lock_path())?;
                Ok(info)
            }
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<Vec<Stamped>, StateError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.open(true)?.expect("created");
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error("cannot append to the audit log", e))?;
        let stamped = append(&transaction, events)
            .map_err(|e| self.error("cannot append to the audit log", e))?;
        transaction.commit().map_err(|e| self.error("cannot append to the audit log", e))?;
        Ok(stamped)
    }

    async fn audit_head(&self) -> Result<AuditHead, StateError> {
        let Some(connection) = self.open(false)? else {
            return Ok(AuditHead { events: 0, hash: GENESIS.to_owned() });
        };
        audit_head(&connection).map_err(|e| self.error("cannot read the audit log", e))
    }

    async fn scan_events(
        &self,
        filter: &EventFilter,
        each: &mut (dyn FnMut(StoredEvent) -> bool + Send),
    ) -> Result<(), StateError> {
        let Some(connection) = self.open(false)? else { return Ok(()) };
        scan(&connection, filter, each).map_err(|e| self.error("cannot read the audit log", e))
    }

    async fn event_activations(&self, filter: &EventFilter) -> Result<Vec<String>, StateError> {
        let Some(connection) = self.open(false)? else { return Ok(Vec::new()) };
        let (clause, values) = conditions(filter);
        let joiner = if clause.is_empty() { " WHERE" } else { " AND" };
        let sql = format!(
            "SELECT DISTINCT activation FROM audit_events{clause}{joiner} activation IS NOT NULL"
        );
        let ids = (|| {
            let mut statement = connection.prepare(&sql)?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(values), |row| row.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        ids.map_err(|e| self.error("cannot read the audit log", e))
    }

    async fn digest_links(&self) -> Result<Vec<(String, String)>, StateError> {
        let Some(connection) = self.open(false)? else { return Ok(Vec::new()) };
        let links = (|| {
            // One row per digest: the activation of its first event (SQLite takes the bare
            // column from the row that holds the minimum). The digests to look up come from
            // the index on unattached events (a NULL digest among them matches nothing).
            let mut statement = connection.prepare(
                "SELECT plan_digest, activation, min(seq) FROM audit_events \
                 WHERE activation IS NOT NULL AND plan_digest IN (SELECT plan_digest \
                 FROM audit_events WHERE activation IS NULL) GROUP BY plan_digest",
            )?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        links.map_err(|e| self.error("cannot read the audit log", e))
    }

    async fn import(
        &self,
        state: &State,
        log: &mut (dyn Iterator<Item = Result<String, StateError>> + Send),
    ) -> Result<u64, StateError> {
        let _guard = self.lock("state migrate", Duration::from_secs(30)).await?;
        let mut connection = self.open(true)?.expect("created");
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error("cannot import", e))?;
        let head = read_head(&transaction).map_err(|e| self.error("cannot import", e))?;
        let events = audit_head(&transaction).map_err(|e| self.error("cannot import", e))?.events;
        let rows: i64 = transaction
            .query_row(
                "SELECT (SELECT count(*) FROM activations) + (SELECT count(*) FROM resources)",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.error("cannot import", e))?;
        if head.serial != 0 || !head.lineage.is_empty() || rows != 0 || events != 0 {
            return Err(StateError::NotEmpty {
                store: self.path.display().to_string(),
                what: format!(
                    "a state (lineage {}, serial {}) or audit events ({events})",
                    head.lineage, head.serial
                ),
            });
        }
        transaction
            .execute(
                "UPDATE meta SET format_version = ?1, lineage = ?2, serial = ?3 WHERE id = 1",
                params![STATE_FORMAT_VERSION, state.lineage, state.serial.cast_signed()],
            )
            .map_err(|e| self.error("cannot import", e))?;
        write_rows(&transaction, &Change::everything(state))
            .map_err(|e| self.error("cannot import", e))?;
        let mut chain = Chain::new(None);
        let mut statement = transaction
            .prepare(
                "INSERT INTO audit_events (seq, time_ns, action, activation, plan_digest, hash, \
                 line) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| self.error("cannot import", e))?;
        for line in log {
            let line = line?;
            chain
                .push(&line)
                .map_err(|e| StateError::BrokenLog { line: e.line, problem: e.problem })?;
            let event: Event = serde_json::from_str(&line).map_err(|e| StateError::BrokenLog {
                line: chain.lines(),
                problem: e.to_string(),
            })?;
            statement
                .execute(params![
                    chain.lines().cast_signed(),
                    nanos(event.time),
                    event.action,
                    event.subject.activation,
                    event.subject.plan_digest,
                    line_hash(&line),
                    line
                ])
                .map_err(|e| self.error("cannot import", e))?;
        }
        drop(statement);
        transaction.commit().map_err(|e| self.error("cannot import", e))?;
        Ok(chain.lines())
    }

    fn describe(&self) -> String {
        self.path.strip_prefix(".").unwrap_or(&self.path).display().to_string()
    }

    async fn audit_bell(&self) -> Result<Option<AuditBell>, StateError> {
        // Every commit appends to the write-ahead log (`state.db-wal`): the operating system's
        // file events on it (inotify) ring. Readers never write to it (they may create or
        // remove it, which is not a data write), so polling the head does not ring the bell.
        use notify::Watcher as _;
        let folder = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&folder)?;
        let wal = self.sibling("-wal");
        let wal_name = wal.file_name().map(std::ffi::OsStr::to_os_string);
        let rings = Arc::new(tokio::sync::Notify::new());
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (ring, up) = (rings.clone(), alive.clone());
        let watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) => {
                    // Data written: not the mode SQLite gives a -wal file a reader creates.
                    let written = matches!(
                        event.kind,
                        notify::EventKind::Modify(
                            notify::event::ModifyKind::Data(_) | notify::event::ModifyKind::Any
                        )
                    );
                    let on_wal =
                        event.paths.iter().any(|path| path.file_name() == wal_name.as_deref());
                    if written && on_wal {
                        ring.notify_one();
                    }
                }
                Err(_) => up.store(false, std::sync::atomic::Ordering::Relaxed),
            })
            .and_then(|mut watcher| {
                watcher.watch(&folder, notify::RecursiveMode::NonRecursive)?;
                Ok(watcher)
            });
        // Without file events (a file system that sends none), the caller polls.
        // A file event may come just before the commit is visible: look every 200 ms anyway
        // (one indexed query).
        let poll = Duration::from_millis(200);
        Ok(watcher.ok().map(|watcher| AuditBell::new(rings, poll, alive, Box::new(watcher))))
    }
}

/// Leadership among processes sharing a local state: an OS lock on a leader file, released by
/// the kernel when the leader exits however it exits.
#[derive(Debug)]
struct LocalLeader {
    _file: File,
}

#[async_trait]
impl Leadership for LocalLeader {
    async fn still_leading(&self) -> bool {
        true
    }
}

/// The held lock of a [`LocalStore`], with its own connection.
struct LocalGuard {
    store: LocalStore,
    file: File,
    info: LockInfo,
    connection: Connection,
    head: StateHead,
}

impl std::fmt::Debug for LocalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalGuard")
            .field("path", &self.store.path)
            .field("info", &self.info)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl StateGuard for LocalGuard {
    fn head(&self) -> &StateHead {
        &self.head
    }

    async fn read(&mut self) -> Result<State, StateError> {
        read_all(&self.connection).map_err(|e| self.store.error("cannot read the state", e))
    }

    async fn read_scope(&mut self, scope: &Scope) -> Result<State, StateError> {
        read_scope(&self.connection, scope)
            .map_err(|e| self.store.error("cannot read the state", e))
    }

    async fn commit(&mut self, change: Change) -> Result<Vec<Stamped>, StateError> {
        if change.is_empty() {
            return Ok(Vec::new());
        }
        let (head, stamped) = commit(&mut self.connection, &self.head, change)
            .map_err(|e| self.store.error("cannot write", e))?;
        self.head = head;
        Ok(stamped)
    }

    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        // Clear the holder record, then release; the kernel would release it anyway.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventResult;

    fn store(dir: &Path) -> LocalStore {
        LocalStore::new(dir.join(".breakglass/state.db"))
    }

    fn activation(id: &str) -> Arc<Activation> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "id": id, "kind": "role", "name": "dba", "requester": "alice",
                "justification": "INC-1", "start": "2031-01-15T09:00:00Z",
                "end": "2031-01-15T17:00:00Z", "status": "active",
                "source": {"type": "emergency", "plan_digest": "sha256:00"},
                "created_at": "2031-01-15T09:00:00Z",
            }))
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn a_missing_state_is_empty_and_each_commit_writes_its_rows_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let empty = store.read().await.unwrap();
        assert_eq!((empty.lineage.as_str(), empty.serial), ("", 0));
        assert!(!store.path().exists(), "a read creates nothing");
        let mut guard = store.lock("test", Duration::from_secs(1)).await.unwrap();
        let mut change = Change::default();
        change.activations.push(activation("act_1"));
        change.events.push(Event::new("alice", "test.grant", EventResult::Ok).activation("act_1"));
        let stamped = guard.commit(change).await.unwrap();
        assert_eq!(stamped.len(), 1);
        let written = store.read().await.unwrap();
        assert!(!written.lineage.is_empty());
        assert_eq!(written.serial, 1);
        assert_eq!(written.activations["act_1"], activation("act_1"));
        // Events alone move the log, not the serial.
        guard
            .commit(Change::events(vec![Event::new("alice", "test.note", EventResult::Ok)]))
            .await
            .unwrap();
        assert_eq!(store.head().await.unwrap().serial, 1);
        let head = store.audit_head().await.unwrap();
        assert_eq!(head.events, 2);
        let mut chain = Chain::new(None);
        store
            .scan_events(&EventFilter::default(), &mut |event| {
                assert_eq!(chain.push(&event.line).unwrap(), event.hash);
                true
            })
            .await
            .unwrap();
        assert_eq!(chain.head(), head.hash);
        let mut about = Vec::new();
        store
            .scan_events(
                &EventFilter { activation: Some("act_1".into()), ..EventFilter::default() },
                &mut |event| {
                    about.push(event.seq);
                    true
                },
            )
            .await
            .unwrap();
        assert_eq!(about, [1]);
    }

    #[tokio::test]
    async fn files_are_private_and_a_linked_database_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.append_events(vec![Event::new("a", "test", EventResult::Ok)]).await.unwrap();
        let mode = |path: &Path| fs_err::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join(".breakglass")), 0o700);
        for name in ["state.db", "state.db-wal", "state.db-shm"] {
            let path = dir.path().join(".breakglass").join(name);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{name}");
            }
        }
        let other = dir.path().join("elsewhere.db");
        std::os::unix::fs::symlink(&other, dir.path().join("linked.db")).unwrap();
        let linked = LocalStore::new(dir.path().join("linked.db"));
        let error = linked.read().await.unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert!(!other.exists(), "nothing was created through the link");
    }

    #[tokio::test]
    async fn a_legacy_json_state_is_named_with_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        fs_err::create_dir_all(dir.path().join(".breakglass")).unwrap();
        fs_err::write(dir.path().join(".breakglass/state.json"), "{}").unwrap();
        let error = store.read().await.unwrap_err().to_string();
        assert!(error.contains("state migrate --from json --to local"), "{error}");
        assert!(store.lock("apply", Duration::from_secs(1)).await.is_err());
        assert!(!store.path().exists());
    }

    #[tokio::test]
    async fn a_second_locker_waits_then_reports_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let guard = store.lock("apply", Duration::from_secs(1)).await.unwrap();
        let info = store.lock_info().await.unwrap().expect("locked");
        assert_eq!(info.operation, "apply");
        assert_eq!(info.pid, std::process::id());
        let error = store.lock("reconcile", Duration::from_millis(200)).await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("locked by apply"), "{message}");
        assert!(message.contains(&format!("state unlock {}", info.id)), "{message}");
        assert!(
            matches!(store.force_unlock(&info.id).await, Err(StateError::HolderAlive(_))),
            "a live holder is not unlocked"
        );
        drop(guard);
        assert!(store.lock_info().await.unwrap().is_none());
        store.lock("reconcile", Duration::from_millis(200)).await.unwrap();
    }

    #[tokio::test]
    async fn a_scoped_read_finds_rows_by_id_address_object_and_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut guard = store.lock("test", Duration::from_secs(1)).await.unwrap();
        let mut change = Change::default();
        for id in ["act_1", "act_2", "act_3"] {
            change.activations.push(activation(id));
        }
        let resource = |id: &str, activation: &str| ResourceState {
            provider: "local".into(),
            resource_type: "local_access".into(),
            id: id.into(),
            attributes: Default::default(),
            activation: Some(activation.into()),
            depends_on: Vec::new(),
            restore: None,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let address = |key: &str| -> Address {
            format!("role.dba[\"{key}\"].local_access.grant").parse().unwrap()
        };
        change.resources.push((address("a1"), Some(resource("alice/dba", "act_1"))));
        change.resources.push((address("a2"), Some(resource("bob/dba", "act_2"))));
        change.used_nonces.push((
            "n1".into(),
            UsedNonce {
                approver: "carol".into(),
                activation: "act_1".into(),
                used_at: jiff::Timestamp::UNIX_EPOCH,
            },
        ));
        change.used_totp.push(UsedTotp { person: "alice".into(), step: 10 });
        guard.commit(change).await.unwrap();
        let scope = Scope {
            activations: ["act_3".to_owned()].into(),
            objects: [("local_access".to_owned(), "alice/dba".to_owned())].into(),
            nonces: ["n1".to_owned(), "n2".to_owned()].into(),
            totp: Some(("alice".into(), 9)),
            ..Scope::default()
        };
        let state = guard.read_scope(&scope).await.unwrap();
        assert_eq!(state.activations.keys().collect::<Vec<_>>(), ["act_1", "act_3"]);
        assert_eq!(state.resources.keys().collect::<Vec<_>>(), [&address("a1")]);
        assert_eq!(state.used_nonces.keys().collect::<Vec<_>>(), ["n1"]);
        assert_eq!(state.used_totp.len(), 1);
        assert_eq!(state.serial, 1);
    }

    #[tokio::test]
    async fn a_passkey_counter_survives_a_reload_and_is_read_by_credential() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut guard = store(dir.path()).lock("test", Duration::from_secs(1)).await.unwrap();
            let change = Change {
                passkey_counters: vec![("cred_carol".into(), 7), ("cred_dave".into(), 0)],
                ..Change::default()
            };
            assert!(change.touches_state());
            guard.commit(change).await.unwrap();
            let raised =
                Change { passkey_counters: vec![("cred_carol".into(), 9)], ..Change::default() };
            guard.commit(raised).await.unwrap();
        }
        // Another process, later: a store opened afresh.
        let reloaded = store(dir.path());
        let state = reloaded.read().await.unwrap();
        assert_eq!(
            state.passkey_counters,
            [("cred_carol".to_owned(), 9), ("cred_dave".to_owned(), 0)].into()
        );
        assert_eq!(state.serial, 2);
        let scope = Scope {
            passkeys: ["cred_carol".to_owned(), "cred_erin".to_owned()].into(),
            ..Scope::default()
        };
        let scoped = reloaded.read_scope(&scope).await.unwrap();
        assert_eq!(scoped.passkey_counters, [("cred_carol".to_owned(), 9)].into());
    }

    #[tokio::test]
    async fn a_schema_1_database_gets_what_later_schemas_added() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.append_events(vec![Event::new("a", "test", EventResult::Ok)]).await.unwrap();
        // As the first version of this storage left it.
        let connection = Connection::open(store.path()).unwrap();
        connection
            .execute_batch(
                "DROP TABLE passkey_counters; DROP INDEX audit_events_unattached;
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        drop(connection);
        let mut guard = store.lock("test", Duration::from_secs(1)).await.unwrap();
        let change = Change { passkey_counters: vec![("cred".into(), 3)], ..Change::default() };
        guard.commit(change).await.unwrap();
        assert_eq!(store.read().await.unwrap().passkey_counters, [("cred".to_owned(), 3)].into());
        assert_eq!(store.audit_head().await.unwrap().events, 1, "the log is kept");
        let connection = Connection::open(store.path()).unwrap();
        let version: i64 =
            connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let unattached_index: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'audit_events_unattached'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(unattached_index, 1, "schema 3 indexes events about no activation");
    }
}
