//! An IAM policy as Cloud Resource Manager sends it (`Policy`, `Binding`, `Expr` of the
//! discovery document), and the edits breakglass makes to it: pure functions, so the
//! read-modify-write around them ([`crate::policies`]) is the only code that calls Google.
//!
//! Everything breakglass does not know is kept and sent back unchanged: fields a newer API adds
//! (`auditConfigs` today) ride along in `other`, bindings and members it does not manage are
//! never touched, and a binding is identified by its role *and* its condition, as IAM does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::condition;

/// An IAM policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// The format: 1 without conditions, 3 with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    /// The version tag a write must carry, so it cannot overwrite a change it did not see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Fields breakglass does not manage (`auditConfigs`…), sent back as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Members bound to a role, perhaps under a condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// The role.
    pub role: String,
    /// The principals.
    #[serde(default)]
    pub members: Vec<String>,
    /// The condition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    /// Fields breakglass does not know, sent back as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A CEL expression with a title (an IAM Condition).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    /// The CEL text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expression: String,
    /// A short title.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// A longer description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Where the expression came from, for error reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Fields breakglass does not know, sent back as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Which of a member's bindings to a role something is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The binding without a condition.
    Unconditional,
    /// A binding under breakglass's own expiry condition ([`crate::condition`]).
    Expiring,
    /// A binding under someone else's condition, by the condition's title.
    Condition(String),
}

impl Kind {
    /// The kind of binding a condition makes.
    pub fn of(condition: Option<&Expr>) -> Self {
        match condition {
            None => Kind::Unconditional,
            Some(expr) if condition::end_of(expr).is_some() => Kind::Expiring,
            Some(expr) => Kind::Condition(expr.title.clone()),
        }
    }
}

/// One member of one binding, as a read finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership<'a> {
    /// The role.
    pub role: &'a str,
    /// The principal.
    pub member: &'a str,
    /// Which binding.
    pub kind: Kind,
    /// The binding's condition.
    pub condition: Option<&'a Expr>,
}

impl Policy {
    /// Every member of every binding.
    pub fn memberships(&self) -> impl Iterator<Item = Membership<'_>> {
        self.bindings.iter().flat_map(|binding| {
            let kind = Kind::of(binding.condition.as_ref());
            binding.members.iter().map(move |member| Membership {
                role: &binding.role,
                member,
                kind: kind.clone(),
                condition: binding.condition.as_ref(),
            })
        })
    }

    /// The binding of `member` to `role` of `kind`, if there is one. Where several hold it
    /// (breakglass's expiry written twice, say), the one that ends last.
    pub fn find(&self, role: &str, member: &str, kind: &Kind) -> Option<Membership<'_>> {
        self.memberships()
            .filter(|m| m.role == role && m.member == member && m.kind == *kind)
            .max_by_key(|m| m.condition.and_then(condition::end_of))
    }

    /// Binds `member` to `role`, unconditionally or under `expiry` (breakglass's condition).
    /// Under `expiry`, the member leaves breakglass's other expiry bindings of the role, so
    /// extending rewrites the condition rather than adding one. Returns whether anything
    /// changed; nothing else in the policy is touched.
    pub fn grant(&mut self, role: &str, member: &str, expiry: Option<&Expr>) -> bool {
        let mut changed = false;
        if let Some(expiry) = expiry {
            for binding in self.bindings.iter_mut().filter(|b| {
                b.role == role
                    && Kind::of(b.condition.as_ref()) == Kind::Expiring
                    && b.condition.as_ref() != Some(expiry)
            }) {
                changed |= remove_member(binding, member);
            }
        }
        let existing =
            self.bindings.iter_mut().find(|b| b.role == role && b.condition.as_ref() == expiry);
        match existing {
            Some(binding) if binding.members.iter().any(|m| m == member) => {}
            Some(binding) => {
                binding.members.push(member.to_owned());
                changed = true;
            }
            None => {
                self.bindings.push(Binding {
                    role: role.to_owned(),
                    members: vec![member.to_owned()],
                    condition: expiry.cloned(),
                    other: Map::new(),
                });
                changed = true;
            }
        }
        self.bindings.retain(|b| !b.members.is_empty());
        changed
    }

    /// Takes `member` out of its bindings to `role` of `kind`, and only those. Returns whether
    /// anything changed.
    pub fn revoke(&mut self, role: &str, member: &str, kind: &Kind) -> bool {
        let mut changed = false;
        for binding in self
            .bindings
            .iter_mut()
            .filter(|b| b.role == role && Kind::of(b.condition.as_ref()) == *kind)
        {
            changed |= remove_member(binding, member);
        }
        self.bindings.retain(|b| !b.members.is_empty());
        changed
    }

    /// Whether any binding has a condition (the policy must then be written as version 3).
    pub fn has_conditions(&self) -> bool {
        self.bindings.iter().any(|b| b.condition.is_some())
    }
}

fn remove_member(binding: &mut Binding, member: &str) -> bool {
    let before = binding.members.len();
    binding.members.retain(|m| m != member);
    binding.members.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(value: Value) -> Policy {
        serde_json::from_value(value).unwrap()
    }

    fn end(time: &str) -> Expr {
        condition::expiry(time.parse().unwrap(), Some("act_1"))
    }

    /// A policy with someone else's bindings, conditions and audit settings.
    fn theirs() -> Value {
        json!({
            "version": 3,
            "etag": "BwWWja0YfJA=",
            "bindings": [
                {"role": "roles/viewer", "members": ["user:erin@example.com"]},
                {"role": "roles/cloudsql.admin", "members": ["user:bob@example.com"],
                 "condition": {"title": "office hours", "expression": "request.time.getHours(\"Europe/Paris\") < 18"}},
            ],
            "auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}],
        })
    }

    #[test]
    fn unknown_fields_and_others_bindings_go_back_unchanged() {
        let mut read = policy(theirs());
        assert!(read.grant("roles/cloudsql.admin", "user:alice@example.com", None));
        let sent = serde_json::to_value(&read).unwrap();
        assert_eq!(sent["auditConfigs"], theirs()["auditConfigs"]);
        assert_eq!(sent["bindings"][0], theirs()["bindings"][0]);
        assert_eq!(sent["bindings"][1], theirs()["bindings"][1]);
        assert_eq!(
            sent["bindings"][2],
            json!({"role": "roles/cloudsql.admin", "members": ["user:alice@example.com"]})
        );
    }

    #[test]
    fn granting_is_idempotent_and_extending_rewrites_the_condition() {
        let mut p = policy(theirs());
        let first = end("2031-03-02T01:00:00Z");
        assert!(p.grant("roles/cloudsql.admin", "user:alice@example.com", Some(&first)));
        assert!(!p.grant("roles/cloudsql.admin", "user:alice@example.com", Some(&first)));
        let found = p.find("roles/cloudsql.admin", "user:alice@example.com", &Kind::Expiring);
        assert_eq!(found.and_then(|m| m.condition).cloned(), Some(first.clone()));

        let later = end("2031-03-02T03:00:00Z");
        assert!(p.grant("roles/cloudsql.admin", "user:alice@example.com", Some(&later)));
        let expiring: Vec<_> =
            p.memberships().filter(|m| m.kind == Kind::Expiring).map(|m| m.condition).collect();
        assert_eq!(expiring, [Some(&later)], "one condition, rewritten");
        assert_eq!(p.bindings.len(), 3, "the emptied binding is gone: {:?}", p.bindings);
    }

    #[test]
    fn revoking_takes_out_exactly_one_kind_of_binding() {
        let mut p = policy(theirs());
        let expiry = end("2031-03-02T01:00:00Z");
        p.grant("roles/cloudsql.admin", "user:bob@example.com", Some(&expiry));
        p.grant("roles/cloudsql.admin", "user:bob@example.com", None);
        p.grant("roles/cloudsql.admin", "user:carol@example.com", Some(&expiry));

        assert!(p.revoke("roles/cloudsql.admin", "user:bob@example.com", &Kind::Expiring));
        assert!(!p.revoke("roles/cloudsql.admin", "user:bob@example.com", &Kind::Expiring));
        let bob: Vec<Kind> = p
            .memberships()
            .filter(|m| m.member == "user:bob@example.com")
            .map(|m| m.kind)
            .collect();
        assert_eq!(bob, [Kind::Condition("office hours".into()), Kind::Unconditional]);
        assert!(
            p.find("roles/cloudsql.admin", "user:carol@example.com", &Kind::Expiring).is_some()
        );

        assert!(p.revoke(
            "roles/cloudsql.admin",
            "user:bob@example.com",
            &Kind::Condition("office hours".into())
        ));
        assert_eq!(serde_json::to_value(&p).unwrap()["bindings"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn someone_elses_expiring_condition_is_not_breakglass_s() {
        let p = policy(json!({"bindings": [{"role": "roles/x", "members": ["user:a@example.com"],
            "condition": {"title": "t", "expression": "request.time < timestamp(\"2031-01-01T00:00:00Z\")"}}]}));
        let kinds: Vec<Kind> = p.memberships().map(|m| m.kind).collect();
        assert_eq!(kinds, [Kind::Condition("t".into())]);
        assert!(p.has_conditions());
    }
}
