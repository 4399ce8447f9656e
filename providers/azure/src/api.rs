//! The Microsoft.Authorization objects breakglass reads and writes, named as Azure's OpenAPI
//! descriptions name them (`definitions/…` in authorization-RoleAssignmentsCalls.json of
//! 2022-04-01 and RoleAssignmentSchedule*.json of 2020-10-01).
//!
//! Decoding is strict about what breakglass relies on (an id, a role, a principal) and lenient
//! about the rest: fields Azure adds later are ignored, and `null` reads as absent, as Azure
//! sends it for unset values.

use serde::{Deserialize, Serialize};

/// The API version of `roleAssignments`.
pub const ROLE_ASSIGNMENTS_API: &str = "2022-04-01";
/// The API version of `roleAssignmentScheduleRequests`, `roleAssignmentSchedules` and
/// `roleAssignmentScheduleInstances`.
pub const SCHEDULES_API: &str = "2020-10-01";

/// A page of a list: `RoleAssignmentListResult`, `RoleAssignmentScheduleListResult`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The objects of this page.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The URL of the next page, if there is one.
    #[serde(default)]
    pub next_link: Option<String>,
}

/// `RoleAssignment`.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleAssignment {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: String,
    /// The assignment's name (a GUID).
    pub name: String,
    /// Its properties.
    pub properties: RoleAssignmentProperties,
}

/// `RoleAssignmentProperties`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    /// Where the role applies.
    #[serde(default)]
    pub scope: Option<String>,
    /// The role definition id.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
    /// `User`, `Group`, `ServicePrincipal`, `ForeignGroup`.
    #[serde(default)]
    pub principal_type: Option<String>,
}

/// The body of `RoleAssignments_Create`: `RoleAssignmentCreateParameters`.
#[derive(Debug, Clone, Serialize)]
pub struct RoleAssignmentCreate<'a> {
    /// The assignment.
    pub properties: RoleAssignmentCreateProperties<'a>,
}

/// The writable `RoleAssignmentProperties`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentCreateProperties<'a> {
    /// The role definition id.
    pub role_definition_id: &'a str,
    /// The principal's object id.
    pub principal_id: &'a str,
    /// The principal's type, when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<&'a str>,
}

/// `RoleAssignmentSchedule`.
#[derive(Debug, Clone, Deserialize)]
pub struct Schedule {
    /// The schedule's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its properties.
    pub properties: ScheduleProperties,
}

/// `RoleAssignmentScheduleProperties`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleProperties {
    /// Where the role applies.
    #[serde(default)]
    pub scope: Option<String>,
    /// The role definition id.
    #[serde(default)]
    pub role_definition_id: Option<String>,
    /// The principal's object id.
    #[serde(default)]
    pub principal_id: Option<String>,
    /// The request that made the schedule.
    #[serde(default)]
    pub role_assignment_schedule_request_id: Option<String>,
    /// `Direct`, `Inherited`, `Group`.
    #[serde(default)]
    pub member_type: Option<String>,
    /// The schedule's status.
    #[serde(default)]
    pub status: Option<String>,
    /// When it starts.
    #[serde(default)]
    pub start_date_time: Option<String>,
    /// When Azure ends it; absent for a permanent assignment.
    #[serde(default)]
    pub end_date_time: Option<String>,
}

/// `RoleAssignmentScheduleRequest`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleRequest {
    /// The request's id.
    pub id: String,
    /// Its name (a GUID).
    pub name: String,
    /// Its properties.
    pub properties: ScheduleRequestProperties,
}

/// The `RoleAssignmentScheduleRequestProperties` breakglass reads back.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequestProperties {
    /// The role definition id.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
    /// `AdminAssign`, `AdminRemove`, …
    pub request_type: String,
    /// Where the request stands (`Provisioned`, `PendingRevocation`, `Revoked`, …).
    #[serde(default)]
    pub status: Option<String>,
}

/// The body of `RoleAssignmentScheduleRequests_Create`, with only the writable properties
/// (`scope`, `status` and the like are read-only).
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRequestCreate {
    /// The request.
    pub properties: ScheduleRequestCreateProperties,
}

/// The writable `RoleAssignmentScheduleRequestProperties`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequestCreateProperties {
    /// The role definition id.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
    /// `AdminAssign`, `AdminUpdate` or `AdminRemove`.
    pub request_type: &'static str,
    /// When it starts and how it ends (not sent with `AdminRemove`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_info: Option<ScheduleInfo>,
    /// Why, for Azure's own audit.
    pub justification: String,
    /// The ticket: breakglass and the activation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_info: Option<TicketInfo>,
}

/// `scheduleInfo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleInfo {
    /// When the assignment starts (RFC 3339).
    pub start_date_time: String,
    /// How it ends.
    pub expiration: Expiration,
}

/// `scheduleInfo.expiration`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    /// `AfterDateTime` or `NoExpiration`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The end (RFC 3339), for `AfterDateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
}

/// `ticketInfo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketInfo {
    /// The activation id.
    pub ticket_number: String,
    /// `breakglass`.
    pub ticket_system: &'static str,
}

/// ARM's error body: `ErrorResponse` (common types) and `CloudError` have the same shape.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// `ErrorDetail` / `CloudErrorBody`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDetail {
    /// The error code (`RoleAssignmentExists`, `AuthorizationFailed`, …).
    #[serde(default)]
    pub code: Option<String>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_specs_example_of_a_role_assignment_decodes() {
        // The example RoleAssignments_Get.json of 2022-04-01, with the nulls Azure sends for
        // unset values (as its other examples show).
        let body = json!({
            "properties": {
                "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/0b5fe924-9a61-425c-96af-cfe6e287ca2d",
                "principalId": "ce2ce14e-85d7-4629-bdbc-454d0519d987",
                "principalType": "User",
                "scope": "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2",
                "condition": null,
                "description": null
            },
            "id": "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2/providers/Microsoft.Authorization/roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747",
            "type": "Microsoft.Authorization/roleAssignments",
            "name": "b0f43c54-e787-4862-89b1-a653fa9cf747"
        });
        let assignment: RoleAssignment = serde_json::from_value(body).unwrap();
        assert_eq!(assignment.properties.principal_type.as_deref(), Some("User"));
        assert!(assignment.properties.scope.unwrap().ends_with("3b2"));
    }

    #[test]
    fn a_request_body_carries_only_writable_properties() {
        let body = ScheduleRequestCreate {
            properties: ScheduleRequestCreateProperties {
                role_definition_id: "/r".into(),
                principal_id: "p".into(),
                request_type: "AdminAssign",
                schedule_info: Some(ScheduleInfo {
                    start_date_time: "2026-12-01T10:00:00Z".into(),
                    expiration: Expiration {
                        kind: "AfterDateTime",
                        end_date_time: Some("2026-12-01T12:00:00Z".into()),
                    },
                }),
                justification: "j".into(),
                ticket_info: None,
            },
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            json!({"properties": {
                "roleDefinitionId": "/r", "principalId": "p", "requestType": "AdminAssign",
                "scheduleInfo": {"startDateTime": "2026-12-01T10:00:00Z",
                    "expiration": {"type": "AfterDateTime", "endDateTime": "2026-12-01T12:00:00Z"}},
                "justification": "j"
            }})
        );
    }
}
