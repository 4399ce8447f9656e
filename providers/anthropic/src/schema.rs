//! The `anthropic` provider's configuration and resource types.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// Resource type of a workspace.
pub const WORKSPACE: &str = "anthropic_workspace";
/// Resource type of a workspace membership.
pub const MEMBER: &str = "anthropic_workspace_member";
/// Resource type of an API key's status.
pub const API_KEY_STATUS: &str = "anthropic_api_key_status";

/// Roles a membership may be given through the API (`workspace_billing` is set by the platform
/// only: <https://platform.claude.com/docs/en/api/admin/workspaces/members/create>).
pub const SETTABLE_ROLES: [&str; 4] =
    ["workspace_user", "workspace_developer", "workspace_restricted_developer", "workspace_admin"];

/// Statuses breakglass may set on an API key: both can be undone. `archived` cannot.
pub const SETTABLE_STATUSES: [&str; 2] = ["active", "inactive"];

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

/// The schema of the `anthropic` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "anthropic",
        "An Anthropic organization through the Admin API: workspaces, workspace members and the \
         status of API keys.",
    )
    .config_attribute(
        "admin_key",
        string().sensitive().describe(
            "Admin API key (sk-ant-admin…). Default: the ANTHROPIC_ADMIN_KEY environment variable.",
        ),
    )
    .config_attribute(
        "base_url",
        string().describe(
            "Base URL of the API. Default: ANTHROPIC_BASE_URL, else https://api.anthropic.com.",
        ),
    )
    .config_attribute(
        "api_version",
        string().describe("The anthropic-version header. Default: 2023-06-01."),
    )
    .config_attribute(
        "page_size",
        AttributeSchema::new(AttributeType::Number)
            .describe("Items per list call, 1 to 1000. Default: 100."),
    )
    .config_attribute(
        "privileged_roles",
        AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String))).describe(
            "Workspace roles that are privileged: members holding them that nothing in the policy \
             declares or grants are drift that widens access. Default: [\"workspace_admin\"].",
        ),
    )
    .resource_type(
        WORKSPACE,
        ResourceSchema::new(
            "An existing workspace: its name and whether it is archived (archiving cannot be \
             undone, so only the baseline may do it, never an override).",
        )
        .attribute(
            "workspace_id",
            string().required().forces_replacement().describe("The workspace id (wrkspc_…)."),
        )
        .attribute("name", string().describe("The workspace's name (1 to 40 characters)."))
        .attribute(
            "archived",
            AttributeSchema::new(AttributeType::Bool)
                .describe("Whether the workspace is archived. true archives it, for good."),
        )
        .attribute(
            "archived_at",
            string().computed().describe("When the workspace was archived (RFC 3339), or null."),
        ),
    )
    .resource_type(
        MEMBER,
        ResourceSchema::new(
            "A user's membership of a workspace, with its role. A role grant adds the member and \
             its revert removes it; an override changes the role and its revert restores it.",
        )
        .attribute(
            "workspace_id",
            string().required().forces_replacement().describe("The workspace id (wrkspc_…)."),
        )
        .attribute(
            "user_id",
            string().required().forces_replacement().describe("The user id (user_…)."),
        )
        .attribute(
            "workspace_role",
            string().required().describe(
                "workspace_user, workspace_developer, workspace_restricted_developer or \
                 workspace_admin.",
            ),
        )
        .with_list(),
    )
    .resource_type(
        API_KEY_STATUS,
        ResourceSchema::new(
            "The status of an existing API key: active, or inactive (the key is refused until it \
             is made active again). The reversible kill switch of an application's model access.",
        )
        .attribute(
            "api_key_id",
            string().required().forces_replacement().describe("The API key id (apikey_…)."),
        )
        .attribute(
            "status",
            string()
                .required()
                .describe("active or inactive. archived is refused: no API call can undo it."),
        )
        .attribute("name", string().computed().describe("The key's name."))
        .attribute(
            "workspace_id",
            string().computed().describe("The workspace the key belongs to (null: default)."),
        )
        .attribute(
            "partial_key_hint",
            string().computed().describe("A redacted hint of the key (sk-ant-api03-R2D…igAA)."),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_prefixed_by_the_provider_name_and_described() {
        let schema = schema();
        assert_eq!(schema.resource_types.len(), 3);
        for (name, resource) in &schema.resource_types {
            assert!(name.starts_with("anthropic_"), "{name}");
            for (attribute, definition) in &resource.attributes {
                assert!(!definition.description.is_empty(), "{name}.{attribute}");
            }
        }
        assert!(schema.config["admin_key"].sensitive);
        assert!(schema.resource_types[MEMBER].listable);
    }
}
