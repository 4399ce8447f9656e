//! The `postgres` provider's implementation of the provider contract: dispatch by resource
//! type to the module that knows it.

use async_trait::async_trait;
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse, Value,
};
use std::collections::BTreeMap;

use crate::client::Connections;
use crate::config::PostgresConfig;
use crate::default_privileges::{DefaultPrivileges, read_default_privileges};
use crate::grant::{GrantSpec, names_equal, privileges_equal, read_grants};
use crate::membership::{Membership, read_memberships};
use crate::role::{
    RoleSpec, ValidUntil, create_or_alter, drop_role, read_one, read_roles, superusers,
};
use crate::schema::{DEFAULT_PRIVILEGES, GRANT, GRANT_ROLE, ROLE, schema};
use crate::sessions::{note, terminate_sessions};

/// The `postgres` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct PostgresProvider {
    connections: Option<Connections>,
}

impl PostgresProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    fn connections(&self) -> Result<&Connections, ProviderError> {
        self.connections.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the postgres provider was used before it was configured")
        })
    }

    /// Reads one object back after a write.
    async fn read_back(&self, resource_type: &str, id: &str) -> Result<Attributes, ProviderError> {
        let mut read = self.read(ReadRequest::new(resource_type, vec![id.to_owned()])).await?;
        read.objects.remove(id).ok_or_else(|| {
            ProviderError::protocol(format!(
                "{resource_type} {id}: written, but not found when read back; another client may \
                 have removed it meanwhile"
            ))
        })
    }
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the postgres provider has no resource type {resource_type}; it offers {ROLE}, \
         {GRANT_ROLE}, {GRANT} and {DEFAULT_PRIVILEGES}"
    ))
}

fn natural_id(resource_type: &str, attributes: &Attributes) -> Result<String, ProviderError> {
    match resource_type {
        ROLE => Ok(RoleSpec::parse(attributes)?.name().to_owned()),
        GRANT_ROLE => Ok(Membership::parse(attributes)?.id()),
        GRANT => Ok(GrantSpec::parse(attributes)?.id()),
        DEFAULT_PRIVILEGES => Ok(DefaultPrivileges::parse(attributes)?.id()),
        other => Err(unknown_type(other)),
    }
}

/// The declared attributes must name the object being written.
fn check_id(resource_type: &str, id: &str, attributes: &Attributes) -> Result<(), ProviderError> {
    let natural = natural_id(resource_type, attributes)?;
    if natural != id {
        return Err(ProviderError::invalid(format!(
            "{resource_type} {id}: the attributes name {natural} instead; an object's identity \
             cannot change in place, it is replaced"
        )));
    }
    Ok(())
}

#[async_trait]
impl Provider for PostgresProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let connections = Connections::new(PostgresConfig::from_attributes(&request.config)?);
        // Fail now, with what to fix, rather than in the middle of a refresh.
        connections.default_client().await?;
        self.connections = Some(connections);
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        natural_id(request.resource_type, request.attributes)
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let connections = self.connections()?;
        if request.ids.is_empty() {
            return Ok(ReadResponse::new(BTreeMap::new(), 0));
        }
        match request.resource_type.as_str() {
            ROLE => {
                let client = connections.default_client().await?;
                let roles = read_roles(&client, Some(&request.ids)).await?;
                let objects = roles.into_iter().map(|(name, (attributes, _))| (name, attributes));
                Ok(ReadResponse::new(objects.collect(), 1))
            }
            GRANT_ROLE => {
                let pairs = request
                    .ids
                    .iter()
                    .map(|id| {
                        Membership::from_id(id)
                            .map(|m| (m.member.name().to_owned(), m.role.name().to_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let client = connections.default_client().await?;
                let memberships = read_memberships(&client, Some(&pairs)).await?;
                let objects = memberships.into_iter().map(|(id, live)| (id, live.attributes));
                Ok(ReadResponse::new(objects.collect(), 1))
            }
            GRANT => {
                let (objects, calls) = read_grants(connections, &request.ids).await?;
                Ok(ReadResponse::new(objects, calls))
            }
            DEFAULT_PRIVILEGES => {
                let (objects, calls) = read_default_privileges(connections, &request.ids).await?;
                Ok(ReadResponse::new(objects, calls))
            }
            other => Err(unknown_type(other)),
        }
    }

    fn list_scope(&self, _resource_type: &str) -> Option<&'static [&'static str]> {
        // Roles and memberships are read from the catalogs whole; the scope is not read.
        Some(&[])
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let connections = self.connections()?;
        let client = connections.default_client().await?;
        match request.resource_type.as_str() {
            ROLE => {
                let roles = read_roles(&client, None).await?;
                let privileged = superusers(&roles);
                let objects = roles.into_iter().map(|(name, (attributes, _))| (name, attributes));
                Ok(ListResponse::new(objects.collect(), 1).with_privileged(privileged))
            }
            GRANT_ROLE => {
                let memberships = read_memberships(&client, None).await?;
                let config = connections.config();
                let privileged: Vec<String> = memberships
                    .iter()
                    .filter(|(_, live)| {
                        live.role_is_superuser
                            || live
                                .attributes
                                .get("role")
                                .and_then(Value::as_str)
                                .is_some_and(|role| config.is_privileged_role(role))
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                let objects = memberships.into_iter().map(|(id, live)| (id, live.attributes));
                Ok(ListResponse::new(objects.collect(), 1).with_privileged(privileged))
            }
            other if other == GRANT || other == DEFAULT_PRIVILEGES => {
                Err(ProviderError::unsupported(format!("listing {other} is not offered")))
            }
            other => Err(unknown_type(other)),
        }
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let connections = self.connections()?;
        let CreateRequest { resource_type, id, attributes, .. } = request;
        check_id(&resource_type, &id, &attributes)?;
        match resource_type.as_str() {
            ROLE => {
                let client = connections.default_client().await?;
                create_or_alter(&client, &RoleSpec::parse(&attributes)?).await?;
            }
            GRANT_ROLE => {
                let client = connections.default_client().await?;
                Membership::parse(&attributes)?.grant(&client).await?;
            }
            GRANT => GrantSpec::parse(&attributes)?.apply(connections).await?,
            DEFAULT_PRIVILEGES => DefaultPrivileges::parse(&attributes)?.apply(connections).await?,
            other => return Err(unknown_type(other)),
        }
        let attributes = self.read_back(&resource_type, &id).await?;
        Ok(CreateResponse::new(id, attributes))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let connections = self.connections()?;
        let UpdateRequest { resource_type, id, before, after, context, .. } = request;
        check_id(&resource_type, &id, &after)?;
        match resource_type.as_str() {
            ROLE => {
                let client = connections.default_client().await?;
                let spec = RoleSpec::parse(&after)?;
                create_or_alter(&client, &spec).await?;
                let login_taken_away =
                    before.get("login") == Some(&Value::Bool(true)) && spec.login() == Some(false);
                if context.revert || login_taken_away {
                    terminate_sessions(&client, spec.name()).await?;
                }
            }
            GRANT_ROLE => {
                let client = connections.default_client().await?;
                Membership::parse(&after)?.grant(&client).await?;
            }
            GRANT => GrantSpec::parse(&after)?.apply(connections).await?,
            DEFAULT_PRIVILEGES => DefaultPrivileges::parse(&after)?.apply(connections).await?,
            other => return Err(unknown_type(other)),
        }
        Ok(UpdateResponse::new(self.read_back(&resource_type, &id).await?))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let connections = self.connections()?;
        let DeleteRequest { resource_type, id, context, .. } = request;
        let mut notes = Vec::new();
        match resource_type.as_str() {
            ROLE => {
                let client = connections.default_client().await?;
                if context.revert && read_one(&client, &id).await?.is_some() {
                    // Before the drop: a dropped role's open sessions would live on.
                    let ended = terminate_sessions(&client, &id).await?;
                    notes.push(note(&id, &ended));
                }
                drop_role(&client, &id).await?;
            }
            GRANT_ROLE => {
                let client = connections.default_client().await?;
                let membership = Membership::from_id(&id)?;
                membership.revoke(&client).await?;
                if context.revert {
                    let ended = terminate_sessions(&client, membership.member.name()).await?;
                    notes.push(note(membership.member.name(), &ended));
                }
            }
            GRANT => GrantSpec::from_id(&id)?.revoke(connections).await?,
            DEFAULT_PRIVILEGES => DefaultPrivileges::from_id(&id)?.revoke(connections).await?,
            other => return Err(unknown_type(other)),
        }
        Ok(DeleteResponse::new(notes))
    }

    fn attribute_equal(
        &self,
        resource_type: &str,
        attribute: &str,
        desired: &Value,
        live: &Value,
    ) -> bool {
        match (resource_type, attribute) {
            (ROLE, "valid_until") => match (desired.as_str(), live.as_str()) {
                (Some(desired), Some(live)) => matches!(
                    (ValidUntil::parse(desired), ValidUntil::parse(live)),
                    (Ok(a), Ok(b)) if a == b
                ),
                _ => false,
            },
            (GRANT | DEFAULT_PRIVILEGES, "privileges") => privileges_equal(None, desired, live),
            (GRANT, "objects") => names_equal(desired, live),
            (GRANT | DEFAULT_PRIVILEGES, "object_type") => {
                match (desired.as_str(), live.as_str()) {
                    (Some(desired), Some(live)) => desired.eq_ignore_ascii_case(live),
                    _ => false,
                }
            }
            _ => desired == live,
        }
    }

    fn revert_note(&self, resource_type: &str) -> Option<String> {
        match resource_type {
            GRANT_ROLE => Some(
                "also ends the member's open sessions (pg_terminate_backend), so no open \
                 connection keeps the revoked role"
                    .to_owned(),
            ),
            ROLE => Some(
                "ends the role's open sessions (pg_terminate_backend) before dropping it"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// These tests talk to a real PostgreSQL server: one throwaway cluster for the whole test
/// binary (see `testing.rs`). Each test uses names of its own, since roles are cluster-wide.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestCluster;
    use breakglass_provider::{ActivationContext, ChangeContext, ErrorKind};
    use serde_json::json;

    async fn provider(cluster: &TestCluster, extra: serde_json::Value) -> PostgresProvider {
        let mut config: Attributes = serde_json::from_value(json!({
            "host": "127.0.0.1",
            "port": cluster.port(),
            "user": "postgres",
            "password": TestCluster::PASSWORD,
            "database": "postgres",
        }))
        .unwrap();
        config.extend(serde_json::from_value::<Attributes>(extra).unwrap());
        let mut provider = PostgresProvider::new();
        provider.configure(ConfigureRequest::new(config, ".")).await.unwrap();
        provider
    }

    fn attrs(value: serde_json::Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    async fn create(
        provider: &PostgresProvider,
        resource_type: &str,
        attributes: Attributes,
    ) -> String {
        let id = provider.resource_id(IdRequest::new(resource_type, &attributes)).unwrap();
        provider
            .create(CreateRequest::new(resource_type, &id, attributes, ChangeContext::baseline()))
            .await
            .unwrap_or_else(|error| panic!("create {resource_type} {id}: {error}"));
        id
    }

    async fn read(
        provider: &PostgresProvider,
        resource_type: &str,
        id: &str,
    ) -> Option<Attributes> {
        provider
            .read(ReadRequest::new(resource_type, vec![id.to_owned()]))
            .await
            .unwrap()
            .objects
            .remove(id)
    }

    async fn delete(
        provider: &PostgresProvider,
        resource_type: &str,
        id: &str,
        context: ChangeContext,
    ) -> Vec<String> {
        provider
            .delete(DeleteRequest::new(resource_type, id, Attributes::new(), context))
            .await
            .unwrap_or_else(|error| panic!("delete {resource_type} {id}: {error}"))
            .notes
    }

    fn revert() -> ChangeContext {
        let start = "2026-11-28T12:00:00Z".parse().unwrap();
        let end = "2026-11-28T13:00:00Z".parse().unwrap();
        ChangeContext::revert(Some(ActivationContext::new("act_test", "alice", start, end)))
    }

    #[tokio::test]
    async fn roles_are_created_read_updated_and_dropped_idempotently() {
        let cluster = TestCluster::shared();
        let provider = provider(cluster, json!({})).await;
        let wanted = attrs(json!({
            "name": "crud_app", "login": true, "connection_limit": 5,
            "valid_until": "2031-01-15T17:00:00Z", "password": "app-password",
        }));
        for _ in 0..2 {
            create(&provider, ROLE, wanted.clone()).await;
        }
        let live = read(&provider, ROLE, "crud_app").await.expect("created");
        assert_eq!(live["login"], json!(true));
        assert_eq!(live["connection_limit"], json!(5));
        assert_eq!(live["valid_until"], json!("2031-01-15T17:00:00Z"));
        assert!(!live.contains_key("password"), "passwords are never read back");
        cluster
            .connect_as("crud_app", "app-password", "postgres")
            .await
            .expect("the password works");
        assert!(cluster.connect_as("crud_app", "wrong", "postgres").await.is_err());

        let mut later = wanted.clone();
        later.insert("connection_limit".into(), json!(-1));
        later.insert("valid_until".into(), json!("infinity"));
        let updated = provider
            .update(UpdateRequest::new(ROLE, "crud_app", live, later, ChangeContext::baseline()))
            .await
            .unwrap();
        assert_eq!(updated.attributes["connection_limit"], json!(-1));
        assert_eq!(updated.attributes["valid_until"], json!("infinity"));
        for _ in 0..2 {
            delete(&provider, ROLE, "crud_app", ChangeContext::baseline()).await;
        }
        assert!(read(&provider, ROLE, "crud_app").await.is_none());
    }

    #[tokio::test]
    async fn a_role_past_its_valid_until_cannot_log_in() {
        let cluster = TestCluster::shared();
        let provider = provider(cluster, json!({})).await;
        create(
            &provider,
            ROLE,
            attrs(json!({
                "name": "expired_login", "login": true, "password": "pw",
                "valid_until": "2020-01-01T00:00:00Z",
            })),
        )
        .await;
        let refused = cluster.connect_as("expired_login", "pw", "postgres").await.unwrap_err();
        let refused = format!("{refused:?}");
        assert!(refused.contains("password authentication failed"), "{refused}");
        delete(&provider, ROLE, "expired_login", ChangeContext::baseline()).await;
    }

    #[tokio::test]
    async fn revoking_a_membership_on_revert_ends_the_members_sessions() {
        let cluster = TestCluster::shared();
        let provider = provider(cluster, json!({})).await;
        create(&provider, ROLE, attrs(json!({"name": "rev_dba"}))).await;
        create(
            &provider,
            ROLE,
            attrs(json!({"name": "rev_alice", "login": true, "password": "alice-pw"})),
        )
        .await;
        let membership = attrs(json!({"role": "rev_dba", "member": "rev_alice"}));
        let id = create(&provider, GRANT_ROLE, membership.clone()).await;
        assert_eq!(id, "rev_alice/rev_dba");
        create(&provider, GRANT_ROLE, membership).await;
        let live = read(&provider, GRANT_ROLE, &id).await.expect("granted");
        assert_eq!(live["admin_option"], json!(false));

        // Alice connects and takes the role on: only ending her session takes it away.
        let alice = cluster.connect_as("rev_alice", "alice-pw", "postgres").await.unwrap();
        alice.batch_execute("SET ROLE rev_dba").await.unwrap();
        let current: String =
            alice.query_one("SELECT current_user::text", &[]).await.unwrap().get(0);
        assert_eq!(current, "rev_dba");

        let notes = delete(&provider, GRANT_ROLE, &id, revert()).await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("ended 1 session(s) holding rev_alice: rev_alice (pid "),
            "{notes:?}"
        );
        assert!(alice.query_one("SELECT 1", &[]).await.is_err(), "the session was ended");
        assert!(read(&provider, GRANT_ROLE, &id).await.is_none());
        let again = delete(&provider, GRANT_ROLE, &id, revert()).await;
        assert_eq!(again, ["no open session of rev_alice or its members to end"]);
        // She can log in again, without the role.
        let alice = cluster.connect_as("rev_alice", "alice-pw", "postgres").await.unwrap();
        let error = alice.batch_execute("SET ROLE rev_dba").await.unwrap_err();
        assert!(error.as_db_error().unwrap().message().contains("permission denied"), "{error}");
    }

    #[tokio::test]
    async fn dropping_a_temporary_login_role_on_revert_ends_its_sessions_first() {
        let cluster = TestCluster::shared();
        let provider = provider(cluster, json!({})).await;
        create(
            &provider,
            ROLE,
            attrs(json!({
                "name": "tmp_bob", "login": true, "password": "bob-pw",
                "valid_until": "2031-01-15T17:00:00Z",
            })),
        )
        .await;
        let bob = cluster.connect_as("tmp_bob", "bob-pw", "postgres").await.unwrap();
        let notes = delete(&provider, ROLE, "tmp_bob", revert()).await;
        assert!(notes[0].starts_with("ended 1 session(s) holding tmp_bob"), "{notes:?}");
        assert!(bob.query_one("SELECT 1", &[]).await.is_err());
        assert!(read(&provider, ROLE, "tmp_bob").await.is_none());
    }

    #[tokio::test]
    async fn table_grants_hold_revoke_and_follow_new_tables() {
        let cluster = TestCluster::shared();
        cluster.create_database("grants_db").await;
        let admin = cluster.connect("grants_db").await;
        admin
            .batch_execute(
                "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int); \
                 CREATE SEQUENCE sales.order_ids; CREATE SCHEMA empty_schema; \
                 CREATE ROLE grants_auditor LOGIN PASSWORD 'auditor-pw'",
            )
            .await
            .unwrap();
        let provider = provider(cluster, json!({})).await;
        let tables = attrs(json!({
            "role": "grants_auditor", "database": "grants_db", "object_type": "table",
            "schema": "sales", "privileges": ["select"],
        }));
        let usage = attrs(json!({
            "role": "grants_auditor", "database": "grants_db", "object_type": "schema",
            "schema": "sales", "privileges": ["USAGE"],
        }));
        let connect = attrs(json!({
            "role": "grants_auditor", "database": "grants_db", "object_type": "database",
            "privileges": ["CONNECT"],
        }));
        let sequences = attrs(json!({
            "role": "grants_auditor", "database": "grants_db", "object_type": "sequence",
            "schema": "sales", "objects": ["order_ids"], "privileges": ["USAGE", "SELECT"],
        }));
        let empty = attrs(json!({
            "role": "grants_auditor", "database": "grants_db", "object_type": "table",
            "schema": "empty_schema", "privileges": ["SELECT"],
        }));
        let mut ids = Vec::new();
        for attributes in [tables, usage, connect, sequences, empty] {
            let id = create(&provider, GRANT, attributes.clone()).await;
            assert_eq!(create(&provider, GRANT, attributes).await, id, "create is idempotent");
            ids.push(id);
        }
        let read_all = provider.read(ReadRequest::new(GRANT, ids.clone())).await.unwrap();
        assert_eq!(read_all.objects.len(), 5, "{:?}", read_all.objects.keys());
        assert!(read_all.api_calls <= 4, "one database, a few queries: {}", read_all.api_calls);
        assert_eq!(read_all.objects[&ids[0]]["privileges"], json!(["SELECT"]));
        assert_eq!(read_all.objects[&ids[3]]["privileges"], json!(["SELECT", "USAGE"]));
        assert_eq!(
            read_all.objects[&ids[4]]["privileges"],
            json!(["SELECT"]),
            "vacuous: no tables"
        );

        let auditor =
            cluster.connect_as("grants_auditor", "auditor-pw", "grants_db").await.unwrap();
        auditor.query("SELECT * FROM sales.orders", &[]).await.expect("select is granted");
        assert!(auditor.batch_execute("INSERT INTO sales.orders VALUES (1)").await.is_err());

        // A table created later lacks the privilege: the grant no longer holds everywhere.
        admin.batch_execute("CREATE TABLE sales.refunds (id int)").await.unwrap();
        assert!(read(&provider, GRANT, &ids[0]).await.is_none());
        create(&provider, GRANT, read_all.objects[&ids[0]].clone()).await;
        auditor.query("SELECT * FROM sales.refunds", &[]).await.expect("granted again");

        for id in &ids {
            for _ in 0..2 {
                delete(&provider, GRANT, id, ChangeContext::baseline()).await;
            }
        }
        let error = auditor.query("SELECT * FROM sales.orders", &[]).await.unwrap_err();
        assert!(error.as_db_error().unwrap().message().contains("permission denied"), "{error}");
        let left = provider.read(ReadRequest::new(GRANT, ids[..4].to_vec())).await.unwrap();
        assert!(left.objects.is_empty(), "{:?}", left.objects);
    }

    #[tokio::test]
    async fn default_privileges_apply_to_tables_created_later() {
        let cluster = TestCluster::shared();
        cluster.create_database("defaults_db").await;
        let admin = cluster.connect("defaults_db").await;
        admin
            .batch_execute(
                "CREATE ROLE defaults_owner; CREATE ROLE defaults_reader LOGIN PASSWORD 'pw'; \
                 CREATE SCHEMA reports AUTHORIZATION defaults_owner; \
                 GRANT USAGE ON SCHEMA reports TO defaults_reader",
            )
            .await
            .unwrap();
        let provider = provider(cluster, json!({})).await;
        let wanted = attrs(json!({
            "role": "defaults_reader", "database": "defaults_db", "owner": "defaults_owner",
            "schema": "reports", "object_type": "table", "privileges": ["SELECT"],
        }));
        let id = create(&provider, DEFAULT_PRIVILEGES, wanted.clone()).await;
        create(&provider, DEFAULT_PRIVILEGES, wanted.clone()).await;
        assert_eq!(
            read(&provider, DEFAULT_PRIVILEGES, &id).await.unwrap()["privileges"],
            json!(["SELECT"])
        );
        admin
            .batch_execute(
                "SET ROLE defaults_owner; CREATE TABLE reports.daily (d date); RESET ROLE",
            )
            .await
            .unwrap();
        let reader = cluster.connect_as("defaults_reader", "pw", "defaults_db").await.unwrap();
        reader.query("SELECT * FROM reports.daily", &[]).await.expect("a future table is readable");

        let mut more = wanted.clone();
        more.insert("privileges".into(), json!(["select", "insert"]));
        let before = read(&provider, DEFAULT_PRIVILEGES, &id).await.unwrap();
        let updated = provider
            .update(UpdateRequest::new(
                DEFAULT_PRIVILEGES,
                &id,
                before,
                more.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
        assert_eq!(updated.attributes["privileges"], json!(["INSERT", "SELECT"]));
        assert!(provider.attribute_equal(
            DEFAULT_PRIVILEGES,
            "privileges",
            &more["privileges"],
            &updated.attributes["privileges"]
        ));
        for _ in 0..2 {
            delete(&provider, DEFAULT_PRIVILEGES, &id, ChangeContext::baseline()).await;
        }
        assert!(read(&provider, DEFAULT_PRIVILEGES, &id).await.is_none());
    }

    #[tokio::test]
    async fn listing_marks_superusers_and_privileged_memberships_nobody_declared() {
        let cluster = TestCluster::shared();
        let admin = cluster.connect("postgres").await;
        admin
            .batch_execute(
                "CREATE ROLE drift_dba; CREATE ROLE drift_reader; CREATE ROLE drift_root SUPERUSER; \
                 CREATE ROLE drift_mallory LOGIN; GRANT drift_dba TO drift_mallory; \
                 GRANT drift_reader TO drift_mallory; GRANT drift_root TO drift_mallory; \
                 GRANT pg_write_all_data TO drift_mallory",
            )
            .await
            .unwrap();
        // Enough roles that a query per object would show: a listing stays one query.
        let many: String = (0..500)
            .map(|n| format!("CREATE ROLE drift_bulk_{n}; GRANT drift_reader TO drift_bulk_{n};"))
            .collect();
        admin.batch_execute(&many).await.unwrap();
        let provider = provider(cluster, json!({"privileged_roles": ["drift_dba"]})).await;
        let started = std::time::Instant::now();
        let roles = provider.list(ListRequest::new(ROLE, vec![])).await.unwrap();
        let memberships = provider.list(ListRequest::new(GRANT_ROLE, vec![])).await.unwrap();
        eprintln!(
            "listed {} roles and {} memberships in {} queries, {} ms",
            roles.objects.len(),
            memberships.objects.len(),
            roles.api_calls + memberships.api_calls,
            started.elapsed().as_millis()
        );
        assert!(roles.objects.len() > 500 && memberships.objects.len() > 500);
        assert_eq!(roles.api_calls, 1);
        assert!(roles.objects.contains_key("drift_mallory"));
        assert!(!roles.objects.contains_key("postgres"), "the provider's own role is not listed");
        assert!(!roles.objects.contains_key("pg_monitor"), "built-in roles are not listed");
        assert!(roles.privileged.contains("drift_root"));
        assert!(!roles.privileged.contains("drift_mallory"));

        assert_eq!(memberships.api_calls, 1);
        for privileged in [
            "drift_mallory/drift_dba",
            "drift_mallory/drift_root",
            "drift_mallory/pg_write_all_data",
        ] {
            assert!(
                memberships.privileged.contains(privileged),
                "{privileged}: {:?}",
                memberships.privileged
            );
        }
        assert!(memberships.objects.contains_key("drift_mallory/drift_reader"));
        assert!(!memberships.privileged.contains("drift_mallory/drift_reader"));

        // Removing it, as drift = "revert" does, is a delete that also ends sessions.
        delete(&provider, GRANT_ROLE, "drift_mallory/drift_dba", ChangeContext::revert(None)).await;
        assert!(read(&provider, GRANT_ROLE, "drift_mallory/drift_dba").await.is_none());
    }

    #[tokio::test]
    async fn injection_attempts_are_quoted_or_refused() {
        let cluster = TestCluster::shared();
        let provider = provider(cluster, json!({})).await;
        let evil = "inj\"; DROP ROLE postgres; --";
        let id = create(
            &provider,
            ROLE,
            attrs(json!({"name": evil, "password": "'; DROP ROLE postgres; --"})),
        )
        .await;
        assert_eq!(id, evil);
        assert_eq!(read(&provider, ROLE, evil).await.unwrap()["name"], json!(evil));
        let evil_member = create(&provider, ROLE, attrs(json!({"name": "inj'member\\"}))).await;
        let membership =
            create(&provider, GRANT_ROLE, attrs(json!({"role": evil, "member": evil_member})))
                .await;
        assert!(read(&provider, GRANT_ROLE, &membership).await.is_some());
        let admin = cluster.connect("postgres").await;
        let survivors =
            admin.query("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'", &[]).await.unwrap();
        assert_eq!(survivors.len(), 1, "nothing was executed from a name or a value");

        let refused = [
            (ROLE, json!({"name": "inj_x", "valid_until": "2030-01-01'; DROP ROLE postgres; --"})),
            (
                GRANT,
                json!({"role": "inj_x", "database": "postgres", "object_type": "schema", "schema": "public", "privileges": ["USAGE; DROP ROLE postgres"]}),
            ),
            (
                GRANT,
                json!({"role": "inj_x", "database": "postgres", "object_type": "table; DROP ROLE postgres", "schema": "public", "privileges": ["SELECT"]}),
            ),
            (ROLE, json!({"name": "inj\u{0}x"})),
        ];
        for (resource_type, attributes) in refused {
            let attributes = attrs(attributes);
            let error = provider
                .create(CreateRequest::new(
                    resource_type,
                    "inj_x",
                    attributes,
                    ChangeContext::baseline(),
                ))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
        }
        assert!(read(&provider, ROLE, "inj_x").await.is_none(), "a refused create changes nothing");
        delete(&provider, GRANT_ROLE, &membership, ChangeContext::baseline()).await;
        delete(&provider, ROLE, evil, ChangeContext::baseline()).await;
        delete(&provider, ROLE, &evil_member, ChangeContext::baseline()).await;
    }

    #[tokio::test]
    async fn bad_credentials_and_unreachable_servers_are_explained_without_the_password() {
        let cluster = TestCluster::shared();
        let attempt = |config: serde_json::Value| async move {
            let mut provider = PostgresProvider::new();
            provider.configure(ConfigureRequest::new(attrs(config), ".")).await.unwrap_err()
        };
        let wrong = attempt(json!({
            "host": "127.0.0.1", "port": cluster.port(), "user": "postgres",
            "password": "not-the-password-xyz", "database": "postgres",
        }))
        .await;
        assert_eq!(wrong.kind(), ErrorKind::Denied, "{wrong}");
        let message = wrong.to_string();
        assert!(
            message.contains(&format!(
                "cannot log in as postgres@127.0.0.1:{}/postgres",
                cluster.port()
            )),
            "{message}"
        );
        assert!(message.contains("check `user` and `password`"), "{message}");
        assert!(!message.contains("not-the-password-xyz"), "{message}");

        let closed =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let unreachable = attempt(json!({
            "host": "127.0.0.1", "port": closed, "user": "postgres",
            "password": "secret-xyz", "database": "postgres", "connect_timeout": 2,
        }))
        .await;
        assert_eq!(unreachable.kind(), ErrorKind::Transient, "{unreachable}");
        assert!(
            unreachable.to_string().contains("cannot reach postgres@127.0.0.1"),
            "{unreachable}"
        );
        assert!(!unreachable.to_string().contains("secret-xyz"));

        let missing = attempt(json!({
            "host": "127.0.0.1", "port": cluster.port(), "user": "postgres",
            "password": TestCluster::PASSWORD, "database": "no_such_db",
        }))
        .await;
        assert!(missing.to_string().contains("check `database`"), "{missing}");
    }
}
