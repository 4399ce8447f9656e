//! `provider "NAME" { … }`: credentials and endpoint for one provider. Evaluated when a run
//! configures the provider, not at load time, so `validate` needs no secrets.

use breakglass_provider::SmallMap;
use schemars::JsonSchema;
use serde::Serialize;

use super::resource::{DriftMode, Expression};
use crate::diagnostics::SourceRange;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::spanned::Spanned;

/// A provider's configuration as written.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProviderBlock {
    /// The provider's name (`local`, `aws`).
    #[serde(skip)]
    pub name: String,
    /// `"report"` (default) or `"revert"`: whether objects this provider lists as privileged,
    /// which nothing in the policy declares or grants, are only reported or also removed.
    pub drift: DriftMode,
    /// Attribute expressions, which may call `env("NAME")`.
    #[serde(flatten)]
    #[schemars(with = "std::collections::BTreeMap<String, Spanned<Expression>>")]
    pub expressions: SmallMap<String, Spanned<Expression>>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl ProviderBlock {
    /// Reads a `provider` block; its attributes are checked against the provider's schema by
    /// `load`.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Self {
        // A meta-argument, for the engine; everything else belongs to the provider's schema.
        let drift = reader
            .keyword(
                "drift",
                Presence::Optional,
                &[("report", DriftMode::Report), ("revert", DriftMode::Revert)],
            )
            .map(|d| d.value)
            .unwrap_or_default();
        let expressions = reader
            .remaining_attributes()
            .into_iter()
            .map(|attribute| {
                let range = reader.expression_range(&attribute.value);
                (
                    attribute.key.as_str().to_owned(),
                    Spanned::new(
                        Expression {
                            evaluable: hcl::Expression::from(attribute.value.clone()),
                            expr: attribute.value.clone(),
                            key_range: reader.key_range(attribute),
                        },
                        range,
                    ),
                )
            })
            .collect();
        Self { name: name.to_owned(), drift, expressions, range: reader.range().clone() }
    }
}
