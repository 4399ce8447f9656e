//! Connections to the server, one per database, and the mapping of server errors to
//! [`ProviderError`] kinds with messages that say what to do.
//!
//! Objects live in databases: privileges on tables of `app` can only be read and granted while
//! connected to `app`. The provider opens one connection per database it needs, lazily, and
//! shares it between concurrent calls (tokio-postgres pipelines them). Writes are sent as one
//! multi-statement simple query, which the server runs as a single implicit transaction: a
//! grant that revokes what was there and grants what is wanted either happens whole or not at
//! all.

use breakglass_provider::{ErrorKind, ProviderError};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::config::PostgresConfig;

/// Open connections by database name.
#[derive(Debug)]
pub struct Connections {
    config: PostgresConfig,
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

impl Connections {
    /// No connection yet.
    pub fn new(config: PostgresConfig) -> Self {
        Self { config, clients: Mutex::new(HashMap::new()) }
    }

    /// The configuration.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// A connection to the configured database.
    pub async fn default_client(&self) -> Result<Arc<Client>, ProviderError> {
        let database = self.config.database.clone();
        self.client(&database).await
    }

    /// A connection to `database`, opened on first use and again if it was closed.
    pub async fn client(&self, database: &str) -> Result<Arc<Client>, ProviderError> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(database).filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        let client = Arc::new(connect(&self.config, database).await?);
        clients.insert(database.to_owned(), client.clone());
        Ok(client)
    }
}

/// The connection settings for `database`, as tokio-postgres takes them.
pub fn pg_config(config: &PostgresConfig, database: &str) -> tokio_postgres::Config {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .dbname(database)
        .application_name("breakglass")
        .connect_timeout(config.connect_timeout)
        // Literals are quoted for either setting (see sql.rs); the timeout keeps a blocked
        // statement (a lock held by someone else) from hanging a run.
        .options(format!(
            "-c statement_timeout={} -c lock_timeout={}",
            config.statement_timeout.as_millis(),
            config.statement_timeout.as_millis()
        ));
    if let Some(password) = &config.password {
        pg.password(password.expose());
    }
    pg
}

/// Opens a connection to `database` and drives it on its own task.
pub async fn connect(config: &PostgresConfig, database: &str) -> Result<Client, ProviderError> {
    let (client, connection) = pg_config(config, database)
        .connect(NoTls)
        .await
        .map_err(|error| connect_error(config, database, &error))?;
    tokio::spawn(async move {
        // Errors surface on the client's next call as a closed connection.
        let _ = connection.await;
    });
    Ok(client)
}

/// A failed connection attempt, explained.
pub fn connect_error(
    config: &PostgresConfig,
    database: &str,
    error: &tokio_postgres::Error,
) -> ProviderError {
    let target = config.describe(database);
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return ProviderError::denied(format!(
                "postgres: cannot log in as {target}: {}; check `user` and `password` in the \
                 provider block (or PGUSER and PGPASSWORD)",
                db.message()
            ));
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return ProviderError::invalid(format!(
                "postgres: {target}: {}; check `database` in the provider block (or PGDATABASE), \
                 or the `database` of the resource",
                db.message()
            ));
        }
        return query_error(error, &format!("connecting to {target}"));
    }
    ProviderError::transient(format!(
        "postgres: cannot reach {target}: {}; check `host` and `port` in the provider block (or \
         PGHOST and PGPORT) and that the server is running",
        error_text(error)
    ))
}

/// The error and its source, on one line.
fn error_text(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// A failed statement, explained; `doing` says what was being done (`creating role "x"`).
pub fn query_error(error: &tokio_postgres::Error, doing: &str) -> ProviderError {
    let Some(db) = error.as_db_error() else {
        return ProviderError::transient(format!(
            "postgres: {doing}: the connection failed ({}); it is retried",
            error_text(error)
        ));
    };
    let code = db.code();
    let mut message = format!("postgres: {doing}: {}", db.message());
    if let Some(detail) = db.detail() {
        message.push_str(&format!(" ({detail})"));
    }
    let kind = if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        message.push_str(
            "; the provider's login role lacks a permission this needs (see \
             docs/providers/postgres.md, \"Permissions\")",
        );
        ErrorKind::Denied
    } else if [
        SqlState::UNDEFINED_OBJECT,
        SqlState::UNDEFINED_TABLE,
        SqlState::INVALID_SCHEMA_NAME,
        SqlState::INVALID_CATALOG_NAME,
    ]
    .contains(code)
    {
        message.push_str("; create it first, or fix the name in the policy");
        ErrorKind::NotFound
    } else if [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::QUERY_CANCELED,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
    ]
    .contains(code)
        || code.code().starts_with("08")
    {
        ErrorKind::Transient
    } else {
        if let Some(hint) = db.hint() {
            message.push_str(&format!("; {hint}"));
        }
        ErrorKind::Invalid
    };
    ProviderError::new(kind, message)
}

/// Runs `statements` as one transaction.
pub async fn execute_atomically(
    client: &Client,
    statements: &[String],
    doing: &str,
) -> Result<(), ProviderError> {
    if statements.is_empty() {
        return Ok(());
    }
    // One simple-query message with several statements is one implicit transaction.
    let text = statements.join(";\n");
    client.batch_execute(&text).await.map_err(|error| query_error(&error, doing))
}
