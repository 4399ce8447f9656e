//! The `anthropic` provider's implementation of the provider contract: configuration, then a
//! dispatch by resource type to the module of each type.

use async_trait::async_trait;
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse, Value,
};

use crate::client::AdminClient;
use crate::config::AnthropicConfig;
use crate::schema::{API_KEY_STATUS, MEMBER, WORKSPACE, schema};
use crate::{api_key_status, member, workspace};

/// The `anthropic` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct AnthropicProvider {
    configured: Option<(AnthropicConfig, AdminClient)>,
}

impl AnthropicProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    fn configured(&self) -> Result<&(AnthropicConfig, AdminClient), ProviderError> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the anthropic provider was used before it was configured")
        })
    }

    fn client(&self) -> Result<&AdminClient, ProviderError> {
        Ok(&self.configured()?.1)
    }
}

/// A required string attribute of a resource, or an error naming it.
pub(crate) fn required_str<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<&'a str, ProviderError> {
    attributes.get(name).and_then(Value::as_str).ok_or_else(|| {
        ProviderError::invalid(format!("{resource_type}: `{name}` must be set to a string"))
    })
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the anthropic provider has no resource type {resource_type}; it offers {WORKSPACE}, \
         {MEMBER} and {API_KEY_STATUS}"
    ))
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let config =
            AnthropicConfig::from_attributes(&request.config, |name| std::env::var(name).ok())?;
        let client = AdminClient::new(&config)?;
        self.configured = Some((config, client));
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        match request.resource_type {
            WORKSPACE => workspace::id(request.attributes),
            MEMBER => member::id(request.attributes),
            API_KEY_STATUS => api_key_status::id(request.attributes),
            other => Err(unknown_type(other)),
        }
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let client = self.client()?;
        let objects = match request.resource_type.as_str() {
            WORKSPACE => workspace::read(client, &request.ids).await?,
            MEMBER => member::read(client, &request.ids).await?,
            API_KEY_STATUS => api_key_status::read(client, &request.ids).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(ReadResponse::new(objects, request.ids.len() as u64))
    }

    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        // Members are listed per workspace the scope names.
        (resource_type == MEMBER).then_some(&["workspace_id"])
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let (config, client) = self.configured()?;
        match request.resource_type.as_str() {
            MEMBER => member::list(client, &request.scope, &config.privileged_roles).await,
            other => Err(ProviderError::unsupported(format!(
                "the anthropic provider lists only {MEMBER}, not {other}"
            ))),
        }
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let client = self.client()?;
        let CreateRequest { resource_type, id, attributes, context, .. } = request;
        let live = match resource_type.as_str() {
            WORKSPACE => workspace::create(client, &id, &attributes, &context).await?,
            MEMBER => member::create(client, &id, &attributes).await?,
            API_KEY_STATUS => api_key_status::create(client, &id, &attributes).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let client = self.client()?;
        let UpdateRequest { resource_type, id, before, after, context, .. } = request;
        let live = match resource_type.as_str() {
            WORKSPACE => workspace::update(client, &id, &before, &after, &context).await?,
            MEMBER => member::update(client, &id, &after).await?,
            API_KEY_STATUS => api_key_status::update(client, &id, &before, &after).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let client = self.client()?;
        let DeleteRequest { resource_type, id, before, .. } = request;
        match resource_type.as_str() {
            MEMBER => {
                member::delete(client, &id).await?;
                Ok(DeleteResponse::default())
            }
            // Neither can be deleted through the API: breakglass stops managing them and says so.
            WORKSPACE => Ok(DeleteResponse::new(vec![format!(
                "workspace {id} is no longer managed; the Admin API cannot delete workspaces, so \
                 it was left as it is"
            )])),
            API_KEY_STATUS => Ok(DeleteResponse::new(vec![format!(
                "API key {id} is no longer managed; it was left {}",
                before.get("status").and_then(Value::as_str).unwrap_or("as it is")
            )])),
            other => Err(unknown_type(other)),
        }
    }
}
