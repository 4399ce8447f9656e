//! One line of plain English per event: the text of Slack messages, report timelines and the
//! OCSF `message`. Built only from the event, so it says nothing the log does not.

use crate::event::{Event, EventResult, action};

/// `alice requested role prod_admin until 2026-11-28T12:30:00Z (act_…): INC-4711`.
pub fn summarize(event: &Event) -> String {
    let actor = event.actor.as_str();
    let id = event.subject.activation.as_deref().unwrap_or("?");
    let detail = |key: &str| event.details.get(key).and_then(serde_json::Value::as_str);
    // Refusal reasons are the error as the user saw it, which starts "refused: ".
    let reason = event.reason.as_deref().map(|r| r.strip_prefix("refused: ").unwrap_or(r));
    // A time a signed document claims, worded as the signer's: `(made at T by alice's clock)`.
    let claimed = |key: &str, verb: &str| {
        event
            .details
            .get("claimed")
            .and_then(|c| c.get(key))
            .and_then(serde_json::Value::as_str)
            .map_or_else(String::new, |at| format!(" ({verb} at {at} by {actor}'s clock)"))
    };
    let with_reason = |text: String| match reason {
        Some(reason) if !reason.is_empty() => format!("{text}: {reason}"),
        _ => text,
    };
    match event.action.as_str() {
        action::REQUEST => with_reason(format!(
            "{actor} requested {} {} until {} ({id})",
            detail("kind").unwrap_or("access"),
            detail("name").unwrap_or("?"),
            detail("end").unwrap_or("?"),
        )),
        action::REQUEST_EXTENSION => with_reason(format!(
            "{actor} asked to extend {id} until {}",
            detail("new_end").unwrap_or("?")
        )),
        action::APPROVAL | action::DENIAL => {
            let verb = if event.action == action::APPROVAL { "approved" } else { "denied" };
            match detail("comment") {
                Some(comment) => format!("{actor} {verb} {id}: \"{comment}\""),
                None => format!("{actor} {verb} {id}"),
            }
        }
        action::REQUEST_RECEIVED => {
            let what = if event.details.get("request").and_then(|v| v.as_str()) == Some("extension")
            {
                format!("request to extend {id} until {}", detail("end").unwrap_or("?"))
            } else {
                format!(
                    "request for {} {} until {} ({id})",
                    detail("kind").unwrap_or("access"),
                    detail("name").unwrap_or("?"),
                    detail("end").unwrap_or("?"),
                )
            };
            with_reason(format!(
                "{actor}'s {what} reached the executor{}",
                claimed("created_at", "made")
            ))
        }
        action::APPROVAL_ACCEPTED => {
            format!("{actor}'s approval of {id} was counted{}", claimed("issued_at", "issued"))
        }
        action::APPLY_EMERGENCY => {
            let how = if event.details.get("auto_approved").and_then(|v| v.as_bool()) == Some(true)
            {
                "auto-approved".to_owned()
            } else {
                "approved".to_owned()
            };
            let factors = event
                .details
                .get("authentication")
                .and_then(|v| v.as_array())
                .map(|list| list.iter().filter_map(|f| f.as_str()).collect::<Vec<_>>().join(", "))
                .filter(|list| !list.is_empty())
                .map_or_else(String::new, |list| format!(", authenticated by {list}"));
            let what = if detail("kind") == Some("extension") {
                format!("extension of {id}")
            } else {
                format!("emergency access {id}")
            };
            format!(
                "{what} for {actor} applied by {} ({how}{factors}) until {}",
                detail("executor").unwrap_or("the executor"),
                detail("end").unwrap_or("?"),
            )
        }
        action::APPLY_CHANGE => {
            let address = event.subject.addresses.first().map_or("?", String::as_str);
            let verb = match detail("action") {
                Some("create") => "created",
                Some("update") => "updated",
                Some("delete") => "deleted",
                Some("replace") => "replaced",
                Some(other) => other,
                None => "changed",
            };
            match event.result {
                EventResult::Ok => match detail("why") {
                    Some(why) => format!("{address} {verb}: {why}"),
                    None => format!("{address} {verb}"),
                },
                _ => with_reason(format!("{address} NOT {verb}")),
            }
        }
        action::APPLY_START => format!("{actor} started an apply"),
        action::APPLY_FINISH => match event.result {
            EventResult::Ok => format!("{actor}'s apply finished"),
            _ => format!("{actor}'s apply finished with failures"),
        },
        action::APPLY_FAILED => with_reason(format!("{actor}'s emergency apply failed")),
        action::APPLY_NOTE => reason.unwrap_or("note").to_owned(),
        action::ACTIVATION_ACTIVE => format!("{id} is active"),
        action::ACTIVATION_EXPIRED => with_reason(format!("{id} expired; reverting")),
        // `revoke` records the decision (actor: who revoked); the pass that reverts it records
        // the end it acted on (actor: the executor, reason: "revoked by …").
        action::ACTIVATION_REVOKED => match reason {
            Some(reason) if reason.starts_with("revoked by") => {
                format!("{id} ended ({reason}); reverting")
            }
            _ => with_reason(format!("{id} revoked by {actor}")),
        },
        action::ACTIVATION_REVERTED => {
            format!("{id} reverted (confirmed by reading the live objects)")
        }
        action::REVERT_UNCONFIRMED => {
            with_reason(format!("{id} is NOT confirmed reverted; access may still be live"))
        }
        action::REFUSAL => with_reason(format!("refused ({actor})")),
        action::DRIFT_FOUND => {
            let count = event.details.get("drift").and_then(|d| d.as_array()).map_or(0, Vec::len);
            format!("{count} object(s) changed outside breakglass, seen by {actor}")
        }
        action::PLAN_SIGNED => format!(
            "{actor} signed a plan ({} change(s))",
            event.details.get("changes").and_then(|c| c.as_u64()).unwrap_or(0)
        ),
        action::LOCK_UNLOCKED => with_reason(format!("{actor} removed the state lock")),
        action::WATCH_START => format!("{actor} started watching"),
        action::WATCH_STOP => format!("{actor} stopped watching"),
        other => with_reason(format!("{other} by {actor}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Event {
        Event::new("alice", action, EventResult::Ok).activation("act_1")
    }

    #[test]
    fn each_kind_of_event_reads_as_a_sentence() {
        let cases = [
            (
                event(action::REQUEST).reason("INC-1").details(serde_json::json!({
                    "kind": "role", "name": "prod_admin", "end": "2026-11-28T12:30:00Z"
                })),
                "alice requested role prod_admin until 2026-11-28T12:30:00Z (act_1): INC-1",
            ),
            (
                event(action::APPROVAL).details(serde_json::json!({ "comment": "ok" })),
                "alice approved act_1: \"ok\"",
            ),
            (event(action::DENIAL), "alice denied act_1"),
            (
                event(action::APPLY_EMERGENCY).details(serde_json::json!({
                    "kind": "emergency", "executor": "executor:ci", "auto_approved": false,
                    "authentication": ["signed request", "totp"], "end": "T"
                })),
                "emergency access act_1 for alice applied by executor:ci (approved, authenticated \
                 by signed request, totp) until T",
            ),
            (
                Event::new("alice", action::APPLY_CHANGE, EventResult::Failed)
                    .addresses(["local_access.a".to_owned()])
                    .reason("boom")
                    .details(serde_json::json!({ "action": "create" })),
                "local_access.a NOT created: boom",
            ),
            (
                event(action::ACTIVATION_REVOKED).reason("revoked by carol: done"),
                "act_1 ended (revoked by carol: done); reverting",
            ),
            (event(action::ACTIVATION_REVOKED).reason("done"), "act_1 revoked by alice: done"),
            (
                event(action::REFUSAL).reason("refused: quorum not met"),
                "refused (alice): quorum not met",
            ),
            (event("something.new"), "something.new by alice"),
        ];
        for (event, expected) in cases {
            assert_eq!(summarize(&event), expected);
        }
    }
}
