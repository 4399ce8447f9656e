//! `postgres_default_privileges`: what a role receives on objects another role creates from
//! now on (`ALTER DEFAULT PRIVILEGES`), read in bulk from `pg_default_acl`.
//!
//! Unlike `postgres_grant`, the privileges here change in place: an entry in `pg_default_acl`
//! exists or not, so a read never needs the declared privileges to answer.

use breakglass_provider::{Attributes, ProviderError, Value};
use std::collections::BTreeMap;

use crate::attributes::{optional_string, required_string, string_list};
use crate::client::{Connections, execute_atomically, query_error};
use crate::grant::existing_databases;
use crate::id;
use crate::privileges::{self, Grantee, canonical};
use crate::schema::DEFAULT_PRIVILEGES;
use crate::sql::Ident;

/// The kinds of object default privileges apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Table,
    Sequence,
    Function,
    Type,
    Schema,
}

impl Kind {
    fn parse(text: &str) -> Result<Self, ProviderError> {
        match text.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "sequence" => Ok(Self::Sequence),
            "function" => Ok(Self::Function),
            "type" => Ok(Self::Type),
            "schema" => Ok(Self::Schema),
            _ => Err(ProviderError::invalid(format!(
                "{DEFAULT_PRIVILEGES}: object_type {text:?} is not one of \"table\", \
                 \"sequence\", \"function\", \"type\", \"schema\""
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Sequence => "sequence",
            Self::Function => "function",
            Self::Type => "type",
            Self::Schema => "schema",
        }
    }

    /// The keyword after `ON` in ALTER DEFAULT PRIVILEGES.
    fn keyword(self) -> &'static str {
        match self {
            Self::Table => "TABLES",
            Self::Sequence => "SEQUENCES",
            Self::Function => "FUNCTIONS",
            Self::Type => "TYPES",
            Self::Schema => "SCHEMAS",
        }
    }

    /// `pg_default_acl.defaclobjtype`.
    fn catalog_code(self) -> &'static str {
        match self {
            Self::Table => "r",
            Self::Sequence => "S",
            Self::Function => "f",
            Self::Type => "T",
            Self::Schema => "n",
        }
    }

    fn privileges(self) -> &'static [&'static str] {
        match self {
            Self::Table => privileges::TABLE,
            Self::Sequence => privileges::SEQUENCE,
            Self::Function => privileges::FUNCTION,
            Self::Type => privileges::TYPE,
            Self::Schema => privileges::SCHEMA,
        }
    }
}

/// Default privileges as declared (privileges absent when built from an id).
#[derive(Debug, Clone)]
pub struct DefaultPrivileges {
    role: Grantee,
    database: Ident,
    owner: Ident,
    schema: Option<Ident>,
    kind: Kind,
    privileges: Vec<&'static str>,
}

impl DefaultPrivileges {
    /// Reads and checks the declared attributes.
    pub fn parse(attributes: &Attributes) -> Result<Self, ProviderError> {
        let mut spec = Self::build(
            required_string(attributes, DEFAULT_PRIVILEGES, "role")?,
            required_string(attributes, DEFAULT_PRIVILEGES, "database")?,
            required_string(attributes, DEFAULT_PRIVILEGES, "owner")?,
            optional_string(attributes, DEFAULT_PRIVILEGES, "schema")?,
            required_string(attributes, DEFAULT_PRIVILEGES, "object_type")?,
        )?;
        let what = format!("future {}", spec.kind.keyword().to_ascii_lowercase());
        spec.privileges = canonical(
            &string_list(attributes, DEFAULT_PRIVILEGES, "privileges")?,
            spec.kind.privileges(),
            &what,
        )?;
        Ok(spec)
    }

    /// The entry an id names.
    pub fn from_id(object_id: &str) -> Result<Self, ProviderError> {
        let parts = id::split(object_id, 5, DEFAULT_PRIVILEGES)?;
        Self::build(
            &parts[0],
            &parts[1],
            &parts[2],
            Some(parts[3].as_str()).filter(|schema| !schema.is_empty()),
            &parts[4],
        )
    }

    fn build(
        role: &str,
        database: &str,
        owner: &str,
        schema: Option<&str>,
        kind: &str,
    ) -> Result<Self, ProviderError> {
        let kind = Kind::parse(kind)?;
        let schema = schema.map(|schema| Ident::new(schema, "schema")).transpose()?;
        if kind == Kind::Schema && schema.is_some() {
            return Err(ProviderError::invalid(format!(
                "{DEFAULT_PRIVILEGES}: default privileges on schemas take no `schema`"
            )));
        }
        Ok(Self {
            role: Grantee::parse(role)?,
            database: Ident::new(database, "database")?,
            owner: Ident::new(owner, "owner role")?,
            schema,
            kind,
            privileges: Vec::new(),
        })
    }

    /// `role/database/owner/schema/object_type`.
    pub fn id(&self) -> String {
        id::join(&[
            self.role.name(),
            self.database.name(),
            self.owner.name(),
            self.schema.as_ref().map_or("", Ident::name),
            self.kind.as_str(),
        ])
    }

    fn prefix(&self) -> String {
        match &self.schema {
            Some(schema) => {
                format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {schema}", self.owner)
            }
            None => format!("ALTER DEFAULT PRIVILEGES FOR ROLE {}", self.owner),
        }
    }

    fn revoke_statement(&self) -> String {
        format!("{} REVOKE ALL ON {} FROM {}", self.prefix(), self.kind.keyword(), self.role)
    }

    /// Revokes what the role had by default here, then grants what is declared.
    pub fn grant_statements(&self) -> Vec<String> {
        vec![
            self.revoke_statement(),
            format!(
                "{} GRANT {} ON {} TO {}",
                self.prefix(),
                self.privileges.join(", "),
                self.kind.keyword(),
                self.role
            ),
        ]
    }

    /// Sets the declared default privileges.
    pub async fn apply(&self, connections: &Connections) -> Result<(), ProviderError> {
        let client = connections.client(self.database.name()).await?;
        execute_atomically(
            &client,
            &self.grant_statements(),
            &format!("setting default privileges {}", self.id()),
        )
        .await
    }

    /// Removes them.
    pub async fn revoke(&self, connections: &Connections) -> Result<(), ProviderError> {
        let client = connections.client(self.database.name()).await?;
        let doing = format!("revoking default privileges {}", self.id());
        match execute_atomically(&client, &[self.revoke_statement()], &doing).await {
            Err(error) if error.kind() == breakglass_provider::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// Reads default privileges by id: one query per database.
pub async fn read_default_privileges(
    connections: &Connections,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut by_database: BTreeMap<String, Vec<(String, DefaultPrivileges)>> = BTreeMap::new();
    for object_id in ids {
        let spec = DefaultPrivileges::from_id(object_id)?;
        by_database
            .entry(spec.database.name().to_owned())
            .or_default()
            .push((object_id.clone(), spec));
    }
    let mut objects = BTreeMap::new();
    if by_database.is_empty() {
        return Ok((objects, 0));
    }
    let existing = existing_databases(connections, by_database.keys().cloned().collect()).await?;
    let mut calls = 1;
    for (database, specs) in by_database {
        if !existing.contains(&database) {
            continue;
        }
        let client = connections.client(&database).await?;
        let rows = client
            .query(
                "SELECT o.rolname::text, coalesce(n.nspname::text, ''), d.defaclobjtype::text, \
                 coalesce(g.rolname::text, 'public'), a.privilege_type \
                 FROM pg_default_acl d JOIN pg_roles o ON o.oid = d.defaclrole \
                 LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace \
                 CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
                 LEFT JOIN pg_roles g ON g.oid = a.grantee",
                &[],
            )
            .await
            .map_err(|error| {
                query_error(&error, &format!("reading default privileges in database {database:?}"))
            })?;
        calls += 1;
        let mut held: BTreeMap<(String, String, String, String), Vec<String>> = BTreeMap::new();
        for row in rows {
            held.entry((row.get(0), row.get(1), row.get(2), row.get(3)))
                .or_default()
                .push(row.get(4));
        }
        for (object_id, spec) in specs {
            let key = (
                spec.owner.name().to_owned(),
                spec.schema.as_ref().map_or(String::new(), |s| s.name().to_owned()),
                spec.kind.catalog_code().to_owned(),
                spec.role.name().to_owned(),
            );
            let Some(privileges) = held.get(&key).filter(|p| !p.is_empty()) else { continue };
            let mut privileges = privileges.clone();
            privileges.sort();
            privileges.dedup();
            let mut attributes = Attributes::new();
            attributes.insert("role".into(), Value::String(spec.role.name().to_owned()));
            attributes.insert("database".into(), Value::String(database.clone()));
            attributes.insert("owner".into(), Value::String(spec.owner.name().to_owned()));
            attributes.insert(
                "schema".into(),
                spec.schema.as_ref().map_or(Value::Null, |s| Value::String(s.name().to_owned())),
            );
            attributes.insert("object_type".into(), Value::String(spec.kind.as_str().to_owned()));
            attributes.insert(
                "privileges".into(),
                Value::Array(privileges.into_iter().map(Value::String).collect()),
            );
            objects.insert(object_id, attributes);
        }
    }
    Ok((objects, calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_name_owner_schema_and_grantee_quoted() {
        let attributes: Attributes = serde_json::from_value(json!({
            "role": "auditor", "database": "app", "owner": "app_owner", "schema": "public",
            "object_type": "table", "privileges": ["select"],
        }))
        .unwrap();
        let spec = DefaultPrivileges::parse(&attributes).unwrap();
        assert_eq!(spec.id(), "auditor/app/app_owner/public/table");
        assert_eq!(
            spec.grant_statements(),
            [
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\" REVOKE ALL ON TABLES FROM \"auditor\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\" GRANT SELECT ON TABLES TO \"auditor\"",
            ]
        );
        let back = DefaultPrivileges::from_id(&spec.id()).unwrap();
        assert_eq!(back.id(), spec.id());
    }

    #[test]
    fn schema_defaults_take_no_schema_and_privileges_are_checked() {
        let bad = serde_json::from_value(json!({
            "role": "r", "database": "d", "owner": "o", "schema": "s",
            "object_type": "schema", "privileges": ["USAGE"],
        }))
        .unwrap();
        assert!(DefaultPrivileges::parse(&bad).unwrap_err().message().contains("take no `schema`"));
        let bad = serde_json::from_value(json!({
            "role": "r", "database": "d", "owner": "o",
            "object_type": "function", "privileges": ["SELECT"],
        }))
        .unwrap();
        assert!(DefaultPrivileges::parse(&bad).unwrap_err().message().contains("EXECUTE"));
    }
}
