//! Rules and subjects between HCL attributes and API objects, and their canonical forms.
//!
//! HCL writes `rules = [{ api_groups = [""], resources = ["pods"], verbs = ["get"] }]` and
//! `subjects = [{ kind = "User", name = "alice" }]`; the API writes camelCase fields and fills
//! in defaults (`apiGroup` of a user). Live attributes are given in the canonical form — rules
//! and their lists sorted, empty lists left out, default `apiGroup`s dropped — and declared
//! values are compared in that form, so order and defaults never show as a change.

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;

use crate::api::{PolicyRule, Subject};
use crate::schema::{RULE_KEYS, SUBJECT_KEYS};

/// The API group of `User` and `Group` subjects, and of every `roleRef`.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The subject kinds RBAC knows.
pub const SUBJECT_KINDS: [&str; 3] = ["User", "Group", "ServiceAccount"];

/// The declared `rules`.
pub fn rules(
    attributes: &Attributes,
    resource_type: &str,
) -> Result<Vec<PolicyRule>, ProviderError> {
    let wrong = |why: String| ProviderError::invalid(format!("{resource_type}: `rules` {why}"));
    let Some(Value::Array(items)) = attributes.get("rules") else {
        return Err(wrong("must be a list of rules ({ api_groups, resources, verbs, … })".into()));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(fields) = item else {
                return Err(wrong(format!("[{index}] must be an object")));
            };
            let mut rule = PolicyRule::default();
            for (key, value) in fields {
                let Some(list) = value.as_array().and_then(|items| {
                    items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
                }) else {
                    return Err(wrong(format!("[{index}].{key} must be a list of strings")));
                };
                match key.as_str() {
                    "api_groups" => rule.api_groups = list,
                    "resources" => rule.resources = list,
                    "verbs" => rule.verbs = list,
                    "resource_names" => rule.resource_names = list,
                    "non_resource_urls" => rule.non_resource_urls = list,
                    other => {
                        let known: Vec<&str> = RULE_KEYS.iter().map(|(k, _)| *k).collect();
                        return Err(wrong(format!(
                            "[{index}] has no key `{other}`; a rule has {}",
                            known.join(", ")
                        )));
                    }
                }
            }
            if rule.verbs.is_empty() {
                return Err(wrong(format!("[{index}] needs `verbs` (\"get\", \"list\", \"*\"…)")));
            }
            Ok(rule)
        })
        .collect()
}

/// Rules in canonical form.
pub fn rules_value(rules: &[PolicyRule]) -> Value {
    let mut canonical: Vec<PolicyRule> = rules
        .iter()
        .map(|rule| {
            let sorted = |list: &[String]| {
                let mut list = list.to_vec();
                list.sort();
                list.dedup();
                list
            };
            PolicyRule {
                api_groups: sorted(&rule.api_groups),
                resources: sorted(&rule.resources),
                verbs: sorted(&rule.verbs),
                resource_names: sorted(&rule.resource_names),
                non_resource_urls: sorted(&rule.non_resource_urls),
            }
        })
        .collect();
    canonical.sort();
    canonical.dedup();
    Value::Array(
        canonical
            .iter()
            .map(|rule| {
                let mut object = serde_json::Map::new();
                for ((key, _), list) in RULE_KEYS.iter().zip([
                    &rule.api_groups,
                    &rule.resources,
                    &rule.verbs,
                    &rule.resource_names,
                    &rule.non_resource_urls,
                ]) {
                    if !list.is_empty() {
                        object.insert((*key).to_owned(), json!(list));
                    }
                }
                Value::Object(object)
            })
            .collect(),
    )
}

/// Whether two `rules` values mean the same; `None` when either is not rules.
pub fn same_rules(a: &Value, b: &Value) -> Option<bool> {
    let parse = |value: &Value| {
        let mut attributes = Attributes::new();
        attributes.insert("rules".into(), value.clone());
        rules(&attributes, "").ok().map(|r| rules_value(&r))
    };
    Some(parse(a)? == parse(b)?)
}

/// The declared `subjects`, with their API defaults filled in.
pub fn subjects(
    attributes: &Attributes,
    resource_type: &str,
) -> Result<Vec<Subject>, ProviderError> {
    let wrong = |why: String| ProviderError::invalid(format!("{resource_type}: `subjects` {why}"));
    let Some(Value::Array(items)) = attributes.get("subjects") else {
        return Err(wrong("must be a list of subjects ({ kind, name })".into()));
    };
    if items.is_empty() {
        return Err(wrong("must name at least one user, group or service account".into()));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(fields) = item else {
                return Err(wrong(format!("[{index}] must be an object")));
            };
            let field = |key: &str| -> Result<Option<String>, ProviderError> {
                match fields.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(text)) => Ok(Some(text.clone())),
                    Some(_) => Err(wrong(format!("[{index}].{key} must be a string"))),
                }
            };
            if let Some(other) = fields.keys().find(|k| !SUBJECT_KEYS.contains(&k.as_str())) {
                return Err(wrong(format!(
                    "[{index}] has no key `{other}`; a subject has {}",
                    SUBJECT_KEYS.join(", ")
                )));
            }
            let kind = field("kind")?.unwrap_or_default();
            if !SUBJECT_KINDS.contains(&kind.as_str()) {
                return Err(wrong(format!(
                    "[{index}].kind must be \"User\", \"Group\" or \"ServiceAccount\", got {kind:?}"
                )));
            }
            let name = field("name")?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| wrong(format!("[{index}].name must be set (the {kind}'s name)")))?;
            let namespace = field("namespace")?.filter(|n| !n.is_empty());
            match (kind.as_str(), &namespace) {
                ("ServiceAccount", None) => {
                    return Err(wrong(format!(
                        "[{index}]: a ServiceAccount needs its `namespace`"
                    )));
                }
                ("User" | "Group", Some(_)) => {
                    return Err(wrong(format!(
                        "[{index}]: a {kind} has no namespace; leave `namespace` out"
                    )));
                }
                _ => {}
            }
            let api_group =
                field("api_group")?.unwrap_or_else(|| default_api_group(&kind).to_owned());
            Ok(Subject { kind, name, namespace, api_group: Some(api_group) })
        })
        .collect()
}

/// The `apiGroup` the API server fills in for a subject of `kind`.
pub fn default_api_group(kind: &str) -> &'static str {
    if kind == "ServiceAccount" { "" } else { RBAC_GROUP }
}

/// Subjects in canonical form.
pub fn subjects_value(subjects: &[Subject]) -> Value {
    let mut canonical: Vec<Subject> = subjects.to_vec();
    canonical.sort();
    canonical.dedup();
    Value::Array(
        canonical
            .iter()
            .map(|subject| {
                let mut object = serde_json::Map::new();
                object.insert("kind".into(), json!(subject.kind));
                object.insert("name".into(), json!(subject.name));
                if let Some(namespace) = subject.namespace.as_ref().filter(|n| !n.is_empty()) {
                    object.insert("namespace".into(), json!(namespace));
                }
                let group =
                    subject.api_group.as_deref().unwrap_or(default_api_group(&subject.kind));
                if group != default_api_group(&subject.kind) {
                    object.insert("api_group".into(), json!(group));
                }
                Value::Object(object)
            })
            .collect(),
    )
}

/// Whether two `subjects` values mean the same; `None` when either is not subjects.
pub fn same_subjects(a: &Value, b: &Value) -> Option<bool> {
    let parse = |value: &Value| {
        let mut attributes = Attributes::new();
        attributes.insert("subjects".into(), value.clone());
        subjects(&attributes, "").ok().map(|s| subjects_value(&s))
    };
    Some(parse(a)? == parse(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn rules_compare_as_sets_whatever_the_order() {
        let declared = json!([
            {"verbs": ["list", "get"], "resources": ["pods"], "api_groups": [""]},
            {"verbs": ["get"], "non_resource_urls": ["/healthz"]}
        ]);
        let live = json!([
            {"non_resource_urls": ["/healthz"], "verbs": ["get"]},
            {"api_groups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
        ]);
        assert_eq!(same_rules(&declared, &live), Some(true));
        let wider = json!([{"api_groups": [""], "resources": ["pods"], "verbs": ["*"]}]);
        assert_eq!(same_rules(&declared, &wider), Some(false));
        let parsed = rules(&attributes(json!({"rules": declared})), "t").unwrap();
        assert_eq!(parsed[0].verbs, ["list", "get"]);
        assert_eq!(
            rules_value(&parsed),
            rules_value(&parsed.iter().rev().cloned().collect::<Vec<_>>())
        );
    }

    #[test]
    fn subjects_get_api_defaults_and_compare_as_sets() {
        let declared = json!([{"kind": "User", "name": "alice"},
                              {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]);
        let parsed = subjects(&attributes(json!({"subjects": declared})), "t").unwrap();
        assert_eq!(parsed[0].api_group.as_deref(), Some(RBAC_GROUP));
        assert_eq!(parsed[1].api_group.as_deref(), Some(""));
        let live = json!([{"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                          {"kind": "User", "name": "alice", "api_group": RBAC_GROUP}]);
        assert_eq!(same_subjects(&declared, &live), Some(true));
        assert_eq!(
            same_subjects(&declared, &json!([{"kind": "User", "name": "bob"}])),
            Some(false)
        );
    }

    #[test]
    fn bad_rules_and_subjects_say_what_would_be_right() {
        let cases = [
            (json!({"rules": [{"resources": ["pods"]}]}), "[0] needs `verbs`"),
            (
                json!({"rules": [{"verbs": ["get"], "groups": [""]}]}),
                "no key `groups`; a rule has api_groups",
            ),
            (json!({"rules": [{"verbs": "get"}]}), "[0].verbs must be a list of strings"),
            (json!({"rules": "all"}), "must be a list of rules"),
        ];
        for (value, expected) in cases {
            let error = rules(&attributes(value.clone()), "kubernetes_role").unwrap_err();
            assert!(error.message().starts_with("kubernetes_role: `rules` "), "{error}");
            assert!(error.message().contains(expected), "{value}: {error}");
        }
        let cases = [
            (json!({"subjects": []}), "at least one"),
            (
                json!({"subjects": [{"kind": "Robot", "name": "r"}]}),
                "must be \"User\", \"Group\" or \"ServiceAccount\", got \"Robot\"",
            ),
            (json!({"subjects": [{"kind": "User"}]}), "[0].name must be set"),
            (
                json!({"subjects": [{"kind": "ServiceAccount", "name": "ci"}]}),
                "needs its `namespace`",
            ),
            (
                json!({"subjects": [{"kind": "User", "name": "a", "namespace": "x"}]}),
                "has no namespace",
            ),
            (json!({"subjects": [{"kind": "User", "name": "a", "email": "x"}]}), "no key `email`"),
        ];
        for (value, expected) in cases {
            let error =
                subjects(&attributes(value.clone()), "kubernetes_role_binding").unwrap_err();
            assert!(error.message().contains(expected), "{value}: {error}");
        }
    }
}
