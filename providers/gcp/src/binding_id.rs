//! The natural id of a member's binding: `RESOURCE ROLE MEMBER[ KIND]`, space-separated as
//! Terraform's Google provider writes IAM member ids (no resource name, role or principal holds
//! a space).
//!
//! - `projects/prod roles/cloudsql.admin user:alice@example.com`: the unconditional binding.
//! - `… expiring`: the binding under breakglass's expiry condition. A binding declared (or
//!   granted) with `expires_at` is this one, whatever its end, so extending an activation is an
//!   update of the same object, and a grant never takes over a standing unconditional binding
//!   the member already had: that one is another object, which the revert leaves alone.
//! - `… condition:TITLE`: a binding under someone else's condition; only listed (for drift) and
//!   removed, never written.

use breakglass_provider::ProviderError;
use std::fmt;

use crate::policy::Kind;

/// The roles IAM refuses to put a condition on (its "basic roles").
pub const BASIC_ROLES: [&str; 3] = ["roles/owner", "roles/editor", "roles/viewer"];

const EXPIRING: &str = "expiring";
const CONDITION: &str = "condition:";

/// Which binding of which member to which role, on which resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BindingId {
    /// The resource name (`projects/prod`, `folders/123`, `organizations/456`).
    pub resource: String,
    /// The role.
    pub role: String,
    /// The principal.
    pub member: String,
    /// Which of the member's bindings to the role.
    pub kind: Kind,
}

impl BindingId {
    /// Parses an id that [`BindingId`]'s `Display` wrote.
    pub fn parse(resource_type: &str, id: &str) -> Result<Self, ProviderError> {
        let wrong = || {
            ProviderError::invalid(format!(
                "{resource_type}: id {id:?} is not of the form `RESOURCE ROLE MEMBER`, \
                 optionally followed by `expiring` or `condition:TITLE`"
            ))
        };
        let mut parts = id.splitn(4, ' ');
        let (Some(resource), Some(role), Some(member)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(wrong());
        };
        let kind = match parts.next() {
            None => Kind::Unconditional,
            Some(EXPIRING) => Kind::Expiring,
            Some(rest) => {
                Kind::Condition(rest.strip_prefix(CONDITION).ok_or_else(wrong)?.to_owned())
            }
        };
        if resource.is_empty() || role.is_empty() || member.is_empty() {
            return Err(wrong());
        }
        Ok(Self {
            resource: resource.to_owned(),
            role: role.to_owned(),
            member: member.to_owned(),
            kind,
        })
    }
}

impl fmt::Display for BindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.resource, self.role, self.member)?;
        match &self.kind {
            Kind::Unconditional => Ok(()),
            Kind::Expiring => write!(f, " {EXPIRING}"),
            Kind::Condition(title) => write!(f, " {CONDITION}{title}"),
        }
    }
}

/// Checks a role name: `roles/NAME`, or a custom role `projects/P/roles/NAME` or
/// `organizations/O/roles/NAME`.
pub fn check_role(resource_type: &str, role: &str) -> Result<(), ProviderError> {
    let name_ok = |name: &str| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
    };
    let parts: Vec<&str> = role.split('/').collect();
    let ok = match parts.as_slice() {
        ["roles", name] => name_ok(name),
        ["projects" | "organizations", parent, "roles", name] => {
            let parent_ok = parent.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':')
            });
            !parent.is_empty() && parent_ok && name_ok(name)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ProviderError::invalid(format!(
            "{resource_type}: `role` {role:?} is not a role name; expected a predefined role \
             (`roles/cloudsql.admin`) or a custom one (`projects/PROJECT/roles/NAME`, \
             `organizations/ORG/roles/NAME`)"
        )))
    }
}

/// Checks a principal: one IAM accepts in a binding, naming who gets access.
pub fn check_member(resource_type: &str, member: &str) -> Result<(), ProviderError> {
    const PREFIXES: [&str; 6] =
        ["user:", "group:", "serviceAccount:", "domain:", "principal://", "principalSet://"];
    let wrong = |why: &str| {
        ProviderError::invalid(format!(
            "{resource_type}: `member` {member:?} {why}; expected a principal such as \
             `user:alice@example.com`, `group:sre@example.com`, \
             `serviceAccount:NAME@PROJECT.iam.gserviceaccount.com` or `domain:example.com`"
        ))
    };
    if member == "allUsers" || member == "allAuthenticatedUsers" {
        return Err(wrong("grants access to everyone, which breakglass never does"));
    }
    if member.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(wrong("holds a space"));
    }
    match PREFIXES.iter().find(|prefix| member.starts_with(**prefix)) {
        Some(prefix) if member.len() > prefix.len() => Ok(()),
        Some(_) => Err(wrong("names nobody after its prefix")),
        None => Err(wrong("has no principal type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let cases = [
            ("projects/prod roles/viewer user:a@example.com", Kind::Unconditional),
            ("folders/12 roles/viewer group:g@example.com expiring", Kind::Expiring),
            (
                "organizations/3 roles/viewer domain:example.com condition:office hours",
                Kind::Condition("office hours".into()),
            ),
        ];
        for (text, kind) in cases {
            let id = BindingId::parse("t", text).unwrap();
            assert_eq!(id.kind, kind, "{text}");
            assert_eq!(id.to_string(), text);
        }
        for bad in ["projects/prod roles/viewer", "a b c later", "  x", "a  b c"] {
            assert!(BindingId::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_and_members_are_checked() {
        for good in [
            "roles/owner",
            "roles/cloudsql.admin",
            "projects/my-proj/roles/breakglass_dba",
            "organizations/123/roles/x",
        ] {
            assert!(check_role("t", good).is_ok(), "{good}");
        }
        for bad in ["owner", "roles/", "roles/a/b", "projects//roles/x", "roles/bad role"] {
            assert!(check_role("t", bad).is_err(), "{bad}");
        }
        for good in [
            "user:alice@example.com",
            "serviceAccount:sa@p.iam.gserviceaccount.com",
            "principal://iam.googleapis.com/x",
        ] {
            assert!(check_member("t", good).is_ok(), "{good}");
        }
        let cases = [
            ("allUsers", "everyone"),
            ("alice@example.com", "no principal type"),
            ("user:", "names nobody"),
            ("user:a b@example.com", "space"),
        ];
        for (bad, expected) in cases {
            let error = check_member("t", bad).unwrap_err();
            assert!(error.message().contains(expected), "{bad}: {error}");
        }
    }
}
