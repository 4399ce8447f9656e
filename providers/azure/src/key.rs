//! What identifies a role assignment: its scope, its role and its principal.
//!
//! Azure allows one assignment of a role to a principal at a scope (a second one is refused
//! with `RoleAssignmentExists`, whatever its name), so that triple is the natural id:
//! `SCOPE|ROLE_GUID|PRINCIPAL_ID`, lower case, as ARM ids compare case-insensitively. It is
//! worked out from the declared attributes alone, and read back from whatever Azure lists, so a
//! create retried after a crash finds the assignment it made.
//!
//! Names Azure asks the caller to choose (a role assignment's, a schedule request's) are GUIDs
//! derived from the triple and the purpose ([`derived_guid`]): the same write sent twice carries
//! the same name, which is what makes it idempotent.

use breakglass_provider::{Attributes, ProviderError, Value};
use sha2::{Digest, Sha256};

use crate::schema::{PRINCIPAL_TYPES, ROLE_ASSIGNMENT};

/// The path segment between a scope and a role definition's GUID.
const ROLE_DEFINITIONS: &str = "/providers/microsoft.authorization/roledefinitions/";

/// A role assignment's scope, role and principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The scope as declared (or as Azure reports it), without a trailing slash.
    pub scope: String,
    /// The role definition id as declared (sent to Azure as it is).
    pub role_definition_id: String,
    /// The role definition's GUID, lower case.
    pub role_guid: String,
    /// The principal's object id, lower case.
    pub principal_id: String,
}

impl Key {
    /// The key of an assignment with these declared attributes, checked.
    pub fn from_attributes(attributes: &Attributes) -> Result<Self, ProviderError> {
        let text = |name: &str| match attributes.get(name) {
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim()),
            _ => Err(ProviderError::invalid(format!(
                "{ROLE_ASSIGNMENT}: `{name}` must be set to a non-empty string"
            ))),
        };
        let scope = checked_scope(text("scope")?)?;
        let role_definition_id = text("role_definition_id")?;
        let role_guid = role_guid(role_definition_id).ok_or_else(|| {
            ProviderError::invalid(format!(
                "{ROLE_ASSIGNMENT}: `role_definition_id` {role_definition_id:?} is not a role \
                 definition id; expected /subscriptions/ID/providers/Microsoft.Authorization/\
                 roleDefinitions/GUID (Owner is GUID 8e3af657-a8ff-443c-a75c-2fe8c4bcb635)"
            ))
        })?;
        let principal_id = text("principal_id")?;
        if !is_guid(principal_id) {
            return Err(ProviderError::invalid(format!(
                "{ROLE_ASSIGNMENT}: `principal_id` {principal_id:?} is not an object id (a GUID \
                 such as 00000000-0000-0000-0000-000000000000); it is the Entra object id of the \
                 user, group or service principal, not a name"
            )));
        }
        if let Some(kind) = principal_type(attributes)?
            && !PRINCIPAL_TYPES.contains(&kind)
        {
            return Err(ProviderError::invalid(format!(
                "{ROLE_ASSIGNMENT}: `principal_type` must be one of {}, got {kind:?}",
                PRINCIPAL_TYPES.join(", ")
            )));
        }
        Ok(Self {
            scope,
            role_definition_id: role_definition_id.to_owned(),
            role_guid,
            principal_id: principal_id.to_ascii_lowercase(),
        })
    }

    /// The natural id: `SCOPE|ROLE_GUID|PRINCIPAL_ID`, lower case.
    pub fn id(&self) -> String {
        format!("{}|{}|{}", self.scope.to_ascii_lowercase(), self.role_guid, self.principal_id)
    }

    /// The key of a natural id.
    pub fn from_id(id: &str) -> Result<Self, ProviderError> {
        let wrong = || {
            ProviderError::invalid(format!(
                "{ROLE_ASSIGNMENT}: id {id:?} is not of the form SCOPE|ROLE_GUID|PRINCIPAL_ID"
            ))
        };
        let mut parts = id.split('|');
        let (Some(scope), Some(role), Some(principal), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(wrong());
        };
        if !is_guid(role) || !is_guid(principal) {
            return Err(wrong());
        }
        Ok(Self {
            scope: checked_scope(scope)?,
            role_definition_id: format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{}",
                role.to_ascii_lowercase()
            ),
            role_guid: role.to_ascii_lowercase(),
            principal_id: principal.to_ascii_lowercase(),
        })
    }

    /// Whether an assignment Azure reports at `scope` of `role_definition_id` to `principal`
    /// is this one.
    pub fn matches(&self, scope: &str, role_definition_id: &str, principal: &str) -> bool {
        same_scope(&self.scope, scope)
            && role_guid(role_definition_id).is_some_and(|guid| guid == self.role_guid)
            && principal.eq_ignore_ascii_case(&self.principal_id)
    }
}

/// The declared `principal_type`, if any.
pub fn principal_type(attributes: &Attributes) -> Result<Option<&str>, ProviderError> {
    match attributes.get("principal_type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(ProviderError::invalid(format!(
            "{ROLE_ASSIGNMENT}: `principal_type` must be a string"
        ))),
    }
}

/// Whether two scopes are the same (ARM ids compare case-insensitively; a trailing slash does
/// not count).
pub fn same_scope(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// A scope, checked: it goes into request paths as it is (`{scope}` is not encoded), so nothing
/// that could change the path's meaning gets in.
pub fn checked_scope(scope: &str) -> Result<String, ProviderError> {
    let scope = scope.trim().trim_end_matches('/');
    let wrong = |why: &str| {
        ProviderError::invalid(format!(
            "{ROLE_ASSIGNMENT}: `scope` {scope:?} {why}; expected /subscriptions/ID, \
             /subscriptions/ID/resourceGroups/NAME, a resource id or \
             /providers/Microsoft.Management/managementGroups/ID"
        ))
    };
    if !scope.starts_with('/') || scope.len() < 2 {
        return Err(wrong("does not start with / followed by a path"));
    }
    if scope
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '%' | '\\' | '|'))
    {
        return Err(wrong("holds a character no scope has"));
    }
    if scope[1..].split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(wrong("has an empty, `.` or `..` segment"));
    }
    if scope.to_ascii_lowercase().contains("/providers/microsoft.authorization/") {
        return Err(wrong("is an authorization object, not a scope"));
    }
    Ok(scope.to_owned())
}

/// The GUID at the end of a role definition id, lower case.
pub fn role_guid(role_definition_id: &str) -> Option<String> {
    let lower = role_definition_id.trim().to_ascii_lowercase();
    let at = lower.rfind(ROLE_DEFINITIONS)?;
    let guid = &lower[at + ROLE_DEFINITIONS.len()..];
    is_guid(guid).then(|| guid.to_owned())
}

/// Whether `text` is a GUID (`8-4-4-4-12` hexadecimal digits).
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// A GUID derived from `parts` (SHA-256, marked as an RFC 9562 version 8 UUID): the same
/// parts always give the same GUID.
pub fn derived_guid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    const ALICE: &str = "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f";

    fn attributes(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_id_is_the_lower_case_triple_and_reads_back() {
        let declared = attributes(json!({
            "scope": "/subscriptions/S1/resourceGroups/RG-Prod/",
            "role_definition_id": format!("/subscriptions/S1/providers/Microsoft.Authorization/roleDefinitions/{}", OWNER.to_uppercase()),
            "principal_id": ALICE.to_uppercase(),
        }));
        let key = Key::from_attributes(&declared).unwrap();
        assert_eq!(key.scope, "/subscriptions/S1/resourceGroups/RG-Prod");
        let id = key.id();
        assert_eq!(id, format!("/subscriptions/s1/resourcegroups/rg-prod|{OWNER}|{ALICE}"));
        let back = Key::from_id(&id).unwrap();
        assert_eq!(back.id(), id);
        assert!(back.matches(
            "/subscriptions/S1/resourcegroups/rg-prod",
            &format!("/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"),
            ALICE
        ));
        assert!(!back.matches("/subscriptions/S1", &format!("/x{ROLE_DEFINITIONS}{OWNER}"), ALICE));
    }

    #[test]
    fn bad_declarations_say_what_would_be_right() {
        let good = json!({
            "scope": "/subscriptions/s1",
            "role_definition_id": format!("/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"),
            "principal_id": ALICE,
        });
        let cases = [
            ("scope", json!("subscriptions/s1"), "does not start with /"),
            ("scope", json!("/subscriptions/s1/../s2"), "`..` segment"),
            ("scope", json!("/subscriptions/s1?api-version=1"), "character no scope has"),
            (
                "scope",
                json!(format!(
                    "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/{OWNER}"
                )),
                "authorization object",
            ),
            ("role_definition_id", json!("Owner"), "not a role definition id"),
            ("principal_id", json!("alice@example.com"), "not an object id"),
            ("principal_type", json!("Robot"), "one of User, Group"),
            ("scope", json!(""), "non-empty string"),
        ];
        for (name, value, expected) in cases {
            let mut declared = attributes(good.clone());
            declared.insert(name.into(), value.clone());
            let error = Key::from_attributes(&declared).unwrap_err();
            assert!(error.message().contains(expected), "{name} = {value}: {error}");
            assert!(error.message().starts_with("azure_role_assignment: "), "{error}");
        }
        assert!(Key::from_id("/subscriptions/s1|owner|alice").is_err());
    }

    #[test]
    fn derived_guids_are_stable_distinct_and_well_formed() {
        let a = derived_guid(&["assign", "x"]);
        assert_eq!(a, derived_guid(&["assign", "x"]));
        assert_ne!(a, derived_guid(&["assign", "y"]));
        assert_ne!(derived_guid(&["ab", "c"]), derived_guid(&["a", "bc"]));
        assert!(is_guid(&a), "{a}");
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!(!is_guid("8e3af657-a8ff-443c-a75c-2fe8c4bcb63"));
        assert!(!is_guid("8e3af657a8ff443ca75c2fe8c4bcb635"));
    }
}
