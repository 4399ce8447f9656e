//! The `openai` provider's configuration and resource types.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// Resource type of a user's membership of a project.
pub const PROJECT_USER: &str = "openai_project_user";
/// Resource type of a project's rate limit for one model.
pub const RATE_LIMIT: &str = "openai_project_rate_limit";
/// Resource type of a project's model allow list or deny list.
pub const MODEL_PERMISSIONS: &str = "openai_project_model_permissions";
/// Resource type of a project itself (its name; never archived).
pub const PROJECT: &str = "openai_project";

/// Every resource type, for messages.
pub const RESOURCE_TYPES: [&str; 4] = [PROJECT, PROJECT_USER, RATE_LIMIT, MODEL_PERMISSIONS];

/// The limits of a rate limit that can be set, as the API names them.
pub const LIMITS: [&str; 6] = [
    "max_requests_per_1_minute",
    "max_tokens_per_1_minute",
    "max_images_per_1_minute",
    "max_audio_megabytes_per_1_minute",
    "max_requests_per_1_day",
    "batch_1_day_max_input_tokens",
];

/// The roles a project user can hold.
pub const ROLES: [&str; 2] = ["owner", "member"];

/// The modes of a model permissions policy.
pub const MODES: [&str; 2] = ["allow_list", "deny_list"];

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn number() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Number)
}

fn project_id() -> AttributeSchema {
    string().required().forces_replacement().describe("The project's id (`proj_…`).")
}

/// The schema of the `openai` provider.
pub fn schema() -> ProviderSchema {
    let mut rate_limit = ResourceSchema::new(
        "A project's rate limit for one model. OpenAI keeps one per model a project can use; \
         breakglass changes its limits in place and never creates or deletes one. Lift or lower \
         it with an `override`: the revert writes back exactly the values read before.",
    )
    .attribute("project_id", project_id())
    .attribute(
        "model",
        string()
            .required()
            .forces_replacement()
            .describe("The model the limit applies to (`gpt-4o`), as the API lists it."),
    )
    .attribute(
        "rate_limit_id",
        string().computed().describe("The rate limit's id, as OpenAI assigns it (`rl-…`)."),
    );
    for (limit, what) in LIMITS.iter().zip([
        "Requests per minute.",
        "Tokens per minute.",
        "Images per minute (image models only).",
        "Audio megabytes per minute (audio models only).",
        "Requests per day (some models only).",
        "Batch input tokens per day (some models only).",
    ]) {
        rate_limit = rate_limit.attribute(*limit, number().optional().describe(what));
    }

    ProviderSchema::new(
        "openai",
        "OpenAI organization administration: project membership, per-model rate limits and \
         model permissions, through the Administration API and an Admin API key.",
    )
    .config_attribute(
        "admin_key",
        string().sensitive().describe(
            "An organization Admin API key (`sk-admin-…`). Defaults to the OPENAI_ADMIN_KEY \
             environment variable, as OpenAI's own SDKs do.",
        ),
    )
    .config_attribute(
        "base_url",
        string().describe(
            "The API's base URL. Defaults to OPENAI_BASE_URL, else https://api.openai.com/v1. \
             Plain http is accepted only for a loopback address (a local test server).",
        ),
    )
    .config_attribute(
        "page_size",
        number().describe("Objects asked for per page when listing (1 to 100, default 100)."),
    )
    .config_attribute(
        "max_attempts",
        number().describe(
            "Attempts per API call, the first included, when OpenAI throttles (429) or fails \
             (5xx) (default 5).",
        ),
    )
    .config_attribute(
        "timeout_seconds",
        number().describe("How long one API call may take, in seconds (default 30)."),
    )
    .resource_type(
        PROJECT,
        ResourceSchema::new(
            "A project that exists in the organization, adopted by its id: breakglass keeps its \
             name and reads its status. It never creates a project, and it never archives one, \
             since an archived project cannot be brought back.",
        )
        .attribute("project_id", project_id())
        .attribute("name", string().optional().describe("The project's name, shown in reports."))
        .attribute("status", string().computed().describe("`active` or `archived`.")),
    )
    .resource_type(
        PROJECT_USER,
        ResourceSchema::new(
            "A user's membership of a project, with a role. Granting adds the user or raises the \
             role; the revert removes the user or puts the previous role back.",
        )
        .attribute("project_id", project_id())
        .attribute(
            "user_id",
            string().required().forces_replacement().describe(
                "The user's id (`user-…`). The user must already belong to the organization.",
            ),
        )
        .attribute("role", string().required().describe("`owner` or `member`."))
        .attribute("email", string().computed().describe("The user's email address."))
        .attribute("name", string().computed().describe("The user's name."))
        .attribute(
            "added_at",
            number().computed().describe("When the user was added (Unix seconds)."),
        )
        .with_list(),
    )
    .resource_type(RATE_LIMIT, rate_limit)
    .resource_type(
        MODEL_PERMISSIONS,
        ResourceSchema::new(
            "A project's model permissions: an allow list (only these models) or a deny list \
             (every model but these). An override can deny a model in an incident; the revert \
             writes back the list read before.",
        )
        .attribute("project_id", project_id())
        .attribute("mode", string().required().describe("`allow_list` or `deny_list`."))
        .attribute(
            "model_ids",
            AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String)))
                .required()
                .describe("The models allowed (allow list) or denied (deny list)."),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_named_after_the_provider_and_takes_a_project() {
        let schema = schema();
        assert_eq!(schema.resource_types.len(), RESOURCE_TYPES.len());
        for name in RESOURCE_TYPES {
            let resource = &schema.resource_types[name];
            assert!(name.starts_with("openai_"), "{name}");
            let project = &resource.attributes["project_id"];
            assert!(project.required && project.forces_replacement, "{name}");
            assert!(resource.expiry_attribute.is_none(), "OpenAI ends no access by itself");
        }
        assert!(schema.config["admin_key"].sensitive);
    }

    #[test]
    fn rate_limit_offers_every_limit_of_the_update_request() {
        let resource = &schema().resource_types[RATE_LIMIT];
        for limit in LIMITS {
            let attribute = &resource.attributes[limit];
            assert!(!attribute.required && !attribute.computed, "{limit}");
        }
        assert!(resource.attributes["rate_limit_id"].computed);
    }
}
