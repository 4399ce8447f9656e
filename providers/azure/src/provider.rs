//! The `azure` provider's implementation of the provider contract.

use async_trait::async_trait;
use breakglass_provider::{
    ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, IdRequest,
    ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest, ReadResponse,
    UpdateRequest, UpdateResponse, Value,
};
use jiff::Timestamp;

use crate::arm::Arm;
use crate::config::AzureConfig;
use crate::key::{Key, role_guid, same_scope};
use crate::role_assignment::{self, whole_second};
use crate::schema::{RESOURCE_TYPES, ROLE_ASSIGNMENT, schema};

/// The `azure` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct AzureProvider {
    arm: Option<Arm>,
}

impl AzureProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    /// HTTP requests sent to Resource Manager so far, retries included (for tests).
    pub fn calls(&self) -> u64 {
        self.arm.as_ref().map_or(0, Arm::calls)
    }

    /// Access tokens fetched so far (for tests).
    pub fn tokens_fetched(&self) -> u64 {
        self.arm.as_ref().map_or(0, Arm::tokens_fetched)
    }

    fn arm(&self) -> Result<&Arm, ProviderError> {
        self.arm.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the azure provider was used before it was configured")
        })
    }
}

fn check_type(resource_type: &str) -> Result<(), ProviderError> {
    if resource_type == ROLE_ASSIGNMENT {
        Ok(())
    } else {
        Err(ProviderError::invalid(format!(
            "the azure provider has no resource type {resource_type}; it offers {}",
            RESOURCE_TYPES.join(", ")
        )))
    }
}

#[async_trait]
impl Provider for AzureProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let config =
            AzureConfig::from_attributes(&request.config, |name| std::env::var(name).ok())?;
        self.arm = Some(Arm::new(&config)?);
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        check_type(request.resource_type)?;
        Ok(Key::from_attributes(request.attributes)?.id())
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        check_type(&request.resource_type)?;
        let (objects, calls) = role_assignment::read(self.arm()?, &request.ids).await?;
        Ok(ReadResponse::new(objects, calls))
    }

    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        // Assignments are listed per scope.
        (resource_type == ROLE_ASSIGNMENT).then_some(&["scope"])
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        check_type(&request.resource_type)?;
        let (objects, calls, privileged) =
            role_assignment::list(self.arm()?, &request.scope).await?;
        Ok(ListResponse::new(objects, calls).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        check_type(&request.resource_type)?;
        let live =
            role_assignment::create(self.arm()?, &request.attributes, &request.context).await?;
        Ok(CreateResponse::new(request.id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        check_type(&request.resource_type)?;
        let live =
            role_assignment::update(self.arm()?, &request.id, &request.after, &request.context)
                .await?;
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        check_type(&request.resource_type)?;
        let notes = role_assignment::delete(self.arm()?, &request.id, &request.context).await?;
        Ok(DeleteResponse::new(notes))
    }

    fn attribute_equal(
        &self,
        resource_type: &str,
        attribute: &str,
        desired: &Value,
        live: &Value,
    ) -> bool {
        if resource_type != ROLE_ASSIGNMENT {
            return desired == live;
        }
        let (Some(desired), Some(live)) = (desired.as_str(), live.as_str()) else {
            return desired == live;
        };
        match attribute {
            // ARM ids and object ids compare case-insensitively.
            "scope" => same_scope(desired, live),
            "principal_id" | "principal_type" => desired.eq_ignore_ascii_case(live),
            // `/subscriptions/S/providers/…/roleDefinitions/G` and `/providers/…/G` are one role.
            "role_definition_id" => {
                role_guid(desired).is_some() && role_guid(desired) == role_guid(live)
            }
            // Azure writes times its own way (`…T12:00:00.0000000Z`) and keeps 100 ns; ends are
            // sent to the second.
            "expires_at" => {
                let second = |text: &str| text.parse::<Timestamp>().ok().map(whole_second);
                second(desired).is_some() && second(desired) == second(live)
            }
            _ => desired == live,
        }
    }

    fn revert_note(&self, resource_type: &str) -> Option<String> {
        (resource_type == ROLE_ASSIGNMENT).then(|| {
            "an emergency assignment is taken back with a PIM AdminRemove request, confirmed by \
             reading until Azure no longer lists it"
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::{Attributes, ChangeContext, ErrorKind};
    use serde_json::json;

    const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

    fn attributes(value: serde_json::Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_natural_id_comes_from_the_declared_triple_without_a_call() {
        let provider = AzureProvider::new();
        let declared = attributes(json!({
            "scope": "/subscriptions/S1",
            "role_definition_id": format!("/subscriptions/S1/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"),
            "principal_id": "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f",
        }));
        let id = provider.resource_id(IdRequest::new(ROLE_ASSIGNMENT, &declared)).unwrap();
        assert_eq!(id, format!("/subscriptions/s1|{OWNER}|3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f"));
        let error = provider.resource_id(IdRequest::new("azure_role", &declared)).unwrap_err();
        assert!(error.message().contains("azure_role_assignment"), "{error}");
        assert!(provider.native_expiry(ROLE_ASSIGNMENT));
    }

    #[test]
    fn values_compare_as_azure_means_them() {
        let provider = AzureProvider::new();
        let equal = |attribute: &str, a: &str, b: &str| {
            provider.attribute_equal(ROLE_ASSIGNMENT, attribute, &json!(a), &json!(b))
        };
        assert!(equal(
            "scope",
            "/subscriptions/S1/resourceGroups/RG",
            "/subscriptions/s1/resourcegroups/rg"
        ));
        assert!(equal(
            "role_definition_id",
            &format!("/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"),
            &format!("/providers/Microsoft.Authorization/roleDefinitions/{}", OWNER.to_uppercase()),
        ));
        assert!(!equal("role_definition_id", "Owner", "Owner"));
        assert!(equal("expires_at", "2026-12-01T12:00:00Z", "2026-12-01T12:00:00.0000000Z"));
        assert!(!equal("expires_at", "2026-12-01T12:00:00Z", "2026-12-01T12:00:01Z"));
        assert!(equal(
            "expires_at",
            "2026-12-01T12:00:00.123456789Z",
            "2026-12-01T12:00:00.1234567Z"
        ));
        assert!(provider.attribute_equal(
            ROLE_ASSIGNMENT,
            "expires_at",
            &json!(null),
            &json!(null)
        ));
    }

    #[tokio::test]
    async fn calls_before_configure_are_refused() {
        let provider = AzureProvider::new();
        let error = provider.read(ReadRequest::new(ROLE_ASSIGNMENT, vec![])).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
        let error = provider
            .delete(DeleteRequest::new(
                ROLE_ASSIGNMENT,
                "x",
                Attributes::new(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
    }
}
