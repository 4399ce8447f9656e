//! Checking blocks against provider schemas and evaluating baseline resources.
//!
//! Baseline resources may refer to each other (`role = aws_iam_role.admin.name`); they are
//! evaluated in dependency order, and a cycle is reported naming every resource in it. Role
//! templates are evaluated once for every person who may request the role, so a template that
//! needs `requester.identities.aws` from someone who has none fails at `validate`, not during
//! an incident.

use breakglass_provider::{AttributeSchema, ResourceSchema, SmallMap};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use super::blocks::{Expression, ResourceTemplate};
use super::context::{self, ActivationVars};
use super::eval::{self, Functions};
use super::load::ProviderSchemas;
use super::model::Policy;
use super::reader::describe_value;
use super::reference::{Reference, ReferenceKind};
use super::spanned::Spanned;
use super::suggest::did_you_mean;
use super::validate::undeclared;
use crate::address::{ResourceAddress, provider_of};
use crate::diagnostics::{Diagnostic, Diagnostics, SourceRange};

/// Looks up the schema of `resource_type`, reporting at `range` when no provider offers it.
fn resource_schema<'a>(
    schemas: &'a ProviderSchemas,
    resource_type: &str,
    range: &SourceRange,
    diagnostics: &mut Diagnostics,
) -> Option<&'a ResourceSchema> {
    let found = schemas
        .get(provider_of(resource_type))
        .and_then(|provider| provider.resource_types.get(resource_type));
    if found.is_none() {
        let all: Vec<&str> = schemas
            .values()
            .flat_map(|provider| provider.resource_types.keys().map(String::as_str))
            .collect();
        diagnostics.push(
            Diagnostic::error(
                format!("no provider offers resource type \"{resource_type}\""),
                format!(
                    "resource types available: {}.{}",
                    all.join(", "),
                    did_you_mean(resource_type, all.iter().copied())
                ),
            )
            .at(range.clone()),
        );
    }
    found
}

/// Reports attributes the schema does not have, or that only the platform sets, and required
/// attributes that are missing.
fn check_attribute_names<'a>(
    written: impl IntoIterator<Item = (&'a String, &'a SourceRange)>,
    attributes: &BTreeMap<String, AttributeSchema>,
    what: &str,
    block_range: &SourceRange,
    diagnostics: &mut Diagnostics,
) {
    let settable: Vec<&str> = attributes
        .iter()
        .filter(|(_, schema)| !schema.computed)
        .map(|(name, _)| name.as_str())
        .collect();
    let mut present = BTreeSet::new();
    let mut misspelt: BTreeSet<&str> = BTreeSet::new();
    for (name, range) in written {
        present.insert(name.as_str());
        if !attributes.contains_key(name) {
            // "rol" is reported as unknown with "did you mean role"; not again as role missing.
            misspelt.extend(super::suggest::closest(name, settable.iter().copied()));
        }
        match attributes.get(name) {
            Some(schema) if schema.computed => diagnostics.push(
                Diagnostic::error(
                    format!("attribute \"{name}\" of {what} cannot be set"),
                    "it is computed by the platform; remove it from the block",
                )
                .at(range.clone()),
            ),
            Some(_) => {}
            None => diagnostics.push(
                Diagnostic::error(
                    format!("unknown attribute \"{name}\" in {what}"),
                    format!(
                        "{what} accepts: {}.{}",
                        settable.join(", "),
                        did_you_mean(name, settable.iter().copied())
                    ),
                )
                .at(range.clone()),
            ),
        }
    }
    for (name, schema) in attributes {
        if schema.required && !present.contains(name.as_str()) && !misspelt.contains(name.as_str())
        {
            diagnostics.push(
                Diagnostic::error(
                    format!("{what} is missing required attribute \"{name}\""),
                    if schema.description.is_empty() {
                        format!("add `{name} = …`")
                    } else {
                        format!("add `{name} = …`: {}", schema.description)
                    },
                )
                .at(block_range.clone()),
            );
        }
    }
}

/// Reports a value whose type the schema does not accept.
fn check_value(
    name: &str,
    value: &Value,
    schema: &AttributeSchema,
    what: &str,
    range: &SourceRange,
    diagnostics: &mut Diagnostics,
) -> bool {
    if value.is_null() && schema.required {
        diagnostics.push(
            Diagnostic::error(
                format!("\"{name}\" in {what} is required but evaluates to null"),
                format!(
                    "give it a {} value; a reference to something unset (an email nobody \
                     declared, say) evaluates to null",
                    schema.ty
                ),
            )
            .at(range.clone()),
        );
        return false;
    }
    if schema.ty.accepts(value) {
        return true;
    }
    diagnostics.push(
        Diagnostic::error(
            format!("wrong type for \"{name}\" in {what}"),
            format!("expected {}, found {}", schema.ty, describe_value(value)),
        )
        .at(range.clone()),
    );
    false
}

/// Checks and evaluates every baseline resource, and checks provider blocks, role templates
/// and override changes against their schemas.
pub fn resolve_resources(
    policy: &mut Policy,
    schemas: &ProviderSchemas,
    diagnostics: &mut Diagnostics,
) {
    let resource_types: BTreeSet<String> =
        policy.resources.keys().map(|a| a.resource_type.to_string()).collect();
    let (order, reported) = dependency_order(policy, &resource_types, diagnostics);
    evaluate_baseline(policy, schemas, &order, &reported, diagnostics);
    check_providers(policy, schemas, diagnostics);
    // One template context per person, shared by every role's templates.
    let base = context::template_base(policy, &context::template_roots(policy));
    let contexts: BTreeMap<&str, hcl::eval::Context<'static>> = policy
        .persons
        .iter()
        .map(|(name, person)| {
            let activation = ActivationVars {
                id: "act_validate",
                role: "validate",
                start: jiff::Timestamp::UNIX_EPOCH,
                end: jiff::Timestamp::UNIX_EPOCH,
                justification: "validate",
            };
            (name.as_str(), context::template_context(&base, person, &activation))
        })
        .collect();
    for role in policy.roles.values() {
        for template in &role.resources {
            check_template(
                policy,
                schemas,
                &role.name,
                template,
                &resource_types,
                &contexts,
                diagnostics,
            );
        }
    }
    check_overrides(policy, schemas, diagnostics);
}

/// Attributes of baseline resources (address, attribute) whose expressions were reported.
type Reported = BTreeSet<(ResourceAddress, String)>;

/// Reports every reference in `expression` to a block the policy does not declare — a person,
/// a team, an authentication rule, a baseline resource — once each, in the words `validate`
/// uses for one written in an attribute ("did you mean", what is declared). Returns whether
/// there was one: the expression is then not evaluated, as that would fail on the same
/// reference and report it a second time.
fn report_undeclared(
    policy: &Policy,
    expression: &hcl_edit::expr::Expression,
    range: &SourceRange,
    resource_types: &BTreeSet<String>,
    diagnostics: &mut Diagnostics,
) -> bool {
    let mut reported: BTreeSet<Reference> = BTreeSet::new();
    for traversal in eval::traversals(expression) {
        let kind = match ReferenceKind::from_keyword(&traversal.root) {
            Some(kind) => kind,
            None if resource_types.contains(&traversal.root) || traversal.root.contains('_') => {
                ReferenceKind::Resource(traversal.root.clone())
            }
            None => continue,
        };
        let Some(name) = traversal.path.first() else { continue };
        let reference = Reference::new(kind, name.clone());
        if policy.contains(&reference) || reported.contains(&reference) {
            continue;
        }
        let at =
            traversal.span.clone().map_or_else(|| range.clone(), |span| span_range(range, span));
        diagnostics.push(undeclared(policy, &reference, at));
        reported.insert(reference);
    }
    !reported.is_empty()
}

/// Finds each baseline resource's references, reports unknown ones and cycles, and returns the
/// resources in an order where each comes after what it refers to, with the attributes whose
/// expressions refer to something undeclared (reported here, so not evaluated).
fn dependency_order(
    policy: &mut Policy,
    resource_types: &BTreeSet<String>,
    diagnostics: &mut Diagnostics,
) -> (Vec<(ResourceAddress, bool)>, Reported) {
    let mut graph: DiGraph<ResourceAddress, ()> = DiGraph::new();
    let nodes: BTreeMap<ResourceAddress, NodeIndex> = policy
        .resources
        .keys()
        .map(|address| (address.clone(), graph.add_node(address.clone())))
        .collect();
    let mut reported = BTreeSet::new();
    for (address, resource) in &policy.resources {
        for (name, expression) in resource.expressions.iter() {
            if report_undeclared(
                policy,
                &expression.value.expr,
                &expression.range,
                resource_types,
                diagnostics,
            ) {
                reported.insert((address.clone(), name.to_string()));
            }
        }
    }
    let declared = policy.declared.clone();
    for (address, resource) in policy.resources.iter_mut() {
        let mut implicit: Vec<Spanned<Reference>> = Vec::new();
        for expression in resource.expressions.values() {
            for traversal in eval::traversals(&expression.value.expr) {
                if !resource_types.contains(&traversal.root) && !traversal.root.contains('_') {
                    continue;
                }
                if ReferenceKind::from_keyword(&traversal.root).is_some() {
                    continue;
                }
                let range = traversal.span.clone().map_or_else(
                    || expression.range.clone(),
                    |span| span_range(&expression.range, span),
                );
                let Some(name) = traversal.path.first() else {
                    diagnostics.push(
                        Diagnostic::error(
                            format!("incomplete reference to {}", traversal.root),
                            format!(
                                "refer to one resource's attribute, as in {}.NAME.ATTRIBUTE",
                                traversal.root
                            ),
                        )
                        .at(range),
                    );
                    continue;
                };
                let reference =
                    Reference::new(ReferenceKind::Resource(traversal.root.clone()), name);
                if !declared.contains(&reference) {
                    continue; // reported above
                }
                if !implicit.iter().any(|r| r.value == reference) {
                    implicit.push(Spanned::new(reference, range));
                }
            }
        }
        resource.implicit_dependencies = implicit;
        let to = nodes[address];
        for dependency in resource.depends_on.iter().chain(&resource.implicit_dependencies) {
            let ReferenceKind::Resource(resource_type) = &dependency.kind else { continue };
            let target = ResourceAddress::new(resource_type.clone(), dependency.name.clone());
            if let Some(from) = nodes.get(&target) {
                graph.add_edge(*from, to, ());
            }
        }
    }
    for component in tarjan_scc(&graph) {
        let cyclic =
            component.len() > 1 || component.iter().any(|node| graph.contains_edge(*node, *node));
        if !cyclic {
            continue;
        }
        let mut names: Vec<String> =
            component.iter().map(|node| graph[*node].to_string()).collect();
        names.sort();
        let cycle = format!("{} → {}", names.join(" → "), names[0]);
        for node in &component {
            let range = policy.resources[&graph[*node]].range.clone();
            diagnostics.push(
                Diagnostic::error(
                    format!("dependency cycle: {cycle}"),
                    "resources cannot depend on each other in a circle; remove one reference or \
                     depends_on entry",
                )
                .at(range),
            );
        }
    }
    // tarjan_scc lists components in reverse topological order. Resources in a cycle cannot
    // be evaluated; everything else still is, so one cycle does not hide other problems.
    let mut order: Vec<(ResourceAddress, bool)> = Vec::new();
    for component in tarjan_scc(&graph).into_iter().rev() {
        let cyclic =
            component.len() > 1 || component.iter().any(|node| graph.contains_edge(*node, *node));
        order.extend(component.into_iter().map(|node| (graph[node].clone(), cyclic)));
    }
    (order, reported)
}

/// A range within an expression's file, from a byte span of the same file.
fn span_range(within: &SourceRange, span: std::ops::Range<usize>) -> SourceRange {
    // The expression's range knows its file but not the text; byte offsets are enough to
    // order diagnostics, and line/column come from the expression start when the span is
    // inside it on the same line.
    let mut range = within.clone();
    if span.start >= within.start.byte && span.start <= within.end.byte {
        let offset = span.start - within.start.byte;
        range.start.byte = span.start;
        range.start.column += offset;
        range.end = range.start;
        range.end.byte = span.end;
        range.end.column = range.start.column + (span.end - span.start);
    }
    range
}

fn evaluate_baseline(
    policy: &mut Policy,
    schemas: &ProviderSchemas,
    order: &[(ResourceAddress, bool)],
    reported: &Reported,
    diagnostics: &mut Diagnostics,
) {
    let base = context::people_context(policy);
    let mut evaluated: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for (address, in_cycle) in order {
        let resource = &policy.resources[address];
        let what = format!("resource \"{}\" \"{}\"", address.resource_type, address.name);
        let schema = resource_schema(schemas, &address.resource_type, &resource.range, diagnostics);
        if let Some(schema) = schema {
            check_attribute_names(
                resource.expressions.iter().map(|(name, e)| (name, &e.value.key_range)),
                &schema.attributes,
                &what,
                &resource.range,
                diagnostics,
            );
        }
        if *in_cycle {
            continue;
        }
        let needed: BTreeSet<&str> = resource
            .implicit_dependencies
            .iter()
            .filter_map(|r| match &r.kind {
                ReferenceKind::Resource(resource_type) => Some(resource_type.as_str()),
                _ => None,
            })
            .collect();
        // Only resources that refer to others need a context of their own.
        let with_resources;
        let context = if needed.is_empty() {
            &base
        } else {
            let mut context = base.clone();
            let visible: BTreeMap<String, serde_json::Map<String, Value>> = evaluated
                .iter()
                .filter(|(resource_type, _)| needed.contains(resource_type.as_str()))
                .map(|(resource_type, by_name)| (resource_type.clone(), by_name.clone()))
                .collect();
            context::declare_resources(&mut context, &visible);
            with_resources = context;
            &with_resources
        };
        let mut attributes =
            breakglass_provider::Attributes::with_capacity(resource.expressions.len());
        for (name, expression) in &resource.expressions {
            if reported.contains(&(address.clone(), name.to_string())) {
                continue;
            }
            match eval::evaluate(&expression.value.expr, context, &policy.dir) {
                Ok(value) => {
                    let fits = schema.and_then(|schema| schema.attributes.get(name)).is_none_or(
                        |attribute| {
                            check_value(
                                name,
                                &value,
                                attribute,
                                &what,
                                &expression.range,
                                diagnostics,
                            )
                        },
                    );
                    if fits {
                        attributes.insert(name.as_str().into(), value);
                    }
                }
                Err(problems) => report_eval(problems, name, &what, &expression.range, diagnostics),
            }
        }
        evaluated
            .entry(address.resource_type.to_string())
            .or_default()
            .insert(address.name.to_string(), context::attributes_value(&attributes));
        if let Some(resource) = policy.resources.get_mut(address) {
            resource.attributes = attributes;
            // Nothing reads the expressions once they are values; at 40,000 resource blocks
            // they were a fifth of a loaded policy.
            resource.expressions = SmallMap::new();
        }
    }
}

fn report_eval(
    problems: Vec<eval::EvalProblem>,
    name: &str,
    what: &str,
    range: &SourceRange,
    diagnostics: &mut Diagnostics,
) {
    for problem in problems {
        diagnostics.push(
            Diagnostic::error(format!("invalid value for \"{name}\" in {what}"), problem.message)
                .at(range.clone()),
        );
    }
}

fn check_providers(policy: &Policy, schemas: &ProviderSchemas, diagnostics: &mut Diagnostics) {
    let context = eval::context(Functions::WithEnv);
    for (name, block) in &policy.providers {
        let Some(schema) = schemas.get(name) else { continue };
        let what = format!("provider \"{name}\"");
        check_attribute_names(
            block.expressions.iter().map(|(key, e)| (key, &e.value.key_range)),
            &schema.config,
            &what,
            &block.range,
            diagnostics,
        );
        for (key, expression) in &block.expressions {
            match eval::evaluate(&expression.value.expr, &context, &policy.dir) {
                // An unset env() is null: fine for validate, which needs no secrets; the
                // provider says what is missing when a run configures it.
                Ok(value) if value.is_null() => {}
                Ok(value) => {
                    if let Some(attribute) = schema.config.get(key) {
                        check_value(key, &value, attribute, &what, &expression.range, diagnostics);
                    }
                }
                Err(problems) => report_eval(problems, key, &what, &expression.range, diagnostics),
            }
        }
    }
    // A provider that resources use but that has no block must need no configuration.
    let mut used: BTreeMap<&str, &SourceRange> = BTreeMap::new();
    for (address, resource) in &policy.resources {
        used.entry(address.provider()).or_insert(&resource.range);
    }
    for role in policy.roles.values() {
        for template in &role.resources {
            used.entry(template.address.provider()).or_insert(&template.range);
        }
    }
    for (provider, range) in used {
        let Some(schema) = schemas.get(provider) else { continue };
        if policy.providers.contains_key(provider) {
            continue;
        }
        let required: Vec<&str> = schema
            .config
            .iter()
            .filter(|(_, attribute)| attribute.required)
            .map(|(key, _)| key.as_str())
            .collect();
        if !required.is_empty() {
            diagnostics.push(
                Diagnostic::error(
                    format!("provider \"{provider}\" is used but not configured"),
                    format!("add provider \"{provider}\" {{ … }} setting {}", required.join(", ")),
                )
                .at(range.clone()),
            );
        }
    }
}

fn check_template(
    policy: &Policy,
    schemas: &ProviderSchemas,
    role_name: &str,
    template: &ResourceTemplate,
    resource_types: &BTreeSet<String>,
    contexts: &BTreeMap<&str, hcl::eval::Context<'static>>,
    diagnostics: &mut Diagnostics,
) {
    let address = &template.address;
    let what = format!(
        "resource \"{}\" \"{}\" of role \"{role_name}\"",
        address.resource_type, address.name
    );
    let schema = resource_schema(schemas, &address.resource_type, &template.range, diagnostics);
    if let Some(schema) = schema {
        check_attribute_names(
            template.expressions.iter().map(|(name, e)| (name, &e.value.key_range)),
            &schema.attributes,
            &what,
            &template.range,
            diagnostics,
        );
    }
    for dependency in &template.depends_on {
        let sibling = ReferenceKind::Resource(dependency.kind.keyword().to_owned());
        let in_role = policy.roles.get(role_name).is_some_and(|role| {
            role.resources.iter().any(|other| {
                other.address.resource_type == dependency.kind.keyword()
                    && other.address.name == dependency.name
            })
        });
        if !in_role && !policy.contains(&Reference::new(sibling, dependency.name.clone())) {
            diagnostics.push(
                Diagnostic::error(
                    format!("depends_on refers to undeclared resource {}", dependency.value),
                    "name a resource of this role or a baseline resource",
                )
                .at(dependency.range.clone()),
            );
        }
    }
    let Some(role) = policy.roles.get(role_name) else { return };
    let requesters = policy.allowed_requesters(&role.rules);
    let context_for = |person: &str| contexts.get(person);
    for (name, expression) in &template.expressions {
        let unknown_roots: Vec<String> = eval::traversals(&expression.value.expr)
            .into_iter()
            .map(|t| t.root)
            .filter(|root| {
                !matches!(
                    root.as_str(),
                    "requester" | "activation" | "person" | "team" | "authentication"
                ) && !resource_types.contains(root)
            })
            .collect();
        if let Some(root) = unknown_roots.first() {
            diagnostics.push(
                Diagnostic::error(
                    format!("invalid value for \"{name}\" in {what}"),
                    format!(
                        "{root} is not defined here; role templates can use requester (name, \
                         display_name, email, identities), activation (id, key, role, requester, \
                         start, end, justification), person, team, authentication and baseline \
                         resources"
                    ),
                )
                .at(expression.range.clone()),
            );
            continue;
        }
        let undeclared = report_undeclared(
            policy,
            &expression.value.expr,
            &expression.range,
            resource_types,
            diagnostics,
        );
        let unknown = report_unknown_fields(&expression.value.expr, &expression.range, diagnostics);
        if undeclared || unknown {
            continue;
        }
        // file() was inlined when the template was read: convert once, evaluate per person.
        let converted = &expression.value.evaluable;
        let uses_requester =
            eval::traversals(&expression.value.expr).iter().any(|t| t.root == "requester");
        for person in requesters.iter().take(if uses_requester { usize::MAX } else { 1 }) {
            let Some(context) = context_for(person) else { continue };
            match eval::evaluate_inlined(converted, context) {
                Ok(value) => {
                    let attribute = schema.and_then(|s| s.attributes.get(name));
                    if let Some(attribute) = attribute
                        && !check_value(
                            name,
                            &value,
                            attribute,
                            &what,
                            &expression.range,
                            diagnostics,
                        )
                    {
                        break;
                    }
                }
                Err(problems) => {
                    let detail =
                        problems.into_iter().map(|p| p.message).collect::<Vec<_>>().join("; ");
                    diagnostics.push(
                        Diagnostic::error(
                            format!("invalid value for \"{name}\" in {what}"),
                            format!(
                                "evaluated for requester \"{person}\": {detail}. Every person who \
                                 may request the role needs what the template uses"
                            ),
                        )
                        .at(expression.range.clone()),
                    );
                    break;
                }
            }
        }
    }
}

/// What role templates can read of `requester` and `activation`.
const REQUESTER_FIELDS: [&str; 4] = ["name", "display_name", "email", "identities"];
const ACTIVATION_FIELDS: [&str; 7] =
    ["id", "key", "role", "requester", "start", "end", "justification"];

/// Reports `requester.X` and `activation.X` where X is not one of their fields, with "did you
/// mean"; returns whether there was one.
fn report_unknown_fields(
    expression: &hcl_edit::expr::Expression,
    range: &SourceRange,
    diagnostics: &mut Diagnostics,
) -> bool {
    let mut found = false;
    for traversal in eval::traversals(expression) {
        let fields: &[&str] = match traversal.root.as_str() {
            "requester" => &REQUESTER_FIELDS,
            "activation" => &ACTIVATION_FIELDS,
            _ => continue,
        };
        let Some(field) = traversal.path.first() else { continue };
        if fields.contains(&field.as_str()) {
            continue;
        }
        let at =
            traversal.span.clone().map_or_else(|| range.clone(), |span| span_range(range, span));
        diagnostics.push(
            Diagnostic::error(
                format!("{} has no attribute \"{field}\"", traversal.root),
                format!(
                    "{} has: {}.{}",
                    traversal.root,
                    fields.join(", "),
                    did_you_mean(field, fields.iter().copied())
                ),
            )
            .at(at),
        );
        found = true;
    }
    found
}

fn check_overrides(policy: &Policy, schemas: &ProviderSchemas, diagnostics: &mut Diagnostics) {
    for override_ in policy.overrides.values() {
        for change in &override_.changes {
            let ReferenceKind::Resource(resource_type) = &change.resource.kind else { continue };
            let address = ResourceAddress::new(resource_type.clone(), change.resource.name.clone());
            if !policy.resources.contains_key(&address) {
                continue; // reported by validate as an unknown reference
            }
            let what = format!("change of {address} in override \"{}\"", override_.name);
            let Some(schema) = schemas
                .get(address.provider())
                .and_then(|provider| provider.resource_types.get(resource_type))
            else {
                continue;
            };
            for (name, value) in change.set.iter() {
                match schema.attributes.get(name) {
                    None => diagnostics.push(
                        Diagnostic::error(
                            format!(
                                "override \"{}\" sets unknown attribute \"{name}\" of {address}",
                                override_.name
                            ),
                            {
                                let changeable: Vec<&str> = schema
                                    .attributes
                                    .iter()
                                    .filter(|(_, a)| !a.computed && !a.forces_replacement)
                                    .map(|(n, _)| n.as_str())
                                    .collect();
                                format!(
                                    "an override of {resource_type} can change: {}.{}",
                                    changeable.join(", "),
                                    did_you_mean(name, changeable.iter().copied())
                                )
                            },
                        )
                        .at(change.set.range.clone()),
                    ),
                    Some(attribute) if attribute.computed || attribute.forces_replacement => {
                        diagnostics.push(
                            Diagnostic::error(
                                format!(
                                    "override \"{}\" cannot change \"{name}\" of {address}",
                                    override_.name
                                ),
                                "it identifies the object (changing it would replace it) or is \
                                 set by the platform; overrides change settings in place",
                            )
                            .at(change.set.range.clone()),
                        )
                    }
                    Some(attribute) => {
                        check_value(name, value, attribute, &what, &change.set.range, diagnostics);
                    }
                }
            }
        }
    }
}

/// Evaluates a role template's attributes for one activation.
pub fn evaluate_template(
    template: &ResourceTemplate,
    context: &hcl::eval::Context<'_>,
) -> Result<breakglass_provider::Attributes, String> {
    // Room for an expiry attribute too, which compile may add.
    let mut attributes =
        breakglass_provider::Attributes::with_capacity(template.expressions.len() + 1);
    for (name, Spanned { value: Expression { evaluable, .. }, range }) in &template.expressions {
        let value = eval::evaluate_inlined(evaluable, context).map_err(|problems| {
            let detail: Vec<String> = problems.into_iter().map(|p| p.message).collect();
            format!("{range}: {name}: {}", detail.join("; "))
        })?;
        attributes.insert(name.as_str().into(), value);
    }
    Ok(attributes)
}
