//! `postgres_grant`: a role's privileges on a database, a schema, or tables or sequences of a
//! schema, read in bulk with `aclexplode` over the catalogs.
//!
//! Design choices, as Terraform's `postgresql_grant` makes them:
//! - The resource owns the role's *direct* privileges on its objects: creating it revokes what
//!   else the role held there and grants what is declared, in one transaction; deleting it
//!   revokes them all. Privileges through PUBLIC or memberships are not counted.
//! - Every attribute forces replacement and the id names them all, privileges included. That
//!   lets a read say whether the grant holds even where there is nothing to hold it on (`all
//!   tables` of an empty schema holds vacuously) instead of planning the same grant forever.
//! - "All tables" means the tables there are now: a table created later without the privilege
//!   makes the grant read as changed, and the next apply grants it again.

use breakglass_provider::{Attributes, ProviderError, Value};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

use crate::attributes::{optional_bool, optional_string, required_string, string_list};
use crate::client::{Connections, execute_atomically, query_error};
use crate::id;
use crate::privileges::{self, Grantee, canonical};
use crate::schema::GRANT;
use crate::sql::{Ident, qualified};

/// What the privileges are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObjectType {
    /// The database itself.
    Database,
    /// A schema.
    Schema,
    /// Tables (and views) of a schema.
    Table,
    /// Sequences of a schema.
    Sequence,
}

impl ObjectType {
    fn parse(text: &str) -> Result<Self, ProviderError> {
        match text.to_ascii_lowercase().as_str() {
            "database" => Ok(Self::Database),
            "schema" => Ok(Self::Schema),
            "table" => Ok(Self::Table),
            "sequence" => Ok(Self::Sequence),
            _ => Err(ProviderError::invalid(format!(
                "{GRANT}: object_type {text:?} is not one of \"database\", \"schema\", \"table\", \
                 \"sequence\""
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Schema => "schema",
            Self::Table => "table",
            Self::Sequence => "sequence",
        }
    }

    fn privileges(self) -> &'static [&'static str] {
        match self {
            Self::Database => privileges::DATABASE,
            Self::Schema => privileges::SCHEMA,
            Self::Table => privileges::TABLE,
            Self::Sequence => privileges::SEQUENCE,
        }
    }
}

/// A grant as declared (or as its id names it).
#[derive(Debug, Clone)]
pub struct GrantSpec {
    role: Grantee,
    database: Ident,
    object_type: ObjectType,
    schema: Option<Ident>,
    /// Sorted; empty means every object of the type in the schema.
    objects: Vec<Ident>,
    privileges: Vec<&'static str>,
    with_grant_option: bool,
}

/// Suffix of the privileges part of an id when the grant option is held.
const GRANT_OPTION_SUFFIX: &str = "+grant_option";

impl GrantSpec {
    /// Reads and checks the declared attributes.
    pub fn parse(attributes: &Attributes) -> Result<Self, ProviderError> {
        Self::build(
            required_string(attributes, GRANT, "role")?,
            required_string(attributes, GRANT, "database")?,
            required_string(attributes, GRANT, "object_type")?,
            optional_string(attributes, GRANT, "schema")?,
            string_list(attributes, GRANT, "objects")?,
            &string_list(attributes, GRANT, "privileges")?,
            optional_bool(attributes, GRANT, "with_grant_option")?.unwrap_or(false),
        )
    }

    /// The grant an id names.
    pub fn from_id(object_id: &str) -> Result<Self, ProviderError> {
        let parts = id::split(object_id, 6, GRANT)?;
        let (privileges, with_grant_option) = match parts[5].strip_suffix(GRANT_OPTION_SUFFIX) {
            Some(privileges) => (privileges, true),
            None => (parts[5].as_str(), false),
        };
        Self::build(
            &parts[0],
            &parts[1],
            &parts[2],
            Some(parts[3].as_str()).filter(|schema| !schema.is_empty()),
            id::split_list(&parts[4]),
            &id::split_list(privileges),
            with_grant_option,
        )
    }

    fn build(
        role: &str,
        database: &str,
        object_type: &str,
        schema: Option<&str>,
        objects: Vec<String>,
        privileges: &[String],
        with_grant_option: bool,
    ) -> Result<Self, ProviderError> {
        let object_type = ObjectType::parse(object_type)?;
        let schema = schema.map(|schema| Ident::new(schema, "schema")).transpose()?;
        match (object_type, &schema) {
            (ObjectType::Database, Some(_)) => {
                return Err(ProviderError::invalid(format!(
                    "{GRANT}: a grant on a database takes no `schema`"
                )));
            }
            (ObjectType::Schema | ObjectType::Table | ObjectType::Sequence, None) => {
                return Err(ProviderError::invalid(format!(
                    "{GRANT}: a grant on a {} needs `schema`",
                    object_type.as_str()
                )));
            }
            _ => {}
        }
        if !objects.is_empty() && matches!(object_type, ObjectType::Database | ObjectType::Schema) {
            return Err(ProviderError::invalid(format!(
                "{GRANT}: `objects` is for tables and sequences, not a {}",
                object_type.as_str()
            )));
        }
        let mut objects = objects
            .iter()
            .map(|object| Ident::new(object, object_type.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        objects.sort_by(|a, b| a.name().cmp(b.name()));
        objects.dedup();
        let what = match object_type {
            ObjectType::Database => "a database",
            ObjectType::Schema => "a schema",
            ObjectType::Table => "tables",
            ObjectType::Sequence => "sequences",
        };
        Ok(Self {
            role: Grantee::parse(role)?,
            database: Ident::new(database, "database")?,
            object_type,
            schema,
            objects,
            privileges: canonical(privileges, object_type.privileges(), what)?,
            with_grant_option,
        })
    }

    /// The id: every attribute, canonical.
    pub fn id(&self) -> String {
        let objects: Vec<String> = self.objects.iter().map(|o| o.name().to_owned()).collect();
        let privileges: Vec<String> = self.privileges.iter().map(|p| (*p).to_owned()).collect();
        let mut privileges = id::join_list(&privileges);
        if self.with_grant_option {
            privileges.push_str(GRANT_OPTION_SUFFIX);
        }
        id::join(&[
            self.role.name(),
            self.database.name(),
            self.object_type.as_str(),
            self.schema.as_ref().map_or("", Ident::name),
            &id::join_list(&objects),
            &privileges,
        ])
    }

    /// The database it lives in.
    pub fn database(&self) -> &str {
        self.database.name()
    }

    /// `ON …` for GRANT and REVOKE.
    fn target(&self) -> String {
        let schema = self.schema.as_ref();
        match (self.object_type, schema) {
            (ObjectType::Database, _) => format!("DATABASE {}", self.database),
            (ObjectType::Schema, Some(schema)) => format!("SCHEMA {schema}"),
            (ObjectType::Table, Some(schema)) if self.objects.is_empty() => {
                format!("ALL TABLES IN SCHEMA {schema}")
            }
            (ObjectType::Sequence, Some(schema)) if self.objects.is_empty() => {
                format!("ALL SEQUENCES IN SCHEMA {schema}")
            }
            (kind, Some(schema)) => {
                let keyword = if kind == ObjectType::Table { "TABLE" } else { "SEQUENCE" };
                let names: Vec<String> =
                    self.objects.iter().map(|object| qualified(schema, object)).collect();
                format!("{keyword} {}", names.join(", "))
            }
            (_, None) => unreachable!("checked when built"),
        }
    }

    /// Revokes what the role held here, then grants what is declared: one transaction.
    pub fn grant_statements(&self) -> Vec<String> {
        let mut statements = self.revoke_statements();
        statements.push(format!(
            "GRANT {} ON {} TO {}{}",
            self.privileges.join(", "),
            self.target(),
            self.role,
            if self.with_grant_option { " WITH GRANT OPTION" } else { "" }
        ));
        statements
    }

    /// Revokes every privilege of the role here (and what it granted on, by cascade).
    pub fn revoke_statements(&self) -> Vec<String> {
        vec![format!("REVOKE ALL ON {} FROM {} CASCADE", self.target(), self.role)]
    }

    /// Applies the grant.
    pub async fn apply(&self, connections: &Connections) -> Result<(), ProviderError> {
        let client = connections.client(self.database()).await?;
        execute_atomically(&client, &self.grant_statements(), &format!("granting {}", self.id()))
            .await
    }

    /// Revokes the grant.
    pub async fn revoke(&self, connections: &Connections) -> Result<(), ProviderError> {
        let client = connections.client(self.database()).await?;
        let doing = format!("revoking {}", self.id());
        match execute_atomically(&client, &self.revoke_statements(), &doing).await {
            // What it was on is gone, and the privileges with it.
            Err(error) if error.kind() == breakglass_provider::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// `(grantee, privilege) → grantable` on one object.
type Acl = BTreeMap<(String, String), bool>;

/// What a database holds: ACLs of the database, its schemas, and its relations by kind.
#[derive(Debug, Default)]
struct DatabaseAcls {
    database: Acl,
    schemas: BTreeMap<String, Acl>,
    relations: BTreeMap<(String, ObjectType), BTreeMap<String, Acl>>,
}

async fn read_database_acls(
    client: &Client,
    database: &str,
    schemas: &[String],
) -> Result<DatabaseAcls, ProviderError> {
    let mut acls = DatabaseAcls::default();
    let doing = format!("reading privileges in database {database:?}");
    let database_rows = client
        .query(
            "SELECT coalesce(r.rolname::text, 'public'), a.privilege_type, a.is_grantable \
             FROM pg_database d \
             CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
             LEFT JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = $1",
            &[&database],
        )
        .await
        .map_err(|error| query_error(&error, &doing))?;
    for row in database_rows {
        acls.database.insert((row.get(0), row.get(1)), row.get(2));
    }
    if schemas.is_empty() {
        return Ok(acls);
    }
    let schema_rows = client
        .query(
            "SELECT n.nspname::text, coalesce(r.rolname::text, 'public'), a.privilege_type, \
             a.is_grantable FROM pg_namespace n \
             CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
             LEFT JOIN pg_roles r ON r.oid = a.grantee WHERE n.nspname = ANY($1)",
            &[&schemas],
        )
        .await
        .map_err(|error| query_error(&error, &doing))?;
    for row in schema_rows {
        acls.schemas.entry(row.get(0)).or_default().insert((row.get(1), row.get(2)), row.get(3));
    }
    // Every relation of the schemas, with its ACL entries (none for a relation nobody was
    // granted anything on beyond its owner, who is then listed by acldefault).
    let relation_rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relkind = 'S', \
             coalesce(r.rolname::text, 'public'), a.privilege_type, a.is_grantable \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, \
                 acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))) a \
             LEFT JOIN pg_roles r ON r.oid = a.grantee \
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')",
            &[&schemas],
        )
        .await
        .map_err(|error| query_error(&error, &doing))?;
    for row in relation_rows {
        let kind = if row.get::<_, bool>(2) { ObjectType::Sequence } else { ObjectType::Table };
        acls.relations
            .entry((row.get(0), kind))
            .or_default()
            .entry(row.get(1))
            .or_default()
            .insert((row.get(3), row.get(4)), row.get(5));
    }
    Ok(acls)
}

/// What `grantee` holds in common on every ACL given: privilege → grantable everywhere.
fn held_in_common<'a>(
    grantee: &str,
    acls: impl IntoIterator<Item = &'a Acl>,
) -> Option<BTreeMap<String, bool>> {
    let mut common: Option<BTreeMap<String, bool>> = None;
    for acl in acls {
        let held: BTreeMap<String, bool> = acl
            .iter()
            .filter(|((who, _), _)| who == grantee)
            .map(|((_, privilege), grantable)| (privilege.clone(), *grantable))
            .collect();
        common = Some(match common {
            None => held,
            Some(common) => common
                .into_iter()
                .filter_map(|(privilege, grantable)| {
                    held.get(&privilege).map(|other| (privilege, grantable && *other))
                })
                .collect(),
        });
    }
    common
}

/// The live state of a grant, from its database's ACLs.
fn live_attributes(spec: &GrantSpec, acls: &DatabaseAcls) -> Option<Attributes> {
    let grantee = spec.role.name();
    let held = match (spec.object_type, &spec.schema) {
        (ObjectType::Database, _) => held_in_common(grantee, [&acls.database]),
        (ObjectType::Schema, Some(schema)) => {
            held_in_common(grantee, [acls.schemas.get(schema.name())?])
        }
        (kind, Some(schema)) => {
            // The schema must exist for anything to be held in it.
            acls.schemas.get(schema.name())?;
            let empty = BTreeMap::new();
            let relations = acls.relations.get(&(schema.name().to_owned(), kind)).unwrap_or(&empty);
            if spec.objects.is_empty() {
                held_in_common(grantee, relations.values())
            } else {
                let named: Option<Vec<&Acl>> =
                    spec.objects.iter().map(|object| relations.get(object.name())).collect();
                held_in_common(grantee, named?)
            }
        }
        (_, None) => None,
    };
    let (privileges, with_grant_option): (Vec<String>, bool) = match held {
        // Nothing to hold privileges on: the grant holds vacuously, as declared.
        None => (spec.privileges.iter().map(|p| (*p).to_owned()).collect(), spec.with_grant_option),
        Some(held) if held.is_empty() => return None,
        Some(held) => {
            let grantable = spec
                .privileges
                .iter()
                .all(|privilege| held.get(*privilege).copied().unwrap_or(false));
            (held.into_keys().collect(), grantable)
        }
    };
    let mut attributes = Attributes::new();
    attributes.insert("role".into(), Value::String(grantee.to_owned()));
    attributes.insert("database".into(), Value::String(spec.database.name().to_owned()));
    attributes.insert("object_type".into(), Value::String(spec.object_type.as_str().to_owned()));
    attributes.insert(
        "schema".into(),
        spec.schema.as_ref().map_or(Value::Null, |s| Value::String(s.name().to_owned())),
    );
    attributes.insert(
        "objects".into(),
        Value::Array(spec.objects.iter().map(|o| Value::String(o.name().to_owned())).collect()),
    );
    attributes.insert(
        "privileges".into(),
        Value::Array(privileges.into_iter().map(Value::String).collect()),
    );
    attributes.insert("with_grant_option".into(), Value::Bool(with_grant_option));
    Some(attributes)
}

/// Reads grants by id: a few catalog queries per database, whatever the number of grants.
pub async fn read_grants(
    connections: &Connections,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut by_database: BTreeMap<String, Vec<(String, GrantSpec)>> = BTreeMap::new();
    for object_id in ids {
        let spec = GrantSpec::from_id(object_id)?;
        by_database.entry(spec.database().to_owned()).or_default().push((object_id.clone(), spec));
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
        let schemas: BTreeSet<String> = specs
            .iter()
            .filter_map(|(_, spec)| spec.schema.as_ref().map(|s| s.name().to_owned()))
            .collect();
        let schemas: Vec<String> = schemas.into_iter().collect();
        let acls = read_database_acls(&client, &database, &schemas).await?;
        calls += if schemas.is_empty() { 1 } else { 3 };
        for (object_id, spec) in specs {
            if let Some(attributes) = live_attributes(&spec, &acls) {
                objects.insert(object_id, attributes);
            }
        }
    }
    Ok((objects, calls))
}

/// Which of `databases` exist.
pub async fn existing_databases(
    connections: &Connections,
    databases: Vec<String>,
) -> Result<BTreeSet<String>, ProviderError> {
    let client = connections.default_client().await?;
    let rows = client
        .query("SELECT datname::text FROM pg_database WHERE datname = ANY($1)", &[&databases])
        .await
        .map_err(|error| query_error(&error, "reading databases from pg_database"))?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}

/// Privileges lists compare as sets, in any case, with ALL expanded (for `object_type` when
/// known, else for whichever kind of object reads them alike).
pub fn privileges_equal(object_type: Option<&str>, desired: &Value, live: &Value) -> bool {
    const ALL_KINDS: [&[&str]; 6] = [
        privileges::DATABASE,
        privileges::SCHEMA,
        privileges::TABLE,
        privileges::SEQUENCE,
        privileges::FUNCTION,
        privileges::TYPE,
    ];
    let kinds: Vec<&'static [&'static str]> = match object_type.map(str::to_ascii_lowercase) {
        Some(kind) => match kind.as_str() {
            "database" => vec![privileges::DATABASE],
            "schema" => vec![privileges::SCHEMA],
            "table" => vec![privileges::TABLE],
            "sequence" => vec![privileges::SEQUENCE],
            "function" => vec![privileges::FUNCTION],
            "type" => vec![privileges::TYPE],
            _ => return false,
        },
        None => ALL_KINDS.to_vec(),
    };
    let list = |value: &Value| -> Option<Vec<String>> {
        value.as_array()?.iter().map(|item| item.as_str().map(str::to_owned)).collect()
    };
    let (Some(desired), Some(live)) = (list(desired), list(live)) else { return false };
    kinds.into_iter().any(|allowed| {
        matches!(
            (canonical(&desired, allowed, ""), canonical(&live, allowed, "")),
            (Ok(a), Ok(b)) if a == b
        )
    })
}

/// Object name lists compare as sets.
pub fn names_equal(desired: &Value, live: &Value) -> bool {
    let set = |value: &Value| -> Option<BTreeSet<String>> {
        value.as_array()?.iter().map(|item| item.as_str().map(str::to_owned)).collect()
    };
    set(desired).is_some() && set(desired) == set(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> Result<GrantSpec, ProviderError> {
        GrantSpec::parse(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn ids_are_canonical_and_parse_back_to_the_same_grant() {
        let grant = spec(json!({
            "role": "auditor", "database": "app", "object_type": "TABLE", "schema": "public",
            "objects": ["t2", "t1", "t1"], "privileges": ["select", "SELECT", "insert"],
            "with_grant_option": true,
        }))
        .unwrap();
        assert_eq!(grant.id(), "auditor/app/table/public/t1,t2/INSERT,SELECT+grant_option");
        let back = GrantSpec::from_id(&grant.id()).unwrap();
        assert_eq!(back.id(), grant.id());
        assert_eq!(back.grant_statements(), grant.grant_statements());
    }

    #[test]
    fn statements_revoke_then_grant_with_every_name_quoted() {
        let grant = spec(json!({
            "role": "audit\"or", "database": "app", "object_type": "table",
            "schema": "s\"; DROP SCHEMA x; --", "privileges": ["SELECT"],
        }))
        .unwrap();
        assert_eq!(
            grant.grant_statements(),
            [
                "REVOKE ALL ON ALL TABLES IN SCHEMA \"s\"\"; DROP SCHEMA x; --\" FROM \"audit\"\"or\" CASCADE",
                "GRANT SELECT ON ALL TABLES IN SCHEMA \"s\"\"; DROP SCHEMA x; --\" TO \"audit\"\"or\"",
            ]
        );
        let database = spec(json!({
            "role": "public", "database": "app", "object_type": "database",
            "privileges": ["CONNECT", "temp"],
        }))
        .unwrap();
        assert_eq!(
            database.grant_statements()[1],
            "GRANT CONNECT, TEMPORARY ON DATABASE \"app\" TO PUBLIC"
        );
    }

    #[test]
    fn inconsistent_grants_are_refused() {
        let cases = [
            (
                json!({"role": "r", "database": "d", "object_type": "table", "privileges": ["SELECT"]}),
                "needs `schema`",
            ),
            (
                json!({"role": "r", "database": "d", "object_type": "database", "schema": "s", "privileges": ["CONNECT"]}),
                "takes no `schema`",
            ),
            (
                json!({"role": "r", "database": "d", "object_type": "schema", "schema": "s", "objects": ["t"], "privileges": ["USAGE"]}),
                "`objects` is for tables",
            ),
            (
                json!({"role": "r", "database": "d", "object_type": "view", "schema": "s", "privileges": ["SELECT"]}),
                "is not one of",
            ),
            (
                json!({"role": "r", "database": "d", "object_type": "schema", "schema": "s", "privileges": ["SELECT"]}),
                "is not a privilege on a schema",
            ),
        ];
        for (attributes, expected) in cases {
            let error = spec(attributes).unwrap_err();
            assert!(error.message().contains(expected), "{error}");
        }
    }

    #[test]
    fn privileges_compare_as_canonical_sets() {
        assert!(privileges_equal(
            Some("table"),
            &json!(["select", "insert"]),
            &json!(["INSERT", "SELECT"])
        ));
        assert!(privileges_equal(
            Some("sequence"),
            &json!(["ALL"]),
            &json!(["SELECT", "UPDATE", "USAGE"])
        ));
        assert!(!privileges_equal(Some("table"), &json!(["SELECT"]), &json!(["SELECT", "INSERT"])));
        assert!(names_equal(&json!(["b", "a"]), &json!(["a", "b"])));
    }
}
