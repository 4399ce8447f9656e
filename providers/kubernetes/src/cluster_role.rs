//! `kubernetes_cluster_role`: a ClusterRole (`/apis/rbac.authorization.k8s.io/v1/clusterroles`).
//! Its id is its name; its body is its rules. An aggregated ClusterRole's rules are the
//! controller's to fill in: declare those by their `aggregationRule` outside breakglass.

use breakglass_provider::{Attributes, ProviderError};

use crate::api::RoleObject;
use crate::body::rules_value;
use crate::kind::Kind;
use crate::role::role_object;
use crate::schema::CLUSTER_ROLE;

/// The ClusterRole type.
#[derive(Debug)]
pub struct ClusterRole;

impl Kind for ClusterRole {
    type Object = RoleObject;
    const TYPE: &'static str = CLUSTER_ROLE;
    const KIND: &'static str = "ClusterRole";
    const PLURAL: &'static str = "clusterroles";
    const NAMESPACED: bool = false;

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
