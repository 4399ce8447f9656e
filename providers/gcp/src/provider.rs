//! The `gcp` provider's implementation of the provider contract: each call is routed to the
//! shared IAM member logic with its type's [`Target`].

use async_trait::async_trait;
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse, Value,
};

use crate::client::Api;
use crate::config::GcpConfig;
use crate::iam_member::{self, Target};
use crate::policies::Policies;
use crate::schema::{EXPIRES_AT, RESOURCE_TYPES, schema};
use crate::{folder_iam_member, organization_iam_member, project_iam_member};

/// The `gcp` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct GcpProvider {
    configured: Option<Configured>,
}

#[derive(Debug)]
struct Configured {
    policies: Policies,
    privileged_roles: Vec<String>,
}

impl GcpProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    /// HTTP requests sent so far, token exchanges and retries included (for tests).
    pub fn calls(&self) -> u64 {
        self.configured.as_ref().map_or(0, |c| c.policies.api().calls())
    }

    /// Access tokens fetched from the token endpoint so far (for tests).
    pub fn token_exchanges(&self) -> u64 {
        self.configured.as_ref().map_or(0, |c| c.policies.api().token_exchanges())
    }

    fn configured(&self) -> Result<&Configured, ProviderError> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the gcp provider was used before it was configured")
        })
    }
}

fn target(resource_type: &str) -> Result<&'static Target, ProviderError> {
    match resource_type {
        t if t == project_iam_member::TARGET.resource_type => Ok(&project_iam_member::TARGET),
        t if t == folder_iam_member::TARGET.resource_type => Ok(&folder_iam_member::TARGET),
        t if t == organization_iam_member::TARGET.resource_type => {
            Ok(&organization_iam_member::TARGET)
        }
        other => Err(ProviderError::invalid(format!(
            "the gcp provider has no resource type {other}; it offers {}",
            RESOURCE_TYPES.join(", ")
        ))),
    }
}

#[async_trait]
impl Provider for GcpProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let config = GcpConfig::from_attributes(&request.config, &request.base_dir, |name| {
            std::env::var(name).ok()
        })?;
        self.configured = Some(Configured {
            policies: Policies::new(Api::new(&config)?),
            privileged_roles: config.privileged_roles,
        });
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        iam_member::id(target(request.resource_type)?, request.attributes)
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let target = target(&request.resource_type)?;
        let (objects, calls) =
            iam_member::read(&self.configured()?.policies, target, &request.ids).await?;
        Ok(ReadResponse::new(objects, calls))
    }

    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        match target(resource_type) {
            Ok(target) if target.attribute == "project" => Some(&["project"]),
            Ok(target) if target.attribute == "folder" => Some(&["folder"]),
            Ok(_) => Some(&["org_id"]),
            Err(_) => None,
        }
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let target = target(&request.resource_type)?;
        let configured = self.configured()?;
        let (objects, calls, privileged) = iam_member::list(
            &configured.policies,
            target,
            &request.scope,
            &configured.privileged_roles,
        )
        .await?;
        Ok(ListResponse::new(objects, calls).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let target = target(&request.resource_type)?;
        let live = iam_member::put(
            &self.configured()?.policies,
            target,
            &request.id,
            &request.attributes,
            &request.context,
        )
        .await?;
        Ok(CreateResponse::new(request.id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let target = target(&request.resource_type)?;
        let live = iam_member::put(
            &self.configured()?.policies,
            target,
            &request.id,
            &request.after,
            &request.context,
        )
        .await?;
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let target = target(&request.resource_type)?;
        iam_member::delete(&self.configured()?.policies, target, &request.id).await?;
        Ok(DeleteResponse::default())
    }

    fn attribute_equal(
        &self,
        resource_type: &str,
        attribute: &str,
        desired: &Value,
        live: &Value,
    ) -> bool {
        match (target(resource_type), attribute) {
            (Ok(_), EXPIRES_AT) => match (desired.as_str(), live.as_str()) {
                (Some(a), Some(b)) => {
                    a.parse::<jiff::Timestamp>().ok() == b.parse::<jiff::Timestamp>().ok()
                        && a.parse::<jiff::Timestamp>().is_ok()
                }
                _ => desired == live,
            },
            (Ok(target), name) if name == target.attribute => target.same_resource(desired, live),
            _ => desired == live,
        }
    }

    fn expires_natively(&self, _resource_type: &str, attributes: &Attributes) -> bool {
        iam_member::can_expire(attributes)
    }

    fn revert_note(&self, resource_type: &str) -> Option<String> {
        target(resource_type).ok().map(|_| {
            "IAM checks bindings on every request, so no session outlives the revert; Google \
             applies the change within minutes"
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FOLDER_IAM_MEMBER, ORGANIZATION_IAM_MEMBER, PROJECT_IAM_MEMBER};
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    fn attributes(value: serde_json::Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn natural_ids_come_from_declared_attributes_without_a_call() {
        let provider = GcpProvider::new();
        let cases = [
            (
                PROJECT_IAM_MEMBER,
                json!({"project": "prod", "role": "roles/cloudsql.admin", "member": "user:a@example.com"}),
                "projects/prod roles/cloudsql.admin user:a@example.com",
            ),
            (
                PROJECT_IAM_MEMBER,
                json!({"project": "prod", "role": "roles/cloudsql.admin", "member": "user:a@example.com",
                       "expires_at": "2031-03-02T01:00:00Z"}),
                "projects/prod roles/cloudsql.admin user:a@example.com expiring",
            ),
            (
                FOLDER_IAM_MEMBER,
                json!({"folder": "123", "role": "roles/viewer", "member": "group:g@example.com"}),
                "folders/123 roles/viewer group:g@example.com",
            ),
            (
                ORGANIZATION_IAM_MEMBER,
                json!({"org_id": "456", "role": "roles/iam.securityReviewer",
                       "member": "user:a@example.com", "expires_at": "2031-03-02T01:00:00Z"}),
                "organizations/456 roles/iam.securityReviewer user:a@example.com expiring",
            ),
        ];
        for (resource_type, declared, expected) in cases {
            let id =
                provider.resource_id(IdRequest::new(resource_type, &attributes(declared))).unwrap();
            assert_eq!(id, expected, "{resource_type}");
        }
        let error =
            provider.resource_id(IdRequest::new("gcp_bucket", &Attributes::new())).unwrap_err();
        assert!(error.message().contains("gcp_project_iam_member"), "{error}");
    }

    #[test]
    fn basic_roles_cannot_expire_natively_and_say_why() {
        let provider = GcpProvider::new();
        let owner = attributes(
            json!({"project": "prod", "role": "roles/owner", "member": "user:a@example.com"}),
        );
        assert!(!provider.expires_natively(PROJECT_IAM_MEMBER, &owner));
        let admin = attributes(
            json!({"project": "prod", "role": "roles/cloudsql.admin", "member": "user:a@example.com"}),
        );
        assert!(provider.expires_natively(PROJECT_IAM_MEMBER, &admin));
        let mut expiring_owner = owner.clone();
        expiring_owner.insert("expires_at".into(), json!("2031-03-02T01:00:00Z"));
        let error =
            provider.resource_id(IdRequest::new(PROJECT_IAM_MEMBER, &expiring_owner)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().contains("basic role"), "{error}");
    }

    #[test]
    fn ends_and_resource_names_compare_by_meaning() {
        let provider = GcpProvider::new();
        assert!(provider.attribute_equal(
            PROJECT_IAM_MEMBER,
            "expires_at",
            &json!("2031-03-02T01:00:00Z"),
            &json!("2031-03-02T01:00:00.000Z")
        ));
        assert!(!provider.attribute_equal(
            PROJECT_IAM_MEMBER,
            "expires_at",
            &json!("2031-03-02T01:00:00Z"),
            &json!("2031-03-02T02:00:00Z")
        ));
        assert!(provider.attribute_equal(
            FOLDER_IAM_MEMBER,
            "folder",
            &json!("12"),
            &json!("folders/12")
        ));
    }

    #[tokio::test]
    async fn calls_before_configure_are_refused() {
        let provider = GcpProvider::new();
        let error = provider.read(ReadRequest::new(PROJECT_IAM_MEMBER, vec![])).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
    }
}
