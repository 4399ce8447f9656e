//! The `openai` provider's implementation of the provider contract: each call is routed to the
//! module of its resource type.

use async_trait::async_trait;
use breakglass_provider::{
    ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, IdRequest,
    ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest, ReadResponse,
    UpdateRequest, UpdateResponse, Value,
};

use crate::attributes::as_whole;
use crate::client::Api;
use crate::config::OpenAiConfig;
use crate::schema::{
    LIMITS, MODEL_PERMISSIONS, PROJECT, PROJECT_USER, RATE_LIMIT, RESOURCE_TYPES, schema,
};
use crate::{model_permissions, project, project_user, rate_limit};

/// The `openai` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct OpenAiProvider {
    api: Option<Api>,
}

impl OpenAiProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    /// HTTP requests sent so far, retries included (for tests and benchmarks).
    pub fn calls(&self) -> u64 {
        self.api.as_ref().map_or(0, Api::calls)
    }

    fn api(&self) -> Result<&Api, ProviderError> {
        self.api.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the openai provider was used before it was configured")
        })
    }
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the openai provider has no resource type {resource_type}; it offers {}",
        RESOURCE_TYPES.join(", ")
    ))
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let config =
            OpenAiConfig::from_attributes(&request.config, |name| std::env::var(name).ok())?;
        self.api = Some(Api::new(&config)?);
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        let attributes = request.attributes;
        match request.resource_type {
            PROJECT => project::id(attributes),
            PROJECT_USER => project_user::id(attributes),
            RATE_LIMIT => rate_limit::id(attributes),
            MODEL_PERMISSIONS => model_permissions::id(attributes),
            other => Err(unknown_type(other)),
        }
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let api = self.api()?;
        let (objects, calls) = match request.resource_type.as_str() {
            PROJECT => project::read(api, &request.ids).await?,
            PROJECT_USER => project_user::read(api, &request.ids).await?,
            RATE_LIMIT => rate_limit::read(api, &request.ids).await?,
            MODEL_PERMISSIONS => model_permissions::read(api, &request.ids).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(ReadResponse::new(objects, calls))
    }

    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        // Users are listed per project the scope names.
        (resource_type == PROJECT_USER).then_some(&["project_id"])
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        match request.resource_type.as_str() {
            PROJECT_USER => {
                let (objects, calls, owners) =
                    project_user::list(self.api()?, &request.scope).await?;
                Ok(ListResponse::new(objects, calls).with_privileged(owners))
            }
            other if RESOURCE_TYPES.contains(&other) => Err(ProviderError::unsupported(format!(
                "listing {other} is not offered: read it by id"
            ))),
            other => Err(unknown_type(other)),
        }
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let api = self.api()?;
        let CreateRequest { resource_type, id, attributes, context, .. } = request;
        let granting = context.activation.is_some() && !context.revert;
        let live = match resource_type.as_str() {
            PROJECT => project::create(api, &id, &attributes).await?,
            PROJECT_USER => project_user::create(api, &attributes, granting).await?,
            RATE_LIMIT => rate_limit::create(api, &id, &attributes).await?,
            MODEL_PERMISSIONS => model_permissions::put(api, &id, &attributes).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let api = self.api()?;
        let UpdateRequest { resource_type, id, before, after, .. } = request;
        let live = match resource_type.as_str() {
            PROJECT => project::update(api, &id, &after).await?,
            PROJECT_USER => project_user::update(api, &id, &after).await?,
            RATE_LIMIT => rate_limit::update(api, &id, Some(&before), &after).await?,
            MODEL_PERMISSIONS => model_permissions::put(api, &id, &after).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let revert = request.context.revert;
        let notes = match request.resource_type.as_str() {
            PROJECT => return Err(project::delete(&request.id)),
            PROJECT_USER => {
                project_user::delete(self.api()?, &request.id).await?;
                Vec::new()
            }
            RATE_LIMIT => rate_limit::delete(&request.id, revert)?,
            MODEL_PERMISSIONS => {
                model_permissions::delete(self.api()?, &request.id, revert).await?;
                Vec::new()
            }
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
            (MODEL_PERMISSIONS, "model_ids") => model_permissions::same_models(desired, live),
            (RATE_LIMIT, limit) if LIMITS.contains(&limit) => {
                as_whole(desired).is_some() && as_whole(desired) == as_whole(live)
            }
            _ => desired == live,
        }
    }

    fn native_expiry(&self, _resource_type: &str) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::{Attributes, ChangeContext, ErrorKind};
    use serde_json::json;

    fn attributes(value: serde_json::Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn natural_ids_come_from_declared_attributes_without_a_call() {
        let provider = OpenAiProvider::new();
        let cases = [
            (PROJECT, json!({"project_id": "proj_1"}), "proj_1"),
            (
                PROJECT_USER,
                json!({"project_id": "proj_1", "user_id": "user-a", "role": "member"}),
                "proj_1/user-a",
            ),
            (RATE_LIMIT, json!({"project_id": "proj_1", "model": "gpt-4o"}), "proj_1/gpt-4o"),
            (
                MODEL_PERMISSIONS,
                json!({"project_id": "proj_1", "mode": "deny_list", "model_ids": ["o3"]}),
                "proj_1",
            ),
        ];
        for (resource_type, declared, expected) in cases {
            let id =
                provider.resource_id(IdRequest::new(resource_type, &attributes(declared))).unwrap();
            assert_eq!(id, expected, "{resource_type}");
        }
        let error =
            provider.resource_id(IdRequest::new("openai_api_key", &Attributes::new())).unwrap_err();
        assert!(error.message().contains("openai_project_user"), "{error}");
    }

    #[tokio::test]
    async fn calls_before_configure_are_refused_and_deleting_a_project_never_is_allowed() {
        let provider = OpenAiProvider::new();
        let error = provider.read(ReadRequest::new(PROJECT_USER, vec![])).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
        let error = provider
            .delete(DeleteRequest::new(
                PROJECT,
                "proj_1",
                Attributes::new(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert!(error.message().contains("never archives"), "{error}");
    }

    #[test]
    fn model_lists_and_limits_compare_by_meaning() {
        let provider = OpenAiProvider::new();
        assert!(provider.attribute_equal(
            MODEL_PERMISSIONS,
            "model_ids",
            &json!(["a", "b"]),
            &json!(["b", "a"])
        ));
        assert!(provider.attribute_equal(
            RATE_LIMIT,
            "max_requests_per_1_minute",
            &json!(500.0),
            &json!(500)
        ));
        assert!(!provider.attribute_equal(
            RATE_LIMIT,
            "max_requests_per_1_minute",
            &json!(501),
            &json!(500)
        ));
        assert!(!provider.attribute_equal(PROJECT_USER, "role", &json!("owner"), &json!("member")));
    }
}
