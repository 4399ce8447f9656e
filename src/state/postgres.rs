//! The PostgreSQL backend: state in tables of one database, shared by many executors (CI
//! runners, several `watch` processes).
//!
//! Design choices:
//! - **The lock is a session-level advisory lock** taken by the guard's own connection and held
//!   for the guard's life. PostgreSQL releases it when that session ends, however it ends: a
//!   holder killed with SIGKILL, or cut off by the network, never leaves the state locked. A
//!   `lock_holder` row records who holds it, for messages and `state unlock`; it counts only
//!   while `pg_locks` shows its backend holding the lock, so a stale row is harmless.
//! - **Writes go through the lock's own connection, each in one transaction.** If that session
//!   is gone, so is the lock, and the write fails instead of landing unlocked. Each write also
//!   checks that the stored serial is the one the guard read: two writers can never both build
//!   on serial N.
//! - **The document and the activations apart.** The state document (format, lineage, serial,
//!   resources, used approval nonces and TOTP steps) is one JSONB row; activations live in
//!   their own table, one row each with their status, requester and window as columns, so the
//!   executors of a fleet (`status`, `watch`) can ask "what ends before T" with an index. The
//!   model ([`State`]) stays exactly the local backend's: a read joins them back.
//! - **Every write is recorded** in `state_writes` (serial, lock id, operation, host, pid, digest),
//!   an append-only history of who moved the state when; the serial is its primary key, so a
//!   lost update would be a visible gap or a refused duplicate.
//! - **The tool creates and migrates its tables itself**, in schema `breakglass`, recording each
//!   step in `schema_migrations`, under a transaction-level advisory lock so concurrent first
//!   runs do not race. A database migrated by a newer breakglass is refused by name.
//! - **The audit log is not here yet**: issue 5 adds the hash-chained log; its PostgreSQL table
//!   (`audit_events`, appended in the same transaction as the state write it describes) plugs in
//!   as the next migration, see [`MIGRATIONS`].
//!
//! The connection string comes from the environment variable the policy names
//! (`connection_env`), never from the policy itself, and never appears in messages.

use async_trait::async_trait;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

use super::error::StateError;
use super::model::{STATE_FORMAT_VERSION, State, new_lineage};
use super::store::{
    Leadership, LockInfo, StateGuard, StateStore, host_name, lock_backoff, new_lock_id,
    process_alive,
};
use crate::activation::Activation;

/// The schema holding breakglass's tables.
const SCHEMA: &str = "breakglass";

/// First key of every breakglass advisory lock (two-key form), so ours never collide with an
/// application's: "bglass" in ASCII, folded into 31 bits.
const LOCK_CLASS: i32 = 0x6267_6C73;
/// Second key of the state lock.
const STATE_LOCK: i32 = 1;
/// Second key of the migration lock (transaction-level).
const MIGRATION_LOCK: i32 = 2;
/// First key of leader-election locks; the second is a hash of the election's name.
const LEADER_CLASS: i32 = 0x6267_6C64;

/// The schema's migrations, in order. Append only; never edit one that has shipped.
/// Issue 5 (audit log) adds `audit_events` here as version 2.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "state document, activations, write history, lock holder",
    "CREATE TABLE breakglass.state (
         id boolean PRIMARY KEY DEFAULT true CHECK (id),
         format_version integer NOT NULL,
         lineage text NOT NULL,
         serial bigint NOT NULL,
         document jsonb NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now()
     );
     CREATE TABLE breakglass.activations (
         id text PRIMARY KEY,
         status text NOT NULL,
         kind text NOT NULL,
         name text NOT NULL,
         requester text NOT NULL,
         start_at timestamptz NOT NULL,
         end_at timestamptz NOT NULL,
         record jsonb NOT NULL,
         written_serial bigint NOT NULL
     );
     CREATE INDEX activations_status_end ON breakglass.activations (status, end_at);
     CREATE TABLE breakglass.state_writes (
         serial bigint PRIMARY KEY,
         lineage text NOT NULL,
         written_at timestamptz NOT NULL DEFAULT now(),
         lock_id text NOT NULL,
         operation text NOT NULL,
         host text NOT NULL,
         pid bigint NOT NULL,
         digest text NOT NULL
     );
     CREATE TABLE breakglass.lock_holder (
         id boolean PRIMARY KEY DEFAULT true CHECK (id),
         lock_id text NOT NULL,
         operation text NOT NULL,
         host text NOT NULL,
         pid bigint NOT NULL,
         backend_pid integer NOT NULL,
         created_at timestamptz NOT NULL
     )",
)];

fn database_error(doing: &str, error: &tokio_postgres::Error) -> StateError {
    let detail = match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    };
    StateError::Postgres(format!("{doing}: {detail}"))
}

/// State in PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    config: tokio_postgres::Config,
    /// The environment variable the connection string came from, for messages.
    source: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: show only where it came from.
        f.debug_struct("PostgresStore").field("source", &self.source).finish()
    }
}

impl PostgresStore {
    /// A store reached through the connection string in environment variable `name`
    /// (`host=… user=… dbname=…` or `postgresql://…`).
    pub fn from_env(name: &str) -> Result<Self, StateError> {
        let text = std::env::var(name).ok().filter(|text| !text.trim().is_empty()).ok_or_else(|| {
            StateError::Postgres(format!(
                "the state backend is \"postgres\" but {name} is not set; set it to a PostgreSQL \
                 connection string (host=… port=… user=… dbname=…, or postgresql://…)"
            ))
        })?;
        Self::from_connection_string(&text, name)
    }

    /// A store reached through `text`; `source` names where it came from, for messages.
    pub fn from_connection_string(text: &str, source: &str) -> Result<Self, StateError> {
        let mut config: tokio_postgres::Config = text.parse().map_err(|_| {
            // The parser's message may quote the string, password included: say only where.
            StateError::Postgres(format!(
                "{source} is not a PostgreSQL connection string; write host=… port=… user=… \
                 dbname=… (or postgresql://user@host:port/dbname)"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("breakglass-state");
        Ok(Self { config, source: source.to_owned() })
    }

    fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|host| match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!(
            "{}@{}/{} (from {})",
            self.config.get_user().unwrap_or("?"),
            hosts.join(","),
            self.config.get_dbname().unwrap_or("?"),
            self.source
        )
    }

    /// A new connection, with the tables created or migrated.
    async fn connect(&self) -> Result<Client, StateError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|error| {
            let why = match error.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => std::error::Error::source(&error)
                    .map_or_else(|| error.to_string(), |source| format!("{error}: {source}")),
            };
            StateError::Postgres(format!(
                "cannot connect to the state database {}: {why}; check the connection string in \
                 {} and that the server is running",
                self.describe(),
                self.source
            ))
        })?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        migrate(&client).await?;
        Ok(client)
    }

    /// Becomes the leader of election `name` if nobody is: at most one caller across every
    /// process sharing this database holds it at a time. Leadership lasts while the returned
    /// guard lives and its session does; if the leader's process dies, PostgreSQL ends the
    /// session and frees the election for another. (For `watch`: the leader reverts what is
    /// due, the others wait and try again.)
    pub async fn try_lead(&self, name: &str) -> Result<Option<LeaderGuard>, StateError> {
        let client = self.connect().await?;
        let key = election_key(name);
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LEADER_CLASS, &key])
            .await
            .map_err(|error| database_error("trying to become leader", &error))?;
        Ok(row.get::<_, bool>(0).then(|| LeaderGuard { client, name: name.to_owned() }))
    }

    /// Writes `state` as it is (lineage and serial kept) into a store that has none yet: the
    /// end of `state migrate`. Refused if this store already holds a state.
    pub async fn import(&self, state: &State, operation: &str) -> Result<(), StateError> {
        let mut guard = self.lock_postgres(operation, Duration::from_secs(30)).await?;
        if guard.state.serial != 0 || !guard.state.lineage.is_empty() {
            return Err(StateError::Postgres(format!(
                "the state database {} already holds a state (lineage {}, serial {}); migrate \
                 only into an empty one",
                self.describe(),
                guard.state.lineage,
                guard.state.serial
            )));
        }
        guard.store_state(state.clone()).await
    }

    async fn lock_postgres(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<PostgresGuard, StateError> {
        let client = self.connect().await?;
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &STATE_LOCK])
                .await
                .map_err(|error| database_error("taking the state lock", &error))?;
            if row.get::<_, bool>(0) {
                break;
            }
            if started.elapsed() >= timeout {
                let info = holder(&client).await?.unwrap_or_else(|| LockInfo {
                    id: "unknown".to_owned(),
                    operation: "an operation that has not recorded itself yet".to_owned(),
                    host: "unknown host".to_owned(),
                    pid: 0,
                    created_at: Timestamp::UNIX_EPOCH,
                });
                return Err(StateError::Locked { info, waited_secs: started.elapsed().as_secs() });
            }
            tokio::time::sleep(lock_backoff(attempt)).await;
            attempt += 1;
        }
        let info = LockInfo {
            id: new_lock_id(),
            operation: operation.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            created_at: crate::clock::now(),
        };
        client
            .execute(
                "INSERT INTO breakglass.lock_holder \
                     (id, lock_id, operation, host, pid, backend_pid, created_at) \
                 VALUES (true, $1, $2, $3, $4, pg_backend_pid(), ($5::text)::timestamptz) \
                 ON CONFLICT (id) DO UPDATE SET lock_id = $1, operation = $2, host = $3, \
                     pid = $4, backend_pid = pg_backend_pid(), created_at = ($5::text)::timestamptz",
                &[
                    &info.id,
                    &info.operation,
                    &info.host,
                    &i64::from(info.pid),
                    &info.created_at.to_string(),
                ],
            )
            .await
            .map_err(|error| database_error("recording the lock holder", &error))?;
        let state = read_state(&client, &self.describe()).await?;
        Ok(PostgresGuard { client, info, state })
    }
}

/// A stable 32-bit key for an election name (FNV-1a; the standard hasher is seeded per process).
fn election_key(name: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// Creates or migrates breakglass's tables, one transaction under a transaction-level lock.
async fn migrate(client: &Client) -> Result<(), StateError> {
    let latest = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    // The common case, without taking any lock: everything is already there.
    let exists = client
        .query_one("SELECT to_regclass('breakglass.schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(|error| database_error("reading the schema version", &error))?
        .get::<_, bool>(0);
    let current = if exists {
        client
            .query_one("SELECT coalesce(max(version), 0) FROM breakglass.schema_migrations", &[])
            .await
            .map_err(|error| database_error("reading the schema version", &error))?
            .get::<_, i32>(0)
    } else {
        0
    };
    if current == latest {
        return Ok(());
    }
    if current > latest {
        return Err(StateError::Postgres(format!(
            "the state database was migrated by a newer breakglass (schema version {current}, \
             this one knows {latest}); upgrade breakglass"
        )));
    }
    let mut statements = vec![
        "BEGIN".to_owned(),
        format!("SELECT pg_advisory_xact_lock({LOCK_CLASS}, {MIGRATION_LOCK})"),
        format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (version integer PRIMARY KEY, \
             description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        ),
    ];
    // Each migration runs only if not yet recorded (another process may have just run it).
    for (version, description, sql) in MIGRATIONS {
        let body = sql.replace('\'', "''");
        let description = description.replace('\'', "''");
        statements.push(format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM {SCHEMA}.schema_migrations WHERE version = \
             {version}) THEN EXECUTE '{body}'; INSERT INTO {SCHEMA}.schema_migrations (version, \
             description) VALUES ({version}, '{description}'); END IF; END $$"
        ));
    }
    statements.push("COMMIT".to_owned());
    client
        .batch_execute(&statements.join(";\n"))
        .await
        .map_err(|error| database_error("creating the state tables", &error))
}

/// Reads the whole state (a new one when none was written yet).
async fn read_state(client: &Client, describe: &str) -> Result<State, StateError> {
    let row = client
        .query_opt("SELECT document FROM breakglass.state", &[])
        .await
        .map_err(|error| database_error("reading the state", &error))?;
    let Some(row) = row else { return Ok(State::new()) };
    let document: serde_json::Value = row.get(0);
    let corrupt = |reason: String| {
        StateError::Postgres(format!(
            "the state in {describe} is not a breakglass state document: {reason}"
        ))
    };
    let found = document.get("format_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if found > u64::from(STATE_FORMAT_VERSION) {
        return Err(StateError::Postgres(format!(
            "the state in {describe} has format {found}, newer than this breakglass understands \
             ({STATE_FORMAT_VERSION}); upgrade breakglass"
        )));
    }
    let mut state: State =
        serde_json::from_value(document).map_err(|error| corrupt(error.to_string()))?;
    let rows = client
        .query("SELECT id, record FROM breakglass.activations", &[])
        .await
        .map_err(|error| database_error("reading activations", &error))?;
    for row in rows {
        let id: String = row.get(0);
        let record: serde_json::Value = row.get(1);
        let activation: Activation = serde_json::from_value(record)
            .map_err(|error| corrupt(format!("activation {id}: {error}")))?;
        state.activations.insert(id, Arc::new(activation));
    }
    Ok(state)
}

/// Who holds the state lock, if anyone: the holder row, if its backend holds the lock.
/// Advisory locks belong to a database: another database's breakglass state on the same
/// server has a lock of its own.
async fn holder(client: &Client) -> Result<Option<LockInfo>, StateError> {
    let row = client
        .query_opt(
            "SELECT l.pid, h.backend_pid, h.lock_id, h.operation, h.host, h.pid, \
                 to_char(h.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
             FROM pg_locks l LEFT JOIN breakglass.lock_holder h ON h.backend_pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 \
               AND l.objid::bigint = $2 AND l.objsubid = 2 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&i64::from(LOCK_CLASS), &i64::from(STATE_LOCK)],
        )
        .await
        .map_err(|error| database_error("reading the lock holder", &error))?;
    let Some(row) = row else { return Ok(None) };
    let backend: i32 = row.get(0);
    if row.get::<_, Option<i32>>(1).is_none() {
        return Ok(Some(LockInfo {
            id: format!("backend-{backend}"),
            operation: "an operation that has not recorded itself yet".to_owned(),
            host: "unknown host".to_owned(),
            pid: 0,
            created_at: Timestamp::UNIX_EPOCH,
        }));
    }
    let created: String = row.get(6);
    Ok(Some(LockInfo {
        id: row.get(2),
        operation: row.get(3),
        host: row.get(4),
        pid: u32::try_from(row.get::<_, i64>(5)).unwrap_or(0),
        created_at: created.parse().unwrap_or(Timestamp::UNIX_EPOCH),
    }))
}

#[async_trait]
impl StateStore for PostgresStore {
    async fn try_lead(&self, name: &str) -> Result<Option<Box<dyn Leadership>>, StateError> {
        Ok(PostgresStore::try_lead(self, name)
            .await?
            .map(|guard| Box::new(guard) as Box<dyn Leadership>))
    }

    async fn read(&self) -> Result<State, StateError> {
        let client = self.connect().await?;
        read_state(&client, &self.describe()).await
    }

    async fn lock(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<Box<dyn StateGuard>, StateError> {
        Ok(Box::new(self.lock_postgres(operation, timeout).await?))
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let client = self.connect().await?;
        holder(&client).await
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let client = self.connect().await?;
        match holder(&client).await? {
            None => {
                // Nobody holds it: PostgreSQL already released the lock of a session that
                // ended. Clear a stale record of that id, so it is not shown again.
                let removed = client
                    .query_opt(
                        "DELETE FROM breakglass.lock_holder WHERE lock_id = $1 \
                         RETURNING operation, host, pid",
                        &[&id],
                    )
                    .await
                    .map_err(|error| database_error("clearing the lock holder", &error))?;
                match removed {
                    Some(row) => Ok(LockInfo {
                        id: id.to_owned(),
                        operation: row.get(0),
                        host: row.get(1),
                        pid: u32::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                        created_at: Timestamp::UNIX_EPOCH,
                    }),
                    None => Err(StateError::NotLocked),
                }
            }
            Some(info) if info.id != id => {
                Err(StateError::WrongLockId { given: id.to_owned(), current: info })
            }
            Some(info) if info.host == host_name() && process_alive(info.pid) => {
                Err(StateError::HolderAlive(info))
            }
            Some(info) => {
                // The holder's process is gone but its session lingers (a half-open
                // connection): end the session, which releases the lock.
                client
                    .execute(
                        "SELECT pg_terminate_backend(backend_pid, 5000) \
                         FROM breakglass.lock_holder WHERE lock_id = $1",
                        &[&id],
                    )
                    .await
                    .map_err(|error| database_error("ending the lock holder's session", &error))?;
                client
                    .execute("DELETE FROM breakglass.lock_holder WHERE lock_id = $1", &[&id])
                    .await
                    .map_err(|error| database_error("clearing the lock holder", &error))?;
                Ok(info)
            }
        }
    }
}

/// The state lock, held by this guard's own session.
pub struct PostgresGuard {
    client: Client,
    info: LockInfo,
    state: State,
}

impl std::fmt::Debug for PostgresGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresGuard").field("info", &self.info).finish()
    }
}

impl PostgresGuard {
    /// Stores `state` exactly (serial included) in one transaction on the lock's session.
    async fn store_state(&mut self, state: State) -> Result<(), StateError> {
        let mut document = serde_json::to_value(&state)
            .map_err(|error| StateError::Postgres(format!("cannot encode the state: {error}")))?;
        if let Some(object) = document.as_object_mut() {
            // Activations live in their own table.
            object.remove("activations");
        }
        let digest = hex::encode(Sha256::digest(serde_json::to_vec(&state).unwrap_or_default()));
        let expected = i64::try_from(self.state.serial).unwrap_or(i64::MAX);
        let serial = i64::try_from(state.serial).unwrap_or(i64::MAX);
        let transaction = self
            .client
            .transaction()
            .await
            .map_err(|error| database_error("starting the state write", &error))?;
        let stored = transaction
            .query_opt("SELECT serial FROM breakglass.state FOR UPDATE", &[])
            .await
            .map_err(|error| database_error("reading the state serial", &error))?
            .map_or(0, |row| row.get::<_, i64>(0));
        if stored != expected {
            return Err(StateError::Postgres(format!(
                "the state serial is {stored} but this run read {expected}: another writer \
                 changed the state without the lock; nothing was written, run again"
            )));
        }
        transaction
            .execute(
                "INSERT INTO breakglass.state (id, format_version, lineage, serial, document, updated_at) \
                 VALUES (true, $1, $2, $3, $4, now()) \
                 ON CONFLICT (id) DO UPDATE SET format_version = $1, lineage = $2, serial = $3, \
                     document = $4, updated_at = now()",
                &[
                    &i32::try_from(state.format_version).unwrap_or(i32::MAX),
                    &state.lineage,
                    &serial,
                    &document,
                ],
            )
            .await
            .map_err(|error| database_error("writing the state", &error))?;
        let previous: &BTreeMap<String, Arc<Activation>> = &self.state.activations;
        for (id, activation) in &state.activations {
            if previous.get(id) == Some(activation) {
                continue;
            }
            let record = serde_json::to_value(activation).map_err(|error| {
                StateError::Postgres(format!("cannot encode activation {id}: {error}"))
            })?;
            transaction
                .execute(
                    "INSERT INTO breakglass.activations \
                         (id, status, kind, name, requester, start_at, end_at, record, written_serial) \
                     VALUES ($1, $2, $3, $4, $5, ($6::text)::timestamptz, ($7::text)::timestamptz, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET status = $2, kind = $3, name = $4, \
                         requester = $5, start_at = ($6::text)::timestamptz, \
                         end_at = ($7::text)::timestamptz, record = $8, written_serial = $9",
                    &[
                        id,
                        &activation.status.as_str(),
                        &activation.kind.as_str(),
                        &activation.name,
                        &activation.requester,
                        &activation.start.to_string(),
                        &activation.end.to_string(),
                        &record,
                        &serial,
                    ],
                )
                .await
                .map_err(|error| database_error(&format!("writing activation {id}"), &error))?;
        }
        let removed: Vec<&String> =
            previous.keys().filter(|id| !state.activations.contains_key(*id)).collect();
        if !removed.is_empty() {
            transaction
                .execute("DELETE FROM breakglass.activations WHERE id = ANY($1)", &[&removed])
                .await
                .map_err(|error| database_error("removing activations", &error))?;
        }
        transaction
            .execute(
                "INSERT INTO breakglass.state_writes \
                     (serial, lineage, lock_id, operation, host, pid, digest) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &serial,
                    &state.lineage,
                    &self.info.id,
                    &self.info.operation,
                    &self.info.host,
                    &i64::from(self.info.pid),
                    &digest,
                ],
            )
            .await
            .map_err(|error| database_error("recording the state write", &error))?;
        // Issue 5: the audit events of this write are appended here, in the same transaction.
        transaction
            .commit()
            .await
            .map_err(|error| database_error("committing the state write", &error))?;
        self.state = state;
        Ok(())
    }
}

#[async_trait]
impl StateGuard for PostgresGuard {
    fn state(&self) -> &State {
        &self.state
    }

    async fn write(&mut self, mut state: State) -> Result<(), StateError> {
        if state.lineage.is_empty() {
            state.lineage = if self.state.lineage.is_empty() {
                new_lineage()
            } else {
                self.state.lineage.clone()
            };
        }
        state.serial = self.state.serial + 1;
        state.format_version = STATE_FORMAT_VERSION;
        self.store_state(state).await
    }

    fn info(&self) -> &LockInfo {
        &self.info
    }
}

/// Leadership of one election, held while this guard lives (see [`PostgresStore::try_lead`]).
pub struct LeaderGuard {
    client: Client,
    name: String,
}

impl std::fmt::Debug for LeaderGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderGuard").field("name", &self.name).finish()
    }
}

#[async_trait]
impl Leadership for LeaderGuard {
    /// Whether leadership still holds: the session that holds the lock is still alive. A leader
    /// calls this before each round of work and stops leading when it returns false.
    async fn still_leading(&self) -> bool {
        let key = election_key(&self.name);
        self.client
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 \
                 AND objsubid = 2",
                &[&i64::from(LEADER_CLASS), &i64::from(key).rem_euclid(1 << 32)],
            )
            .await
            .is_ok_and(|row| row.get::<_, i64>(0) == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider_postgres::testing::TestCluster;

    async fn store(database: &str) -> PostgresStore {
        let cluster = TestCluster::shared();
        cluster.create_database(database).await;
        PostgresStore::from_connection_string(
            &cluster.connection_string("postgres", TestCluster::PASSWORD, database),
            "TEST_CONNECTION",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_new_database_gets_its_tables_and_an_empty_state() {
        let store = store("state_empty").await;
        let empty = store.read().await.unwrap();
        assert_eq!((empty.lineage.as_str(), empty.serial), ("", 0));
        let client = store.connect().await.unwrap();
        let versions: Vec<i32> = client
            .query("SELECT version FROM breakglass.schema_migrations", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, [1]);
    }

    #[tokio::test]
    async fn concurrent_lockers_serialise_and_lose_no_update() {
        let store = store("state_concurrent").await;
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut guard = store.lock("test", Duration::from_secs(60)).await.unwrap();
                    let mut state = guard.state().clone();
                    state.used_nonces.insert(
                        format!("nonce-{n}"),
                        crate::state::UsedNonce {
                            approver: "carol".into(),
                            activation: format!("act_{n}"),
                            used_at: Timestamp::UNIX_EPOCH,
                        },
                    );
                    guard.write(state).await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let state = store.read().await.unwrap();
        assert_eq!(state.used_nonces.len(), 8, "every writer's update is there");
        assert_eq!(state.serial, 8);
        let client = store.connect().await.unwrap();
        let serials: Vec<i64> = client
            .query("SELECT serial FROM breakglass.state_writes ORDER BY serial", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(serials, (1..=8).collect::<Vec<i64>>(), "strictly increasing, no gap");
    }

    #[tokio::test]
    async fn a_second_locker_waits_then_names_the_holder_and_a_dead_session_frees_the_lock() {
        let store = store("state_holder").await;
        let mut guard = store.lock("apply", Duration::from_secs(1)).await.unwrap();
        let info = store.lock_info().await.unwrap().expect("locked");
        assert_eq!((info.operation.as_str(), info.pid), ("apply", std::process::id()));
        let error = store.lock("reconcile", Duration::from_millis(300)).await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("locked by apply"), "{message}");
        assert!(message.contains(&format!("state unlock {}", info.id)), "{message}");
        assert!(matches!(store.force_unlock(&info.id).await, Err(StateError::HolderAlive(_))));

        // The holder's session dies (as when its process is killed): the lock is free.
        let admin = store.connect().await.unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(backend_pid, 5000) FROM breakglass.lock_holder",
                &[],
            )
            .await
            .unwrap();
        assert!(store.lock_info().await.unwrap().is_none());
        let mut next = store.lock("reconcile", Duration::from_secs(5)).await.unwrap();
        next.write(State::new()).await.unwrap();
        // A guard whose session is gone cannot write: nothing lands without the lock.
        assert!(guard.write(State::new()).await.is_err());
        assert_eq!(store.read().await.unwrap().serial, 1);
    }

    #[tokio::test]
    async fn unlock_ends_the_lingering_session_of_a_holder_whose_process_is_gone() {
        let store = store("state_unlock").await;
        let mut guard = store.lock("apply", Duration::from_secs(1)).await.unwrap();
        let id = guard.info().id.clone();
        assert!(matches!(
            store.force_unlock("not-the-id").await,
            Err(StateError::WrongLockId { .. })
        ));
        // As if the holder's process were gone while its connection lingers (a half-open
        // TCP connection the server has not noticed yet).
        let admin = store.connect().await.unwrap();
        admin.execute("UPDATE breakglass.lock_holder SET pid = 2147483647", &[]).await.unwrap();
        let removed = store.force_unlock(&id).await.unwrap();
        assert_eq!(removed.id, id);
        assert!(store.lock_info().await.unwrap().is_none());
        assert!(guard.write(State::new()).await.is_err(), "the old holder can no longer write");
        assert!(matches!(store.force_unlock(&id).await, Err(StateError::NotLocked)));
        store.lock("apply", Duration::from_secs(1)).await.expect("the lock is free");
    }

    #[tokio::test]
    async fn states_in_two_databases_of_one_server_lock_independently() {
        let first = store("state_first").await;
        let second = store("state_second").await;
        let _held = first.lock("apply", Duration::from_secs(1)).await.unwrap();
        assert!(second.lock_info().await.unwrap().is_none(), "the other state is not locked");
        second.lock("apply", Duration::from_millis(200)).await.expect("its own lock is free");
    }

    #[tokio::test]
    async fn activations_round_trip_through_their_own_table() {
        let store = store("state_activations").await;
        let mut guard = store.lock("test", Duration::from_secs(5)).await.unwrap();
        let mut state = State::new();
        let activation: Activation = serde_json::from_value(serde_json::json!({
            "id": "grant_chg_1", "kind": "role", "name": "dba", "requester": "alice",
            "justification": "INC-1", "start": "2031-01-15T09:00:00Z",
            "end": "2031-01-15T17:00:00Z", "status": "active",
            "source": {"type": "grant", "name": "chg_1"},
            "created_at": "2031-01-15T09:00:00Z",
        }))
        .unwrap();
        state.activations.insert(activation.id.clone(), activation.clone().into());
        guard.write(state).await.unwrap();
        let read = store.read().await.unwrap();
        assert_eq!(*read.activations["grant_chg_1"], activation);
        assert_eq!(read, *guard.state());
        let client = store.connect().await.unwrap();
        let ending: i64 = client
            .query_one(
                "SELECT count(*) FROM breakglass.activations \
                 WHERE status = 'active' AND end_at <= '2031-01-15T17:00:00Z'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(ending, 1, "activations can be queried by status and end");
    }

    #[tokio::test]
    async fn import_keeps_lineage_and_serial_and_refuses_a_second_time() {
        let store = store("state_import").await;
        let mut state = State::new();
        state.lineage = "01jlineage".into();
        state.serial = 41;
        store.import(&state, "state migrate").await.unwrap();
        let read = store.read().await.unwrap();
        assert_eq!((read.lineage.as_str(), read.serial), ("01jlineage", 41));
        let error = store.import(&state, "state migrate").await.unwrap_err().to_string();
        assert!(error.contains("already holds a state (lineage 01jlineage, serial 41)"), "{error}");
    }

    #[tokio::test]
    async fn one_leader_at_a_time_and_another_takes_over_when_it_dies() {
        let store = store("state_leader").await;
        let leader = store.try_lead("watch").await.unwrap().expect("nobody leads yet");
        assert!(leader.still_leading().await);
        assert!(store.try_lead("watch").await.unwrap().is_none(), "one leader at a time");
        assert!(store.try_lead("other-election").await.unwrap().is_some());
        // The leader's session ends, as when its process is killed with SIGKILL.
        let admin = store.connect().await.unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks \
                 WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2 \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[&i64::from(LEADER_CLASS), &i64::from(election_key("watch")).rem_euclid(1 << 32)],
            )
            .await
            .unwrap();
        assert!(!leader.still_leading().await);
        let next = store.try_lead("watch").await.unwrap().expect("the election is free again");
        assert!(next.still_leading().await);
    }

    #[tokio::test]
    async fn bad_connection_strings_and_credentials_never_show_the_password() {
        let error = PostgresStore::from_connection_string("host=x password='unclosed", "BG_CONN")
            .unwrap_err()
            .to_string();
        assert!(error.contains("BG_CONN is not a PostgreSQL connection string"), "{error}");
        assert!(!error.contains("unclosed"), "{error}");
        let cluster = TestCluster::shared();
        let store = PostgresStore::from_connection_string(
            &cluster.connection_string("postgres", "wrong-secret-123", "postgres"),
            "BG_CONN",
        )
        .unwrap();
        let error = store.read().await.unwrap_err().to_string();
        assert!(
            error.contains(
                "cannot connect to the state database postgres@127.0.0.1/postgres (from BG_CONN)"
            ),
            "{error}"
        );
        assert!(error.contains("password authentication failed"), "{error}");
        assert!(!error.contains("wrong-secret-123"), "{error}");
        assert!(!format!("{store:?}").contains("wrong-secret-123"));
    }
}
