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
//! - **A row per record, a transaction per change.** Activations, resources, used approval
//!   nonces, TOTP steps and passkey signature counters each have a table, one row per record
//!   with the columns it is looked up by (status and end, requester, object id); a write is a
//!   [`Change`], only the rows that changed, in one transaction, so one grant costs one small
//!   write however large the state.
//!   The `state` row keeps format, lineage and serial. The model ([`State`]) stays exactly the
//!   local backend's: a read decodes each row's JSON straight into it.
//! - **Every write is recorded** in `state_writes` (serial, lock id, operation, host, pid, digest),
//!   an append-only history of who moved the state when; the serial is its primary key, so a
//!   lost update would be a visible gap or a refused duplicate.
//! - **The tool creates and migrates its tables itself**, in schema `breakglass`, recording each
//!   step in `schema_migrations`, under a transaction-level advisory lock so concurrent first
//!   runs do not race. A database migrated by a newer breakglass is refused by name.
//! - **The audit log lives here too**: `audit_events`, one row per event holding its line exactly
//!   as hashed, appended in the same transaction as the state write it describes. One chain is
//!   shared by every executor: appends take a transaction-level advisory lock, read the head and
//!   insert after it, so concurrent executors never fork it; each append sends a `NOTIFY
//!   breakglass_audit` (the sequence number) for listeners such as the console.
//!
//! The connection string comes from the environment variable the policy names
//! (`connection_env`), never from the policy itself, and never appears in messages.

use async_trait::async_trait;
use futures_util::StreamExt;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, NoTls};

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

/// The schema holding breakglass's tables.
const SCHEMA: &str = "breakglass";

/// First key of every breakglass advisory lock (two-key form), so ours never collide with an
/// application's: "bglass" in ASCII, folded into 31 bits.
const LOCK_CLASS: i32 = 0x6267_6C73;
/// Second key of the state lock.
const STATE_LOCK: i32 = 1;
/// Second key of the migration lock (transaction-level).
const MIGRATION_LOCK: i32 = 2;
/// Second key of the audit append lock (transaction-level).
const AUDIT_LOCK: i32 = 3;
/// Rows per statement when writing many (an import).
const BATCH: usize = 1000;
/// First key of leader-election locks; the second is a hash of the election's name.
const LEADER_CLASS: i32 = 0x6267_6C64;

/// The schema's migrations, in order. Append only; never edit one that has shipped.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
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
    ),
    (
        2,
        "a row per resource, nonce and TOTP step; the audit log",
        "CREATE TABLE breakglass.resources (
             address text PRIMARY KEY,
             resource_type text NOT NULL,
             object_id text NOT NULL,
             activation text,
             record jsonb NOT NULL,
             written_serial bigint NOT NULL
         );
         CREATE INDEX resources_object ON breakglass.resources (resource_type, object_id);
         CREATE INDEX resources_activation ON breakglass.resources (activation)
             WHERE activation IS NOT NULL;
         INSERT INTO breakglass.resources
             SELECT r.key, r.value->>'resource_type', r.value->>'id', r.value->>'activation',
                 r.value, s.serial
             FROM breakglass.state s, jsonb_each(coalesce(s.document->'resources', '{}')) r;
         CREATE TABLE breakglass.used_nonces (nonce text PRIMARY KEY, record jsonb NOT NULL);
         INSERT INTO breakglass.used_nonces
             SELECT n.key, n.value
             FROM breakglass.state s, jsonb_each(coalesce(s.document->'used_nonces', '{}')) n;
         CREATE TABLE breakglass.used_totp (
             position bigserial NOT NULL,
             person text NOT NULL,
             step bigint NOT NULL,
             PRIMARY KEY (person, step)
         );
         INSERT INTO breakglass.used_totp (person, step)
             SELECT t.value->>'person', (t.value->>'step')::bigint
             FROM breakglass.state s,
                 jsonb_array_elements(coalesce(s.document->'used_totp', '[]')) WITH ORDINALITY t
             ORDER BY t.ordinality
             ON CONFLICT DO NOTHING;
         UPDATE breakglass.state SET document = '{}';
         CREATE INDEX activations_requester_start ON breakglass.activations (requester, start_at);
         CREATE INDEX activations_name_start ON breakglass.activations (name, start_at);
         CREATE TABLE breakglass.audit_events (
             seq bigint PRIMARY KEY,
             time_ns bigint NOT NULL,
             action text NOT NULL,
             activation text,
             plan_digest text,
             hash text NOT NULL UNIQUE,
             line text NOT NULL,
             recorded_at timestamptz NOT NULL DEFAULT now()
         );
         CREATE INDEX audit_events_time ON breakglass.audit_events (time_ns);
         CREATE INDEX audit_events_activation ON breakglass.audit_events (activation, seq)
             WHERE activation IS NOT NULL;
         CREATE INDEX audit_events_digest ON breakglass.audit_events (plan_digest)
             WHERE plan_digest IS NOT NULL",
    ),
    (
        3,
        "the highest signature counter seen from each passkey",
        "CREATE TABLE breakglass.passkey_counters (
             credential_id text PRIMARY KEY,
             counter bigint NOT NULL
         )",
    ),
    (
        4,
        "events about no activation, found without reading the whole log",
        "CREATE INDEX audit_events_unattached ON breakglass.audit_events (seq)
             WHERE activation IS NULL",
    ),
];

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

    fn location(&self) -> String {
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

    fn cannot_connect(&self, error: &tokio_postgres::Error) -> StateError {
        let why = match error.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => std::error::Error::source(error)
                .map_or_else(|| error.to_string(), |source| format!("{error}: {source}")),
        };
        StateError::Postgres(format!(
            "cannot connect to the state database {}: {why}; check the connection string in {} \
             and that the server is running",
            self.location(),
            self.source
        ))
    }

    /// A new connection, with the tables created or migrated.
    async fn connect(&self) -> Result<Client, StateError> {
        let (client, connection) =
            self.config.connect(NoTls).await.map_err(|error| self.cannot_connect(&error))?;
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
        let head = read_head(&client).await?;
        Ok(PostgresGuard { client, info, head, describe: self.location() })
    }
}

/// The connection an [`AuditBell`] listens on; dropping it stops listening.
struct Listening {
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
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

fn corrupt(what: &str, error: impl std::fmt::Display) -> StateError {
    StateError::Postgres(format!(
        "{what} in the state database is not a breakglass record: {error}"
    ))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StateError> {
    serde_json::from_str(text).map_err(|error| corrupt(what, error))
}

/// Format, lineage and serial (a new state when none was written yet).
async fn read_head(client: &impl GenericClient) -> Result<StateHead, StateError> {
    let row = client
        .query_opt("SELECT format_version, lineage, serial FROM breakglass.state", &[])
        .await
        .map_err(|error| database_error("reading the state", &error))?;
    let Some(row) = row else { return Ok(StateHead::default()) };
    let found: i32 = row.get(0);
    if u32::try_from(found).unwrap_or(u32::MAX) > STATE_FORMAT_VERSION {
        return Err(StateError::Postgres(format!(
            "the state database has format {found}, newer than this breakglass understands \
             ({STATE_FORMAT_VERSION}); upgrade breakglass"
        )));
    }
    Ok(StateHead { lineage: row.get(1), serial: row.get::<_, i64>(2).cast_unsigned() })
}

/// Streams the rows of `sql` (the record's JSON text last), decoding each straight into `T`.
async fn stream_rows<P>(
    client: &impl GenericClient,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
    mut each: impl FnMut(&tokio_postgres::Row) -> Result<P, StateError>,
) -> Result<Vec<P>, StateError> {
    let rows = client
        .query_raw(sql, parameters.iter().copied())
        .await
        .map_err(|error| database_error("reading the state", &error))?;
    futures_util::pin_mut!(rows);
    let mut out = Vec::new();
    while let Some(row) = rows.next().await {
        let row = row.map_err(|error| database_error("reading the state", &error))?;
        out.push(each(&row)?);
    }
    Ok(out)
}

async fn activations_where(
    client: &impl GenericClient,
    condition: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Arc<Activation>>, StateError> {
    let sql = format!("SELECT record::text FROM breakglass.activations {condition}");
    stream_rows(client, &sql, parameters, |row| {
        Ok(Arc::new(decode::<Activation>("an activation", row.get(0))?))
    })
    .await
}

async fn resources_where(
    client: &impl GenericClient,
    condition: &str,
    parameters: &[&(dyn ToSql + Sync)],
    into: &mut BTreeMap<Address, ResourceState>,
) -> Result<(), StateError> {
    let sql = format!("SELECT address, record::text FROM breakglass.resources {condition}");
    let found = stream_rows(client, &sql, parameters, |row| {
        let address: Address =
            row.get::<_, &str>(0).parse().map_err(|error| corrupt("a resource address", error))?;
        Ok((address, decode::<ResourceState>("a resource", row.get(1))?))
    })
    .await?;
    for (address, resource) in found {
        into.entry(address).or_insert(resource);
    }
    Ok(())
}

/// The whole state, read in one repeatable-read snapshot.
async fn read_state(client: &mut Client) -> Result<State, StateError> {
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|error| database_error("reading the state", &error))?;
    let head = read_head(&transaction).await?;
    let mut state = State::new();
    state.lineage = head.lineage;
    state.serial = head.serial;
    let mut resources = BTreeMap::new();
    resources_where(&transaction, "", &[], &mut resources).await?;
    state.resources = resources;
    state.activations = activations_where(&transaction, "", &[])
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    state.used_nonces = stream_rows(
        &transaction,
        "SELECT nonce, record::text FROM breakglass.used_nonces",
        &[],
        |row| Ok((row.get::<_, String>(0), decode::<UsedNonce>("a used nonce", row.get(1))?)),
    )
    .await?
    .into_iter()
    .collect();
    state.used_totp = stream_rows(
        &transaction,
        "SELECT person, step FROM breakglass.used_totp ORDER BY position",
        &[],
        |row| Ok(UsedTotp { person: row.get(0), step: row.get::<_, i64>(1).cast_unsigned() }),
    )
    .await?;
    state.passkey_counters = stream_rows(
        &transaction,
        "SELECT credential_id, counter FROM breakglass.passkey_counters",
        &[],
        |row| Ok((row.get::<_, String>(0), counter(row.get(1)))),
    )
    .await?
    .into_iter()
    .collect();
    transaction.commit().await.map_err(|error| database_error("reading the state", &error))?;
    Ok(state)
}

/// A stored signature counter (written from a `u32`).
fn counter(stored: i64) -> u32 {
    u32::try_from(stored).unwrap_or(u32::MAX)
}

fn timestamp_text(time: Timestamp) -> String {
    time.to_string()
}

/// The rows `scope` names (see [`Scope`]).
async fn read_scope(client: &mut Client, scope: &Scope) -> Result<State, StateError> {
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|error| database_error("reading the state", &error))?;
    let head = read_head(&transaction).await?;
    let mut state = State::new();
    state.lineage = head.lineage;
    state.serial = head.serial;
    let mut activations: BTreeMap<String, Arc<Activation>> = BTreeMap::new();
    let add = |found: Vec<Arc<Activation>>, into: &mut BTreeMap<String, Arc<Activation>>| {
        for activation in found {
            into.entry(activation.id.clone()).or_insert(activation);
        }
    };
    let ids: Vec<&String> = scope.activations.iter().collect();
    if !ids.is_empty() {
        add(
            activations_where(&transaction, "WHERE id = ANY($1)", &[&ids]).await?,
            &mut activations,
        );
    }
    if scope.live_overrides {
        add(
            activations_where(
                &transaction,
                "WHERE kind = 'override' AND status <> 'reverted'",
                &[],
            )
            .await?,
            &mut activations,
        );
    }
    for started in &scope.started {
        let since = timestamp_text(started.since);
        let found =
            match (&started.requester, &started.names) {
                (Some(requester), _) => {
                    activations_where(
                        &transaction,
                        "WHERE requester = $1 AND (start_at >= ($2::text)::timestamptz \
                     OR end_at > ($2::text)::timestamptz)",
                        &[requester, &since],
                    )
                    .await?
                }
                (None, Some(names)) => {
                    let names: Vec<&String> = names.iter().collect();
                    activations_where(
                        &transaction,
                        "WHERE name = ANY($1) AND (start_at >= ($2::text)::timestamptz \
                     OR end_at > ($2::text)::timestamptz)",
                        &[&names, &since],
                    )
                    .await?
                }
                (None, None) => activations_where(
                    &transaction,
                    "WHERE start_at >= ($1::text)::timestamptz OR end_at > ($1::text)::timestamptz",
                    &[&since],
                )
                .await?,
            };
        add(found, &mut activations);
    }
    let mut resources = BTreeMap::new();
    let addresses: Vec<String> = scope.addresses.iter().map(ToString::to_string).collect();
    if !addresses.is_empty() {
        resources_where(&transaction, "WHERE address = ANY($1)", &[&addresses], &mut resources)
            .await?;
    }
    if !scope.objects.is_empty() {
        let types: Vec<&String> = scope.objects.iter().map(|(t, _)| t).collect();
        let objects: Vec<&String> = scope.objects.iter().map(|(_, id)| id).collect();
        resources_where(
            &transaction,
            "WHERE (resource_type, object_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&types, &objects],
            &mut resources,
        )
        .await?;
    }
    if scope.resources_of_activations && !ids.is_empty() {
        resources_where(&transaction, "WHERE activation = ANY($1)", &[&ids], &mut resources)
            .await?;
    }
    let holders: Vec<String> = resources
        .values()
        .filter_map(|r| r.activation.clone())
        .filter(|id| !activations.contains_key(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !holders.is_empty() {
        add(
            activations_where(&transaction, "WHERE id = ANY($1)", &[&holders]).await?,
            &mut activations,
        );
    }
    state.activations = activations;
    state.resources = resources;
    let nonces: Vec<&String> = scope.nonces.iter().collect();
    if !nonces.is_empty() {
        state.used_nonces = stream_rows(
            &transaction,
            "SELECT nonce, record::text FROM breakglass.used_nonces WHERE nonce = ANY($1)",
            &[&nonces],
            |row| Ok((row.get::<_, String>(0), decode::<UsedNonce>("a used nonce", row.get(1))?)),
        )
        .await?
        .into_iter()
        .collect();
    }
    if let Some((person, from)) = &scope.totp {
        state.used_totp = stream_rows(
            &transaction,
            "SELECT person, step FROM breakglass.used_totp WHERE person = $1 AND step >= $2 \
             ORDER BY position",
            &[person, &from.cast_signed()],
            |row| Ok(UsedTotp { person: row.get(0), step: row.get::<_, i64>(1).cast_unsigned() }),
        )
        .await?;
    }
    let passkeys: Vec<&String> = scope.passkeys.iter().collect();
    if !passkeys.is_empty() {
        state.passkey_counters = stream_rows(
            &transaction,
            "SELECT credential_id, counter FROM breakglass.passkey_counters \
             WHERE credential_id = ANY($1)",
            &[&passkeys],
            |row| Ok((row.get::<_, String>(0), counter(row.get(1)))),
        )
        .await?
        .into_iter()
        .collect();
    }
    transaction.commit().await.map_err(|error| database_error("reading the state", &error))?;
    Ok(state)
}

/// Writes the rows of `change`, in batches.
async fn write_rows(
    transaction: &tokio_postgres::Transaction<'_>,
    change: &Change,
    serial: i64,
) -> Result<(), StateError> {
    for chunk in change.activations.chunks(BATCH) {
        let mut columns: [Vec<String>; 8] = Default::default();
        for activation in chunk {
            let record = serde_json::to_string(&**activation).map_err(|error| {
                StateError::Postgres(format!("cannot encode activation {}: {error}", activation.id))
            })?;
            for (column, value) in columns.iter_mut().zip([
                activation.id.clone(),
                activation.status.as_str().to_owned(),
                activation.kind.as_str().to_owned(),
                activation.name.clone(),
                activation.requester.clone(),
                activation.start.to_string(),
                activation.end.to_string(),
                record,
            ]) {
                column.push(value);
            }
        }
        let [ids, statuses, kinds, names, requesters, starts, ends, records] = &columns;
        transaction
            .execute(
                "INSERT INTO breakglass.activations \
                     (id, status, kind, name, requester, start_at, end_at, record, written_serial) \
                 SELECT id, status, kind, name, requester, start_at::timestamptz, end_at::timestamptz, \
                     record::jsonb, $9 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::text[], $8::text[]) \
                     AS r(id, status, kind, name, requester, start_at, end_at, record) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, kind = excluded.kind, \
                     name = excluded.name, requester = excluded.requester, \
                     start_at = excluded.start_at, end_at = excluded.end_at, \
                     record = excluded.record, written_serial = excluded.written_serial",
                &[ids, statuses, kinds, names, requesters, starts, ends, records, &serial],
            )
            .await
            .map_err(|error| database_error("writing activations", &error))?;
    }
    let (written, forgotten): (Vec<_>, Vec<_>) =
        change.resources.iter().partition(|(_, resource)| resource.is_some());
    for chunk in written.chunks(BATCH) {
        let mut columns: [Vec<Option<String>>; 5] = Default::default();
        for (address, resource) in chunk {
            let Some(resource) = resource else { continue };
            let record = serde_json::to_string(resource).map_err(|error| {
                StateError::Postgres(format!("cannot encode resource {address}: {error}"))
            })?;
            for (column, value) in columns.iter_mut().zip([
                Some(address.to_string()),
                Some(resource.resource_type.clone()),
                Some(resource.id.clone()),
                resource.activation.clone(),
                Some(record),
            ]) {
                column.push(value);
            }
        }
        let [addresses, types, ids, activations, records] = &columns;
        transaction
            .execute(
                "INSERT INTO breakglass.resources \
                     (address, resource_type, object_id, activation, record, written_serial) \
                 SELECT address, resource_type, object_id, activation, record::jsonb, $6 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                     AS r(address, resource_type, object_id, activation, record) \
                 ON CONFLICT (address) DO UPDATE SET resource_type = excluded.resource_type, \
                     object_id = excluded.object_id, activation = excluded.activation, \
                     record = excluded.record, written_serial = excluded.written_serial",
                &[addresses, types, ids, activations, records, &serial],
            )
            .await
            .map_err(|error| database_error("writing resources", &error))?;
    }
    let forgotten: Vec<String> = forgotten.iter().map(|(address, _)| address.to_string()).collect();
    if !forgotten.is_empty() {
        transaction
            .execute("DELETE FROM breakglass.resources WHERE address = ANY($1)", &[&forgotten])
            .await
            .map_err(|error| database_error("removing resources", &error))?;
    }
    for chunk in change.used_nonces.chunks(BATCH) {
        let nonces: Vec<&String> = chunk.iter().map(|(nonce, _)| nonce).collect();
        let records: Vec<String> =
            chunk.iter().map(|(_, used)| serde_json::to_string(used).unwrap_or_default()).collect();
        transaction
            .execute(
                "INSERT INTO breakglass.used_nonces (nonce, record) \
                 SELECT nonce, record::jsonb FROM unnest($1::text[], $2::text[]) AS r(nonce, record) \
                 ON CONFLICT (nonce) DO UPDATE SET record = excluded.record",
                &[&nonces, &records],
            )
            .await
            .map_err(|error| database_error("recording used nonces", &error))?;
    }
    for used in &change.used_totp {
        transaction
            .execute(
                "INSERT INTO breakglass.used_totp (person, step) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                &[&used.person, &used.step.cast_signed()],
            )
            .await
            .map_err(|error| database_error("recording a used TOTP step", &error))?;
    }
    if !change.passkey_counters.is_empty() {
        let ids: Vec<&String> = change.passkey_counters.iter().map(|(id, _)| id).collect();
        let counters: Vec<i64> =
            change.passkey_counters.iter().map(|(_, counter)| i64::from(*counter)).collect();
        transaction
            .execute(
                "INSERT INTO breakglass.passkey_counters (credential_id, counter) \
                 SELECT * FROM unnest($1::text[], $2::bigint[]) \
                 ON CONFLICT (credential_id) DO UPDATE SET counter = excluded.counter",
                &[&ids, &counters],
            )
            .await
            .map_err(|error| database_error("recording passkey signature counters", &error))?;
    }
    Ok(())
}

/// Appends `events` after the log's head, under the audit append lock (held to the end of the
/// transaction), and notifies listeners.
async fn append(
    transaction: &tokio_postgres::Transaction<'_>,
    events: Vec<Event>,
) -> Result<Vec<Stamped>, StateError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    transaction
        .execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS, &AUDIT_LOCK])
        .await
        .map_err(|error| database_error("taking the audit log lock", &error))?;
    let (mut seq, mut prev) = transaction
        .query_opt("SELECT seq, hash FROM breakglass.audit_events ORDER BY seq DESC LIMIT 1", &[])
        .await
        .map_err(|error| database_error("reading the audit log head", &error))?
        .map_or((0_i64, GENESIS.to_owned()), |row| (row.get(0), row.get(1)));
    let mut stamped = Vec::with_capacity(events.len());
    let mut columns = EventColumns::default();
    for mut event in events {
        let (line, hash) = stamp(&mut event, &prev);
        seq += 1;
        columns.0.push(seq);
        columns.1.push(nanos(event.time));
        columns.2.push(event.action.clone());
        columns.3.push(event.subject.activation.clone());
        columns.4.push(event.subject.plan_digest.clone());
        columns.5.push(hash.clone());
        columns.6.push(line);
        prev.clone_from(&hash);
        stamped.push(Stamped { event, hash });
    }
    insert_events(transaction, &columns).await?;
    transaction
        .execute("SELECT pg_notify('breakglass_audit', $1)", &[&seq.to_string()])
        .await
        .map_err(|error| database_error("notifying audit listeners", &error))?;
    Ok(stamped)
}

type EventColumns = (
    Vec<i64>,
    Vec<i64>,
    Vec<String>,
    Vec<Option<String>>,
    Vec<Option<String>>,
    Vec<String>,
    Vec<String>,
);

async fn insert_events(
    transaction: &tokio_postgres::Transaction<'_>,
    columns: &EventColumns,
) -> Result<(), StateError> {
    transaction
        .execute(
            "INSERT INTO breakglass.audit_events \
                 (seq, time_ns, action, activation, plan_digest, hash, line) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[])",
            &[&columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5, &columns.6],
        )
        .await
        .map_err(|error| database_error("appending to the audit log", &error))?;
    Ok(())
}

/// The `WHERE` clause (possibly empty) and its values for `filter`.
fn event_conditions(filter: &EventFilter) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut bind = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
    };
    if let Some(after) = filter.after {
        bind("seq > ?", Box::new(after.cast_signed()));
    }
    if let Some(since) = filter.since {
        bind("time_ns >= ?", Box::new(nanos(since)));
    }
    if let Some(until) = filter.until {
        bind("time_ns < ?", Box::new(nanos(until)));
    }
    if let Some(activation) = &filter.activation {
        bind("activation = ?", Box::new(activation.clone()));
    }
    if let Some(action) = &filter.action {
        bind("action = ?", Box::new(action.clone()));
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

async fn audit_head(client: &impl GenericClient) -> Result<AuditHead, StateError> {
    Ok(client
        .query_opt("SELECT seq, hash FROM breakglass.audit_events ORDER BY seq DESC LIMIT 1", &[])
        .await
        .map_err(|error| database_error("reading the audit log head", &error))?
        .map_or(AuditHead { events: 0, hash: GENESIS.to_owned() }, |row| AuditHead {
            events: row.get::<_, i64>(0).cast_unsigned(),
            hash: row.get(1),
        }))
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
        let mut client = self.connect().await?;
        read_state(&mut client).await
    }

    async fn read_scope(&self, scope: &Scope) -> Result<State, StateError> {
        let mut client = self.connect().await?;
        read_scope(&mut client, scope).await
    }

    async fn activations(
        &self,
        filter: &ActivationFilter,
    ) -> Result<Vec<Arc<Activation>>, StateError> {
        let client = self.connect().await?;
        let mut condition = "WHERE true".to_owned();
        if filter.not_reverted {
            condition.push_str(" AND status <> 'reverted'");
        }
        let by = filter.ending_by.map(|t| t.to_string());
        let mut parameters: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(by) = &by {
            condition.push_str(" AND (end_at <= ($1::text)::timestamptz OR status = 'reverting')");
            parameters.push(by);
        }
        if filter.first_to_end {
            condition.push_str(" ORDER BY end_at LIMIT 1");
        }
        activations_where(&client, &condition, &parameters).await
    }

    async fn head(&self) -> Result<StateHead, StateError> {
        let client = self.connect().await?;
        read_head(&client).await
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<Vec<Stamped>, StateError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.connect().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| database_error("appending to the audit log", &error))?;
        let stamped = append(&transaction, events).await?;
        transaction
            .commit()
            .await
            .map_err(|error| database_error("appending to the audit log", &error))?;
        Ok(stamped)
    }

    async fn audit_head(&self) -> Result<AuditHead, StateError> {
        let client = self.connect().await?;
        audit_head(&client).await
    }

    async fn scan_events(
        &self,
        filter: &EventFilter,
        each: &mut (dyn FnMut(StoredEvent) -> bool + Send),
    ) -> Result<(), StateError> {
        let client = self.connect().await?;
        let (clause, values) = event_conditions(filter);
        let mut sql = format!("SELECT seq, line, hash FROM breakglass.audit_events{clause}");
        sql.push_str(if filter.by_activation {
            " ORDER BY activation, seq"
        } else {
            " ORDER BY seq"
        });
        let rows = client
            .query_raw(&sql, values.iter().map(|v| &**v as &(dyn ToSql + Sync)))
            .await
            .map_err(|error| database_error("reading the audit log", &error))?;
        futures_util::pin_mut!(rows);
        while let Some(row) = rows.next().await {
            let row = row.map_err(|error| database_error("reading the audit log", &error))?;
            let event = StoredEvent {
                seq: row.get::<_, i64>(0).cast_unsigned(),
                line: row.get(1),
                hash: row.get(2),
            };
            if !each(event) {
                break;
            }
        }
        Ok(())
    }

    async fn event_activations(&self, filter: &EventFilter) -> Result<Vec<String>, StateError> {
        let client = self.connect().await?;
        let (clause, values) = event_conditions(filter);
        let joiner = if clause.is_empty() { " WHERE" } else { " AND" };
        let sql = format!(
            "SELECT DISTINCT activation FROM breakglass.audit_events{clause}{joiner} \
             activation IS NOT NULL"
        );
        let parameters: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        stream_rows(&client, &sql, &parameters, |row| Ok(row.get(0))).await
    }

    async fn digest_links(&self) -> Result<Vec<(String, String)>, StateError> {
        let client = self.connect().await?;
        stream_rows(
            &client,
            "SELECT DISTINCT ON (plan_digest) plan_digest, activation \
             FROM breakglass.audit_events \
             WHERE activation IS NOT NULL AND plan_digest IN (SELECT plan_digest \
             FROM breakglass.audit_events WHERE activation IS NULL AND plan_digest IS NOT NULL) \
             ORDER BY plan_digest, seq",
            &[],
            |row| Ok((row.get(0), row.get(1))),
        )
        .await
    }

    async fn import(
        &self,
        state: &State,
        log: &mut (dyn Iterator<Item = Result<String, StateError>> + Send),
    ) -> Result<u64, StateError> {
        let mut guard = self.lock_postgres("state migrate", Duration::from_secs(30)).await?;
        let transaction = guard
            .client
            .transaction()
            .await
            .map_err(|error| database_error("importing", &error))?;
        let head = read_head(&transaction).await?;
        let events = audit_head(&transaction).await?.events;
        let rows: i64 = transaction
            .query_one(
                "SELECT (SELECT count(*) FROM breakglass.activations) \
                     + (SELECT count(*) FROM breakglass.resources)",
                &[],
            )
            .await
            .map_err(|error| database_error("importing", &error))?
            .get(0);
        if head.serial != 0 || !head.lineage.is_empty() || rows != 0 || events != 0 {
            return Err(StateError::NotEmpty {
                store: format!("the state database {}", self.location()),
                what: format!(
                    "a state (lineage {}, serial {}) or audit events ({events})",
                    head.lineage, head.serial
                ),
            });
        }
        let serial = state.serial.cast_signed();
        transaction
            .execute(
                "INSERT INTO breakglass.state (id, format_version, lineage, serial, document, updated_at) \
                 VALUES (true, $1, $2, $3, '{}'::jsonb, now()) \
                 ON CONFLICT (id) DO UPDATE SET format_version = $1, lineage = $2, serial = $3, \
                     document = '{}'::jsonb, updated_at = now()",
                &[&i32::try_from(STATE_FORMAT_VERSION).unwrap_or(i32::MAX), &state.lineage, &serial],
            )
            .await
            .map_err(|error| database_error("importing the state", &error))?;
        write_rows(&transaction, &Change::everything(state), serial).await?;
        let mut chain = Chain::new(None);
        let mut columns = EventColumns::default();
        for line in log {
            let line = line?;
            chain
                .push(&line)
                .map_err(|e| StateError::BrokenLog { line: e.line, problem: e.problem })?;
            let event: Event = serde_json::from_str(&line).map_err(|e| StateError::BrokenLog {
                line: chain.lines(),
                problem: e.to_string(),
            })?;
            columns.0.push(chain.lines().cast_signed());
            columns.1.push(nanos(event.time));
            columns.2.push(event.action);
            columns.3.push(event.subject.activation);
            columns.4.push(event.subject.plan_digest);
            columns.5.push(line_hash(&line));
            columns.6.push(line);
            if columns.0.len() == BATCH {
                insert_events(&transaction, &columns).await?;
                columns = EventColumns::default();
            }
        }
        if !columns.0.is_empty() {
            insert_events(&transaction, &columns).await?;
        }
        transaction.commit().await.map_err(|error| database_error("importing", &error))?;
        Ok(chain.lines())
    }

    fn describe(&self) -> String {
        format!("the state database {}", self.location())
    }

    async fn audit_bell(&self) -> Result<Option<AuditBell>, StateError> {
        // A connection of its own that LISTENs for the NOTIFY every append sends.
        let (client, mut connection) =
            self.config.connect(NoTls).await.map_err(|error| self.cannot_connect(&error))?;
        let rings = Arc::new(tokio::sync::Notify::new());
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (ring, up) = (rings.clone(), alive.clone());
        let task = tokio::spawn(async move {
            let mut messages =
                futures_util::stream::poll_fn(move |context| connection.poll_message(context));
            while let Some(Ok(message)) = messages.next().await {
                if matches!(message, tokio_postgres::AsyncMessage::Notification(_)) {
                    ring.notify_one();
                }
            }
            // The connection is gone: the follower polls from now on.
            up.store(false, std::sync::atomic::Ordering::Relaxed);
            ring.notify_one();
        });
        let listening = Listening { client, task };
        listening
            .client
            .batch_execute("LISTEN breakglass_audit")
            .await
            .map_err(|error| database_error("listening for audit appends", &error))?;
        // NOTIFY is delivered once the append is committed: polling is only a safety net.
        Ok(Some(AuditBell::new(rings, Duration::from_secs(1), alive, Box::new(listening))))
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
    head: StateHead,
    describe: String,
}

impl std::fmt::Debug for PostgresGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresGuard").field("info", &self.info).field("head", &self.head).finish()
    }
}

impl PostgresGuard {
    /// Writes `change` in one transaction on the lock's session: its rows (moving the serial),
    /// a `state_writes` record, and its audit events.
    async fn commit_change(&mut self, change: Change) -> Result<Vec<Stamped>, StateError> {
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
        if stored.cast_unsigned() != self.head.serial {
            return Err(StateError::Postgres(format!(
                "the state serial is {stored} but this run read {}: another writer changed the \
                 state without the lock; nothing was written, run again",
                self.head.serial
            )));
        }
        let mut head = self.head.clone();
        if change.touches_state() {
            if head.lineage.is_empty() {
                head.lineage = new_lineage();
            }
            head.serial += 1;
            let serial = head.serial.cast_signed();
            transaction
                .execute(
                    "INSERT INTO breakglass.state (id, format_version, lineage, serial, document, updated_at) \
                     VALUES (true, $1, $2, $3, '{}'::jsonb, now()) \
                     ON CONFLICT (id) DO UPDATE SET format_version = $1, lineage = $2, \
                         serial = $3, updated_at = now()",
                    &[&i32::try_from(STATE_FORMAT_VERSION).unwrap_or(i32::MAX), &head.lineage, &serial],
                )
                .await
                .map_err(|error| database_error("writing the state", &error))?;
            write_rows(&transaction, &change, serial).await?;
            let mut hasher = Sha256::new();
            for activation in &change.activations {
                hasher.update(serde_json::to_vec(&**activation).unwrap_or_default());
            }
            for (address, resource) in &change.resources {
                hasher.update(address.to_string().as_bytes());
                hasher.update(serde_json::to_vec(resource).unwrap_or_default());
            }
            let digest = hex::encode(hasher.finalize());
            transaction
                .execute(
                    "INSERT INTO breakglass.state_writes \
                         (serial, lineage, lock_id, operation, host, pid, digest) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &serial,
                        &head.lineage,
                        &self.info.id,
                        &self.info.operation,
                        &self.info.host,
                        &i64::from(self.info.pid),
                        &digest,
                    ],
                )
                .await
                .map_err(|error| database_error("recording the state write", &error))?;
        }
        let stamped = append(&transaction, change.events).await?;
        transaction
            .commit()
            .await
            .map_err(|error| database_error("committing the state write", &error))?;
        self.head = head;
        Ok(stamped)
    }
}

#[async_trait]
impl StateGuard for PostgresGuard {
    fn head(&self) -> &StateHead {
        &self.head
    }

    async fn read(&mut self) -> Result<State, StateError> {
        read_state(&mut self.client).await
    }

    async fn read_scope(&mut self, scope: &Scope) -> Result<State, StateError> {
        read_scope(&mut self.client, scope).await
    }

    async fn commit(&mut self, change: Change) -> Result<Vec<Stamped>, StateError> {
        if change.is_empty() {
            return Ok(Vec::new());
        }
        let _ = &self.describe;
        self.commit_change(change).await
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

    /// A change that records one used nonce (and so moves the serial).
    fn nonce(name: &str) -> Change {
        Change {
            used_nonces: vec![(
                name.to_owned(),
                UsedNonce {
                    approver: "carol".into(),
                    activation: "act_1".into(),
                    used_at: Timestamp::UNIX_EPOCH,
                },
            )],
            ..Change::default()
        }
    }

    async fn store(database: &str) -> PostgresStore {
        let cluster = TestCluster::shared();
        cluster.create_database(database).await;
        PostgresStore::from_connection_string(
            &cluster.connection_string("postgres", TestCluster::PASSWORD, database),
            "TEST_CONNECTION",
        )
        .unwrap()
    }

    /// A database an earlier version wrote (schema 1: the state as one JSONB document) is
    /// migrated in place into rows, losing nothing.
    #[tokio::test]
    async fn a_schema_1_document_becomes_rows_on_first_connect() {
        let cluster = TestCluster::shared();
        cluster.create_database("state_schema_one").await;
        let admin = cluster.connect("state_schema_one").await;
        let (_, _, first) = MIGRATIONS[0];
        admin
            .batch_execute(&format!(
                "CREATE SCHEMA breakglass; \
                 CREATE TABLE breakglass.schema_migrations (version integer PRIMARY KEY, \
                     description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); \
                 {first}; \
                 INSERT INTO breakglass.schema_migrations (version, description) VALUES (1, 'v1')"
            ))
            .await
            .unwrap();
        let document = serde_json::json!({
            "format_version": 1, "lineage": "01jold", "serial": 7,
            "resources": {
                "local_setting.flag": {
                    "provider": "local", "resource_type": "local_setting", "id": "flag",
                    "attributes": {"key": "flag", "value": "on"},
                    "updated_at": "2031-01-15T09:00:00Z"
                }
            },
            "used_nonces": {
                "n1": {"approver": "carol", "activation": "act_1", "used_at": "2031-01-15T09:00:00Z"}
            },
            "used_totp": [{"person": "alice", "step": 42}, {"person": "bob", "step": 7}]
        });
        admin
            .execute(
                "INSERT INTO breakglass.state (id, format_version, lineage, serial, document) \
                 VALUES (true, 1, '01jold', 7, $1)",
                &[&document],
            )
            .await
            .unwrap();
        let store = PostgresStore::from_connection_string(
            &cluster.connection_string("postgres", TestCluster::PASSWORD, "state_schema_one"),
            "TEST_CONNECTION",
        )
        .unwrap();
        let state = store.read().await.unwrap();
        let mut expected: State = serde_json::from_value(document).unwrap();
        expected.activations.clear();
        assert_eq!(state, expected, "every record survives the move into rows");
        let left: serde_json::Value =
            admin.query_one("SELECT document FROM breakglass.state", &[]).await.unwrap().get(0);
        assert_eq!(left, serde_json::json!({}));
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
        assert_eq!(versions, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn concurrent_lockers_serialise_and_lose_no_update() {
        let store = store("state_concurrent").await;
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut guard = store.lock("test", Duration::from_secs(60)).await.unwrap();
                    guard.commit(nonce(&format!("nonce-{n}"))).await.unwrap();
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
        next.commit(nonce("n1")).await.unwrap();
        // A guard whose session is gone cannot write: nothing lands without the lock.
        assert!(guard.commit(nonce("n2")).await.is_err());
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
        assert!(guard.commit(nonce("n1")).await.is_err(), "the old holder can no longer write");
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
        let activation: Activation = serde_json::from_value(serde_json::json!({
            "id": "grant_chg_1", "kind": "role", "name": "dba", "requester": "alice",
            "justification": "INC-1", "start": "2031-01-15T09:00:00Z",
            "end": "2031-01-15T17:00:00Z", "status": "active",
            "source": {"type": "grant", "name": "chg_1"},
            "created_at": "2031-01-15T09:00:00Z",
        }))
        .unwrap();
        guard
            .commit(Change { activations: vec![activation.clone().into()], ..Change::default() })
            .await
            .unwrap();
        let read = store.read().await.unwrap();
        assert_eq!(*read.activations["grant_chg_1"], activation);
        assert_eq!(read.serial, guard.head().serial);
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
    async fn a_passkey_counter_survives_a_reload_and_is_read_by_credential() {
        {
            let store = store("state_passkeys").await;
            let mut guard = store.lock("test", Duration::from_secs(5)).await.unwrap();
            let change = Change {
                passkey_counters: vec![("cred_carol".into(), 7), ("cred_dave".into(), 0)],
                ..Change::default()
            };
            guard.commit(change).await.unwrap();
            let raised =
                Change { passkey_counters: vec![("cred_carol".into(), 9)], ..Change::default() };
            guard.commit(raised).await.unwrap();
        }
        // Another executor, later: a store connected afresh.
        let reloaded = store("state_passkeys").await;
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
    async fn the_audit_bell_rings_when_another_executor_appends() {
        let store = store("state_bell").await;
        let bell = store.audit_bell().await.unwrap().expect("LISTEN");
        assert!(bell.alive());
        store.audit_head().await.unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(300), bell.rings.notified()).await;
        assert!(quiet.is_err(), "a read rang the bell");
        let other = self::store("state_bell").await;
        other
            .append_events(vec![Event::new("alice", "request", crate::event::EventResult::Ok)])
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), bell.rings.notified())
            .await
            .expect("a ring within 5 s");
    }

    #[tokio::test]
    async fn import_keeps_lineage_and_serial_and_refuses_a_second_time() {
        let store = store("state_import").await;
        let mut state = State::new();
        state.lineage = "01jlineage".into();
        state.serial = 41;
        let mut lines = Vec::new();
        let mut prev = GENESIS.to_owned();
        for n in 0..3 {
            let mut event = Event::new("alice", format!("test.{n}"), crate::event::EventResult::Ok);
            let (line, hash) = stamp(&mut event, &prev);
            prev = hash;
            lines.push(line);
        }
        let imported = store.import(&state, &mut lines.clone().into_iter().map(Ok)).await.unwrap();
        assert_eq!(imported, 3);
        let read = store.read().await.unwrap();
        assert_eq!((read.lineage.as_str(), read.serial), ("01jlineage", 41));
        assert_eq!(store.audit_head().await.unwrap(), AuditHead { events: 3, hash: prev });
        let error =
            store.import(&state, &mut lines.into_iter().map(Ok)).await.unwrap_err().to_string();
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
