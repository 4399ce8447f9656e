//! `kubernetes_role_binding`: a namespaced RoleBinding
//! (`/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings`). It grants a Role of
//! its namespace, or a ClusterRole within the namespace. Its id is `NAMESPACE/NAME`; its
//! `roleRef` cannot change (another role replaces the binding), its subjects can.
//!
//! A RoleBinding to a privileged ClusterRole (cluster-admin in a namespace is still admin of
//! it) is privileged access: one nobody declared or granted is drift.

use breakglass_provider::{Attributes, ProviderError, Value};

use crate::api::{API_VERSION, BindingObject, RoleRef};
use crate::body::{RBAC_GROUP, subjects, subjects_value};
use crate::kind::{Kind, declared_meta};
use crate::schema::ROLE_BINDING;

/// The RoleBinding type.
#[derive(Debug)]
pub struct RoleBinding;

impl Kind for RoleBinding {
    type Object = BindingObject;
    const TYPE: &'static str = ROLE_BINDING;
    const KIND: &'static str = "RoleBinding";
    const PLURAL: &'static str = "rolebindings";
    const NAMESPACED: bool = true;

    fn desired(attributes: &Attributes) -> Result<BindingObject, ProviderError> {
        let role_kind = match attributes.get("role_kind") {
            None | Some(Value::Null) => "ClusterRole",
            Some(Value::String(kind)) if kind == "ClusterRole" || kind == "Role" => kind.as_str(),
            Some(other) => {
                return Err(ProviderError::invalid(format!(
                    "{ROLE_BINDING}: `role_kind` must be \"ClusterRole\" or \"Role\", got {other}"
                )));
            }
        };
        binding_object::<Self>(attributes, role_kind)
    }

    fn set_body(live: &mut BindingObject, desired: &BindingObject) {
        live.subjects = desired.subjects.clone();
    }

    fn immutable_change(live: &BindingObject, desired: &BindingObject) -> Option<String> {
        role_ref_change(live, desired)
    }

    fn body_attributes(object: &BindingObject, into: &mut Attributes) {
        into.insert("role_kind".into(), Value::from(object.role_ref.kind.as_str()));
        into.insert("role".into(), Value::from(object.role_ref.name.as_str()));
        into.insert("subjects".into(), subjects_value(&object.subjects));
    }

    fn privileged(object: &BindingObject, privileged: &[String]) -> bool {
        object.role_ref.kind == "ClusterRole" && privileged.contains(&object.role_ref.name)
    }
}

/// A RoleBinding or ClusterRoleBinding object from declared attributes.
pub fn binding_object<K: Kind>(
    attributes: &Attributes,
    role_kind: &str,
) -> Result<BindingObject, ProviderError> {
    let role =
        attributes.get("role").and_then(Value::as_str).filter(|r| !r.is_empty()).ok_or_else(
            || {
                ProviderError::invalid(format!(
                    "{}: `role` must name the {role_kind} to grant",
                    K::TYPE
                ))
            },
        )?;
    Ok(BindingObject {
        api_version: API_VERSION.to_owned(),
        kind: K::KIND.to_owned(),
        metadata: declared_meta::<K>(attributes)?,
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_owned(),
            kind: role_kind.to_owned(),
            name: role.to_owned(),
        },
        subjects: subjects(attributes, K::TYPE)?,
        other: serde_json::Map::new(),
    })
}

/// Why a binding cannot become another in place: its `roleRef` differs.
pub fn role_ref_change(live: &BindingObject, desired: &BindingObject) -> Option<String> {
    (live.role_ref != desired.role_ref).then(|| {
        format!(
            "it grants {} {} and a binding's roleRef cannot change; plan again to replace it",
            live.role_ref.kind, live.role_ref.name
        )
    })
}
