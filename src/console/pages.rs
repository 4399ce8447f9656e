//! The console's HTML, rendered on the server with `maud` (checked at compile time; every value
//! escaped). Pages carry no inline script or style, so the Content-Security-Policy can forbid
//! both: behaviour lives in `/static/console.js` (WebAuthn ceremonies, the SSE listener, the
//! countdown), which reads what it needs from `data-` attributes.

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::inbox::StoredRequest;
use super::views::{ActiveView, LimitView, NoticeView, PendingView, PlannedView};
use crate::audit::Event;
use crate::plan::Plan;
use crate::policy::Policy;
use crate::policy::blocks::AccessRules;

/// Who is looking, for the header and forms.
#[derive(Debug, Clone)]
pub struct Viewer<'a> {
    /// The signed-in person.
    pub person: &'a str,
    /// The session's CSRF token, put in every form.
    pub csrf: &'a str,
    /// Whether they may see the dashboard.
    pub dashboard: bool,
}

fn layout(title: &str, viewer: Option<&Viewer<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · breakglass" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "breakglass" }
                    @if let Some(viewer) = viewer {
                        nav {
                            @if viewer.dashboard { a href="/" { "Dashboard" } }
                            a href="/requests" { "Requests" }
                            span.who { (viewer.person) }
                            form method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn time(at: Timestamp) -> Markup {
    let text = at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(at.to_string()) { (text) } }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "—".to_owned() } else { items.join(", ") }
}

/// The sign-in page.
pub fn signin(message: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            p { "Sign in with your passkey. The console shows what breakglass state and audit log say; it never grants anything itself." }
            @if let Some(message) = message { p.error { (message) } }
            form #signin data-ceremony="signin" {
                label for="person" { "Your name in the policy" }
                input #person name="person" autocomplete="username webauthn" required;
                button type="submit" { "Sign in with passkey" }
            }
            p #status role="status" {}
        },
    )
}

/// One live activation: a row of the Active section, sent alone over SSE when it changes.
pub fn active_row(active: &ActiveView) -> Markup {
    html! {
        article.activation data-activation=(active.id) data-end=(active.end.as_second()) {
            h3 {
                a href={ "/activations/" (active.id) } { (active.kind) " " (active.name) }
                " for " strong { (active.requester) }
            }
            p.why { (active.justification) }
            dl {
                dt { "Grants" } dd { (list(&active.grants)) }
                dt { "Approved by" } dd { (if active.approved_by.is_empty() { active.source.clone() } else { active.approved_by.join(", ") }) }
                dt { "Authenticated" } dd { (list(&active.authenticated_by)) }
                dt { "Status" } dd { (active.status) }
                dt { "Ends" } dd { (time(active.end)) }
                dt { "Time left" } dd.countdown data-end=(active.end.as_second()) { (format_left(active.seconds_left)) }
            }
        }
    }
}

/// `1h 02m 03s`.
pub fn format_left(seconds: i64) -> String {
    if seconds <= 0 {
        return "ended".to_owned();
    }
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 { format!("{h}h {m:02}m {s:02}s") } else { format!("{m}m {s:02}s") }
}

fn pending_row(pending: &PendingView) -> Markup {
    html! {
        li.pending data-request=(pending.id) {
            a href={ "/requests/" (pending.id) } { (pending.name) } " for " strong { (pending.requester) }
            " — " (pending.justification) " · "
            (pending.approved_by.len()) " of " (pending.quorum) " approvals"
            @if let Some(who) = &pending.rejected_by { " · " span.refused { "rejected by " (who) } }
            " · expires " (time(pending.expires_at))
        }
    }
}

/// The Active section around its rows (already rendered, soonest end first). SSE patches
/// add, replace and remove rows in `#active-rows` and set `#active-count`.
pub fn active_section<'a>(count: usize, rows: impl Iterator<Item = &'a str>) -> Markup {
    html! {
        section #active {
            h2 { "Active (" span #active-count { (count) } ")" }
            p.empty #active-empty hidden[count > 0] { "Nobody holds emergency access now." }
            div #active-rows { @for row in rows { (PreEscaped(row)) } }
        }
    }
}

/// The Pending section.
pub fn pending_section(pending: &[PendingView]) -> Markup {
    html! {
        section #pending {
            h2 { "Pending requests (" (pending.len()) ")" }
            @if pending.is_empty() { p.empty { "No request is waiting." } }
            ul { @for pending in pending { (pending_row(pending)) } }
        }
    }
}

/// The Planned section.
pub fn planned_section(planned: &[PlannedView]) -> Markup {
    html! {
        section #planned {
            h2 { "Planned grants" }
            @if planned.is_empty() { p.empty { "None to come." } }
            ul { @for grant in planned {
                li { (grant.target) " to " (grant.to.as_deref().unwrap_or("—")) " from " (time(grant.start)) " to " (time(grant.end)) " (" (grant.grant) ": " (grant.justification) ")" }
            } }
        }
    }
}

/// The recent refusals and anomalies.
pub fn notices_section<'a>(notices: impl ExactSizeIterator<Item = &'a NoticeView>) -> Markup {
    html! {
        section #notices {
            h2 { "Recent refusals and anomalies" }
            @if notices.len() == 0 { p.empty { "None." } }
            ul { @for notice in notices {
                li.notice { (time(notice.time)) " " strong { (notice.actor) } " " code { (notice.action) } " " (notice.reason) }
            } }
        }
    }
}

/// Limit usage.
pub fn limits_section(limits: &[LimitView]) -> Markup {
    html! {
        section #limits {
            h2 { "Limits" }
            @if limits.is_empty() { p.empty { "The policy declares no limit." } }
            ul { @for limit in limits {
                li { strong { (limit.name) } ": at most " (limit.max_activations) " per " (limit.per) " in " (limit.window) " (" (limit.action) " beyond) — "
                    @if limit.used.is_empty() { "unused" }
                    @for (who, count) in limit.used.iter().take(5) { span.usage { (who) " " (count) "/" (limit.max_activations) } " " }
                }
            } }
        }
    }
}

/// The dashboard page around the live part at `version` (the SSE stream goes on from there).
pub fn dashboard(viewer: &Viewer<'_>, live: &str, version: u64) -> Markup {
    layout(
        "Dashboard",
        Some(viewer),
        html! {
            h1 { "Emergency access now" }
            p.live { span #connection { "connecting…" } }
            div #live data-events="/events" data-version=(version) { (PreEscaped(live)) }
        },
    )
}

/// Requests the viewer may see.
pub fn requests(viewer: &Viewer<'_>, pending: &[PendingView], others: &[PendingView]) -> Markup {
    layout(
        "Requests",
        Some(viewer),
        html! {
            h1 { "Requests" }
            h2 { "Waiting" }
            @if pending.is_empty() { p.empty { "No request is waiting." } }
            ul { @for request in pending { (pending_row(request)) } }
            @if !others.is_empty() {
                h2 { "Applied or expired" }
                ul { @for request in others { (pending_row(request)) } }
            }
            h2 { "Submit a request" }
            p { "Paste the signed request that " code { "breakglass request … --out FILE" } " wrote (or use " code { "--submit URL" } ")." }
            form method="post" action="/requests" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                textarea name="request" rows="6" required {}
                button type="submit" { "Submit" }
            }
        },
    )
}

fn rules_view(policy: &Policy, rules: &AccessRules) -> Markup {
    let group = rules.approvers.as_ref().and_then(|g| policy.approvers.get(&g.name));
    let members = group.map(|g| policy.expand_persons(g.members.iter().map(|m| &m.value)));
    let authentication =
        rules.authentication.as_ref().and_then(|a| policy.authentications.get(&a.name));
    html! {
        dl.rules {
            dt { "Risk" } dd { (rules.risk.value.as_str()) }
            dt { "Requesters" } dd { (policy.allowed_requesters(rules).into_iter().collect::<Vec<_>>().join(", ")) }
            dt { "Approvers" } dd {
                @match (group, members) {
                    (Some(group), Some(members)) => { (group.name) " (" (members.into_iter().collect::<Vec<_>>().join(", ")) "), quorum " (super::views::quorum_of(policy, rules)) @if group.allow_self_approval.value { ", self-approval allowed" } }
                    _ => { "none" }
                }
            }
            dt { "Max duration" } dd { (rules.max_duration.value.to_string()) }
            dt { "Authentication" } dd {
                "signed request"
                @if let Some(a) = authentication { @if a.totp { ", TOTP" } @if a.passkey { ", passkey" } @if a.mfa { ", platform MFA" } }
            }
        }
    }
}

/// What the request page may offer the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Approve or reject (an approver who is not the requester, request still open).
    pub decide: bool,
    /// Prove presence (the requester, when the rule asks for a passkey).
    pub presence: bool,
}

/// A request's page.
pub fn request(
    viewer: &Viewer<'_>,
    policy: &Policy,
    stored: &StoredRequest,
    plan: &Plan,
    rules: Option<&AccessRules>,
    state_note: &str,
    offer: Offer,
) -> Markup {
    let activation = plan.request.as_ref().map(|r| &r.activation);
    layout(
        &format!("Request {}", stored.id),
        Some(viewer),
        html! {
            h1 { (stored.name) " for " (stored.requester) }
            p.status { (state_note) }
            dl {
                dt { "Justification" } dd.why { (stored.justification) }
                dt { "Requester" } dd { (stored.requester) }
                @if let Some(activation) = activation {
                    dt { "From" } dd { (time(activation.start)) }
                    dt { "Until" } dd { (time(activation.end)) }
                }
                dt { "Request expires" } dd { (time(stored.expires_at)) }
                dt { "Request digest" } dd { code { (stored.plan_digest) } }
            }
            h2 { "What would be granted" }
            @if plan.resource_changes.is_empty() { p.empty { "No change." } }
            @for change in &plan.resource_changes {
                details.change open {
                    summary { code { (change.action.symbol()) } " " (change.address.to_string()) }
                    @if let Some(after) = &change.after {
                        pre { (serde_json::to_string_pretty(after).unwrap_or_default()) }
                    }
                }
            }
            h2 { "Rules of " (stored.name) }
            @if let Some(rules) = rules { (rules_view(policy, rules)) } @else { p.error { "The policy no longer has it." } }
            h2 { "Decisions so far" }
            @if stored.approvals.is_empty() { p.empty { "None yet." } }
            ul #decisions { @for approval in &stored.approvals {
                li { strong { (approval.approver) } " " (if approval.decision == "approve" { "approved" } else { "rejected" }) " at " (time(approval.at)) " (passkey)" }
            } }
            @if let Some(presence) = &stored.presence { p { "The requester proved presence with their passkey at " (time(presence.at)) "." } }
            @if offer.decide {
                form #decide data-ceremony="decide" data-request=(stored.id) data-csrf=(viewer.csrf) {
                    label for="comment" { "Comment (optional)" }
                    input #comment name="comment" maxlength="500";
                    button #approve type="submit" name="decision" value="approve" { "Approve with passkey" }
                    button #reject type="submit" name="decision" value="deny" { "Reject with passkey" }
                }
            }
            @if offer.presence {
                form #presence data-ceremony="presence" data-request=(stored.id) data-csrf=(viewer.csrf) {
                    button type="submit" { "Prove presence with passkey" }
                }
            }
            p #status role="status" {}
            p.hint { "The executor applies it with " code { "breakglass apply --emergency --request " (stored.id) } ", which verifies every approval again." }
        },
    )
}

/// An activation's story from the audit log.
pub fn story(viewer: &Viewer<'_>, id: &str, events: &[Event]) -> Markup {
    layout(
        &format!("Activation {id}"),
        Some(viewer),
        html! {
            h1 { "Activation " code { (id) } }
            @if events.is_empty() { p.empty { "The audit log has nothing about it." } }
            ol.story { @for event in events {
                li { (time(event.time)) " " strong { (event.actor) } " " code { (event.action) }
                    @if let Some(reason) = &event.reason { " — " (reason) }
                    @if !event.subject.addresses.is_empty() { " (" (event.subject.addresses.join(", ")) ")" }
                }
            } }
        },
    )
}

/// A page saying what went wrong.
pub fn problem(viewer: Option<&Viewer<'_>>, title: &str, message: &str) -> Markup {
    layout(title, viewer, html! { h1 { (title) } p.error { (message) } })
}

/// The enrolment page of `breakglass passkey enroll`.
pub fn enroll(person: &str, display: &str, options: &str) -> Markup {
    layout(
        "Enrol a passkey",
        None,
        html! {
            h1 { "Enrol a passkey for " (person) }
            p { "Your authenticator makes a new credential; its public key goes into the policy, in person \"" (person) "\", where reviewers see it." }
            form #enroll data-ceremony="enroll" data-options=(options) data-display=(display) {
                button type="submit" { "Create passkey" }
            }
            p #status role="status" {}
        },
    )
}
