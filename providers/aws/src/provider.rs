//! The `aws` provider's implementation of the provider contract: configuration, then a
//! dispatch to the resource type's module.

use async_trait::async_trait;
use breakglass_provider::http::{HttpClient, HttpConfig};
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse, Value,
};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::client::AwsClient;
use crate::config::AwsConfig;
use crate::credentials;
use crate::error::AwsRetryClassifier;
use crate::resources::{
    Context, SsoCache, account_assignment, attachment, membership, permission_set, policy, role,
    role_policy,
};
use crate::schema::{
    ASSIGNMENT, ATTACHMENT, MEMBERSHIP, PERMISSION_SET, POLICY, ROLE, ROLE_POLICY, schema,
};
use crate::snapshot::SnapshotCache;
use crate::sso::Polling;

/// The `aws` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct AwsProvider {
    configured: Option<Configured>,
    polling: Polling,
}

#[derive(Debug)]
struct Configured {
    client: AwsClient,
    config: AwsConfig,
    cache: SnapshotCache,
    sso: SsoCache,
}

impl AwsProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    /// Sets how asynchronous Identity Center requests are polled (tests poll quickly).
    pub fn with_polling(mut self, polling: Polling) -> Self {
        self.polling = polling;
        self
    }

    /// Configures the provider from block attributes and an explicit environment (tests use
    /// this rather than changing the process's environment).
    pub fn configure_with_env(
        &mut self,
        attributes: &Attributes,
        base_dir: &std::path::Path,
        env: BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let config = AwsConfig::from_attributes(attributes, base_dir, env)?;
        let credentials = credentials::resolve(&config.credentials)?;
        let mut http_config = HttpConfig::default();
        if let Some(attempts) = config.max_attempts {
            http_config = http_config.with_max_attempts(attempts);
        }
        let http =
            HttpClient::new("aws", http_config)?.with_classifier(Arc::new(AwsRetryClassifier));
        let client =
            AwsClient::new(http, credentials, config.region.clone(), config.endpoints.clone());
        self.configured = Some(Configured {
            client,
            config,
            cache: SnapshotCache::default(),
            sso: SsoCache::default(),
        });
        Ok(())
    }

    fn configured(&self) -> Result<&Configured, ProviderError> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the aws provider was used before it was configured")
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn http_calls(&self) -> u64 {
        self.configured.as_ref().map_or(0, |c| c.client.calls())
    }

    fn context<'a>(&'a self, configured: &'a Configured, client: &'a AwsClient) -> Context<'a> {
        Context {
            client,
            config: &configured.config,
            cache: &configured.cache,
            polling: self.polling,
            sso: &configured.sso,
        }
    }
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the aws provider has no resource type {resource_type}; it offers {ROLE}, {POLICY}, \
         {ATTACHMENT}, {ROLE_POLICY}, {MEMBERSHIP}, {PERMISSION_SET} and {ASSIGNMENT}"
    ))
}

async fn read_one(
    ctx: &Context<'_>,
    resource_type: &str,
    id: &str,
) -> Result<Option<Attributes>, ProviderError> {
    match resource_type {
        ROLE => role::read(ctx, id).await,
        POLICY => policy::read(ctx, id).await,
        ATTACHMENT => attachment::read(ctx, id).await,
        ROLE_POLICY => role_policy::read(ctx, id).await,
        MEMBERSHIP => membership::read(ctx, id).await,
        PERMISSION_SET => permission_set::read(ctx, id).await,
        ASSIGNMENT => account_assignment::read(ctx, id).await,
        other => Err(unknown_type(other)),
    }
}

fn same_time(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a == b)
}

#[async_trait]
impl Provider for AwsProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        self.configure_with_env(&request.config, &request.base_dir, std::env::vars().collect())
    }

    fn resource_id(&self, request: IdRequest) -> Result<String, ProviderError> {
        let attributes = &request.attributes;
        match request.resource_type.as_str() {
            ROLE => role::id(attributes),
            POLICY => policy::id(attributes),
            ATTACHMENT => attachment::id(attributes),
            ROLE_POLICY => role_policy::id(attributes),
            MEMBERSHIP => membership::id(attributes),
            PERMISSION_SET => permission_set::id(attributes),
            ASSIGNMENT => account_assignment::id(attributes),
            other => Err(unknown_type(other)),
        }
    }

    /// One read per id, the way a per-resource refresh reads (and how the engine confirms a
    /// revert): `GetRole`, `ListAttachedRolePolicies`…
    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let mut objects = BTreeMap::new();
        for id in &request.ids {
            if let Some(attributes) = read_one(&ctx, &request.resource_type, id).await? {
                objects.insert(id.clone(), attributes);
            }
        }
        Ok(ReadResponse::new(objects, client.api_calls()))
    }

    /// The IAM types are listed from one shared snapshot of the account
    /// (`GetAccountAuthorizationDetails` and `ListRoles`, paged).
    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let snapshot = configured.cache.get(&client).await?;
        let privileged_policies = &configured.config.privileged_policies;
        let (objects, privileged) = match request.resource_type.as_str() {
            ROLE => role::list(&snapshot, &request.scope),
            POLICY => policy::list(&ctx, &snapshot, &request.scope).await?,
            ATTACHMENT => attachment::list(&snapshot, &request.scope, privileged_policies),
            ROLE_POLICY => role_policy::list(&snapshot, &request.scope),
            MEMBERSHIP => membership::list(&snapshot, &request.scope, privileged_policies),
            other => {
                return Err(ProviderError::unsupported(format!(
                    "listing {other} is not offered by the aws provider"
                )));
            }
        };
        Ok(ListResponse::new(objects, client.api_calls()).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let CreateRequest { resource_type, id, attributes, .. } = request;
        let live = match resource_type.as_str() {
            ROLE => role::create(&ctx, &id, &attributes).await?,
            POLICY => policy::create(&ctx, &id, &attributes).await?,
            ATTACHMENT => attachment::create(&ctx, &id, &attributes).await?,
            ROLE_POLICY => role_policy::put(&ctx, &id, &attributes).await?,
            MEMBERSHIP => membership::create(&ctx, &id).await?,
            PERMISSION_SET => permission_set::create(&ctx, &id, &attributes).await?,
            ASSIGNMENT => account_assignment::create(&ctx, &id).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let UpdateRequest { resource_type, id, before, after, .. } = request;
        let live = match resource_type.as_str() {
            ROLE => role::update(&ctx, &id, &before, &after).await?,
            POLICY => policy::update(&ctx, &id, &before, &after).await?,
            ATTACHMENT => attachment::update(&ctx, &id, &after).await?,
            ROLE_POLICY => role_policy::put(&ctx, &id, &after).await?,
            MEMBERSHIP => membership::update(&ctx, &id, &before, &after).await?,
            PERMISSION_SET => permission_set::update(&ctx, &id, &before, &after).await?,
            ASSIGNMENT => {
                return Err(ProviderError::invalid(format!(
                    "{ASSIGNMENT} {id}: every attribute identifies the assignment; it is replaced, \
                     never updated"
                )));
            }
            other => return Err(unknown_type(other)),
        };
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let DeleteRequest { resource_type, id, context, .. } = request;
        let notes = match resource_type.as_str() {
            ROLE => role::delete(&ctx, &id).await.map(|()| Vec::new())?,
            POLICY => policy::delete(&ctx, &id).await.map(|()| Vec::new())?,
            ATTACHMENT => attachment::delete(&ctx, &id, &context).await?,
            ROLE_POLICY => role_policy::delete(&ctx, &id, &context).await?,
            MEMBERSHIP => membership::delete(&ctx, &id, &context).await?,
            PERMISSION_SET => permission_set::delete(&ctx, &id).await.map(|()| Vec::new())?,
            ASSIGNMENT => account_assignment::delete(&ctx, &id, &context).await?,
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
            (ROLE, "assume_role_policy") => role::trust_equal(desired, live),
            (POLICY, "policy") => crate::document::equivalent(desired, live),
            (ROLE_POLICY, "policy") => role_policy::policy_equal(desired, live),
            (MEMBERSHIP, "groups") => membership::groups_equal(desired, live),
            (ATTACHMENT | ROLE_POLICY, "expires_at") => same_time(desired, live),
            _ => desired == live,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The provider against moto, a real AWS API emulator.

    use super::*;
    use crate::testing::{Fault, FaultProxy, Moto};
    use breakglass_provider::{ActivationContext, ChangeContext, ErrorKind};
    use serde_json::json;

    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
    const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";

    fn env(secret: &str) -> BTreeMap<String, String> {
        [
            ("AWS_ACCESS_KEY_ID".to_owned(), "AKIAIOSFODNN7EXAMPLE".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), secret.to_owned()),
            ("HOME".to_owned(), "/nonexistent".to_owned()),
        ]
        .into()
    }

    fn provider_at(url: &str, extra: &[(&str, Value)]) -> AwsProvider {
        let mut attributes = Attributes::new();
        attributes.insert("endpoint".into(), json!(url));
        attributes.insert("privileged_policies".into(), json!([ADMIN]));
        for (k, v) in extra {
            attributes.insert((*k).to_owned(), v.clone());
        }
        let mut provider = AwsProvider::new().with_polling(Polling {
            first: std::time::Duration::from_millis(10),
            ..Polling::default()
        });
        provider
            .configure_with_env(&attributes, std::path::Path::new("."), env("testing"))
            .expect("configured");
        provider
    }

    fn attrs(pairs: Value) -> Attributes {
        pairs.as_object().expect("an object").clone().into_iter().collect()
    }

    fn trust() -> String {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
        .to_string()
    }

    async fn create(
        p: &AwsProvider,
        ty: &str,
        attributes: &Attributes,
        context: ChangeContext,
    ) -> (String, Attributes) {
        let id = p.resource_id(IdRequest::new(ty, attributes.clone())).expect("id");
        let created = p
            .create(CreateRequest::new(ty, &id, attributes.clone(), context))
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e}"));
        (id, created.attributes)
    }

    async fn read(p: &AwsProvider, ty: &str, id: &str) -> Option<Attributes> {
        p.read(ReadRequest::new(ty, vec![id.to_owned()])).await.expect("read").objects.remove(id)
    }

    async fn delete(p: &AwsProvider, ty: &str, id: &str, context: ChangeContext) -> Vec<String> {
        p.delete(DeleteRequest::new(ty, id, Attributes::new(), context))
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e}"))
            .notes
    }

    fn activation() -> ActivationContext {
        ActivationContext::new(
            "grant_chg_1",
            "alice",
            "2031-01-15T09:00:00Z".parse().unwrap(),
            "2031-01-15T17:00:00Z".parse().unwrap(),
        )
    }

    #[tokio::test]
    async fn iam_types_create_read_update_delete_and_are_idempotent() {
        let moto = Moto::start();
        let p = provider_at(&moto.url, &[]);

        // Role, with MFA compiled into its trust policy.
        let role = attrs(
            json!({"name": "breakglass-admin", "path": "/", "assume_role_policy": trust(),
            "max_session_duration": 3600, "tags": {"team": "sre"}, "require_mfa": true, "max_mfa_age": 900}),
        );
        let (role_id, created) = create(&p, ROLE, &role, ChangeContext::baseline()).await;
        assert_eq!(role_id, "breakglass-admin");
        assert_eq!(created["require_mfa"], json!(true));
        assert_eq!(created["max_mfa_age"], json!(900));
        assert!(p.attribute_equal(
            ROLE,
            "assume_role_policy",
            &role["assume_role_policy"],
            &created["assume_role_policy"]
        ));
        let stored: Value =
            serde_json::from_str(created["assume_role_policy"].as_str().unwrap()).unwrap();
        assert_eq!(
            stored["Statement"][0]["Condition"]["Bool"]["aws:MultiFactorAuthPresent"],
            json!("true")
        );
        let (again, _) = create(&p, ROLE, &role, ChangeContext::baseline()).await;
        assert_eq!(again, role_id, "a second create finds the role");
        let mut changed = role.clone();
        changed.insert("max_session_duration".into(), json!(7200));
        changed.insert("description".into(), json!("break glass"));
        changed.insert("tags".into(), json!({"team": "secops"}));
        changed.insert("max_mfa_age".into(), json!(300));
        let updated = p
            .update(UpdateRequest::new(
                ROLE,
                &role_id,
                created.clone(),
                changed,
                ChangeContext::baseline(),
            ))
            .await
            .expect("update");
        assert_eq!(updated.attributes["max_session_duration"], json!(7200));
        assert_eq!(updated.attributes["description"], json!("break glass"));
        assert_eq!(updated.attributes["tags"], json!({"team": "secops"}));
        assert_eq!(updated.attributes["max_mfa_age"], json!(300));

        // Customer managed policy: a changed document becomes the default version.
        let doc = |action: &str| {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}).to_string()
        };
        let policy =
            attrs(json!({"name": "responder", "path": "/breakglass/", "policy": doc("logs:Get*")}));
        let (policy_id, created) = create(&p, POLICY, &policy, ChangeContext::baseline()).await;
        assert_eq!(policy_id, "/breakglass/responder");
        assert!(created["arn"].as_str().unwrap().ends_with(":policy/breakglass/responder"));
        let mut changed = policy.clone();
        changed.insert("policy".into(), json!(doc("logs:*")));
        for _ in 0..6 {
            // More than IAM's five versions: the oldest is pruned.
            p.update(UpdateRequest::new(
                POLICY,
                &policy_id,
                created.clone(),
                changed.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .expect("update policy");
            changed.insert("policy".into(), json!(doc(&format!("logs:{}*", changed.len()))));
        }
        let live = read(&p, POLICY, &policy_id).await.expect("policy");
        assert!(live["policy"].as_str().unwrap().contains("logs:"));

        // Attachment and inline policy.
        let attachment = attrs(json!({"role": "breakglass-admin", "policy_arn": READ_ONLY}));
        let (attachment_id, _) =
            create(&p, ATTACHMENT, &attachment, ChangeContext::baseline()).await;
        create(&p, ATTACHMENT, &attachment, ChangeContext::baseline()).await;
        assert!(read(&p, ATTACHMENT, &attachment_id).await.is_some());
        let inline =
            attrs(json!({"role": "breakglass-admin", "name": "logs", "policy": doc("logs:Get*")}));
        let (inline_id, _) = create(&p, ROLE_POLICY, &inline, ChangeContext::baseline()).await;
        assert_eq!(inline_id, "breakglass-admin:logs");
        let live = read(&p, ROLE_POLICY, &inline_id).await.expect("inline");
        assert!(p.attribute_equal(ROLE_POLICY, "policy", &inline["policy"], &live["policy"]));

        // Deleting the role while something breakglass does not know is attached: a clear refusal.
        let error = p
            .delete(DeleteRequest::new(
                ROLE,
                &role_id,
                Attributes::new(),
                ChangeContext::baseline(),
            ))
            .await
            .expect_err("conflict");
        assert!(
            error.message().contains("DeleteConflict") && error.message().contains("still in use"),
            "{error}"
        );

        for _ in 0..2 {
            delete(&p, ROLE_POLICY, &inline_id, ChangeContext::baseline()).await;
            delete(&p, ATTACHMENT, &attachment_id, ChangeContext::baseline()).await;
            delete(&p, ROLE, &role_id, ChangeContext::baseline()).await;
            delete(&p, POLICY, &policy_id, ChangeContext::baseline()).await;
        }
        assert!(read(&p, ROLE, &role_id).await.is_none());
        assert!(read(&p, POLICY, &policy_id).await.is_none());
        assert!(read(&p, ATTACHMENT, &attachment_id).await.is_none());
    }
}
