//! The `azure` provider's configuration and resource type. Attribute names follow Terraform's
//! `azurerm_role_assignment` where they mean the same (`scope`, `role_definition_id`,
//! `principal_id`, `principal_type`); `expires_at` is breakglass's own.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// A role assignment: a principal holds a role at a scope.
pub const ROLE_ASSIGNMENT: &str = "azure_role_assignment";

/// Every resource type, for messages.
pub const RESOURCE_TYPES: [&str; 1] = [ROLE_ASSIGNMENT];

/// The principal types a role assignment names (`PrincipalType` in the 2022-04-01 API).
pub const PRINCIPAL_TYPES: [&str; 4] = ["User", "Group", "ServicePrincipal", "ForeignGroup"];

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn number() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Number)
}

/// The schema of the `azure` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "azure",
        "Azure role-based access control: role assignments at any scope, granted in an \
         emergency as Privileged Identity Management schedules that Azure ends by itself.",
    )
    .config_attribute(
        "tenant_id",
        string().describe("The Microsoft Entra tenant (directory) id. Default: AZURE_TENANT_ID."),
    )
    .config_attribute(
        "client_id",
        string().describe(
            "The application (client) id of the service principal breakglass acts as. Default: \
             AZURE_CLIENT_ID.",
        ),
    )
    .config_attribute(
        "client_secret",
        string().sensitive().describe(
            "The service principal's client secret; use env(). Default: AZURE_CLIENT_SECRET.",
        ),
    )
    .config_attribute(
        "authority_host",
        string().describe(
            "The Microsoft identity platform's host. Default: AZURE_AUTHORITY_HOST, else \
             https://login.microsoftonline.com. Plain http only for a loopback address.",
        ),
    )
    .config_attribute(
        "resource_manager_endpoint",
        string().describe(
            "Azure Resource Manager's endpoint (a sovereign cloud, or a local test server). \
             Default: AZURE_RESOURCE_MANAGER_ENDPOINT, else https://management.azure.com. The \
             token is asked for this endpoint's audience (`ENDPOINT/.default`).",
        ),
    )
    .config_attribute(
        "privileged_roles",
        AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String))).describe(
            "Role definitions (ids or GUIDs) whose assignments grant privileged access: \
             assignments of them at a listed scope that nothing in the policy grants are drift \
             that widens access. Default: Owner, Contributor, User Access Administrator and Role \
             Based Access Control Administrator.",
        ),
    )
    .config_attribute(
        "max_attempts",
        number().describe(
            "Attempts per API call, the first included, when Azure throttles (429) or fails \
             (5xx) (1 to 20, default 5).",
        ),
    )
    .config_attribute(
        "timeout_seconds",
        number().describe("How long one API call may take, in seconds (1 to 600, default 30)."),
    )
    .config_attribute(
        "operation_timeout_seconds",
        number().describe(
            "How long to wait for a schedule request to finish and for reads to show a change \
             (Azure's role assignments are eventually consistent), in seconds (1 to 3600, \
             default 300).",
        ),
    )
    .config_attribute(
        "poll_interval_seconds",
        number().describe(
            "The first wait between two looks at a pending request or a change not yet \
             visible; it doubles up to 10 s (0.01 to 60, default 1).",
        ),
    )
    .resource_type(
        ROLE_ASSIGNMENT,
        ResourceSchema::new(
            "An Azure role assignment: a principal (user, group or service principal) holds a \
             role at a scope (management group, subscription, resource group or resource). In \
             the baseline it is a plain role assignment; granted by an activation it is an \
             active PIM assignment with an end that Azure enforces itself.",
        )
        .attribute(
            "scope",
            string().required().forces_replacement().describe(
                "Where the role applies: /subscriptions/ID, \
                 /subscriptions/ID/resourceGroups/NAME, a resource id, or \
                 /providers/Microsoft.Management/managementGroups/ID.",
            ),
        )
        .attribute(
            "role_definition_id",
            string().required().forces_replacement().describe(
                "The role's id, /subscriptions/ID/providers/Microsoft.Authorization/\
                 roleDefinitions/GUID (or /providers/Microsoft.Authorization/roleDefinitions/\
                 GUID). Compared by its GUID.",
            ),
        )
        .attribute(
            "principal_id",
            string()
                .required()
                .forces_replacement()
                .describe("The object id of the user, group or service principal."),
        )
        .attribute(
            "principal_type",
            string().forces_replacement().describe(
                "User, Group, ServicePrincipal or ForeignGroup. Optional; naming it lets Azure \
                 assign a principal created moments ago (directory replication).",
            ),
        )
        .attribute(
            "expires_at",
            string().describe(
                "breakglass: RFC 3339 time at which Azure itself ends the assignment (a PIM \
                 schedule's expiration). Set automatically to the activation's end when a role \
                 grant creates the assignment.",
            ),
        )
        .attribute(
            "assignment_id",
            string().computed().describe("The role assignment's id, as Azure gave it."),
        )
        .with_expiry_attribute("expires_at")
        .with_list(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_assignment_expires_natively_and_is_listable() {
        let schema = schema();
        assert_eq!(schema.resource_types.len(), RESOURCE_TYPES.len());
        let assignment = &schema.resource_types[ROLE_ASSIGNMENT];
        assert_eq!(assignment.expiry_attribute.as_deref(), Some("expires_at"));
        assert!(assignment.listable);
        for name in ["scope", "role_definition_id", "principal_id"] {
            let attribute = &assignment.attributes[name];
            assert!(attribute.required && attribute.forces_replacement, "{name}");
        }
        assert!(assignment.attributes["assignment_id"].computed);
        assert!(schema.config["client_secret"].sensitive);
    }
}
