//! The `local` provider's configuration and resource types.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// Resource type of an access entry.
pub const ACCESS: &str = "local_access";
/// Resource type of a setting.
pub const SETTING: &str = "local_setting";

/// The schema of the `local` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "local",
        "An application's access list and settings, kept in a JSON document on disk.",
    )
    .config_attribute(
        "path",
        AttributeSchema::new(AttributeType::String)
            .required()
            .describe("Path of the JSON document, relative to the policy directory."),
    )
    .config_attribute(
        "latency_ms",
        AttributeSchema::new(AttributeType::Number)
            .describe("Simulated latency of each API call, in milliseconds (benchmarks, drills)."),
    )
    .config_attribute(
        "page_size",
        AttributeSchema::new(AttributeType::Number)
            .describe("Objects returned per simulated `list` call (default 100)."),
    )
    .config_attribute(
        "privileged_roles",
        AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String))).describe(
            "Application roles that grant privileged access: entries holding them that nothing in \
             the policy grants are drift that widens access.",
        ),
    )
    .config_attribute(
        "fail_writes_to",
        AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String)))
            .describe("Ids whose writes fail with a simulated error (failure drills and tests)."),
    )
    .resource_type(
        ACCESS,
        ResourceSchema::new("An access entry: `principal` holds `role` until `expires_at`.")
            .attribute(
                "principal",
                AttributeSchema::new(AttributeType::String)
                    .required()
                    .forces_replacement()
                    .describe("Who holds the access (a user name, `team:NAME`)."),
            )
            .attribute(
                "role",
                AttributeSchema::new(AttributeType::String)
                    .required()
                    .forces_replacement()
                    .describe("The application role held."),
            )
            .attribute(
                "expires_at",
                AttributeSchema::new(AttributeType::String).describe(
                    "RFC 3339 time after which the application ignores the entry. Set \
                     automatically to the activation's end for emergency grants.",
                ),
            )
            .with_expiry_attribute("expires_at")
            .with_list(),
    )
    .resource_type(
        SETTING,
        ResourceSchema::new("An application setting (a feature flag, a model kill switch).")
            .attribute(
                "key",
                AttributeSchema::new(AttributeType::String)
                    .required()
                    .forces_replacement()
                    .describe("The setting's name."),
            )
            .attribute(
                "value",
                AttributeSchema::new(AttributeType::String)
                    .required()
                    .describe("The setting's value."),
            )
            .with_list(),
    )
}
