//! `postgres_role`: roles and their attributes, read in bulk from `pg_roles`.
//!
//! A role's `valid_until` is PostgreSQL's own end of access (the password stops working), so a
//! temporary login role that a grant creates carries the activation's end: the engine fills it
//! in through the schema's expiry attribute. Passwords are hashed here into a SCRAM-SHA-256
//! verifier before they are sent, so the clear text never reaches the server's logs, and are
//! never read back (the engine compares them by digest).

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

use crate::attributes::{optional_bool, optional_i32, optional_string, required_string};
use crate::client::{execute_atomically, query_error};
use crate::schema::ROLE;
use crate::sql::{Ident, Literal};

/// When a role's password stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidUntil {
    /// Never.
    Infinity,
    /// At this time (microsecond precision, as the server keeps it).
    At(Timestamp),
}

impl ValidUntil {
    /// Parses an RFC 3339 time or `infinity`.
    pub fn parse(text: &str) -> Result<Self, ProviderError> {
        if text.eq_ignore_ascii_case("infinity") {
            return Ok(Self::Infinity);
        }
        let at: Timestamp = text.parse().map_err(|_| {
            ProviderError::invalid(format!(
                "{ROLE}: `valid_until` {text:?} is not a time; write RFC 3339 \
                 (2031-01-15T17:00:00Z) or \"infinity\""
            ))
        })?;
        let micros = Timestamp::from_microsecond(at.as_microsecond()).map_err(|_| {
            ProviderError::invalid(format!("{ROLE}: `valid_until` {text:?} is out of range"))
        })?;
        Ok(Self::At(micros))
    }

    /// The canonical text: `infinity` or RFC 3339 in UTC.
    pub fn canonical(self) -> String {
        match self {
            Self::Infinity => "infinity".to_owned(),
            Self::At(at) => at.to_string(),
        }
    }
}

/// A role as declared.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    name: Ident,
    login: Option<bool>,
    superuser: Option<bool>,
    createdb: Option<bool>,
    createrole: Option<bool>,
    inherit: Option<bool>,
    connection_limit: Option<i32>,
    valid_until: Option<ValidUntil>,
    password: Option<Secret>,
}

impl RoleSpec {
    /// Reads and checks the declared attributes.
    pub fn parse(attributes: &Attributes) -> Result<Self, ProviderError> {
        let name = Ident::new(required_string(attributes, ROLE, "name")?, "role")?;
        let connection_limit = optional_i32(attributes, ROLE, "connection_limit")?;
        if connection_limit.is_some_and(|limit| limit < -1) {
            return Err(ProviderError::invalid(format!(
                "{ROLE} {}: `connection_limit` must be -1 (no limit) or more",
                name.name()
            )));
        }
        Ok(Self {
            login: optional_bool(attributes, ROLE, "login")?,
            superuser: optional_bool(attributes, ROLE, "superuser")?,
            createdb: optional_bool(attributes, ROLE, "createdb")?,
            createrole: optional_bool(attributes, ROLE, "createrole")?,
            inherit: optional_bool(attributes, ROLE, "inherit")?,
            connection_limit,
            valid_until: optional_string(attributes, ROLE, "valid_until")?
                .map(ValidUntil::parse)
                .transpose()?,
            password: optional_string(attributes, ROLE, "password")?.map(Secret::new),
            name,
        })
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        self.name.name()
    }

    /// Whether it may log in, if declared.
    pub fn login(&self) -> Option<bool> {
        self.login
    }

    /// The `WITH …` options for CREATE or ALTER ROLE: only what is declared.
    fn options(&self) -> Result<String, ProviderError> {
        let flag = |value: Option<bool>, on: &str, off: &str| {
            value.map(|value| if value { on.to_owned() } else { off.to_owned() })
        };
        let mut options: Vec<String> = [
            flag(self.login, "LOGIN", "NOLOGIN"),
            flag(self.superuser, "SUPERUSER", "NOSUPERUSER"),
            flag(self.createdb, "CREATEDB", "NOCREATEDB"),
            flag(self.createrole, "CREATEROLE", "NOCREATEROLE"),
            flag(self.inherit, "INHERIT", "NOINHERIT"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(limit) = self.connection_limit {
            options.push(format!("CONNECTION LIMIT {limit}"));
        }
        if let Some(valid_until) = self.valid_until {
            options.push(format!(
                "VALID UNTIL {}",
                Literal::new(&valid_until.canonical(), "valid_until")?
            ));
        }
        if let Some(password) = &self.password {
            // The verifier, not the password: the clear text never leaves this process.
            let verifier = postgres_protocol::password::scram_sha_256(password.expose().as_bytes());
            options.push(format!("PASSWORD {}", Literal::new(&verifier, "password")?));
        }
        Ok(options.join(" "))
    }

    /// `CREATE ROLE`, or `ALTER ROLE` when `exists`.
    pub fn statement(&self, exists: bool) -> Result<String, ProviderError> {
        let verb = if exists { "ALTER" } else { "CREATE" };
        let options = self.options()?;
        Ok(if options.is_empty() {
            if exists {
                // Nothing declared beyond the name: nothing to change.
                String::new()
            } else {
                format!("CREATE ROLE {}", self.name)
            }
        } else {
            format!("{verb} ROLE {} WITH {options}", self.name)
        })
    }
}

/// Live roles: `(attributes, is superuser)` by name. `names` limits the read; `None` lists
/// every role except the built-in ones and the provider's own login role.
pub async fn read_roles(
    client: &Client,
    names: Option<&[String]>,
) -> Result<BTreeMap<String, (Attributes, bool)>, ProviderError> {
    const COLUMNS: &str = "SELECT rolname::text, rolcanlogin, rolsuper, rolcreatedb, \
        rolcreaterole, rolinherit, rolconnlimit, \
        CASE WHEN rolvaliduntil IS NULL THEN NULL \
             WHEN NOT isfinite(rolvaliduntil) THEN 'infinity' \
             ELSE to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END \
        FROM pg_roles";
    let rows = match names {
        Some(names) => {
            let query = format!("{COLUMNS} WHERE rolname = ANY($1)");
            client.query(&query, &[&names]).await
        }
        None => {
            // Built-in roles (oid below FirstNormalObjectId) and our own login role are the
            // platform's, not policy's: never reported, never touched.
            let query = format!("{COLUMNS} WHERE oid >= 16384 AND rolname <> current_user");
            client.query(&query, &[]).await
        }
    }
    .map_err(|error| query_error(&error, "reading roles from pg_roles"))?;
    let mut roles = BTreeMap::new();
    for row in rows {
        let name: String = row.get(0);
        let superuser: bool = row.get(2);
        let valid_until: Option<String> = row.get(7);
        let valid_until = match valid_until {
            Some(text) => Value::String(ValidUntil::parse(&text)?.canonical()),
            None => Value::Null,
        };
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), Value::String(name.clone()));
        attributes.insert("login".into(), Value::Bool(row.get(1)));
        attributes.insert("superuser".into(), Value::Bool(superuser));
        attributes.insert("createdb".into(), Value::Bool(row.get(3)));
        attributes.insert("createrole".into(), Value::Bool(row.get(4)));
        attributes.insert("inherit".into(), Value::Bool(row.get(5)));
        attributes.insert("connection_limit".into(), Value::from(row.get::<_, i32>(6)));
        attributes.insert("valid_until".into(), valid_until);
        roles.insert(name, (attributes, superuser));
    }
    Ok(roles)
}

/// Reads one role's live attributes.
pub async fn read_one(client: &Client, name: &str) -> Result<Option<Attributes>, ProviderError> {
    let mut roles = read_roles(client, Some(&[name.to_owned()])).await?;
    Ok(roles.remove(name).map(|(attributes, _)| attributes))
}

/// Creates the role, or brings an existing one to the declared attributes.
pub async fn create_or_alter(client: &Client, spec: &RoleSpec) -> Result<(), ProviderError> {
    let exists = read_one(client, spec.name()).await?.is_some();
    let doing = format!("creating role {:?}", spec.name());
    match execute_atomically(client, &[spec.statement(exists)?], &doing).await {
        // Someone made it between our read and our create: bring it to what is declared.
        Err(error) if !exists && error.message().contains("already exists") => {
            execute_atomically(client, &[spec.statement(true)?], &doing).await
        }
        other => other,
    }
}

/// Drops the role if it exists.
pub async fn drop_role(client: &Client, name: &str) -> Result<(), ProviderError> {
    let ident = Ident::new(name, "role")?;
    execute_atomically(
        client,
        &[format!("DROP ROLE IF EXISTS {ident}")],
        &format!("dropping role {name:?}"),
    )
    .await
    .map_err(|error| {
        if error.message().contains("cannot be dropped because some objects depend on it") {
            ProviderError::invalid(format!(
                "{}; reassign or drop what it owns first (REASSIGN OWNED BY, DROP OWNED BY), \
                     then apply again",
                error.message()
            ))
        } else {
            error
        }
    })
}

/// The ids of the superusers among `roles`.
pub fn superusers(roles: &BTreeMap<String, (Attributes, bool)>) -> BTreeSet<String> {
    roles.iter().filter(|(_, (_, superuser))| *superuser).map(|(name, _)| name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> Result<RoleSpec, ProviderError> {
        RoleSpec::parse(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn statements_hold_only_declared_options_and_quote_everything() {
        let role = spec(json!({
            "name": "on\"call",
            "login": true,
            "superuser": false,
            "connection_limit": 3,
            "valid_until": "2031-01-15T17:00:00.5+01:00",
        }))
        .unwrap();
        assert_eq!(
            role.statement(false).unwrap(),
            "CREATE ROLE \"on\"\"call\" WITH LOGIN NOSUPERUSER CONNECTION LIMIT 3 \
             VALID UNTIL '2031-01-15T16:00:00.5Z'"
        );
        assert!(role.statement(true).unwrap().starts_with("ALTER ROLE \"on\"\"call\" WITH"));
        let bare = spec(json!({"name": "r"})).unwrap();
        assert_eq!(bare.statement(false).unwrap(), "CREATE ROLE \"r\"");
        assert_eq!(bare.statement(true).unwrap(), "");
    }

    #[test]
    fn passwords_are_sent_as_scram_verifiers_only() {
        let role = spec(json!({"name": "app", "password": "hunter2'; DROP ROLE x; --"})).unwrap();
        let statement = role.statement(false).unwrap();
        assert!(statement.contains("PASSWORD 'SCRAM-SHA-256$4096:"), "{statement}");
        assert!(!statement.contains("hunter2"), "{statement}");
        assert!(!format!("{role:?}").contains("hunter2"));
    }

    #[test]
    fn bad_values_are_refused_before_any_sql() {
        let cases = [
            (
                json!({"name": "r", "valid_until": "tomorrow'; DROP ROLE postgres; --"}),
                "is not a time",
            ),
            (json!({"name": "r", "connection_limit": -5}), "-1 (no limit) or more"),
            (json!({"name": "r", "connection_limit": "1; DROP"}), "whole number"),
            (json!({"name": "r", "login": "yes"}), "true or false"),
            (json!({"name": ""}), "name is empty"),
        ];
        for (attributes, expected) in cases {
            let error = spec(attributes).unwrap_err();
            assert!(error.message().contains(expected), "{error}");
        }
    }

    #[test]
    fn valid_until_is_canonical_in_utc_at_microseconds() {
        let cases = [
            ("2031-01-15T17:00:00Z", "2031-01-15T17:00:00Z"),
            ("2031-01-15T18:00:00+01:00", "2031-01-15T17:00:00Z"),
            ("2031-01-15T17:00:00.123456789Z", "2031-01-15T17:00:00.123456Z"),
            ("Infinity", "infinity"),
        ];
        for (text, canonical) in cases {
            assert_eq!(ValidUntil::parse(text).unwrap().canonical(), canonical, "{text}");
        }
    }
}
