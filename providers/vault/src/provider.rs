//! The `vault` provider's implementation of the provider contract: configuration, then a
//! dispatch to the resource type's module.

use async_trait::async_trait;
use breakglass_provider::http::{HttpClient, HttpConfig};
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse, Value,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::client::{VaultClient, failure};
use crate::config::VaultConfig;
use crate::resources::{Context, group, group_member, policy, same_set, same_time, token_role};
use crate::schema::{GROUP, GROUP_MEMBER, POLICY, TOKEN_ROLE, schema};
use crate::server::Server;

/// The `vault` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct VaultProvider {
    configured: Option<Configured>,
    member_edits: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Configured {
    client: VaultClient,
    config: VaultConfig,
    server: Server,
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the vault provider has no resource type {resource_type}; it offers {POLICY}, {GROUP}, \
         {GROUP_MEMBER} and {TOKEN_ROLE}"
    ))
}

/// An HTTP client trusting the system's CAs and, if given, those of a PEM bundle.
fn http_client(config: &VaultConfig) -> Result<HttpClient, ProviderError> {
    let mut http_config = HttpConfig::default();
    if let Some(attempts) = config.max_attempts {
        http_config = http_config.with_max_attempts(attempts);
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.ca_cert {
        let pem = fs_err::read(path).map_err(|error| {
            ProviderError::invalid(format!("provider \"vault\": cannot read `ca_cert`: {error}"))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certificates| !certificates.is_empty())
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"vault\": `ca_cert` {} holds no PEM certificate (-----BEGIN \
                     CERTIFICATE-----)",
                    path.display()
                ))
            })?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    HttpClient::from_builder("vault", http_config, builder)
}

impl VaultProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    /// Configures the provider from block attributes and an explicit environment (tests use
    /// this rather than changing the process's environment). Asks the server what it is and
    /// checks the token, so a wrong address or token fails now, saying what to fix.
    pub async fn configure_with_env(
        &mut self,
        attributes: &Attributes,
        base_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let config = VaultConfig::from_attributes(attributes, base_dir, env)?;
        let client = VaultClient::new(
            http_client(&config)?,
            &config.address,
            config.token.clone(),
            config.token_source.clone(),
            config.namespace.clone(),
        );
        let server = Server::probe(&client).await?;
        let response =
            client.send(reqwest::Method::GET, "auth/token/lookup-self", &[], None).await?;
        if !response.is_success() {
            return Err(failure("GET", "auth/token/lookup-self", &response, &config.token_source));
        }
        self.configured = Some(Configured { client, config, server });
        Ok(())
    }

    fn configured(&self) -> Result<&Configured, ProviderError> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the vault provider was used before it was configured")
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn http_calls(&self) -> u64 {
        self.configured.as_ref().map_or(0, |c| c.client.http_calls())
    }

    /// What the server is, once configured.
    pub fn server(&self) -> Option<&Server> {
        self.configured.as_ref().map(|c| &c.server)
    }

    fn context<'a>(&'a self, configured: &'a Configured, client: &'a VaultClient) -> Context<'a> {
        Context {
            client,
            config: &configured.config,
            server: &configured.server,
            member_edits: &self.member_edits,
        }
    }
}

fn natural_id(resource_type: &str, attributes: &Attributes) -> Result<String, ProviderError> {
    match resource_type {
        POLICY => policy::id(attributes),
        GROUP => group::id(attributes),
        GROUP_MEMBER => group_member::id(attributes),
        TOKEN_ROLE => token_role::id(attributes),
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

async fn write(
    ctx: &Context<'_>,
    resource_type: &str,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    check_id(resource_type, id, attributes)?;
    match resource_type {
        POLICY => policy::write(ctx, id, attributes).await,
        GROUP => group::write(ctx, id, attributes).await,
        GROUP_MEMBER => group_member::create(ctx, id).await,
        TOKEN_ROLE => token_role::write(ctx, id, attributes).await,
        other => Err(unknown_type(other)),
    }
}

#[async_trait]
impl Provider for VaultProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        self.configure_with_env(&request.config, &request.base_dir, &env).await
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        natural_id(request.resource_type, request.attributes)
    }

    /// One `GET` per object (per group and entity for memberships).
    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let mut objects = BTreeMap::new();
        if request.resource_type == GROUP_MEMBER {
            objects = group_member::read(&ctx, &request.ids).await?;
            return Ok(ReadResponse::new(objects, client.api_calls()));
        }
        for id in &request.ids {
            let found = match request.resource_type.as_str() {
                POLICY => policy::read(&ctx, id).await?,
                GROUP => group::read(&ctx, id).await?,
                TOKEN_ROLE => token_role::read(&ctx, id).await?,
                other => return Err(unknown_type(other)),
            };
            if let Some(attributes) = found {
                objects.insert(id.clone(), attributes);
            }
        }
        Ok(ReadResponse::new(objects, client.api_calls()))
    }

    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        (resource_type == GROUP_MEMBER).then_some(&["group"])
    }

    /// Group members: every member of each group in scope and of each `privileged_groups`
    /// group, those of the second marked privileged.
    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let configured = self.configured()?;
        if request.resource_type != GROUP_MEMBER {
            return Err(ProviderError::unsupported(format!(
                "listing {} is not offered by the vault provider",
                request.resource_type
            )));
        }
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let mut groups: BTreeSet<String> = configured.config.privileged_groups.clone();
        groups.extend(
            request
                .scope
                .iter()
                .filter_map(|a| a.get("group").and_then(Value::as_str).map(str::to_owned)),
        );
        let (objects, privileged) = group_member::list(&ctx, &groups).await?;
        Ok(ListResponse::new(objects, client.api_calls()).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let CreateRequest { resource_type, id, attributes, .. } = request;
        let live = write(&ctx, &resource_type, &id, &attributes).await?;
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let UpdateRequest { resource_type, id, after, .. } = request;
        Ok(UpdateResponse::new(write(&ctx, &resource_type, &id, &after).await?))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let DeleteRequest { resource_type, id, context, .. } = request;
        let notes = match resource_type.as_str() {
            POLICY => policy::delete(&ctx, &id).await.map(|()| Vec::new())?,
            GROUP => group::delete(&ctx, &id).await.map(|()| Vec::new())?,
            GROUP_MEMBER => group_member::delete(&ctx, &id, &context).await?,
            TOKEN_ROLE => token_role::delete(&ctx, &id, &context).await?,
            other => return Err(unknown_type(other)),
        };
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
            (POLICY, "policy") => match (desired.as_str(), live.as_str()) {
                (Some(desired), Some(live)) => crate::policy_document::equivalent(desired, live),
                _ => desired == live,
            },
            (POLICY, "expiration") | (TOKEN_ROLE, "expires_at") => same_time(desired, live),
            (GROUP, "policies") | (TOKEN_ROLE, "allowed_policies" | "disallowed_policies") => {
                same_set(desired, live)
            }
            _ => desired == live,
        }
    }

    fn revert_note(&self, resource_type: &str) -> Option<String> {
        match resource_type {
            GROUP_MEMBER => Some(
                "also revokes every token of the member's entity (found by token accessor \
                 look-ups), and with them every lease they hold: dynamic credentials issued \
                 during the grant die with it"
                    .to_owned(),
            ),
            TOKEN_ROLE => Some(
                "also revokes every token made with this role (sys/leases/revoke-prefix \
                 auth/token/create/ROLE), with their child tokens and leases"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}
