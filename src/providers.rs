//! The providers compiled into this binary, by name.

use breakglass_provider::{Provider, ProviderFactory};
use std::collections::BTreeMap;

use crate::policy::ProviderSchemas;

/// Every provider's factory, by provider name.
pub fn registry() -> BTreeMap<&'static str, ProviderFactory> {
    let mut registry: BTreeMap<&'static str, ProviderFactory> = BTreeMap::new();
    registry.insert("local", breakglass_provider_local::LocalProvider::boxed);
    registry.insert("postgres", breakglass_provider_postgres::PostgresProvider::boxed);
    registry.insert("anthropic", breakglass_provider_anthropic::AnthropicProvider::boxed);
    registry.insert("litellm", breakglass_provider_litellm::LiteLlmProvider::boxed);
    registry.insert("openai", breakglass_provider_openai::OpenAiProvider::boxed);
    registry.insert("aws", breakglass_provider_aws::AwsProvider::boxed);
    registry.insert("kubernetes", breakglass_provider_kubernetes::KubernetesProvider::boxed);
    registry.insert("azure", breakglass_provider_azure::AzureProvider::boxed);
    registry.insert("gcp", breakglass_provider_gcp::GcpProvider::boxed);
    registry.insert("vault", breakglass_provider_vault::VaultProvider::boxed);
    registry
}

/// Every provider's schema, for validation.
pub fn schemas() -> ProviderSchemas {
    registry()
        .into_iter()
        .map(|(name, factory)| {
            let provider: Box<dyn Provider> = factory();
            (name.to_owned(), provider.schema())
        })
        .collect()
}
