//! The `gcp` provider's configuration and resource types. Type and attribute names follow
//! Terraform's Google provider (`google_project_iam_member`'s `project`, `role`, `member`;
//! `google_organization_iam_member`'s `org_id`), so the HCL looks familiar; `expires_at` and
//! the computed `condition_*` attributes are breakglass's.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// A member's role binding on a project.
pub const PROJECT_IAM_MEMBER: &str = "gcp_project_iam_member";
/// A member's role binding on a folder.
pub const FOLDER_IAM_MEMBER: &str = "gcp_folder_iam_member";
/// A member's role binding on an organization.
pub const ORGANIZATION_IAM_MEMBER: &str = "gcp_organization_iam_member";

/// Every resource type, for messages.
pub const RESOURCE_TYPES: [&str; 3] =
    [PROJECT_IAM_MEMBER, FOLDER_IAM_MEMBER, ORGANIZATION_IAM_MEMBER];

/// The attribute that holds the native expiry.
pub const EXPIRES_AT: &str = "expires_at";

/// The roles whose bindings are privileged unless the provider block names others.
pub const DEFAULT_PRIVILEGED_ROLES: [&str; 2] = ["roles/owner", "roles/editor"];

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn number() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Number)
}

/// The attributes every `*_iam_member` type shares, after the one naming the resource.
fn iam_member(
    description: &str,
    container: &str,
    container_schema: AttributeSchema,
) -> ResourceSchema {
    ResourceSchema::new(description)
        .attribute(container, container_schema.required().forces_replacement())
        .attribute(
            "role",
            string().required().forces_replacement().describe(
                "The role granted: a predefined role (`roles/cloudsql.admin`) or a custom one \
                 (`projects/P/roles/R`, `organizations/O/roles/R`).",
            ),
        )
        .attribute(
            "member",
            string().required().forces_replacement().describe(
                "Who gets it, as IAM writes principals: `user:alice@example.com`, \
                 `group:…`, `serviceAccount:…`, `domain:…`, `principal://…`, `principalSet://…`.",
            ),
        )
        .attribute(
            EXPIRES_AT,
            string().optional().describe(
                "breakglass: RFC 3339 time at which Google itself stops honouring the binding: \
                 it is written with the IAM Condition `request.time < timestamp(\"END\")`, \
                 titled with the activation id. Set automatically to the activation's end when a \
                 role grant creates the binding (except for the basic roles `roles/owner`, \
                 `roles/editor` and `roles/viewer`, which IAM refuses to condition).",
            ),
        )
        .attribute(
            "condition_title",
            string().computed().describe(
                "The title of the binding's IAM Condition, if it has one: for breakglass's own \
                 expiry, the activation that granted it.",
            ),
        )
        .attribute(
            "condition_expression",
            string().computed().describe("The CEL expression of the binding's IAM Condition."),
        )
        .with_expiry_attribute(EXPIRES_AT)
        .with_list()
}

/// The schema of the `gcp` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "gcp",
        "Google Cloud IAM: role bindings on projects, folders and organizations, through the \
         Cloud Resource Manager API (v3). Emergency bindings carry an IAM Condition that ends \
         them on Google's side.",
    )
    .config_attribute(
        "credentials",
        string().sensitive().describe(
            "A service account key file (JSON), as a path relative to the policy directory, or \
             its contents. Default: GOOGLE_APPLICATION_CREDENTIALS. Ignored when an access \
             token is given.",
        ),
    )
    .config_attribute(
        "access_token",
        string().sensitive().describe(
            "An OAuth 2.0 access token to use as it is (it cannot be refreshed). Default: \
             GOOGLE_OAUTH_ACCESS_TOKEN. The block wins over the environment, and a token over a \
             key file, as in Terraform.",
        ),
    )
    .config_attribute(
        "token_uri",
        string().describe(
            "The OAuth 2.0 token endpoint a service account's signed JWT is exchanged at. \
             Default: the key file's `token_uri`, else https://oauth2.googleapis.com/token.",
        ),
    )
    .config_attribute(
        "endpoint",
        string().describe(
            "The Cloud Resource Manager API's root URL. Default: \
             CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER, else \
             https://cloudresourcemanager.googleapis.com/. Plain http only for a loopback \
             address (a local test server).",
        ),
    )
    .config_attribute(
        "privileged_roles",
        AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String))).describe(
            "Roles whose bindings grant privileged access: bindings of them that nothing in the \
             policy declares or grants are drift that widens access. Default: roles/owner and \
             roles/editor.",
        ),
    )
    .config_attribute(
        "max_attempts",
        number().describe(
            "Attempts per API call, the first included, when Google throttles (429) or fails \
             (5xx) (1 to 20, default 5).",
        ),
    )
    .config_attribute(
        "timeout_seconds",
        number().describe("How long one API call may take, in seconds (1 to 600, default 30)."),
    )
    .resource_type(
        PROJECT_IAM_MEMBER,
        iam_member(
            "One member's binding to one role in a project's IAM policy; the policy's other \
             bindings and members are left alone.",
            "project",
            string().describe("The project's id (`my-project`) or number."),
        ),
    )
    .resource_type(
        FOLDER_IAM_MEMBER,
        iam_member(
            "One member's binding to one role in a folder's IAM policy; the policy's other \
             bindings and members are left alone.",
            "folder",
            string().describe("The folder, as `folders/123456` or `123456`."),
        ),
    )
    .resource_type(
        ORGANIZATION_IAM_MEMBER,
        iam_member(
            "One member's binding to one role in an organization's IAM policy; the policy's \
             other bindings and members are left alone.",
            "org_id",
            string().describe("The organization's numeric id (`123456789`)."),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_native_expiry_and_a_listing() {
        let schema = schema();
        assert_eq!(schema.resource_types.len(), RESOURCE_TYPES.len());
        for name in RESOURCE_TYPES {
            let resource = &schema.resource_types[name];
            assert!(name.starts_with("gcp_"), "{name}");
            assert_eq!(resource.expiry_attribute.as_deref(), Some(EXPIRES_AT), "{name}");
            assert!(resource.listable, "{name}");
            for attribute in ["role", "member"] {
                let attribute = &resource.attributes[attribute];
                assert!(attribute.required && attribute.forces_replacement, "{name}");
            }
            assert!(!resource.attributes[EXPIRES_AT].required);
            assert!(resource.attributes["condition_title"].computed);
        }
        assert!(schema.config["credentials"].sensitive);
        assert!(schema.config["access_token"].sensitive);
    }
}
