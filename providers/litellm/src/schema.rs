//! The `litellm` provider's configuration and resource types.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// Resource type of a virtual key.
pub const KEY: &str = "litellm_key";
/// Resource type of a team's blocked flag.
pub const TEAM: &str = "litellm_team";

fn of(ty: AttributeType) -> AttributeSchema {
    AttributeSchema::new(ty)
}

/// The schema of the `litellm` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "litellm",
        "A LiteLLM proxy through its admin API: virtual keys (emergency keys with a native \
         expiry, limits, blocking) and blocking of teams.",
    )
    .config_attribute(
        "base_url",
        of(AttributeType::String).describe(
            "Base URL of the proxy (http://litellm.internal:4000). Default: LITELLM_BASE_URL.",
        ),
    )
    .config_attribute(
        "master_key",
        of(AttributeType::String)
            .sensitive()
            .describe("The proxy's master key. Default: the LITELLM_MASTER_KEY variable."),
    )
    .resource_type(
        KEY,
        ResourceSchema::new(
            "A virtual key of the proxy, known by its alias. Keys made within an activation end \
             by themselves at its end (LiteLLM's own expiry).",
        )
        .attribute(
            "key_alias",
            of(AttributeType::String)
                .required()
                .forces_replacement()
                .describe("The key's alias: unique on the proxy, and the key's identity here."),
        )
        .attribute(
            "models",
            of(AttributeType::List(Box::new(AttributeType::String)))
                .describe("Model names the key may call; empty means every model."),
        )
        .attribute(
            "max_budget",
            of(AttributeType::Number).describe("Most the key may spend, in USD."),
        )
        .attribute("rpm_limit", of(AttributeType::Number).describe("Requests per minute."))
        .attribute("tpm_limit", of(AttributeType::Number).describe("Tokens per minute."))
        .attribute("team_id", of(AttributeType::String).describe("The team the key belongs to."))
        .attribute(
            "blocked",
            of(AttributeType::Bool)
                .describe("Whether the key is blocked (/key/block, /key/unblock)."),
        )
        .attribute(
            "expires_at",
            of(AttributeType::String).describe(
                "RFC 3339 time at which the proxy stops accepting the key (sent as LiteLLM's \
                 `duration`). Set to the activation's end for keys a role grant makes.",
            ),
        )
        .attribute(
            "token",
            of(AttributeType::String)
                .computed()
                .describe("LiteLLM's hash of the key, its id in the proxy. Not the secret."),
        )
        .with_expiry_attribute("expires_at"),
    )
    .resource_type(
        TEAM,
        ResourceSchema::new(
            "An existing team's blocked flag: blocking a team refuses every key of the team \
             (/team/block, /team/unblock).",
        )
        .attribute(
            "team_id",
            of(AttributeType::String).required().forces_replacement().describe("The team id."),
        )
        .attribute(
            "blocked",
            of(AttributeType::Bool).required().describe("Whether the team is blocked."),
        )
        .attribute(
            "team_alias",
            of(AttributeType::String).computed().describe("The team's alias."),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_native_expiry_and_every_attribute_is_described() {
        let schema = schema();
        assert_eq!(schema.resource_types[KEY].expiry_attribute.as_deref(), Some("expires_at"));
        for (name, resource) in &schema.resource_types {
            assert!(name.starts_with("litellm_"), "{name}");
            for (attribute, definition) in &resource.attributes {
                assert!(!definition.description.is_empty(), "{name}.{attribute}");
            }
        }
        assert!(schema.config["master_key"].sensitive);
    }
}
