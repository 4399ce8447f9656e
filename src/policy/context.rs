//! The variables expressions can use: `person.NAME`, `team.NAME`, `authentication.NAME`,
//! baseline resources (`TYPE.NAME.ATTRIBUTE`), and inside role templates `requester` and
//! `activation`.

use hcl::eval::Context;
use jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::blocks::Person;
use super::eval::{self, Functions};
use super::model::Policy;

/// What a role template sees of the activation it is evaluated for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationVars<'a> {
    /// `activation.id`
    pub id: &'a str,
    /// `activation.role`: the role's name.
    pub role: &'a str,
    /// `activation.start` (RFC 3339)
    pub start: Timestamp,
    /// `activation.end` (RFC 3339)
    pub end: Timestamp,
    /// `activation.justification`
    pub justification: &'a str,
}

/// A resource's attributes as expressions see them (`TYPE.NAME.ATTRIBUTE`).
pub fn attributes_value(attributes: &breakglass_provider::Attributes) -> Value {
    Value::Object(
        attributes.iter().map(|(name, value)| (name.to_string(), value.clone())).collect(),
    )
}

/// A person as expressions see them: `{name, display_name, email, identities}`.
pub fn person_value(person: &Person) -> Value {
    json!({
        "name": person.name,
        "display_name": person.display_name.clone().unwrap_or_else(|| person.name.clone()),
        "email": person.email,
        "identities": person.identities,
    })
}

fn to_hcl(value: &Value) -> hcl::Value {
    hcl::to_value(value).unwrap_or(hcl::Value::Null)
}

/// The context every policy expression starts from: functions, persons, teams and
/// authentication rules.
pub fn people_context(policy: &Policy) -> Context<'static> {
    let mut context = eval::context(Functions::General);
    let persons: serde_json::Map<String, Value> =
        policy.persons.iter().map(|(name, person)| (name.clone(), person_value(person))).collect();
    context.declare_var("person", to_hcl(&Value::Object(persons)));
    let teams: serde_json::Map<String, Value> = policy
        .teams
        .iter()
        .map(|(name, team)| {
            let members: Vec<&str> = team.members.iter().map(|m| m.name.as_str()).collect();
            (name.clone(), json!({ "name": name, "members": members }))
        })
        .collect();
    context.declare_var("team", to_hcl(&Value::Object(teams)));
    // What authentication rules demand, so a resource can carry it to the platform (an AWS
    // trust policy's MFA conditions); durations in whole seconds.
    let rules: serde_json::Map<String, Value> = policy
        .authentications
        .iter()
        .map(|(name, rule)| {
            let seconds = |d: Option<super::duration::Duration>| d.map(|d| d.as_secs());
            (
                name.clone(),
                json!({
                    "name": name,
                    "totp": rule.totp,
                    "mfa": rule.mfa,
                    "max_mfa_age": seconds(rule.max_mfa_age),
                    "max_token_age": seconds(rule.max_token_age),
                }),
            )
        })
        .collect();
    context.declare_var("authentication", to_hcl(&Value::Object(rules)));
    context
}

/// Declares `resources` (`{TYPE: {NAME: attributes}}`) in `context`.
pub fn declare_resources(
    context: &mut Context<'_>,
    resources: &BTreeMap<String, serde_json::Map<String, Value>>,
) {
    for (resource_type, by_name) in resources {
        context.declare_var(resource_type.clone(), to_hcl(&Value::Object(by_name.clone())));
    }
}

/// The context for expressions that may use every baseline resource: persons, teams and all
/// evaluated baseline resources.
pub fn baseline_context(policy: &Policy) -> Context<'static> {
    let mut context = people_context(policy);
    let mut by_type: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for (address, resource) in &policy.resources {
        by_type
            .entry(address.resource_type.to_string())
            .or_default()
            .insert(address.name.to_string(), attributes_value(&resource.attributes));
    }
    declare_resources(&mut context, &by_type);
    context
}

/// The variables role templates refer to (`requester`, `activation`, `person`, resource types):
/// what their contexts must hold.
pub fn template_roots(policy: &Policy) -> std::collections::BTreeSet<String> {
    let mut referenced = std::collections::BTreeSet::new();
    for role in policy.roles.values() {
        for template in &role.resources {
            for expression in template.expressions.values() {
                for traversal in super::eval::traversals(&expression.value.expr) {
                    referenced.insert(traversal.root);
                }
            }
        }
    }
    referenced
}

/// What every role template's context starts from: functions, and those of persons, teams and
/// the baseline resources of each type that some template refers to (`referenced`, from
/// [`template_roots`]). Built once per run;
/// [`template_context`] adds the per-activation variables to a copy.
///
/// Only what templates refer to goes in: a copy is made per requester, and copying every person
/// into each made compiling tens of thousands of activations quadratic in persons.
pub fn template_base(
    policy: &Policy,
    referenced: &std::collections::BTreeSet<String>,
) -> Context<'static> {
    let mut context = if referenced.contains("person") || referenced.contains("team") {
        people_context(policy)
    } else {
        eval::context(Functions::General)
    };
    let mut by_type: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for (address, resource) in &policy.resources {
        if referenced.contains(address.resource_type.as_str()) {
            by_type
                .entry(address.resource_type.to_string())
                .or_default()
                .insert(address.name.to_string(), attributes_value(&resource.attributes));
        }
    }
    declare_resources(&mut context, &by_type);
    context
}

/// The context for a role template: `base` (from [`template_base`]) plus `requester` and
/// `activation`.
pub fn template_context(
    base: &Context<'static>,
    requester: &Person,
    activation: &ActivationVars<'_>,
) -> Context<'static> {
    let mut context = base.clone();
    context.declare_var("requester", to_hcl(&person_value(requester)));
    declare_activation(&mut context, requester, activation);
    context
}

/// Declares (or replaces) `activation` in a context from [`template_context`] made for the same
/// `requester`, so one context serves each of a requester's activations without a new copy.
pub fn declare_activation(
    context: &mut Context<'static>,
    requester: &Person,
    activation: &ActivationVars<'_>,
) {
    // Built directly: going through `serde_json` and `hcl::to_value` was a third of compiling
    // tens of thousands of activations.
    let text = |value: &str| hcl::Value::String(value.to_owned());
    let activation: hcl::Map<String, hcl::Value> = [
        ("id", text(activation.id)),
        ("key", hcl::Value::String(format!("{}:{}", requester.name, activation.id))),
        ("role", text(activation.role)),
        ("requester", text(&requester.name)),
        ("start", hcl::Value::String(activation.start.to_string())),
        ("end", hcl::Value::String(activation.end.to_string())),
        ("justification", text(activation.justification)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    context.declare_var("activation", hcl::Value::Object(activation));
}
