//! The Admin API's JSON, as documented at
//! <https://platform.claude.com/docs/en/api/admin>. Required fields have no defaults, so an
//! answer of another shape fails to decode instead of becoming an empty or default value; unknown
//! fields are ignored, since the API adds fields over time.

use breakglass_provider::ProviderError;
use serde::Deserialize;

/// One page of a list endpoint (`GET /v1/organizations/...`).
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Whether more items follow `last_id`.
    pub has_more: bool,
    /// The first item's id (`null` on an empty page).
    #[allow(dead_code)] // decoded for completeness; paging goes forward only
    pub first_id: Option<String>,
    /// The last item's id, the `after_id` of the next page.
    pub last_id: Option<String>,
}

/// A workspace
/// (<https://platform.claude.com/docs/en/api/admin/workspaces/retrieve>).
#[derive(Debug, Clone, Deserialize)]
pub struct Workspace {
    /// Always `workspace`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `wrkspc_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was archived, or `null`.
    pub archived_at: Option<String>,
}

/// A workspace member
/// (<https://platform.claude.com/docs/en/api/admin/workspaces/members/retrieve>).
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMember {
    /// Always `workspace_member`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `user_…`.
    pub user_id: String,
    /// `wrkspc_…`.
    pub workspace_id: String,
    /// `workspace_user`, `workspace_developer`, `workspace_restricted_developer`,
    /// `workspace_admin` or `workspace_billing`.
    pub workspace_role: String,
}

/// The answer to deleting a member
/// (<https://platform.claude.com/docs/en/api/admin/workspaces/members/delete>).
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMemberDeleted {
    /// Always `workspace_member_deleted`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// An API key (<https://platform.claude.com/docs/en/api/admin/api_keys/retrieve>); the secret
/// itself is never returned by the API.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    /// Always `api_key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `apikey_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `active`, `inactive`, `archived` (or `expired`).
    pub status: String,
    /// The workspace it belongs to, or `null` for the default workspace.
    pub workspace_id: Option<String>,
    /// A redacted hint such as `sk-ant-api03-R2D…igAA`.
    pub partial_key_hint: Option<String>,
}

/// Something the API returns, tagged with its `type`.
pub trait Tagged {
    /// The `type` the API documents for it.
    const TYPE: &'static str;
    /// The `type` it carries.
    fn kind(&self) -> &str;
}

impl Tagged for Workspace {
    const TYPE: &'static str = "workspace";
    fn kind(&self) -> &str {
        &self.kind
    }
}

impl Tagged for WorkspaceMember {
    const TYPE: &'static str = "workspace_member";
    fn kind(&self) -> &str {
        &self.kind
    }
}

impl Tagged for WorkspaceMemberDeleted {
    const TYPE: &'static str = "workspace_member_deleted";
    fn kind(&self) -> &str {
        &self.kind
    }
}

impl Tagged for ApiKey {
    const TYPE: &'static str = "api_key";
    fn kind(&self) -> &str {
        &self.kind
    }
}

/// Checks the `type` tag: JSON of the right shape but another kind of object is an error too.
pub fn check_tag<T: Tagged>(item: &T, call: &str) -> Result<(), ProviderError> {
    if item.kind() == T::TYPE {
        Ok(())
    } else {
        Err(ProviderError::protocol(format!(
            "anthropic: {call} answered an object of type \"{}\" where the API documents \"{}\"",
            item.kind(),
            T::TYPE
        )))
    }
}

/// The error body every failed call carries
/// (<https://docs.anthropic.com/en/api/errors>):
/// `{"type": "error", "error": {"type": "not_found_error", "message": "…"}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The `error` object of an error body.
#[derive(Debug, Deserialize)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `permission_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// A human-readable message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_without_has_more_does_not_decode() {
        let missing: Result<Page<WorkspaceMember>, _> =
            serde_json::from_str(r#"{"data": [], "first_id": null, "last_id": null}"#);
        assert!(missing.is_err());
        let page: Page<WorkspaceMember> = serde_json::from_str(
            r#"{"data": [{"type": "workspace_member", "user_id": "user_1",
                "workspace_id": "wrkspc_1", "workspace_role": "workspace_user"}],
                "has_more": false, "first_id": "user_1", "last_id": "user_1"}"#,
        )
        .unwrap();
        assert_eq!(page.data[0].workspace_role, "workspace_user");
    }

    #[test]
    fn a_member_without_a_role_does_not_decode_and_a_wrong_tag_is_refused() {
        let missing: Result<WorkspaceMember, _> = serde_json::from_str(
            r#"{"type": "workspace_member", "user_id": "u", "workspace_id": "w"}"#,
        );
        assert!(missing.is_err());
        let other: WorkspaceMember = serde_json::from_str(
            r#"{"type": "api_key", "user_id": "u", "workspace_id": "w",
                "workspace_role": "workspace_user"}"#,
        )
        .unwrap();
        let error = check_tag(&other, "GET /x").unwrap_err();
        assert!(error.message().contains("\"api_key\""), "{error}");
    }
}
