//! `kubernetes_role`: a namespaced Role (`/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles`).
//! Its id is `NAMESPACE/NAME`; its body is its rules.

use breakglass_provider::{Attributes, ProviderError};

use crate::api::{API_VERSION, RoleObject};
use crate::body::{rules, rules_value};
use crate::kind::{Kind, declared_meta};
use crate::schema::ROLE;

/// The Role type.
#[derive(Debug)]
pub struct Role;

impl Kind for Role {
    type Object = RoleObject;
    const TYPE: &'static str = ROLE;
    const KIND: &'static str = "Role";
    const PLURAL: &'static str = "roles";
    const NAMESPACED: bool = true;

    fn desired(attributes: &Attributes) -> Result<RoleObject, ProviderError> {
        role_object::<Self>(attributes)
    }

    fn set_body(live: &mut RoleObject, desired: &RoleObject) {
        live.rules = desired.rules.clone();
    }

    fn body_attributes(object: &RoleObject, into: &mut Attributes) {
        into.insert("rules".into(), rules_value(&object.rules));
    }
}

/// A Role or ClusterRole object from declared attributes.
pub fn role_object<K: Kind>(attributes: &Attributes) -> Result<RoleObject, ProviderError> {
    Ok(RoleObject {
        api_version: API_VERSION.to_owned(),
        kind: K::KIND.to_owned(),
        metadata: declared_meta::<K>(attributes)?,
        rules: rules(attributes, K::TYPE)?,
        other: serde_json::Map::new(),
    })
}
