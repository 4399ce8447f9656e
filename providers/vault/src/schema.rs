//! The `vault` provider's configuration and resource types. Attribute names follow Terraform's
//! Vault provider where it has the same object (`vault_policy`, `vault_identity_group`,
//! `vault_token_auth_backend_role`), so the HCL looks familiar; additions are marked.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// An ACL policy.
pub const POLICY: &str = "vault_policy";
/// An identity group (its policies; members are separate objects).
pub const GROUP: &str = "vault_identity_group";
/// One entity's membership in an identity group.
pub const GROUP_MEMBER: &str = "vault_identity_group_member";
/// A role of the token auth method.
pub const TOKEN_ROLE: &str = "vault_token_role";

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn strings() -> AttributeSchema {
    AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String)))
}

fn number() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Number)
}

fn boolean() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Bool)
}

/// The schema of the `vault` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "vault",
        "HashiCorp Vault and OpenBao: ACL policies, identity groups and their members, token \
         roles; a revert revokes the tokens and leases the grant issued.",
    )
    .config_attribute(
        "address",
        string().describe(
            "The server's URL, as https://vault.example.com:8200. Default: VAULT_ADDR, else \
             BAO_ADDR (both set and different is an error).",
        ),
    )
    .config_attribute(
        "token",
        string().sensitive().describe(
            "The token the tool acts with; write env(\"NAME\"), never the value. Default: \
             VAULT_TOKEN, else BAO_TOKEN.",
        ),
    )
    .config_attribute(
        "namespace",
        string().describe(
            "The namespace every call is made in (X-Vault-Namespace). Default: VAULT_NAMESPACE, \
             else BAO_NAMESPACE; none for the root namespace.",
        ),
    )
    .config_attribute(
        "ca_cert",
        string().describe(
            "A PEM file of CA certificates to trust for the server's TLS certificate, besides \
             the system's (relative to the policy directory). Default: VAULT_CACERT, else \
             BAO_CACERT.",
        ),
    )
    .config_attribute(
        "privileged_groups",
        strings().describe(
            "Identity groups whose membership is privileged access: members of them that \
             nothing in the policy declares or grants are drift that widens access.",
        ),
    )
    .config_attribute(
        "max_retries",
        number().describe(
            "Attempts per API call, the first included, for throttling and 5xx (default 5).",
        ),
    )
    .resource_type(
        POLICY,
        ResourceSchema::new(
            "An ACL policy. Its text is compared by meaning (paths, capabilities and \
             parameters), not character by character.",
        )
        .attribute(
            "name",
            string().required().forces_replacement().describe("The policy's name (lower case)."),
        )
        .attribute(
            "policy",
            string().required().describe(
                "The policy document, in HCL or JSON (path \"…\" { capabilities = […] }).",
            ),
        )
        .attribute(
            "expiration",
            string().describe(
                "breakglass, OpenBao 2.3+ only: RFC 3339 time at which OpenBao deletes the \
                 policy by itself; write activation.end in a role's template.",
            ),
        ),
    )
    .resource_type(
        GROUP,
        ResourceSchema::new(
            "An internal identity group and the policies its members get. Its members are \
             vault_identity_group_member objects, so the group never overwrites them.",
        )
        .attribute("name", string().required().forces_replacement().describe("The group's name."))
        .attribute("policies", strings().describe("Policies every member gets."))
        .attribute(
            "metadata",
            AttributeSchema::new(AttributeType::Map(Box::new(AttributeType::String)))
                .describe("Metadata on the group."),
        )
        .attribute("id", string().computed().describe("The id Vault gave the group.")),
    )
    .resource_type(
        GROUP_MEMBER,
        ResourceSchema::new(
            "One entity's membership in an internal identity group (other members are left \
             alone). Taking it back in a revert also revokes every token of the entity, and with \
             them every lease they hold.",
        )
        .attribute("group", string().required().forces_replacement().describe("The group's name."))
        .attribute(
            "entity",
            string()
                .required()
                .forces_replacement()
                .describe("The entity's name (a person's identities.vault, usually)."),
        )
        .attribute("entity_id", string().computed().describe("The entity's id."))
        .with_list(),
    )
    .resource_type(
        TOKEN_ROLE,
        ResourceSchema::new(
            "A role of the token auth method (auth/token/roles/NAME). When a grant creates it, \
             its tokens cannot outlive the grant's end (token_explicit_max_ttl), and the revert \
             revokes every token made with it.",
        )
        .attribute("name", string().required().forces_replacement().describe("The role's name."))
        .attribute("allowed_policies", strings().describe("Policies its tokens may carry."))
        .attribute(
            "disallowed_policies",
            strings().describe("Policies its tokens may never carry."),
        )
        .attribute(
            "orphan",
            boolean().describe(
                "Its tokens have no parent (default false: they die with the token that made \
                 them).",
            ),
        )
        .attribute("renewable", boolean().describe("Its tokens may be renewed (default true)."))
        .attribute(
            "token_type",
            string().describe("\"service\", \"batch\", or \"default-service\" (the default)."),
        )
        .attribute(
            "token_ttl",
            number().describe("The initial lifetime of its tokens, in seconds (0: the default)."),
        )
        .attribute(
            "token_explicit_max_ttl",
            number().describe(
                "The hard limit on its tokens' lifetime, in seconds. Computed from expires_at \
                 when that is set; set one or the other.",
            ),
        )
        .attribute(
            "expires_at",
            string().describe(
                "breakglass: RFC 3339 time no token of the role may outlive. Set \
                 automatically to the activation's end when a grant creates the role: \
                 token_explicit_max_ttl becomes the time left, and the tokens' path carries the \
                 end (path_suffix), so they can be revoked together.",
            ),
        )
        .attribute(
            "path_suffix",
            string().computed().describe("The suffix of its tokens' path (set by expires_at)."),
        )
        .with_expiry_attribute("expires_at"),
    )
}
