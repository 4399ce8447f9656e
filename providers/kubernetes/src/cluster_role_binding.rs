//! `kubernetes_cluster_role_binding`: a ClusterRoleBinding
//! (`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`): a ClusterRole granted
//! cluster-wide. The emergency grant of a `role` block (cluster-admin for an incident) is one of
//! these, created labelled with its activation and deleted at its end. Its id is its name.
//!
//! A ClusterRoleBinding to a privileged ClusterRole (cluster-admin by default) that nobody
//! declared or granted is drift that widens access; Kubernetes' own defaults are not.

use breakglass_provider::{Attributes, ProviderError, Value};

use crate::api::BindingObject;
use crate::body::subjects_value;
use crate::kind::Kind;
use crate::role_binding::{binding_object, role_ref_change};
use crate::schema::CLUSTER_ROLE_BINDING;

/// The ClusterRoleBinding type.
#[derive(Debug)]
pub struct ClusterRoleBinding;

impl Kind for ClusterRoleBinding {
    type Object = BindingObject;
    const TYPE: &'static str = CLUSTER_ROLE_BINDING;
    const KIND: &'static str = "ClusterRoleBinding";
    const PLURAL: &'static str = "clusterrolebindings";
    const NAMESPACED: bool = false;

    fn desired(attributes: &Attributes) -> Result<BindingObject, ProviderError> {
        binding_object::<Self>(attributes, "ClusterRole")
    }

    fn set_body(live: &mut BindingObject, desired: &BindingObject) {
        live.subjects = desired.subjects.clone();
    }

    fn immutable_change(live: &BindingObject, desired: &BindingObject) -> Option<String> {
        role_ref_change(live, desired)
    }

    fn body_attributes(object: &BindingObject, into: &mut Attributes) {
        into.insert("role".into(), Value::from(object.role_ref.name.as_str()));
        into.insert("subjects".into(), subjects_value(&object.subjects));
    }

    fn privileged(object: &BindingObject, privileged: &[String]) -> bool {
        privileged.contains(&object.role_ref.name)
    }
}
