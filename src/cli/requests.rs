//! `breakglass requests`: the emergency requests this folder knows of — submitted to the
//! console's inbox, or made or approved here — and what each still needs: awaiting my approval,
//! mine, every pending one. Read-only: it never signs or changes anything.

use clap::Args;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::context::{load_policy, open_store};
use super::exit::ExitStatus;
use super::output::{Output, write_stdout};
use crate::console::inbox::{Inbox, StoredRequest};
use crate::console::views::quorum_of;
use crate::engine::emergency::target;
use crate::event::Event;
use crate::policy::Policy;
use crate::state::{EventFilter, Scope, StateStore};

/// How far back the audit log is read for requests made here, unless `--all`.
const RECENT: SignedDuration = SignedDuration::from_hours(24);

/// Arguments of `requests`.
#[derive(Debug, Args)]
#[command(
    about = "List emergency requests: awaiting my approval, mine, all pending",
    long_about = "Lists the emergency requests this folder knows of: those submitted to the \
                  console's inbox (request --submit, or the console's form), and those made or \
                  approved here (request and approve record them in the audit log). For each: \
                  the role or override, who asks and why, approvals so far against the quorum, \
                  who may still approve, when it expires, and whether it is pending, applied, \
                  rejected or expired. With --as PERSON: the requests awaiting PERSON's approval, \
                  then PERSON's own, then the rest. Requests of the last 24 hours unless --all. \
                  Reads only; approve with `breakglass approve` or in the console.",
    after_help = "Examples:\n  breakglass requests\n  breakglass requests --as carol\n  \
                  BREAKGLASS_AS=carol breakglass requests --json\n  breakglass requests --all"
)]
pub struct RequestsArgs {
    /// Whose view: what awaits PERSON's approval, and PERSON's own requests.
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: Option<String>,

    /// Also list requests applied, rejected or expired, and older than 24 hours.
    #[arg(long)]
    pub all: bool,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a request stands, by the executor's state and this machine's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pending,
    Applied,
    Rejected,
    Expired,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

/// One request, as `requests` shows it.
#[derive(Debug, Clone, Serialize)]
struct Listed {
    id: String,
    kind: &'static str,
    name: String,
    requester: String,
    justification: String,
    requested_at: Timestamp,
    expires_at: Timestamp,
    status: Status,
    /// In the console's inbox (else known from this folder's audit log only).
    submitted: bool,
    auto_approved: bool,
    approved_by: Vec<String>,
    quorum: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_by: Option<String>,
    /// Approvers who have not decided and may (never the requester, unless self-approval is
    /// allowed).
    may_approve: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
}

/// What the sources say of one request before the policy and state are applied.
#[derive(Debug, Default)]
struct Seen {
    name: String,
    requester: String,
    justification: String,
    requested_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    submitted: bool,
    approved_by: Vec<String>,
    rejected_by: Option<String>,
}

impl Seen {
    fn approved(&mut self, approver: &str) {
        if !self.approved_by.iter().any(|a| a == approver) {
            self.approved_by.push(approver.to_owned());
        }
    }
}

fn from_inbox(seen: &mut BTreeMap<String, Seen>, stored: &[StoredRequest]) {
    for request in stored {
        let entry = seen.entry(request.id.clone()).or_default();
        entry.name.clone_from(&request.name);
        entry.requester.clone_from(&request.requester);
        entry.justification.clone_from(&request.justification);
        entry.requested_at = Some(request.submitted_at);
        entry.expires_at = Some(request.expires_at);
        entry.submitted = true;
        for decision in &request.approvals {
            if decision.decision == "approve" {
                entry.approved(&decision.approver);
            } else if entry.rejected_by.is_none() {
                entry.rejected_by = Some(decision.approver.clone());
            }
        }
    }
}

/// Requests made here and decisions signed here, from the audit log's `request`, `approval`
/// and `denial` events.
async fn from_log(
    seen: &mut BTreeMap<String, Seen>,
    store: &dyn StateStore,
    since: Option<Timestamp>,
    policy: &Policy,
) -> anyhow::Result<()> {
    let mut events: Vec<Event> = Vec::new();
    for action in ["request", "approval", "denial"] {
        let filter =
            EventFilter { since, action: Some(action.to_owned()), ..EventFilter::default() };
        store
            .scan_events(&filter, &mut |stored| {
                if let Ok(event) = serde_json::from_str::<Event>(&stored.line) {
                    events.push(event);
                }
                true
            })
            .await?;
    }
    events.sort_by_key(|e| e.time);
    for event in events {
        let Some(id) = event.subject.activation.clone() else { continue };
        match event.action.as_str() {
            "request" => {
                let entry = seen.entry(id).or_default();
                if entry.submitted {
                    continue;
                }
                entry.name = event.details["name"].as_str().unwrap_or_default().to_owned();
                entry.requester.clone_from(&event.actor);
                entry.justification = event.reason.clone().unwrap_or_default();
                entry.requested_at = Some(event.time);
                entry.expires_at =
                    event.time.checked_add(policy.settings.request_lifetime.to_signed()).ok();
            }
            "approval" => seen.entry(id).or_default().approved(&event.actor),
            _ => {
                let entry = seen.entry(id).or_default();
                if entry.rejected_by.is_none() {
                    entry.rejected_by = Some(event.actor.clone());
                }
            }
        }
    }
    Ok(())
}

fn listed(policy: &Policy, id: String, seen: Seen, applied: bool, now: Timestamp) -> Listed {
    let found = target(policy, &seen.name).ok();
    let kind = found.as_ref().map_or("role", |(reference, _)| {
        if reference.kind == crate::policy::ReferenceKind::Override { "override" } else { "role" }
    });
    let auto_approved = found
        .as_ref()
        .is_some_and(|(reference, _)| !policy.auto_approvers_of(reference).is_empty());
    let group = found
        .as_ref()
        .and_then(|(_, rules)| rules.approvers.as_ref())
        .and_then(|g| policy.approvers.get(&g.name));
    let quorum = match &found {
        Some(_) if auto_approved => 0,
        Some((_, rules)) => quorum_of(policy, rules),
        None => 0,
    };
    let expires_at = seen.expires_at.unwrap_or(now);
    let status = if applied {
        Status::Applied
    } else if seen.rejected_by.is_some() {
        Status::Rejected
    } else if expires_at <= now {
        Status::Expired
    } else {
        Status::Pending
    };
    let may_approve = match group {
        Some(group) if status == Status::Pending && !auto_approved => policy
            .expand_persons(group.members.iter().map(|m| &m.value))
            .into_iter()
            .filter(|p| group.allow_self_approval.value || *p != seen.requester)
            .filter(|p| !seen.approved_by.iter().any(|a| a == p))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let link =
        policy.settings.console.as_ref().filter(|_| seen.submitted).map(|c| c.request_url(&id));
    Listed {
        id,
        kind,
        name: seen.name,
        requester: seen.requester,
        justification: seen.justification,
        requested_at: seen.requested_at.unwrap_or(now),
        expires_at,
        status,
        submitted: seen.submitted,
        auto_approved,
        approved_by: seen.approved_by,
        quorum,
        rejected_by: seen.rejected_by,
        may_approve,
        link,
    }
}

/// The three lists `--as PERSON` shows; without a person, only `others`.
#[derive(Debug, Default, Serialize)]
struct Lists {
    #[serde(skip_serializing_if = "Option::is_none")]
    person: Option<String>,
    awaiting_my_approval: Vec<Listed>,
    mine: Vec<Listed>,
    others: Vec<Listed>,
}

fn sort(requests: Vec<Listed>, person: Option<&str>) -> Lists {
    let mut lists = Lists { person: person.map(str::to_owned), ..Lists::default() };
    for request in requests {
        match person {
            Some(p) if request.may_approve.iter().any(|a| a == p) => {
                lists.awaiting_my_approval.push(request);
            }
            Some(p) if request.requester == p => lists.mine.push(request),
            _ => lists.others.push(request),
        }
    }
    lists
}

fn left(until: Timestamp, now: Timestamp) -> String {
    let seconds = until.duration_since(now).as_secs();
    if seconds <= 0 {
        return "expired".to_owned();
    }
    let (hours, minutes) = (seconds / 3600, (seconds % 3600) / 60);
    match (hours, minutes) {
        (0, 0) => format!("in {seconds}s"),
        (0, m) => format!("in {m}m"),
        (h, m) => format!("in {h}h{m:02}m"),
    }
}

fn describe(out: &mut String, request: &Listed, person: Option<&str>, now: Timestamp) {
    let _ = writeln!(
        out,
        "  {}  {} {} for {} — {}",
        request.id,
        request.kind,
        request.name,
        request.requester,
        request.status.as_str()
    );
    let _ = writeln!(out, "      why       {}", request.justification);
    let approval = if request.auto_approved {
        "auto-approved, no token needed".to_owned()
    } else {
        let mut text = format!("{} of {}", request.approved_by.len(), request.quorum);
        if !request.approved_by.is_empty() {
            let _ = write!(text, " (by {})", request.approved_by.join(", "));
        }
        if let Some(rejected) = &request.rejected_by {
            let _ = write!(text, "; rejected by {rejected}");
        }
        if !request.may_approve.is_empty() {
            let _ = write!(text, "; may still approve: {}", request.may_approve.join(", "));
        }
        text
    };
    let _ = writeln!(out, "      approved  {approval}");
    let expiry = if request.status == Status::Pending {
        format!("{} ({})", request.expires_at, left(request.expires_at, now))
    } else {
        request.expires_at.to_string()
    };
    let _ = writeln!(out, "      expires   {expiry}");
    let next = match (request.status, person) {
        (Status::Pending, Some(p)) if request.may_approve.iter().any(|a| a == p) => {
            Some(request.link.as_ref().map_or_else(
                || {
                    format!(
                        "breakglass approve REQUEST_FILE --as {p} --key KEYFILE (ask {} for the \
                         request file)",
                        request.requester
                    )
                },
                |link| format!("approve at {link}, or breakglass approve REQUEST_FILE --as {p}"),
            ))
        }
        (Status::Pending, _) if request.auto_approved || request.may_approve.is_empty() => Some(
            "breakglass apply --emergency REQUEST_FILE (on the executor), with the approval \
             tokens"
                .to_owned(),
        ),
        (Status::Pending, _) => request.link.as_ref().map(|link| format!("see {link}")),
        (Status::Applied, _) => {
            Some(format!("breakglass audit report --activation {}", request.id))
        }
        _ => None,
    };
    if let Some(next) = next {
        let _ = writeln!(out, "      next      {next}");
    }
}

fn section(
    out: &mut String,
    title: &str,
    requests: &[Listed],
    person: Option<&str>,
    now: Timestamp,
) {
    let _ = writeln!(out, "{title} ({}):", requests.len());
    if requests.is_empty() {
        out.push_str("  none\n");
    }
    for request in requests {
        describe(out, request, person, now);
    }
    out.push('\n');
}

fn render_text(lists: &Lists, all: bool, now: Timestamp) -> String {
    let mut out = String::new();
    let person = lists.person.as_deref();
    let which = if all { "Requests" } else { "Pending requests" };
    match person {
        Some(p) => {
            section(
                &mut out,
                &format!("Awaiting {p}'s approval"),
                &lists.awaiting_my_approval,
                person,
                now,
            );
            section(&mut out, &format!("Requested by {p}"), &lists.mine, person, now);
            section(&mut out, &format!("{which} of others"), &lists.others, person, now);
        }
        None => section(&mut out, which, &lists.others, person, now),
    }
    out
}

/// Runs `requests`.
pub async fn run(args: &RequestsArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let person = args.person.as_deref();
    if let Some(person) = person
        && !policy.persons.contains_key(person)
    {
        let known: Vec<&str> = policy.persons.keys().map(String::as_str).collect();
        anyhow::bail!(
            "{person} is not a person in the policy; the persons are: {}",
            known.join(", ")
        );
    }
    let now = crate::clock::now();
    let since = (!args.all).then(|| now.checked_sub(RECENT).unwrap_or(Timestamp::MIN));
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    from_inbox(&mut seen, &Inbox::beside_state(&policy)?.list()?);
    let store = open_store(&policy)?;
    from_log(&mut seen, store.as_ref(), since, &policy).await?;
    // Decisions alone (an approval signed here for a request made elsewhere) say too little.
    seen.retain(|_, s| !s.requester.is_empty());
    let ids: BTreeSet<String> = seen.keys().cloned().collect();
    let applied =
        store.read_scope(&Scope { activations: ids, ..Scope::default() }).await?.activations;
    let mut requests: Vec<Listed> = seen
        .into_iter()
        .map(|(id, s)| {
            let is_applied = applied.contains_key(&id);
            listed(&policy, id, s, is_applied, now)
        })
        .filter(|r| args.all || r.status == Status::Pending || person == Some(r.requester.as_str()))
        .filter(|r| since.is_none_or(|since| r.requested_at >= since))
        .collect();
    requests.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then_with(|| a.id.cmp(&b.id)));
    let lists = sort(requests, person);
    if args.json {
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&lists)?).as_bytes())?;
    } else {
        write_stdout(render_text(&lists, args.all, now).as_bytes())?;
    }
    Ok(ExitStatus::Success)
}
