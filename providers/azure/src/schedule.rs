//! Role assignment schedule requests (Privileged Identity Management for Azure resources):
//! `PUT {scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}`.
//!
//! An emergency grant is an `AdminAssign` request whose `scheduleInfo` carries the activation's
//! start and an `AfterDateTime` expiration at its end: Azure makes an active assignment and
//! removes it at that time by itself, even if breakglass never runs again. Extending the grant
//! is an `AdminUpdate` with the new end; taking it back is an `AdminRemove`.
//!
//! A request is a long-running operation: Azure answers `201` with a `status` that may still be
//! pending (`Accepted`, `PendingProvisioning`, `PendingRevocation`, …). [`wait`] looks at it
//! again, waiting longer each time, until it is `Provisioned` (`Revoked` for a removal), fails
//! (`Denied`, `Failed`, …) or the operation timeout passes, which is a clear, retryable error
//! naming the request. Request names are derived from what they do ([`crate::key::derived_guid`]),
//! so the same request sent again (a retry after a timeout or a crash) is recognised.

use breakglass_provider::{ActivationContext, ErrorKind, ProviderError};
use jiff::Timestamp;
use std::time::Duration;
use tokio::time::Instant;

use crate::api::{
    Expiration, SCHEDULES_API, ScheduleInfo, ScheduleRequest, ScheduleRequestCreate,
    ScheduleRequestCreateProperties, TicketInfo,
};
use crate::arm::{Arm, ArmError};
use crate::key::Key;

/// The longest wait between two looks at a pending request.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// A new active assignment.
    AdminAssign,
    /// A new end for an existing assignment.
    AdminUpdate,
    /// The assignment taken away.
    AdminRemove,
}

impl RequestType {
    /// The `requestType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::AdminAssign => "AdminAssign",
            RequestType::AdminUpdate => "AdminUpdate",
            RequestType::AdminRemove => "AdminRemove",
        }
    }

    /// The status a request of this type ends in when it worked.
    fn done(self) -> &'static str {
        match self {
            RequestType::AdminRemove => "Revoked",
            RequestType::AdminAssign | RequestType::AdminUpdate => "Provisioned",
        }
    }
}

/// Statuses after which a request will never do what it asked.
const FAILED: [&str; 7] = [
    "Denied",
    "Failed",
    "Canceled",
    "TimedOut",
    "Invalid",
    "AdminDenied",
    "FailedAsResourceIsLocked",
];

/// Statuses that wait for a person to approve in PIM.
const AWAITING_APPROVAL: [&str; 3] =
    ["PendingApproval", "PendingApprovalProvisioning", "PendingAdminDecision"];

/// The path of request `name` at `scope`.
pub fn path(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}")
}

/// The body of a request of `kind` for `key`, ending at `end` (`None`: no end), with Azure's
/// own audit fields saying who asked through breakglass and why.
pub fn body(
    kind: RequestType,
    key: &Key,
    start: Timestamp,
    end: Option<Timestamp>,
    activation: Option<&ActivationContext>,
) -> ScheduleRequestCreate {
    let schedule_info = (kind != RequestType::AdminRemove).then(|| ScheduleInfo {
        start_date_time: start.to_string(),
        expiration: match end {
            Some(end) => Expiration { kind: "AfterDateTime", end_date_time: Some(end.to_string()) },
            None => Expiration { kind: "NoExpiration", end_date_time: None },
        },
    });
    let justification = match (kind, activation) {
        (RequestType::AdminRemove, Some(activation)) => format!(
            "breakglass: the end of activation {} for {}",
            activation.id, activation.requester
        ),
        (_, Some(activation)) => format!(
            "breakglass: activation {} for {}, until {}",
            activation.id, activation.requester, activation.end
        ),
        (RequestType::AdminRemove, None) => "breakglass: not in the policy".to_owned(),
        (_, None) => "breakglass: as the policy declares".to_owned(),
    };
    ScheduleRequestCreate {
        properties: ScheduleRequestCreateProperties {
            role_definition_id: key.role_definition_id.clone(),
            principal_id: key.principal_id.clone(),
            request_type: kind.as_str(),
            schedule_info,
            justification,
            ticket_info: activation.map(|activation| TicketInfo {
                ticket_number: activation.id.clone(),
                ticket_system: "breakglass",
            }),
        },
    }
}

/// Submits request `name` at `key`'s scope. A request of that name that Azure already has (the
/// first attempt landed, its answer did not) is taken as the answer.
pub async fn submit(
    arm: &Arm,
    key: &Key,
    name: &str,
    body: &ScheduleRequestCreate,
) -> Result<ScheduleRequest, ArmError> {
    let path = path(&key.scope, name);
    match arm.put(&path, SCHEDULES_API, body).await {
        Ok(request) => Ok(request),
        Err(error) if error.kind() == ErrorKind::Invalid => {
            match arm.get::<ScheduleRequest>(&path, SCHEDULES_API).await {
                Ok(existing)
                    if existing.properties.request_type == body.properties.request_type
                        && existing
                            .properties
                            .principal_id
                            .eq_ignore_ascii_case(&key.principal_id) =>
                {
                    Ok(existing)
                }
                _ => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Waits until `request` is done, looking again with growing waits; an error when it failed,
/// waits for an approval in PIM, or is still pending after the operation timeout.
pub async fn wait(
    arm: &Arm,
    key: &Key,
    kind: RequestType,
    mut request: ScheduleRequest,
) -> Result<ScheduleRequest, ProviderError> {
    let deadline = Instant::now() + arm.operation_timeout;
    let mut interval = arm.poll_interval;
    let name = request_name(&request).to_owned();
    let what = || {
        format!("azure: {} request {name} for {} at {}", kind.as_str(), key.principal_id, key.scope)
    };
    loop {
        let status = request.properties.status.clone().unwrap_or_default();
        if status.eq_ignore_ascii_case(kind.done()) {
            return Ok(request);
        }
        if FAILED.iter().any(|failed| status.eq_ignore_ascii_case(failed)) {
            return Err(ProviderError::invalid(format!(
                "{} ended {status}: Azure did not carry it out (see the request in the Azure \
                 portal, Privileged Identity Management, for why)",
                what()
            )));
        }
        if AWAITING_APPROVAL.iter().any(|pending| status.eq_ignore_ascii_case(pending)) {
            return Err(ProviderError::invalid(format!(
                "{} is {status}: the role's PIM settings demand an approval for assignments. \
                 breakglass's approvals replace PIM's: turn off \"Require approval\" for active \
                 assignments of this role at this scope",
                what()
            )));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ProviderError::transient(format!(
                "{} is still {} after {} s; run apply or reconcile again (the same request is \
                 picked up), or raise operation_timeout_seconds",
                what(),
                if status.is_empty() { "without a status" } else { status.as_str() },
                arm.operation_timeout.as_secs()
            )));
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
        request = arm.get(&path(&key.scope, &name), SCHEDULES_API).await?;
    }
}

/// The request's name (the last segment of its id when the name is missing).
fn request_name(request: &ScheduleRequest) -> &str {
    if request.name.is_empty() {
        request.id.rsplit('/').next().unwrap_or_default()
    } else {
        &request.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> Key {
        Key::from_id(
            "/subscriptions/s1|8e3af657-a8ff-443c-a75c-2fe8c4bcb635|3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f",
        )
        .unwrap()
    }

    #[test]
    fn an_emergency_assignment_carries_its_end_and_the_activation() {
        let start: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let end: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let activation = ActivationContext::new("act_01", "alice", start, end);
        let body = body(RequestType::AdminAssign, &key(), start, Some(end), Some(&activation));
        assert_eq!(
            serde_json::to_value(&body).unwrap()["properties"],
            json!({
                "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                "principalId": "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f",
                "requestType": "AdminAssign",
                "scheduleInfo": {
                    "startDateTime": "2026-12-01T10:00:00Z",
                    "expiration": {"type": "AfterDateTime", "endDateTime": "2026-12-01T12:00:00Z"}
                },
                "justification": "breakglass: activation act_01 for alice, until 2026-12-01T12:00:00Z",
                "ticketInfo": {"ticketNumber": "act_01", "ticketSystem": "breakglass"}
            })
        );
        let remove = body_of(RequestType::AdminRemove, None);
        assert!(remove["properties"].get("scheduleInfo").is_none(), "{remove}");
        assert_eq!(remove["properties"]["requestType"], "AdminRemove");
        let permanent = body_of(RequestType::AdminUpdate, None);
        assert_eq!(
            permanent["properties"]["scheduleInfo"]["expiration"],
            json!({"type": "NoExpiration"})
        );
    }

    fn body_of(kind: RequestType, end: Option<Timestamp>) -> serde_json::Value {
        serde_json::to_value(body(kind, &key(), Timestamp::UNIX_EPOCH, end, None)).unwrap()
    }
}
