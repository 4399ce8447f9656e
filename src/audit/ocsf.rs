//! `audit export --format ocsf`: each event as one Open Cybersecurity Schema Framework event
//! (schema version [`OCSF_VERSION`]), for SIEMs that ingest OCSF (Amazon Security Lake,
//! Splunk, Sentinel, Chronicle).
//!
//! The mapping, by action (classes and activities as OCSF 1.3.0 names them):
//!
//! | breakglass action | OCSF class | activity |
//! |---|---|---|
//! | `activation.active` | User Access Management (3005) | Assign Privileges (1) |
//! | `activation.expired`, `activation.revoked`, `activation.reverted`, `revert.unconfirmed` | User Access Management (3005) | Revoke Privileges (2) |
//! | `apply.emergency`; a `refusal` of `apply --emergency` | Authorize Session (3003) | Assign Privileges (1) |
//! | `request`, `request.extension`, `approval`, `denial`, `approval.accepted`, other refusals | Authorize Session (3003) | Other (99), named in `activity_name` |
//! | `apply.change` | Entity Management (3004) | Create (1), Update (3), Delete (4) |
//! | `drift.found` | Detection Finding (2004) | Create (1) |
//! | anything else (`plan.signed`, `apply.start`, `watch.start`, `lock.unlocked`, …) | Base Event (0) | Other (99) |
//!
//! Why these: an activation is a privilege assignment to a user that is later revoked (User
//! Access Management); the emergency apply is the moment a privileged session is authorized,
//! with its approvals and authentication (Authorize Session), and the steps that lead to it
//! (request, each approval or denial, each refusal) belong to that authorization, correlated by
//! `metadata.correlation_uid` = the activation id. Each change on a platform is a change to a
//! managed entity. `metadata.uid` is the hash of the event's line in the log, so an export can
//! be checked against the log, and the whole original event is kept under
//! `unmapped.breakglass`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::report::Facts;
use super::summary::summarize;
use crate::event::{EventResult, Stamped, action};

/// The OCSF schema version the export follows.
pub const OCSF_VERSION: &str = "1.3.0";

struct Class {
    uid: u32,
    name: &'static str,
    category_uid: u32,
    category_name: &'static str,
}

const IAM: (u32, &str) = (3, "Identity & Access Management");
const USER_ACCESS: Class =
    Class { uid: 3005, name: "User Access Management", category_uid: IAM.0, category_name: IAM.1 };
const AUTHORIZE_SESSION: Class =
    Class { uid: 3003, name: "Authorize Session", category_uid: IAM.0, category_name: IAM.1 };
const ENTITY_MANAGEMENT: Class =
    Class { uid: 3004, name: "Entity Management", category_uid: IAM.0, category_name: IAM.1 };
const DETECTION_FINDING: Class =
    Class { uid: 2004, name: "Detection Finding", category_uid: 2, category_name: "Findings" };
const BASE_EVENT: Class =
    Class { uid: 0, name: "Base Event", category_uid: 0, category_name: "Uncategorized" };

/// OCSF `severity_id` values used here.
const INFORMATIONAL: (u32, &str) = (1, "Informational");
const LOW: (u32, &str) = (2, "Low");
const MEDIUM: (u32, &str) = (3, "Medium");
const HIGH: (u32, &str) = (4, "High");

/// What the export knows beyond single events: facts about each activation (an expiry is
/// recorded by the executor, but the privileges were alice's), and which activation each
/// request digest belongs to (a refused `apply --emergency` only knows the request file).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Facts by activation id.
    pub facts: BTreeMap<String, Facts>,
    /// Activation ids by request plan digest.
    pub by_digest: BTreeMap<String, String>,
}

/// One event as OCSF.
pub fn event_to_ocsf(stamped: &Stamped, context: &Context) -> Value {
    let event = &stamped.event;
    let facts = &context.facts;
    let activation = event.subject.activation.as_deref().or_else(|| {
        event
            .subject
            .plan_digest
            .as_ref()
            .and_then(|d| context.by_digest.get(d))
            .map(String::as_str)
    });
    let known = activation.and_then(|id| facts.get(id));
    let target = known.map_or(event.actor.as_str(), |f| f.requester.as_str());
    let privilege = known.map(|f| format!("{}:{}", f.kind, f.name));
    let command = event.details.get("command").and_then(Value::as_str);
    let failed = event.result != EventResult::Ok;

    let (class, activity_id, activity_name, severity) = match event.action.as_str() {
        action::ACTIVATION_ACTIVE => (USER_ACCESS, 1, "Assign Privileges", LOW),
        action::REVERT_UNCONFIRMED => (USER_ACCESS, 2, "Revoke Privileges", HIGH),
        action::ACTIVATION_EXPIRED | action::ACTIVATION_REVOKED | action::ACTIVATION_REVERTED => {
            (USER_ACCESS, 2, "Revoke Privileges", INFORMATIONAL)
        }
        action::APPLY_EMERGENCY => (AUTHORIZE_SESSION, 1, "Assign Privileges", LOW),
        action::REFUSAL if command == Some("apply --emergency") => {
            (AUTHORIZE_SESSION, 1, "Assign Privileges", MEDIUM)
        }
        action::REFUSAL => (AUTHORIZE_SESSION, 99, "Refuse", MEDIUM),
        action::REQUEST | action::REQUEST_EXTENSION => {
            (AUTHORIZE_SESSION, 99, "Request", INFORMATIONAL)
        }
        action::APPROVAL => (AUTHORIZE_SESSION, 99, "Approve", INFORMATIONAL),
        action::DENIAL => (AUTHORIZE_SESSION, 99, "Deny", LOW),
        action::REQUEST_RECEIVED => (AUTHORIZE_SESSION, 99, "Request Received", INFORMATIONAL),
        action::APPROVAL_ACCEPTED => (AUTHORIZE_SESSION, 99, "Approval Counted", INFORMATIONAL),
        action::APPLY_CHANGE => {
            let (id, name) = match event.details.get("action").and_then(Value::as_str) {
                Some("create") => (1, "Create"),
                Some("delete") => (4, "Delete"),
                _ => (3, "Update"),
            };
            (ENTITY_MANAGEMENT, id, name, if failed { HIGH } else { INFORMATIONAL })
        }
        action::DRIFT_FOUND => {
            let privileged = event
                .details
                .get("drift")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|e| e["privileged"] == true));
            (DETECTION_FINDING, 1, "Create", if privileged { MEDIUM } else { LOW })
        }
        _ => (BASE_EVENT, 99, "Other", if failed { MEDIUM } else { INFORMATIONAL }),
    };
    let (status_id, status) = if failed { (2, "Failure") } else { (1, "Success") };
    let unmapped = serde_json::to_value(stamped).unwrap_or(Value::Null);
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "product": {
            "name": "breakglass",
            "vendor_name": "breakglass",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "uid": stamped.hash,
        "log_name": "audit",
        "event_code": event.action,
    });
    if let Some(id) = activation {
        metadata["correlation_uid"] = json!(id);
    }
    let mut out = json!({
        "category_uid": class.category_uid,
        "category_name": class.category_name,
        "class_uid": class.uid,
        "class_name": class.name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class.uid * 100 + activity_id,
        "type_name": format!("{}: {activity_name}", class.name),
        "time": event.time.as_millisecond(),
        "severity_id": severity.0,
        "severity": severity.1,
        "status_id": status_id,
        "status": status,
        "message": summarize(event),
        "metadata": metadata,
        "actor": { "user": user(&event.actor) },
    });
    if failed && let Some(reason) = &event.reason {
        out["status_detail"] = json!(reason.strip_prefix("refused: ").unwrap_or(reason));
    }
    match class.uid {
        3005 => {
            out["user"] = user(target);
            if let Some(privilege) = &privilege {
                out["privileges"] = json!([privilege]);
            }
        }
        3003 => {
            out["user"] = user(target);
            out["privileges"] = json!([privilege.clone().unwrap_or_else(|| "unknown".to_owned())]);
            if let Some(id) = activation {
                let mut session = json!({ "uid": id });
                let end = event
                    .details
                    .get("end")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .or_else(|| known.and_then(|f| f.end));
                if let Some(end) = end {
                    session["expiration_time"] = json!(end.as_millisecond());
                }
                out["session"] = session;
            }
        }
        3004 => {
            let detail = |key: &str| event.details.get(key).cloned().unwrap_or(Value::Null);
            out["entity"] = json!({
                "name": event.subject.addresses.first(),
                "uid": detail("id"),
                "type": detail("type"),
            });
            if let Some(after) = event.details.get("after").filter(|a| !a.is_null()) {
                out["entity_result"] = json!({
                    "name": event.subject.addresses.first(),
                    "uid": detail("id"),
                    "type": detail("type"),
                    "data": after,
                });
            }
            if let Some(why) = event.details.get("why") {
                out["comment"] = why.clone();
            }
        }
        2004 => {
            let drift = event.details.get("drift").and_then(Value::as_array);
            out["finding_info"] = json!({
                "uid": stamped.hash,
                "title": summarize(event),
                "types": ["breakglass drift"],
            });
            out["resources"] = json!(
                drift
                    .into_iter()
                    .flatten()
                    .map(|d| json!({
                        "name": d.get("address").cloned().unwrap_or_else(|| d["id"].clone()),
                        "uid": d["id"],
                        "type": d["type"],
                    }))
                    .collect::<Vec<_>>()
            );
        }
        _ => {}
    }
    out["unmapped"] = json!({ "breakglass": unmapped });
    out
}

/// An OCSF `user` object: `executor…` actors are the system, everyone else a person.
fn user(name: &str) -> Value {
    if name == "executor" || name.starts_with("executor:") {
        json!({ "name": name, "type_id": 3, "type": "System" })
    } else {
        json!({ "name": name, "type_id": 1, "type": "User" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Event;

    fn stamped(event: Event) -> Stamped {
        Stamped { event, hash: "ab".repeat(32) }
    }

    fn facts() -> Context {
        let facts = BTreeMap::from([(
            "act_1".to_owned(),
            Facts {
                requester: "alice".to_owned(),
                kind: "role".to_owned(),
                name: "prod_admin".to_owned(),
                end: "2026-11-28T12:30:00Z".parse().ok(),
            },
        )]);
        let by_digest = BTreeMap::from([("sha256:req".to_owned(), "act_1".to_owned())]);
        Context { facts, by_digest }
    }

    #[test]
    fn an_expiry_revokes_the_requesters_privileges() {
        let event = Event::new("executor:ci", action::ACTIVATION_EXPIRED, EventResult::Ok)
            .activation("act_1")
            .reason("ended at 2026-11-28T12:30:00Z");
        let ocsf = event_to_ocsf(&stamped(event), &facts());
        assert_eq!(ocsf["class_uid"], 3005);
        assert_eq!(ocsf["category_uid"], 3);
        assert_eq!(ocsf["activity_id"], 2);
        assert_eq!(ocsf["type_uid"], 300502);
        assert_eq!(ocsf["user"]["name"], "alice");
        assert_eq!(ocsf["actor"]["user"]["type"], "System");
        assert_eq!(ocsf["privileges"][0], "role:prod_admin");
        assert_eq!(ocsf["metadata"]["version"], "1.3.0");
        assert_eq!(ocsf["metadata"]["uid"], "ab".repeat(32));
        assert_eq!(ocsf["metadata"]["correlation_uid"], "act_1");
        assert_eq!(ocsf["unmapped"]["breakglass"]["action"], "activation.expired");
        assert!(ocsf["time"].is_i64());
    }

    #[test]
    fn a_refused_emergency_apply_is_a_failed_session_authorization() {
        let event = Event::new("alice", action::REFUSAL, EventResult::Refused)
            .plan("sha256:req")
            .reason("the TOTP code for alice is wrong")
            .details(serde_json::json!({ "command": "apply --emergency" }));
        let ocsf = event_to_ocsf(&stamped(event), &facts());
        assert_eq!(ocsf["class_uid"], 3003);
        assert_eq!(ocsf["type_uid"], 300301);
        assert_eq!(ocsf["status_id"], 2);
        assert_eq!(ocsf["status_detail"], "the TOTP code for alice is wrong");
        let ok = Event::new("alice", action::APPLY_EMERGENCY, EventResult::Ok).reason("INC-1");
        assert!(event_to_ocsf(&stamped(ok), &facts()).get("status_detail").is_none());
        assert_eq!(ocsf["session"]["uid"], "act_1");
        assert_eq!(ocsf["session"]["expiration_time"], 1_795_869_000_000_i64);
    }

    #[test]
    fn a_change_is_an_entity_update_and_unknown_actions_are_base_events() {
        let change = Event::new("alice", action::APPLY_CHANGE, EventResult::Ok)
            .addresses(["local_setting.chatbot_endpoint".to_owned()])
            .details(serde_json::json!({
                "action": "update", "type": "local_setting", "id": "chatbot",
                "why": "override", "after": { "value": "off" }
            }));
        let ocsf = event_to_ocsf(&stamped(change), &Context::default());
        assert_eq!(
            (ocsf["class_uid"].as_u64(), ocsf["activity_id"].as_u64()),
            (Some(3004), Some(3))
        );
        assert_eq!(ocsf["entity"]["name"], "local_setting.chatbot_endpoint");
        assert_eq!(ocsf["entity_result"]["data"]["value"], "off");
        let other = event_to_ocsf(
            &stamped(Event::new("executor", "watch.start", EventResult::Ok)),
            &Context::default(),
        );
        assert_eq!((other["class_uid"].as_u64(), other["type_uid"].as_u64()), (Some(0), Some(99)));
    }
}
