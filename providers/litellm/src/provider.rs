//! The `litellm` provider's implementation of the provider contract.

use async_trait::async_trait;
use breakglass_provider::{
    ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, IdRequest,
    Provider, ProviderError, ProviderSchema, ReadRequest, ReadResponse, UpdateRequest,
    UpdateResponse, Value,
};

use crate::client::AdminClient;
use crate::config::LiteLlmConfig;
use crate::schema::{KEY, TEAM, schema};
use crate::{key, team};

/// The `litellm` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct LiteLlmProvider {
    client: Option<AdminClient>,
}

impl LiteLlmProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    fn client(&self) -> Result<&AdminClient, ProviderError> {
        self.client.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the litellm provider was used before it was configured")
        })
    }
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the litellm provider has no resource type {resource_type}; it offers {KEY} and {TEAM}"
    ))
}

#[async_trait]
impl Provider for LiteLlmProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let config =
            LiteLlmConfig::from_attributes(&request.config, |name| std::env::var(name).ok())?;
        self.client = Some(AdminClient::new(&config)?);
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        match request.resource_type {
            KEY => key::id(request.attributes),
            TEAM => team::id(request.attributes),
            other => Err(unknown_type(other)),
        }
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let client = self.client()?;
        let objects = match request.resource_type.as_str() {
            KEY => key::read(client, &request.ids).await?,
            TEAM => team::read(client, &request.ids).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(ReadResponse::new(objects, request.ids.len() as u64))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let client = self.client()?;
        let CreateRequest { resource_type, id, attributes, context, .. } = request;
        let live = match resource_type.as_str() {
            KEY => key::create(client, &id, &attributes, context.activation.as_ref()).await?,
            TEAM => team::create(client, &id, &attributes).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let client = self.client()?;
        let UpdateRequest { resource_type, id, before, after, .. } = request;
        let live = match resource_type.as_str() {
            KEY => key::update(client, &id, &before, &after).await?,
            TEAM => team::update(client, &id, &before, &after).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let client = self.client()?;
        match request.resource_type.as_str() {
            KEY => {
                key::delete(client, &request.id, &request.before).await?;
                Ok(DeleteResponse::default())
            }
            TEAM => Ok(DeleteResponse::new(vec![format!(
                "team {} is no longer managed; it was left {}",
                request.id,
                match request.before.get("blocked").and_then(Value::as_bool) {
                    Some(true) => "blocked",
                    Some(false) => "unblocked",
                    None => "as it is",
                }
            )])),
            other => Err(unknown_type(other)),
        }
    }

    fn attribute_equal(
        &self,
        resource_type: &str,
        attribute: &str,
        desired: &Value,
        live: &Value,
    ) -> bool {
        match (resource_type, attribute) {
            (KEY, "expires_at") => key::same_expiry(desired, live),
            (KEY, _) => key::same_value(desired, live),
            _ => desired == live,
        }
    }
}
