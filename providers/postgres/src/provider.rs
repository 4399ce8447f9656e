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

    fn resource_id(&self, request: IdRequest) -> Result<String, ProviderError> {
        natural_id(&request.resource_type, &request.attributes)
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
                "also ends the member's open sessions (pg_terminate_backend), so no connection \
                 keeps the role past its grant"
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
