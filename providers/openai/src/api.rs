//! The Administration API's objects, as the published OpenAPI description names them
//! (`components/schemas/…` in openai-openapi.yaml).
//!
//! Decoding is strict about what breakglass relies on and lenient about the rest: a required
//! field that is missing or of the wrong type, or an `object` tag that is not the one the
//! endpoint documents, is an error (never a silent default); fields the API adds later are
//! ignored, so a new field does not break a running executor.

use breakglass_provider::ProviderError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Every object the API returns carries an `object` tag naming its type.
pub trait Tagged {
    /// The tag the endpoints document for this type.
    const OBJECT: &'static str;
    /// The tag received.
    fn object(&self) -> &str;
}

/// Checks that `value`'s `object` tag is the documented one.
pub fn check_tag<T: Tagged>(value: T, context: &str) -> Result<T, ProviderError> {
    if value.object() == T::OBJECT {
        Ok(value)
    } else {
        Err(ProviderError::protocol(format!(
            "openai: {context}: expected an object of type `{}`, got `{}`",
            T::OBJECT,
            value.object()
        )))
    }
}

/// One page of a list (`ProjectUserListResponse`, `ProjectRateLimitListResponse`, …).
#[derive(Debug, Clone, Deserialize)]
pub struct ListPage<T> {
    /// Always `list`.
    pub object: String,
    /// The objects of this page.
    pub data: Vec<T>,
    /// The id of the last object of the page: the `after` cursor of the next page.
    #[serde(default)]
    pub last_id: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

impl<T: DeserializeOwned> Tagged for ListPage<T> {
    const OBJECT: &'static str = "list";
    fn object(&self) -> &str {
        &self.object
    }
}

/// `ProjectUser`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectUser {
    /// `organization.project.user`.
    pub object: String,
    /// The user's id.
    pub id: String,
    /// The user's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's email address.
    #[serde(default)]
    pub email: Option<String>,
    /// `owner` or `member`.
    pub role: String,
    /// When the user was added to the project (Unix seconds).
    pub added_at: i64,
}

impl Tagged for ProjectUser {
    const OBJECT: &'static str = "organization.project.user";
    fn object(&self) -> &str {
        &self.object
    }
}

/// `ProjectUserCreateRequest`.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectUserCreate<'a> {
    /// The user to add.
    pub user_id: &'a str,
    /// Their role.
    pub role: &'a str,
}

/// `ProjectUserUpdateRequest`.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectUserUpdate<'a> {
    /// The new role.
    pub role: &'a str,
}

/// `ProjectUserDeleteResponse`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectUserDeleted {
    /// `organization.project.user.deleted`.
    pub object: String,
    /// Whether the user was removed.
    pub deleted: bool,
}

impl Tagged for ProjectUserDeleted {
    const OBJECT: &'static str = "organization.project.user.deleted";
    fn object(&self) -> &str {
        &self.object
    }
}

/// `ProjectRateLimit`. The limits other than requests and tokens per minute are present only
/// for the models they apply to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectRateLimit {
    /// `project.rate_limit`.
    pub object: String,
    /// The rate limit's id.
    pub id: String,
    /// The model it applies to.
    pub model: String,
    /// Requests per minute. The spec says `integer` with no minimum, so negative values are
    /// read as the API gives them, not refused.
    pub max_requests_per_1_minute: i64,
    /// Tokens per minute.
    pub max_tokens_per_1_minute: i64,
    /// Images per minute.
    #[serde(default)]
    pub max_images_per_1_minute: Option<i64>,
    /// Audio megabytes per minute.
    #[serde(default)]
    pub max_audio_megabytes_per_1_minute: Option<i64>,
    /// Requests per day.
    #[serde(default)]
    pub max_requests_per_1_day: Option<i64>,
    /// Batch input tokens per day.
    #[serde(default)]
    pub batch_1_day_max_input_tokens: Option<i64>,
}

impl Tagged for ProjectRateLimit {
    const OBJECT: &'static str = "project.rate_limit";
    fn object(&self) -> &str {
        &self.object
    }
}

impl ProjectRateLimit {
    /// The limit called `name` (one of [`crate::schema::LIMITS`]), if the model has it.
    pub fn limit(&self, name: &str) -> Option<i64> {
        match name {
            "max_requests_per_1_minute" => Some(self.max_requests_per_1_minute),
            "max_tokens_per_1_minute" => Some(self.max_tokens_per_1_minute),
            "max_images_per_1_minute" => self.max_images_per_1_minute,
            "max_audio_megabytes_per_1_minute" => self.max_audio_megabytes_per_1_minute,
            "max_requests_per_1_day" => self.max_requests_per_1_day,
            "batch_1_day_max_input_tokens" => self.batch_1_day_max_input_tokens,
            _ => None,
        }
    }
}

/// `ProjectModelPermissions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelPermissions {
    /// `project.model_permissions`.
    pub object: String,
    /// `allow_list` or `deny_list`.
    pub mode: String,
    /// The models listed.
    pub model_ids: Vec<String>,
}

impl Tagged for ModelPermissions {
    const OBJECT: &'static str = "project.model_permissions";
    fn object(&self) -> &str {
        &self.object
    }
}

/// `ProjectModelPermissionsUpdateRequest`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelPermissionsUpdate<'a> {
    /// `allow_list` or `deny_list`.
    pub mode: &'a str,
    /// The models listed.
    pub model_ids: &'a [String],
}

/// `ProjectModelPermissionsDeleteResponse`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelPermissionsDeleted {
    /// `project.model_permissions.deleted`.
    pub object: String,
    /// Whether the policy was removed.
    pub deleted: bool,
}

impl Tagged for ModelPermissionsDeleted {
    const OBJECT: &'static str = "project.model_permissions.deleted";
    fn object(&self) -> &str {
        &self.object
    }
}

/// `Project`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Project {
    /// `organization.project`.
    pub object: String,
    /// The project's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// `active` or `archived`.
    #[serde(default)]
    pub status: Option<String>,
    /// When it was archived, if it was.
    #[serde(default)]
    pub archived_at: Option<i64>,
}

impl Tagged for Project {
    const OBJECT: &'static str = "organization.project";
    fn object(&self) -> &str {
        &self.object
    }
}

/// `ProjectUpdateRequest`.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectUpdate<'a> {
    /// The new name.
    pub name: &'a str,
}

/// `ErrorResponse`: how every endpoint answers a failure.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// `Error`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong, in words.
    #[serde(default)]
    pub message: String,
    /// A machine-readable code (`invalid_api_key`), when there is one.
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    #[test]
    fn the_documented_examples_decode() {
        // The examples of openai-openapi.yaml, verbatim but for the id typo in the users list.
        let user: ProjectUser = serde_json::from_value(json!({
            "object": "organization.project.user", "id": "user_abc", "name": "First Last",
            "email": "user@example.com", "role": "owner", "added_at": 1711471533
        }))
        .unwrap();
        assert_eq!(check_tag(user, "t").unwrap().role, "owner");
        let page: ListPage<ProjectRateLimit> = serde_json::from_value(json!({
            "object": "list",
            "data": [{ "object": "project.rate_limit", "id": "rl-ada", "model": "ada",
                       "max_requests_per_1_minute": 600, "max_tokens_per_1_minute": 150000,
                       "max_images_per_1_minute": 10 }],
            "first_id": "rl-ada", "last_id": "rl-ada", "has_more": false
        }))
        .unwrap();
        let limit = &page.data[0];
        assert_eq!(limit.limit("max_images_per_1_minute"), Some(10));
        assert_eq!(limit.limit("max_requests_per_1_day"), None);
        let permissions: ModelPermissions = serde_json::from_value(json!({
            "object": "project.model_permissions", "mode": "allow_list",
            "model_ids": ["gpt-4.1", "o3"]
        }))
        .unwrap();
        assert_eq!(permissions.model_ids.len(), 2);
    }

    #[test]
    fn a_wrong_tag_is_a_protocol_error() {
        let user: ProjectUser = serde_json::from_value(json!({
            "object": "organization.user", "id": "user_abc", "role": "owner", "added_at": 1
        }))
        .unwrap();
        let error = check_tag(user, "reading project user").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Protocol);
        assert!(error.message().contains("`organization.project.user`"), "{error}");
    }

    #[test]
    fn missing_or_mistyped_required_fields_do_not_decode() {
        let missing_role =
            json!({ "object": "organization.project.user", "id": "u", "added_at": 1 });
        assert!(serde_json::from_value::<ProjectUser>(missing_role).is_err());
        let string_limit = json!({ "object": "project.rate_limit", "id": "rl", "model": "m",
                                   "max_requests_per_1_minute": "600",
                                   "max_tokens_per_1_minute": 1 });
        assert!(serde_json::from_value::<ProjectRateLimit>(string_limit).is_err());
        let no_has_more = json!({ "object": "list", "data": [] });
        assert!(serde_json::from_value::<ListPage<ProjectUser>>(no_has_more).is_err());
    }
}
