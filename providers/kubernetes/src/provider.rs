//! The `kubernetes` provider's implementation of the provider contract: each call is routed to
//! the generic reads and writes of [`crate::objects`] for its resource type.

use async_trait::async_trait;
use breakglass_provider::{
    ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, DryRunRequest,
    DryRunResponse, IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema,
    ReadRequest, ReadResponse, UpdateRequest, UpdateResponse, Value,
};

use crate::body::{same_rules, same_subjects};
use crate::client::Api;
use crate::cluster_role::ClusterRole;
use crate::cluster_role_binding::ClusterRoleBinding;
use crate::config::KubernetesConfig;
use crate::kubeconfig::Connection;
use crate::objects;
use crate::role::Role;
use crate::role_binding::RoleBinding;
use crate::schema::{
    CLUSTER_ROLE, CLUSTER_ROLE_BINDING, RESOURCE_TYPES, ROLE, ROLE_BINDING, schema,
};

/// Calls `objects::$function::<Kind>(args)` for the resource type, or returns an error for an
/// unknown type.
macro_rules! by_type {
    ($resource_type:expr, $function:ident ( $($arg:expr),* ) $(.$await:ident)?) => {
        match $resource_type {
            ROLE => objects::$function::<Role>($($arg),*)$(.$await)?,
            CLUSTER_ROLE => objects::$function::<ClusterRole>($($arg),*)$(.$await)?,
            ROLE_BINDING => objects::$function::<RoleBinding>($($arg),*)$(.$await)?,
            CLUSTER_ROLE_BINDING => objects::$function::<ClusterRoleBinding>($($arg),*)$(.$await)?,
            other => Err(unknown_type(other)),
        }
    };
}

/// The `kubernetes` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct KubernetesProvider {
    api: Option<Api>,
    privileged_cluster_roles: Vec<String>,
}

impl KubernetesProvider {
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
            ProviderError::unsupported("the kubernetes provider was used before it was configured")
        })
    }
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the kubernetes provider has no resource type {resource_type}; it offers {}",
        RESOURCE_TYPES.join(", ")
    ))
}

#[async_trait]
impl Provider for KubernetesProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let config =
            KubernetesConfig::from_attributes(&request.config, &request.base_dir, |name| {
                std::env::var(name).ok()
            })?;
        let connection = Connection::load(&config.kubeconfig, config.context.as_deref()).await?;
        self.api = Some(Api::new(connection, &config)?);
        self.privileged_cluster_roles = config.privileged_cluster_roles;
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        by_type!(request.resource_type, id(request.attributes))
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let api = self.api()?;
        let (objects, calls) =
            by_type!(request.resource_type.as_str(), read(api, &request.ids).await)?;
        Ok(ReadResponse::new(objects, calls))
    }

    fn list_scope(&self, _resource_type: &str) -> Option<&'static [&'static str]> {
        // Every type is listed cluster-wide, whatever is declared.
        Some(&[])
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let api = self.api()?;
        let roles = &self.privileged_cluster_roles;
        let (objects, calls, privileged) =
            by_type!(request.resource_type.as_str(), list(api, roles).await)?;
        Ok(ListResponse::new(objects, calls).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let api = self.api()?;
        let CreateRequest { resource_type, id, attributes, context, .. } = request;
        let live = by_type!(resource_type.as_str(), create(api, &id, &attributes, &context).await)?;
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let api = self.api()?;
        let UpdateRequest { resource_type, id, after, .. } = request;
        let live = by_type!(resource_type.as_str(), update(api, &id, &after).await)?;
        Ok(UpdateResponse::new(live))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let api = self.api()?;
        let DeleteRequest { resource_type, id, context, .. } = request;
        let notes = by_type!(resource_type.as_str(), delete(api, &id, &context).await)?;
        Ok(DeleteResponse::new(notes))
    }

    async fn dry_run(&self, request: DryRunRequest) -> Result<DryRunResponse, ProviderError> {
        let api = self.api()?;
        let DryRunRequest { resource_type, id, before, after, context, .. } = request;
        by_type!(resource_type.as_str(), dry_run(api, &id, before.as_ref(), &after, &context).await)
    }

    fn attribute_equal(
        &self,
        _resource_type: &str,
        attribute: &str,
        desired: &Value,
        live: &Value,
    ) -> bool {
        match attribute {
            "rules" => same_rules(desired, live).unwrap_or(desired == live),
            "subjects" => same_subjects(desired, live).unwrap_or(desired == live),
            // Labels others set are kept: the declared ones must be there, with their values.
            "labels" => match (desired.as_object(), live.as_object()) {
                (Some(desired), Some(live)) => {
                    desired.iter().all(|(key, value)| live.get(key) == Some(value))
                }
                _ => desired == live,
            },
            _ => desired == live,
        }
    }

    fn native_expiry(&self, _resource_type: &str) -> bool {
        false
    }

    fn revert_note(&self, resource_type: &str) -> Option<String> {
        matches!(resource_type, ROLE_BINDING | CLUSTER_ROLE_BINDING).then(|| {
            "Kubernetes cannot expire a binding: breakglass deletes it, and only if it still \
             carries this activation's breakglass.dev/activation label. Exec and port-forward \
             streams opened during the grant are authorized when they open: end them by hand \
             if they must not outlive it"
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::{Attributes, ErrorKind};
    use serde_json::json;

    fn attributes(value: serde_json::Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn natural_ids_come_from_declared_attributes_and_bad_ones_are_named() {
        let provider = KubernetesProvider::new();
        let rules = json!([{"verbs": ["get"], "resources": ["pods"], "api_groups": [""]}]);
        let subjects = json!([{"kind": "User", "name": "alice"}]);
        let cases = [
            (
                ROLE,
                json!({"name": "reader", "namespace": "payments", "rules": rules}),
                "payments/reader",
            ),
            (CLUSTER_ROLE, json!({"name": "reader", "rules": rules}), "reader"),
            (
                ROLE_BINDING,
                json!({"name": "b", "namespace": "payments", "role": "admin", "subjects": subjects}),
                "payments/b",
            ),
            (
                CLUSTER_ROLE_BINDING,
                json!({"name": "bg-alice", "role": "cluster-admin", "subjects": subjects}),
                "bg-alice",
            ),
        ];
        for (resource_type, declared, expected) in cases {
            let id =
                provider.resource_id(IdRequest::new(resource_type, &attributes(declared))).unwrap();
            assert_eq!(id, expected, "{resource_type}");
        }
        let bad = [
            (ROLE, json!({"name": "r", "rules": rules}), "`namespace` must be set"),
            (CLUSTER_ROLE, json!({"name": "a/b", "rules": rules}), "is not a valid name"),
            (
                ROLE_BINDING,
                json!({"name": "b", "namespace": "n", "role": "x", "role_kind": "Group", "subjects": subjects}),
                "`role_kind` must be",
            ),
            (CLUSTER_ROLE_BINDING, json!({"name": "b", "subjects": subjects}), "`role` must name"),
            (
                CLUSTER_ROLE_BINDING,
                json!({"name": "b", "role": "x", "subjects": subjects, "labels": {"breakglass.dev/activation": "x"}}),
                "breakglass's own",
            ),
            ("kubernetes_pod", json!({}), "it offers kubernetes_role"),
        ];
        for (resource_type, declared, expected) in bad {
            let error = provider
                .resource_id(IdRequest::new(resource_type, &attributes(declared)))
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid);
            assert!(error.message().contains(expected), "{resource_type}: {error}");
        }
    }

    #[test]
    fn rules_subjects_and_labels_compare_by_meaning() {
        let provider = KubernetesProvider::new();
        assert!(provider.attribute_equal(
            CLUSTER_ROLE,
            "rules",
            &json!([{"verbs": ["list", "get"], "resources": ["pods"]}]),
            &json!([{"resources": ["pods"], "verbs": ["get", "list"]}]),
        ));
        assert!(provider.attribute_equal(
            CLUSTER_ROLE_BINDING,
            "subjects",
            &json!([{"kind": "User", "name": "a"}, {"kind": "Group", "name": "g"}]),
            &json!([{"kind": "Group", "name": "g"}, {"kind": "User", "name": "a"}]),
        ));
        assert!(provider.attribute_equal(
            CLUSTER_ROLE_BINDING,
            "labels",
            &json!({"team": "sre"}),
            &json!({"team": "sre", "app.kubernetes.io/managed-by": "breakglass"}),
        ));
        assert!(!provider.attribute_equal(
            CLUSTER_ROLE_BINDING,
            "labels",
            &json!({"team": "sre"}),
            &json!({"team": "ops"}),
        ));
        assert!(!provider.native_expiry(CLUSTER_ROLE_BINDING));
        assert!(provider.revert_note(CLUSTER_ROLE_BINDING).unwrap().contains("cannot expire"));
        assert!(provider.revert_note(CLUSTER_ROLE).is_none());
    }

    #[tokio::test]
    async fn calls_before_configure_are_refused() {
        let provider = KubernetesProvider::new();
        let error = provider.read(ReadRequest::new(ROLE, vec![])).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
    }
}
