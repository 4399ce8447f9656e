//! The API objects the provider reads and writes, as `rbac.authorization.k8s.io/v1` and
//! `meta/v1` define them (`components/schemas/io.k8s.api.rbac.v1.*` in the OpenAPI
//! description).
//!
//! Decoding is strict about what breakglass relies on (`roleRef` and its fields, `verbs`,
//! subjects' `kind` and `name`, list `items`) and lenient about the rest: fields the API adds
//! later are ignored on read, and an update starts from the object as read, so they are sent
//! back unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The API group and version of every object here.
pub const API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// `ObjectMeta`, the fields breakglass uses; the rest is kept as it came.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The object's name.
    #[serde(default)]
    pub name: String,
    /// Its namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its uid, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The version for optimistic concurrency, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields of `ObjectMeta` breakglass does not use (creationTimestamp, managedFields…),
    /// sent back as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// `apiGroups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// `resources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// `verbs` (required).
    pub verbs: Vec<String>,
    /// `resourceNames`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`.
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

/// `Role` and `ClusterRole`: the same shape, another `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleObject {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The rules (`null` and absent both mean none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub rules: Vec<PolicyRule>,
    /// `aggregationRule` and anything else, kept as it came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `RoleRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// `Subject`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// The namespace, for a ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `rbac.authorization.k8s.io` for users and groups, empty for service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

/// `RoleBinding` and `ClusterRoleBinding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingObject {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `RoleBinding` or `ClusterRoleBinding`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The role granted (required).
    pub role_ref: RoleRef,
    /// Who it is granted to.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub subjects: Vec<Subject>,
    /// Anything else, kept as it came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `ListMeta`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The token for the next page; absent or empty on the last page.
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
    /// The list's resource version.
    #[serde(default)]
    pub resource_version: Option<String>,
}

/// `RoleList`, `ClusterRoleBindingList`…: one page of a list.
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    /// Paging.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects (required).
    pub items: Vec<T>,
}

/// `Status`: how the API server answers every failure (and some deletes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `Status`.
    #[serde(default)]
    pub kind: String,
    /// `Success` or `Failure`.
    #[serde(default)]
    pub status: String,
    /// What happened, in words.
    #[serde(default)]
    pub message: String,
    /// Why, as a word (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, `Forbidden`,
    /// `Invalid`, `TooManyRequests`…).
    #[serde(default)]
    pub reason: String,
    /// Details, when the reason has some.
    #[serde(default)]
    pub details: Option<StatusDetails>,
    /// The HTTP code it stands for.
    #[serde(default)]
    pub code: i64,
    /// For an expired `continue` token: the token to go on with inconsistently (unused: the
    /// provider lists again from the start).
    #[serde(default)]
    pub metadata: ListMeta,
}

/// `StatusDetails`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// The causes of an `Invalid` answer, one per field.
    #[serde(default)]
    pub causes: Vec<StatusCause>,
    /// How long to wait before trying again.
    #[serde(default)]
    pub retry_after_seconds: Option<i64>,
}

/// `StatusCause`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// The field at fault (`subjects[0].kind`).
    #[serde(default)]
    pub field: String,
    /// What is wrong with it.
    #[serde(default)]
    pub message: String,
}

/// `DeleteOptions`, with the preconditions that make a delete remove exactly the object read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// `v1`.
    pub api_version: &'static str,
    /// `DeleteOptions`.
    pub kind: &'static str,
    /// The uid and resource version the object must still have.
    pub preconditions: Preconditions,
}

/// `Preconditions`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The uid read.
    pub uid: String,
    /// The resource version read.
    pub resource_version: String,
}

impl DeleteOptions {
    /// Delete only if the object still has `uid` and `resource_version`.
    pub fn exactly(uid: &str, resource_version: &str) -> Self {
        Self {
            api_version: "v1",
            kind: "DeleteOptions",
            preconditions: Preconditions {
                uid: uid.to_owned(),
                resource_version: resource_version.to_owned(),
            },
        }
    }
}

/// An object with metadata.
pub trait HasMeta {
    /// Its metadata.
    fn meta(&self) -> &ObjectMeta;
    /// Its metadata, to change.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
}

impl HasMeta for RoleObject {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl HasMeta for BindingObject {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_decode_keep_unknown_fields_and_encode_back_in_camel_case() {
        let binding: BindingObject = serde_json::from_value(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "x", "uid": "u1", "resourceVersion": "7",
                         "creationTimestamp": "2026-12-01T10:00:00Z"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]
        }))
        .unwrap();
        assert_eq!(binding.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(binding.subjects[0].name, "alice");
        let back = serde_json::to_value(&binding).unwrap();
        assert_eq!(back["metadata"]["creationTimestamp"], "2026-12-01T10:00:00Z");
        assert_eq!(back["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");

        let role: RoleObject = serde_json::from_value(json!({
            "metadata": {"name": "r"}, "rules": null
        }))
        .unwrap();
        assert!(role.rules.is_empty());
        let rule: PolicyRule =
            serde_json::from_value(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}))
                .unwrap();
        assert_eq!(serde_json::to_value(&rule).unwrap()["nonResourceURLs"], json!(["/healthz"]));
    }

    #[test]
    fn what_breakglass_relies_on_is_required() {
        let no_role_ref = json!({"metadata": {"name": "x"}, "subjects": []});
        assert!(serde_json::from_value::<BindingObject>(no_role_ref).is_err());
        let no_verbs = json!({"resources": ["pods"]});
        assert!(serde_json::from_value::<PolicyRule>(no_verbs).is_err());
        let no_items = json!({"metadata": {}});
        assert!(serde_json::from_value::<List<RoleObject>>(no_items).is_err());
    }
}
