//! Providers configured for one run: each `provider` block evaluated (with `env(…)`) and
//! handed to its provider.

use breakglass_provider::{Attributes, ConfigureRequest, Provider, ProviderSchema};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::EngineError;
use crate::policy::Policy;
use crate::policy::eval::{self, Functions};

/// The configured providers of a run, by name.
#[derive(Clone, Default)]
pub struct Providers {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    schemas: BTreeMap<String, ProviderSchema>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").field("names", &self.providers.keys()).finish()
    }
}

/// Every provider the policy uses: a `provider` block, a baseline resource or a role template.
fn used_providers(policy: &Policy) -> BTreeSet<String> {
    let mut used: BTreeSet<String> = policy.providers.keys().cloned().collect();
    used.extend(policy.resources.keys().map(|a| a.provider().to_owned()));
    for role in policy.roles.values() {
        used.extend(role.resources.iter().map(|t| t.address.provider().to_owned()));
    }
    used
}

impl Providers {
    /// Configures every provider the policy uses (a `provider` block, a baseline resource or a
    /// role template of its type).
    pub async fn configure(policy: &Policy) -> Result<Self, EngineError> {
        let registry = crate::providers::registry();
        let used = used_providers(policy);
        let context = eval::context(Functions::WithEnv);
        let mut configured = Self::default();
        for name in used {
            let factory = registry
                .get(name.as_str())
                .ok_or_else(|| EngineError::UnknownProvider(name.clone()))?;
            let mut provider = factory();
            let mut config = Attributes::new();
            if let Some(block) = policy.providers.get(&name) {
                for (key, expression) in &block.expressions {
                    let value = eval::evaluate(&expression.value.expr, &context, &policy.dir)
                        .map_err(|problems| EngineError::ProviderConfig {
                            provider: name.clone(),
                            message: format!(
                                "{}: {}",
                                key,
                                problems
                                    .into_iter()
                                    .map(|p| p.message)
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ),
                        })?;
                    config.insert(key.as_str().into(), value);
                }
            }
            provider.configure(ConfigureRequest::new(config, policy.dir.clone())).await.map_err(
                |error| EngineError::ProviderConfig {
                    provider: name.clone(),
                    message: error.to_string(),
                },
            )?;
            configured.schemas.insert(name.clone(), provider.schema());
            configured.providers.insert(name, Arc::from(provider));
        }
        Ok(configured)
    }

    /// Every provider the policy uses, not configured: enough for ids and schemas when no live
    /// object will be read (`--refresh=false`), so a responder needs no platform credentials.
    pub fn unconfigured(policy: &Policy) -> Result<Self, EngineError> {
        let registry = crate::providers::registry();
        let mut providers = Self::default();
        for name in used_providers(policy) {
            let factory = registry
                .get(name.as_str())
                .ok_or_else(|| EngineError::UnknownProvider(name.clone()))?;
            let provider = factory();
            providers.schemas.insert(name.clone(), provider.schema());
            providers.providers.insert(name, Arc::from(provider));
        }
        Ok(providers)
    }

    /// Providers given directly (tests, benchmarks).
    pub fn from_providers(
        providers: impl IntoIterator<Item = (String, Arc<dyn Provider>)>,
    ) -> Self {
        let mut configured = Self::default();
        for (name, provider) in providers {
            configured.schemas.insert(name.clone(), provider.schema());
            configured.providers.insert(name, provider);
        }
        configured
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn Provider>, EngineError> {
        self.providers.get(name).ok_or_else(|| EngineError::UnknownProvider(name.to_owned()))
    }

    /// The schema of `resource_type` of provider `name`, if offered.
    pub fn resource_schema(
        &self,
        name: &str,
        resource_type: &str,
    ) -> Option<&breakglass_provider::ResourceSchema> {
        self.schemas.get(name)?.resource_types.get(resource_type)
    }
}
