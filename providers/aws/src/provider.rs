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

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        let attributes = request.attributes;
        match request.resource_type {
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
            ASSIGNMENT => account_assignment::create(&ctx, &id, &attributes).await?,
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
            ASSIGNMENT => account_assignment::update(&ctx, &id, &after).await?,
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

    /// An Identity Center assignment to a group cannot end on AWS's side (a condition cannot
    /// tell the group's members apart); every other type with `expires_at` can.
    fn expires_natively(&self, resource_type: &str, attributes: &Attributes) -> bool {
        resource_type != ASSIGNMENT
            || attributes.get("principal_type").and_then(Value::as_str) == Some("USER")
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
    use crate::{iam, sso};
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
            attributes.insert((*k).into(), v.clone());
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
        let id = p.resource_id(IdRequest::new(ty, attributes)).expect("id");
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
            let n = changed.len();
            changed.insert("policy".into(), json!(doc(&format!("logs:{n}*"))));
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
        let mut wider = inline.clone();
        wider.insert("policy".into(), json!(doc("logs:*")));
        p.update(UpdateRequest::new(
            ROLE_POLICY,
            &inline_id,
            live,
            wider.clone(),
            ChangeContext::baseline(),
        ))
        .await
        .expect("update inline");
        let live = read(&p, ROLE_POLICY, &inline_id).await.expect("inline");
        assert!(p.attribute_equal(ROLE_POLICY, "policy", &wider["policy"], &live["policy"]));
        assert!(!p.attribute_equal(ROLE_POLICY, "policy", &inline["policy"], &live["policy"]));

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

    /// Raw calls for test set-up that the provider itself never makes.
    async fn raw(p: &AwsProvider, action: &str, params: &[(&str, &str)]) {
        let params: Vec<(&str, String)> =
            params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let client = &p.configured().unwrap().client;
        let _: crate::xml::Members<String> = client
            .query(crate::client::Service::Iam, action, &params)
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }

    #[tokio::test]
    async fn a_grant_expires_on_aws_side_and_its_revert_revokes_sessions() {
        let moto = Moto::start();
        let p = provider_at(&moto.url, &[]);
        let role = attrs(
            json!({"name": "prod-admin", "assume_role_policy": trust(), "require_mfa": true}),
        );
        create(&p, ROLE, &role, ChangeContext::baseline()).await;
        let grant = ChangeContext::grant(activation());
        let end = "2031-01-15T17:00:00Z";

        let attachment =
            attrs(json!({"role": "prod-admin", "policy_arn": ADMIN, "expires_at": end}));
        let (id, created) = create(&p, ATTACHMENT, &attachment, grant.clone()).await;
        assert_eq!(created["expires_at"], json!(end));
        let live = read(&p, ATTACHMENT, &id).await.expect("attached");
        assert!(
            p.attribute_equal(ATTACHMENT, "expires_at", &json!(end), &live["expires_at"]),
            "{live:?}"
        );
        let client = &p.configured().unwrap().client;
        let guard_name = attachment::guard_name(ADMIN);
        let guard = iam::get_role_policy(client, "prod-admin", &guard_name)
            .await
            .unwrap()
            .expect("the guard");
        let guard: Value = serde_json::from_str(&guard).unwrap();
        assert_eq!(guard["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            guard["Statement"][0]["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"],
            json!(end)
        );

        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]});
        let inline = attrs(
            json!({"role": "prod-admin", "name": "logs", "policy": doc.to_string(), "expires_at": end}),
        );
        let (inline_id, _) = create(&p, ROLE_POLICY, &inline, grant.clone()).await;
        let live = read(&p, ROLE_POLICY, &inline_id).await.expect("inline");
        let stored: Value = serde_json::from_str(live["policy"].as_str().unwrap()).unwrap();
        assert_eq!(
            stored["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
            json!(end)
        );
        assert_eq!(live["expires_at"], json!(end));
        assert!(p.attribute_equal(ROLE_POLICY, "policy", &inline["policy"], &live["policy"]));

        // The provider's own inline policies are not reported as someone's inline policies.
        let scope = vec![attrs(json!({"role": "prod-admin", "name": "logs"}))];
        let listed = p.list(ListRequest::new(ROLE_POLICY, scope)).await.unwrap();
        assert_eq!(listed.objects.keys().collect::<Vec<_>>(), vec!["prod-admin:logs"]);

        // Extending the activation moves the end.
        let later = "2031-01-15T18:00:00Z";
        let mut extended = attachment.clone();
        extended.insert("expires_at".into(), json!(later));
        p.update(UpdateRequest::new(ATTACHMENT, &id, created, extended, grant.clone()))
            .await
            .unwrap();
        assert_eq!(read(&p, ATTACHMENT, &id).await.unwrap()["expires_at"], json!(later));

        let revert = ChangeContext::revert(Some(activation()));
        let before = crate::resources::now_rfc3339();
        let notes = delete(&p, ATTACHMENT, &id, revert.clone()).await;
        assert!(notes[0].contains("revoked every session of role prod-admin"), "{notes:?}");
        delete(&p, ROLE_POLICY, &inline_id, revert.clone()).await;
        assert!(read(&p, ATTACHMENT, &id).await.is_none());
        assert!(read(&p, ROLE_POLICY, &inline_id).await.is_none());
        assert!(
            iam::get_role_policy(client, "prod-admin", &guard_name).await.unwrap().is_none(),
            "the guard goes too"
        );
        let revocation = iam::get_role_policy(client, "prod-admin", "breakglass-revoke-sessions")
            .await
            .unwrap()
            .expect("revocation");
        let revocation: Value = serde_json::from_str(&revocation).unwrap();
        let cut_off = crate::document::revocation_time(&revocation).expect("a cut-off");
        assert!(cut_off >= before, "{cut_off} is the revert's time");
        assert_eq!(revocation["Statement"][0]["Effect"], "Deny");
        // A second revert finds nothing to detach and still succeeds.
        delete(&p, ATTACHMENT, &id, revert).await;
        // Deleting the role takes the provider's own inline policies with it.
        delete(&p, ROLE, "prod-admin", ChangeContext::baseline()).await;
        assert!(read(&p, ROLE, "prod-admin").await.is_none());
    }

    #[tokio::test]
    async fn bulk_listing_reads_the_account_in_two_calls_and_marks_privileged_access() {
        let moto = Moto::start();
        let p = provider_at(&moto.url, &[]);
        let mut scope = Vec::new();
        for n in 0..5 {
            let name = format!("app-{n}");
            create(
                &p,
                ROLE,
                &attrs(json!({"name": name, "assume_role_policy": trust()})),
                ChangeContext::baseline(),
            )
            .await;
            let attachment = attrs(json!({"role": name, "policy_arn": READ_ONLY}));
            create(&p, ATTACHMENT, &attachment, ChangeContext::baseline()).await;
            scope.push(attachment);
        }
        // By hand, outside breakglass: administrator access for a role nothing declares, and
        // for a user through a group.
        create(
            &p,
            ROLE,
            &attrs(json!({"name": "intruder", "assume_role_policy": trust()})),
            ChangeContext::baseline(),
        )
        .await;
        raw(&p, "AttachRolePolicy", &[("RoleName", "intruder"), ("PolicyArn", ADMIN)]).await;
        raw(&p, "CreateGroup", &[("GroupName", "admins")]).await;
        raw(&p, "AttachGroupPolicy", &[("GroupName", "admins"), ("PolicyArn", ADMIN)]).await;
        raw(&p, "CreateGroup", &[("GroupName", "readers")]).await;
        raw(&p, "CreateUser", &[("UserName", "mallory")]).await;
        raw(&p, "AddUserToGroup", &[("GroupName", "admins"), ("UserName", "mallory")]).await;
        raw(&p, "AddUserToGroup", &[("GroupName", "readers"), ("UserName", "mallory")]).await;

        let listed = p.list(ListRequest::new(ATTACHMENT, scope.clone())).await.unwrap();
        assert_eq!(listed.api_calls, 2, "GetAccountAuthorizationDetails and ListRoles");
        assert_eq!(listed.objects.len(), 6, "{:?}", listed.objects.keys());
        let intruder = format!("intruder/{ADMIN}");
        assert_eq!(listed.privileged.iter().collect::<Vec<_>>(), vec![&intruder]);
        // The other types of the same refresh share the snapshot.
        let roles =
            p.list(ListRequest::new(ROLE, vec![attrs(json!({"name": "app-0"}))])).await.unwrap();
        assert_eq!((roles.api_calls, roles.objects.len()), (0, 1));
        let members = p
            .list(ListRequest::new(
                MEMBERSHIP,
                vec![attrs(json!({"user": "mallory", "groups": ["readers"]}))],
            ))
            .await
            .unwrap();
        assert_eq!(
            members.objects.keys().collect::<Vec<_>>(),
            vec!["mallory/admins", "mallory/readers"]
        );
        assert_eq!(members.privileged.iter().collect::<Vec<_>>(), vec!["mallory/admins"]);

        // Removing the drift is an ordinary delete of the listed id.
        delete(&p, ATTACHMENT, &intruder, ChangeContext::baseline()).await;
        delete(&p, MEMBERSHIP, "mallory/admins", ChangeContext::baseline()).await;
        let listed = p.list(ListRequest::new(ATTACHMENT, scope)).await.unwrap();
        assert!(
            listed.privileged.is_empty() && listed.api_calls == 2,
            "a write makes the snapshot stale"
        );
        assert_eq!(
            read(&p, MEMBERSHIP, "mallory/readers").await.unwrap()["groups"],
            json!(["readers"])
        );
        assert!(read(&p, MEMBERSHIP, "mallory/admins").await.is_none());
    }

    #[tokio::test]
    async fn memberships_add_update_and_revoke_the_users_sessions_on_revert() {
        let moto = Moto::start();
        let p = provider_at(&moto.url, &[]);
        raw(&p, "CreateUser", &[("UserName", "alice")]).await;
        for group in ["responders", "auditors"] {
            raw(&p, "CreateGroup", &[("GroupName", group)]).await;
        }
        let membership = attrs(json!({"user": "alice", "groups": ["responders"]}));
        let (id, created) =
            create(&p, MEMBERSHIP, &membership, ChangeContext::grant(activation())).await;
        assert_eq!(id, "alice/responders");
        create(&p, MEMBERSHIP, &membership, ChangeContext::grant(activation())).await;
        let both = attrs(json!({"user": "alice", "groups": ["responders", "auditors"]}));
        p.update(UpdateRequest::new(MEMBERSHIP, &id, created, both, ChangeContext::baseline()))
            .await
            .unwrap();
        let client = &p.configured().unwrap().client;
        let mut groups = iam::groups_for_user(client, "alice").await.unwrap().unwrap();
        groups.sort();
        assert_eq!(groups, ["auditors", "responders"]);
        let notes = delete(
            &p,
            MEMBERSHIP,
            "alice/auditors/responders",
            ChangeContext::revert(Some(activation())),
        )
        .await;
        assert!(notes[0].contains("user alice"), "{notes:?}");
        assert!(iam::groups_for_user(client, "alice").await.unwrap().unwrap().is_empty());
        assert!(
            iam::get_user_policy(client, "alice", "breakglass-revoke-sessions")
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn assignment_grants_end_on_aws_side_for_that_user_only() {
        use crate::resources::account_assignment::guard_sid;
        let moto = Moto::start();
        let p = provider_at(&moto.url, &[]);
        let configured = p.configured().unwrap();
        let client = &configured.client;
        let instance = configured.sso.instance(client, None).await.expect("moto's instance");
        let identity = crate::client::Service::IdentityStore;
        let mut user_ids = BTreeMap::new();
        for name in ["alice", "bob"] {
            let user: Value = client
                .json(
                    identity,
                    "CreateUser",
                    &json!({"IdentityStoreId": instance.identity_store_id, "UserName": name,
                            "DisplayName": name, "Name": {"GivenName": name, "FamilyName": "X"}}),
                )
                .await
                .expect("an identity store user");
            user_ids.insert(name, user["UserId"].as_str().unwrap().to_owned());
        }
        let _: Value = client
            .json(
                identity,
                "CreateGroup",
                &json!({"IdentityStoreId": instance.identity_store_id, "DisplayName": "sre"}),
            )
            .await
            .expect("an identity store group");
        let set = attrs(json!({"name": "IncidentResponder"}));
        let (_, created) = create(&p, PERMISSION_SET, &set, ChangeContext::baseline()).await;
        let set_arn = created["arn"].as_str().unwrap().to_owned();
        let baseline = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Baseline", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        sso::set_inline_policy(client, &instance.instance_arn, &set_arn, Some(&baseline))
            .await
            .unwrap();
        let inline = || async {
            sso::inline_policy(client, &instance.instance_arn, &set_arn).await.unwrap().unwrap()
        };
        let statement = |document: &Value, sid: &str| {
            document["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned()
        };
        let account = "123456789012";

        // alice by name, until END1: her statement, beside the set's own.
        let end1 = "2031-01-15T17:00:00Z";
        let alice = attrs(json!({"permission_set_name": "IncidentResponder",
            "principal_type": "USER", "principal_name": "alice", "target_id": account,
            "expires_at": end1}));
        let (alice_id, live) =
            create(&p, ASSIGNMENT, &alice, ChangeContext::grant(activation())).await;
        assert_eq!(live["expires_at"], json!(end1));
        let alice_sid = guard_sid(&user_ids["alice"], account);
        let document = inline().await;
        assert_eq!(
            statement(&document, &alice_sid),
            Some(json!({"Sid": alice_sid, "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"DateGreaterThanEquals": {"aws:CurrentTime": end1},
                              "StringLike": {"aws:userid": "*:alice"},
                              "StringEquals": {"aws:PrincipalAccount": account}}}))
        );
        assert!(statement(&document, "Baseline").is_some(), "{document}");
        assert_eq!(read(&p, ASSIGNMENT, &alice_id).await.unwrap()["expires_at"], json!(end1));

        // bob by id (his user name looked up), until END2: both statements kept.
        let end2 = "2031-01-15T18:00:00Z";
        let bob = attrs(json!({"permission_set_name": "IncidentResponder",
            "principal_type": "USER", "principal_id": user_ids["bob"], "target_id": account,
            "expires_at": end2}));
        let (bob_id, _) = create(&p, ASSIGNMENT, &bob, ChangeContext::grant(activation())).await;
        let bob_sid = guard_sid(&user_ids["bob"], account);
        let document = inline().await;
        assert_eq!(
            statement(&document, &bob_sid).unwrap()["Condition"]["StringLike"],
            json!({"aws:userid": "*:bob"})
        );
        assert!(statement(&document, &alice_sid).is_some(), "{document}");

        // Extending alice moves her end only.
        let end3 = "2031-01-15T19:00:00Z";
        let mut longer = alice.clone();
        longer.insert("expires_at".into(), json!(end3));
        let before = read(&p, ASSIGNMENT, &alice_id).await.unwrap();
        let updated = p
            .update(UpdateRequest::new(
                ASSIGNMENT,
                &alice_id,
                before,
                longer,
                ChangeContext::grant(activation()),
            ))
            .await
            .unwrap();
        assert_eq!(updated.attributes["expires_at"], json!(end3));
        let document = inline().await;
        assert_eq!(
            statement(&document, &alice_sid).unwrap()["Condition"]["DateGreaterThanEquals"],
            json!({"aws:CurrentTime": end3})
        );
        assert_eq!(
            statement(&document, &bob_sid).unwrap()["Condition"]["DateGreaterThanEquals"],
            json!({"aws:CurrentTime": end2})
        );

        // Reverting alice takes her statement with the assignment; bob's and the set's stay.
        delete(&p, ASSIGNMENT, &alice_id, ChangeContext::revert(Some(activation()))).await;
        assert!(read(&p, ASSIGNMENT, &alice_id).await.is_none());
        let document = inline().await;
        assert!(statement(&document, &alice_sid).is_none(), "{document}");
        assert!(statement(&document, &bob_sid).is_some(), "{document}");
        delete(&p, ASSIGNMENT, &bob_id, ChangeContext::revert(Some(activation()))).await;
        assert_eq!(inline().await, baseline);

        // A group cannot be guarded: refused before anything is assigned.
        let group = attrs(json!({"permission_set_name": "IncidentResponder",
            "principal_type": "GROUP", "principal_name": "sre", "target_id": account,
            "expires_at": end1}));
        let group_id = p.resource_id(IdRequest::new(ASSIGNMENT, &group)).unwrap();
        let error = p
            .create(CreateRequest::new(
                ASSIGNMENT,
                &group_id,
                group,
                ChangeContext::grant(activation()),
            ))
            .await
            .unwrap_err();
        assert!(error.message().contains("GROUP assignment cannot end on AWS's side"), "{error}");
        let assigned = sso::account_assignments(client, &instance.instance_arn, account, &set_arn)
            .await
            .unwrap();
        assert!(assigned.is_empty(), "{assigned:?}");
    }

    #[tokio::test]
    async fn identity_center_permission_sets_and_asynchronous_assignments() {
        let moto = Moto::start();
        let p = provider_at(&moto.url, &[]);
        let configured = p.configured().unwrap();
        let instance =
            configured.sso.instance(&configured.client, None).await.expect("moto's instance");
        let user: Value = configured
            .client
            .json(
                crate::client::Service::IdentityStore,
                "CreateUser",
                &json!({"IdentityStoreId": instance.identity_store_id, "UserName": "alice",
                        "DisplayName": "Alice", "Name": {"GivenName": "Alice", "FamilyName": "Martin"}}),
            )
            .await
            .expect("an identity store user");

        let set = attrs(
            json!({"name": "IncidentResponder", "description": "incidents", "session_duration": "PT1H"}),
        );
        let (set_id, created) = create(&p, PERMISSION_SET, &set, ChangeContext::baseline()).await;
        assert_eq!(set_id, "IncidentResponder");
        assert!(created["arn"].as_str().unwrap().contains("/ps-"), "{created:?}");
        create(&p, PERMISSION_SET, &set, ChangeContext::baseline()).await;
        let mut longer = set.clone();
        longer.insert("session_duration".into(), json!("PT2H"));
        let updated = p
            .update(UpdateRequest::new(
                PERMISSION_SET,
                &set_id,
                created,
                longer,
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
        assert_eq!(updated.attributes["session_duration"], json!("PT2H"));

        let assignment =
            attrs(json!({"permission_set_name": "IncidentResponder", "principal_type": "USER",
            "principal_name": "alice", "target_id": "123456789012"}));
        let (id, live) =
            create(&p, ASSIGNMENT, &assignment, ChangeContext::grant(activation())).await;
        assert_eq!(live["principal_id"], user["UserId"]);
        create(&p, ASSIGNMENT, &assignment, ChangeContext::grant(activation())).await;
        let listed = sso::account_assignments(
            &configured.client,
            &instance.instance_arn,
            "123456789012",
            updated.attributes["arn"].as_str().unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(listed.len(), 1, "a second create does not assign twice");
        assert!(read(&p, ASSIGNMENT, &id).await.is_some());
        let notes = delete(&p, ASSIGNMENT, &id, ChangeContext::revert(Some(activation()))).await;
        assert!(notes[0].contains("stay valid"), "{notes:?}");
        assert!(read(&p, ASSIGNMENT, &id).await.is_none());
        delete(&p, ASSIGNMENT, &id, ChangeContext::baseline()).await;

        // A principal that does not exist: a clear error, nothing changed.
        let ghost =
            attrs(json!({"permission_set_name": "IncidentResponder", "principal_type": "USER",
            "principal_name": "ghost", "target_id": "123456789012"}));
        let ghost_id = p.resource_id(IdRequest::new(ASSIGNMENT, &ghost)).unwrap();
        let error = p
            .create(CreateRequest::new(ASSIGNMENT, &ghost_id, ghost, ChangeContext::baseline()))
            .await
            .unwrap_err();
        assert!(error.message().contains("does not exist in IAM Identity Center"), "{error}");

        // Once provisioned to an account, a change is provisioned again, and AWS's verdict counts.
        let set_arn = updated.attributes["arn"].as_str().unwrap().to_owned();
        let _: Value = configured
            .client
            .json(
                crate::client::Service::SsoAdmin,
                "ProvisionPermissionSet",
                &json!({"InstanceArn": instance.instance_arn, "PermissionSetArn": set_arn,
                        "TargetType": "AWS_ACCOUNT", "TargetId": "123456789012"}),
            )
            .await
            .expect("provisioned");
        let proxy = FaultProxy::start(
            moto.port,
            vec![Fault::json(
                "Service.ProvisionPermissionSet",
                1,
                200,
                json!({"PermissionSetProvisioningStatus": {"Status": "FAILED", "RequestId": "p-1",
                   "FailureReason": "Permission set is too large"}}),
            )],
        );
        let through = provider_at(&proxy.url, &[]);
        let mut shorter = set.clone();
        shorter.insert("session_duration".into(), json!("PT30M"));
        let error = through
            .update(UpdateRequest::new(
                PERMISSION_SET,
                &set_id,
                updated.attributes.clone(),
                shorter.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .expect_err("provisioning failed");
        assert!(error.message().contains("Permission set is too large"), "{error}");
        assert!(error.message().contains("not yet applied to its accounts"), "{error}");
        let retried = through
            .update(UpdateRequest::new(
                PERMISSION_SET,
                &set_id,
                updated.attributes.clone(),
                shorter,
                ChangeContext::baseline(),
            ))
            .await
            .expect("provisioned this time");
        assert_eq!(retried.attributes["session_duration"], json!("PT30M"));

        delete(&p, PERMISSION_SET, &set_id, ChangeContext::baseline()).await;
        assert!(read(&p, PERMISSION_SET, &set_id).await.is_none());
    }

    #[tokio::test]
    async fn with_signatures_checked_a_wrong_secret_is_denied_naming_its_source() {
        // Three unauthenticated calls to make a user with a key; moto checks every call after.
        let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
        let setup = provider_at(&moto.url, &[]);
        raw(&setup, "CreateUser", &[("UserName", "executor")]).await;
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct KeyResult {
            access_key: Key,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct Key {
            access_key_id: String,
            secret_access_key: String,
        }
        let key: KeyResult = setup
            .configured()
            .unwrap()
            .client
            .query(
                crate::client::Service::Iam,
                "CreateAccessKey",
                &[("UserName", "executor".to_owned())],
            )
            .await
            .unwrap();
        raw(&setup, "AttachUserPolicy", &[("UserName", "executor"), ("PolicyArn", ADMIN)]).await;

        let with_secret = |secret: &str| {
            let mut attributes = Attributes::new();
            attributes.insert("endpoint".into(), json!(moto.url));
            let mut provider = AwsProvider::new();
            let mut env = env(secret);
            env.insert("AWS_ACCESS_KEY_ID".into(), key.access_key.access_key_id.clone());
            provider.configure_with_env(&attributes, std::path::Path::new("."), env).unwrap();
            provider
        };
        let good = with_secret(&key.access_key.secret_access_key);
        assert!(
            read(&good, ROLE, "nobody").await.is_none(),
            "signed correctly, the call is answered"
        );

        let wrong = with_secret("not-the-secret");
        let error =
            wrong.read(ReadRequest::new(ROLE, vec!["nobody".into()])).await.expect_err("denied");
        assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
        assert!(error.message().contains("SignatureDoesNotMatch"), "{error}");
        assert!(
            error
                .message()
                .contains("the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            "{error}"
        );
        assert!(!error.message().contains("not-the-secret"), "{error}");
        assert_eq!(wrong.http_calls(), 1, "a denial is not retried");
    }

    #[tokio::test]
    async fn throttling_is_retried_and_garbage_is_a_clear_error() {
        let moto = Moto::start();
        let proxy = FaultProxy::start(moto.port, vec![Fault::throttling("Action=GetRole", 2)]);
        let p = provider_at(&proxy.url, &[]);
        assert!(read(&p, ROLE, "nobody").await.is_none());
        assert_eq!((proxy.injected(), proxy.forwarded()), (2, 1));
        assert_eq!(p.http_calls(), 3);

        proxy.set_faults(vec![Fault::throttling("Action=GetRole", 10)]);
        let p = provider_at(&proxy.url, &[("max_retries", json!(2))]);
        let error = p
            .read(ReadRequest::new(ROLE, vec!["nobody".into()]))
            .await
            .expect_err("still throttled");
        assert_eq!(error.kind(), ErrorKind::Throttled, "{error}");
        assert!(
            error.message().starts_with("aws: POST / answered 400 Bad Request after 2 attempts"),
            "{error}"
        );

        proxy.set_faults(vec![Fault {
            matches: "Action=GetRole".into(),
            times: 1,
            status: 200,
            body: "<html>hello</html>".into(),
        }]);
        let error =
            p.read(ReadRequest::new(ROLE, vec!["nobody".into()])).await.expect_err("garbage");
        assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
        assert!(error.message().contains("GetRole"), "{error}");
    }

    #[tokio::test]
    async fn assignment_requests_are_polled_until_they_succeed_or_fail() {
        let moto = Moto::start();
        let direct = provider_at(&moto.url, &[]);
        let set = attrs(json!({"name": "Responder"}));
        create(&direct, PERMISSION_SET, &set, ChangeContext::baseline()).await;
        let assignment =
            attrs(json!({"permission_set_name": "Responder", "principal_type": "USER",
            "principal_id": "u-1", "target_id": "123456789012"}));
        let id = direct.resource_id(IdRequest::new(ASSIGNMENT, &assignment)).unwrap();
        let pending = |id: &str| json!({"AccountAssignmentCreationStatus": {"Status": "IN_PROGRESS", "RequestId": id}});
        let proxy = FaultProxy::start(
            moto.port,
            vec![
                Fault::json("Service.CreateAccountAssignment", 1, 200, pending("req-1")),
                Fault::json(
                    "Service.DescribeAccountAssignmentCreationStatus",
                    2,
                    200,
                    pending("req-1"),
                ),
                Fault::json(
                    "Service.DescribeAccountAssignmentCreationStatus",
                    1,
                    200,
                    json!({"AccountAssignmentCreationStatus": {"Status": "FAILED", "RequestId": "req-1",
                       "FailureReason": "Received a 404 status error: Not supported account"}}),
                ),
            ],
        );
        let p = provider_at(&proxy.url, &[]);
        let error = p
            .create(CreateRequest::new(
                ASSIGNMENT,
                &id,
                assignment.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert!(error.message().contains("Not supported account"), "{error}");
        assert_eq!(proxy.injected(), 4, "created, polled twice in progress, then failed");

        let done = json!({"AccountAssignmentCreationStatus": {"Status": "SUCCEEDED", "RequestId": "req-2"}});
        proxy.set_faults(vec![
            Fault::json("Service.CreateAccountAssignment", 1, 200, pending("req-2")),
            Fault::json(
                "Service.DescribeAccountAssignmentCreationStatus",
                1,
                200,
                pending("req-2"),
            ),
            Fault::json("Service.DescribeAccountAssignmentCreationStatus", 1, 200, done),
        ]);
        let injected = proxy.injected();
        p.create(CreateRequest::new(ASSIGNMENT, &id, assignment, ChangeContext::baseline()))
            .await
            .expect("done once the status says SUCCEEDED");
        assert_eq!(proxy.injected() - injected, 3, "created, in progress, succeeded");
    }
}
