//! The schema of the `kubernetes` provider: its configuration and its four RBAC types.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// `kubernetes_role`: a namespaced Role.
pub const ROLE: &str = "kubernetes_role";
/// `kubernetes_cluster_role`: a ClusterRole.
pub const CLUSTER_ROLE: &str = "kubernetes_cluster_role";
/// `kubernetes_role_binding`: a namespaced RoleBinding.
pub const ROLE_BINDING: &str = "kubernetes_role_binding";
/// `kubernetes_cluster_role_binding`: a ClusterRoleBinding.
pub const CLUSTER_ROLE_BINDING: &str = "kubernetes_cluster_role_binding";
/// Every resource type, in the order the docs list them.
pub const RESOURCE_TYPES: [&str; 4] = [ROLE, CLUSTER_ROLE, ROLE_BINDING, CLUSTER_ROLE_BINDING];

/// The keys a rule may have, as HCL writes them, and the API field each stands for.
pub const RULE_KEYS: [(&str, &str); 5] = [
    ("api_groups", "apiGroups"),
    ("resources", "resources"),
    ("verbs", "verbs"),
    ("resource_names", "resourceNames"),
    ("non_resource_urls", "nonResourceURLs"),
];

/// The keys a subject may have.
pub const SUBJECT_KEYS: [&str; 4] = ["kind", "name", "namespace", "api_group"];

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn strings() -> AttributeType {
    AttributeType::List(Box::new(AttributeType::String))
}

fn name(what: &str) -> AttributeSchema {
    string().required().forces_replacement().describe(format!(
        "The {what}'s name (`metadata.name`). Kubernetes cannot rename an object: a new name \
         replaces it."
    ))
}

fn namespace() -> AttributeSchema {
    string()
        .required()
        .forces_replacement()
        .describe("The namespace it lives in (`metadata.namespace`).")
}

fn labels() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Map(Box::new(AttributeType::String))).describe(
        "Labels breakglass sets on the object (added or changed, never removed: labels others \
         set are kept). Keys under `breakglass.dev/` are breakglass's own.",
    )
}

fn uid() -> AttributeSchema {
    string().computed().describe(
        "The object's uid. A delete names it as a precondition, so only the object that was \
         read is ever deleted.",
    )
}

fn activation() -> AttributeSchema {
    string().computed().describe(
        "The activation that created the object (label and annotation \
         `breakglass.dev/activation`); empty for objects an activation did not create.",
    )
}

fn rules() -> AttributeSchema {
    AttributeSchema::new(AttributeType::List(Box::new(AttributeType::Map(Box::new(strings())))))
        .required()
        .describe(
            "The PolicyRules: a list of objects with `api_groups`, `resources`, `verbs`, \
             `resource_names` and `non_resource_urls` (lists of strings; `verbs` required). \
             Compared as a set: order does not matter.",
        )
}

fn subjects() -> AttributeSchema {
    AttributeSchema::new(AttributeType::List(Box::new(AttributeType::Map(Box::new(
        AttributeType::String,
    )))))
    .required()
    .describe(
        "Who the binding applies to: a list of objects with `kind` (`User`, `Group` or \
         `ServiceAccount`), `name`, and `namespace` for a ServiceAccount. Compared as a set.",
    )
}

fn role(kind: &str) -> AttributeSchema {
    string().required().forces_replacement().describe(format!(
        "The name of the {kind} it grants (`roleRef.name`). A binding's roleRef cannot change: \
         another role replaces the binding."
    ))
}

fn role_object(what: &str, description: &str) -> ResourceSchema {
    ResourceSchema::new(description)
        .attribute("name", name(what))
        .attribute("rules", rules())
        .attribute("labels", labels())
        .attribute("uid", uid())
        .attribute("activation", activation())
        .with_list()
}

/// The schema of the `kubernetes` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "kubernetes",
        "Kubernetes RBAC: Roles, ClusterRoles and the bindings that grant them, through the API \
         server named by a kubeconfig context. Kubernetes cannot expire a binding by itself, so \
         access ends with breakglass's revert, which deletes exactly the binding the activation \
         created.",
    )
    .config_attribute(
        "kubeconfig",
        string().describe(
            "The kubeconfig file. Defaults to the KUBECONFIG environment variable (a list of \
             files, merged as kubectl does), else ~/.kube/config. A relative path is relative \
             to the policy directory.",
        ),
    )
    .config_attribute(
        "context",
        string().describe("The kubeconfig context to use. Defaults to its current-context."),
    )
    .config_attribute(
        "privileged_cluster_roles",
        AttributeSchema::new(strings()).describe(
            "ClusterRoles whose bindings are privileged access (default [\"cluster-admin\"]): a \
             binding to one of them that nothing in the policy declares or grants is drift that \
             widens access, reported by plan and removed where the block says drift = \
             \"revert\". Kubernetes' own default bindings (label \
             kubernetes.io/bootstrapping=rbac-defaults) are never drift.",
        ),
    )
    .config_attribute(
        "page_size",
        AttributeSchema::new(AttributeType::Number)
            .describe("Objects asked for per page when listing (`limit`; 1 to 5000, default 500)."),
    )
    .config_attribute(
        "max_attempts",
        AttributeSchema::new(AttributeType::Number).describe(
            "Attempts per API call, the first included, when the API server throttles (429) or \
             fails (5xx) (default 5).",
        ),
    )
    .config_attribute(
        "timeout_seconds",
        AttributeSchema::new(AttributeType::Number)
            .describe("How long one API call may take, in seconds (default 30)."),
    )
    .resource_type(
        ROLE,
        role_object(
            "Role",
            "A namespaced Role: a set of rules a RoleBinding in the same namespace grants.",
        )
        .attribute("namespace", namespace()),
    )
    .resource_type(
        CLUSTER_ROLE,
        role_object(
            "ClusterRole",
            "A ClusterRole: a set of rules a ClusterRoleBinding grants cluster-wide, or a \
             RoleBinding grants in its namespace.",
        ),
    )
    .resource_type(
        ROLE_BINDING,
        ResourceSchema::new(
            "A RoleBinding: grants a Role of its namespace, or a ClusterRole within its \
             namespace, to users, groups or service accounts. In a `role` block it is an \
             emergency grant: created labelled with the activation, deleted at its end.",
        )
        .attribute("name", name("RoleBinding"))
        .attribute("namespace", namespace())
        .attribute(
            "role_kind",
            string().forces_replacement().describe(
                "`ClusterRole` (the default) or `Role` (`roleRef.kind`). Cannot change: \
                 another kind replaces the binding.",
            ),
        )
        .attribute("role", role("Role or ClusterRole"))
        .attribute("subjects", subjects())
        .attribute("labels", labels())
        .attribute("uid", uid())
        .attribute("activation", activation())
        .with_list(),
    )
    .resource_type(
        CLUSTER_ROLE_BINDING,
        ResourceSchema::new(
            "A ClusterRoleBinding: grants a ClusterRole cluster-wide to users, groups or service \
             accounts. In a `role` block it is an emergency grant (cluster-admin for the \
             incident): created labelled with the activation, deleted at its end.",
        )
        .attribute("name", name("ClusterRoleBinding"))
        .attribute("role", role("ClusterRole"))
        .attribute("subjects", subjects())
        .attribute("labels", labels())
        .attribute("uid", uid())
        .attribute("activation", activation())
        .with_list(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_listable_named_after_the_provider_and_has_no_native_expiry() {
        let schema = schema();
        assert_eq!(schema.resource_types.len(), RESOURCE_TYPES.len());
        for name in RESOURCE_TYPES {
            let resource = &schema.resource_types[name];
            assert!(name.starts_with("kubernetes_"), "{name}");
            assert!(resource.listable, "{name}");
            assert!(resource.expiry_attribute.is_none(), "Kubernetes expires no binding");
            let id = &resource.attributes["name"];
            assert!(id.required && id.forces_replacement, "{name}");
            assert!(resource.attributes["uid"].computed, "{name}");
        }
        for binding in [ROLE_BINDING, CLUSTER_ROLE_BINDING] {
            assert!(schema.resource_types[binding].attributes["role"].forces_replacement);
        }
    }
}
