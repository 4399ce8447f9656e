//! `resource "TYPE" "NAME" { … }` (baseline) and the resource templates inside roles.

use hcl_edit::structure::Block;
use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

use breakglass_provider::{Attributes, SmallMap};

use crate::address::ResourceAddress;
use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::eval;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// What `reconcile` does when a managed resource changed outside breakglass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Show it in plans and report it (default).
    #[default]
    Report,
    /// Also put it back automatically, when putting it back reduces access.
    Revert,
}

/// An attribute's expression as written, kept for evaluation later (role templates are
/// evaluated per activation; provider blocks when a run configures them), with where its key
/// is, for "unknown attribute" diagnostics. Wrapped in a `Spanned` whose range is the value's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    /// The expression.
    pub expr: hcl_edit::expr::Expression,
    /// The same, converted once for evaluation (`file(…)` inlined), since role templates are
    /// evaluated once per activation.
    pub evaluable: hcl::Expression,
    /// Where the attribute's name is written.
    pub key_range: SourceRange,
}

impl Serialize for Expression {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        hcl::Expression::from(self.expr.clone()).serialize(serializer)
    }
}

impl JsonSchema for Expression {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Expression".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A value, or an HCL expression as a \"${…}\" template string.",
        })
    }
}

/// A baseline resource: always desired, whatever activations are live.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceDecl {
    /// `TYPE.NAME`.
    #[serde(skip)]
    pub address: ResourceAddress,
    /// The attributes as written, evaluated once the resources they refer to are known; `load`
    /// empties it once they are evaluated into `attributes`.
    #[serde(skip)]
    pub expressions: SmallMap<String, Spanned<Expression>>,
    /// The evaluated attributes.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    #[serde(flatten)]
    pub attributes: Attributes,
    /// Resources this one must come after, beyond those its attributes refer to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Spanned<Reference>>,
    /// Resources its attributes refer to (`aws_iam_role.admin.name`), found by `load`.
    #[serde(skip)]
    pub implicit_dependencies: Vec<Spanned<Reference>>,
    /// What to do about drift.
    pub drift: DriftMode,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl ResourceDecl {
    /// Reads a `resource` block, keeping its attributes' expressions for later evaluation.
    pub fn decode(reader: &mut BlockReader<'_>, address: ResourceAddress) -> Self {
        // Meta-arguments first: whatever remains afterwards belongs to the provider's schema.
        let drift = reader
            .keyword(
                "drift",
                Presence::Optional,
                &[("report", DriftMode::Report), ("revert", DriftMode::Revert)],
            )
            .map(|d| d.value)
            .unwrap_or_default();
        let (depends_on, expressions) = decode_meta_and_expressions(reader);
        Self {
            address,
            expressions,
            attributes: Attributes::new(),
            depends_on,
            implicit_dependencies: Vec::new(),
            drift,
            range: reader.range().clone(),
        }
    }
}

/// A resource inside a `role`: created for each activation, evaluated with `requester` and
/// `activation` in scope.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceTemplate {
    /// `TYPE.NAME` within the role.
    #[serde(skip)]
    pub address: ResourceAddress,
    /// The attributes as written (`file(…)` already inlined).
    #[serde(flatten)]
    #[schemars(with = "BTreeMap<String, Spanned<Expression>>")]
    pub expressions: SmallMap<String, Spanned<Expression>>,
    /// Resources this one must come after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Spanned<Reference>>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl ResourceTemplate {
    /// Reads a `resource` block nested in a role.
    pub fn decode(reader: &mut BlockReader<'_>, address: ResourceAddress) -> Self {
        let (depends_on, expressions) = decode_meta_and_expressions(reader);
        Self { address, expressions, depends_on, range: reader.range().clone() }
    }
}

/// Reads `depends_on`, then takes every other attribute as an expression, with `file(…)`
/// inlined.
fn decode_meta_and_expressions(
    reader: &mut BlockReader<'_>,
) -> (Vec<Spanned<Reference>>, SmallMap<String, Spanned<Expression>>) {
    let depends_on = reader
        .references("depends_on", Presence::Optional, &[ReferenceKind::Resource(String::new())])
        .map(|list| list.value)
        .unwrap_or_default();
    let remaining = reader.remaining_attributes();
    let mut expressions = SmallMap::with_capacity(remaining.len());
    for attribute in remaining {
        let mut expression = attribute.value.clone();
        let range = reader.expression_range(&attribute.value);
        for problem in eval::inline_files(&mut expression, reader.base_dir()) {
            let at = problem.span.map_or_else(|| range.clone(), |span| reader.file().range(span));
            reader.push(
                Diagnostic::error(
                    format!(
                        "invalid value for \"{}\" in {}",
                        attribute.key.as_str(),
                        reader.what()
                    ),
                    problem.message,
                )
                .at(at),
            );
        }
        expressions.insert(
            attribute.key.as_str().to_owned(),
            Spanned::new(
                Expression {
                    evaluable: hcl::Expression::from(expression.clone()),
                    expr: expression,
                    key_range: reader.key_range(attribute),
                },
                range,
            ),
        );
    }
    (depends_on, expressions)
}

/// The labels of a resource block, checked: `resource "TYPE" "NAME"`.
pub fn resource_labels(block: &Block) -> Option<(String, String)> {
    match block.labels.as_slice() {
        [resource_type, name] => {
            Some((resource_type.as_str().to_owned(), name.as_str().to_owned()))
        }
        _ => None,
    }
}
