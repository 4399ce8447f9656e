//! The live dashboard: what it shows now (a [`Snapshot`], immutable, one per version), how a
//! change becomes the next one, and the patches that carry the difference to every viewer.
//!
//! Cost follows the change, not the size of the state or the number of viewers:
//! - the audit log is read from where it was left ([`AuditFeed`](super::feed::AuditFeed)); of
//!   the state, only the activations the new events name are read again (indexed lookups, with
//!   what they hold), and only when an event may have come with a state write (an approval, a
//!   submission or a refusal does not); the inbox only for the requests the new events name;
//! - the rows of the Active section are compared with the previous ones and only those that
//!   differ are rendered again; the other sections are small and rendered whole;
//! - one [`Patch`] per change (rows added, replaced, removed; sections that differ) is
//!   serialised once and handed to every subscriber through a broadcast channel, so a viewer
//!   costs a reference count and a socket write, whatever the number of activations;
//! - the whole dashboard is rendered only when a page or a late subscriber asks, once per
//!   version.
//!
//! A subscriber that falls behind (the channel's buffer overflowed) or connects with an old
//! version gets the whole dashboard again, then patches.

use crate::cli::output::errln;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

use super::feed::{POLL, Position};
use super::inbox::InboxError;
use super::pages;
use super::server::Console;
use super::views::{
    self, Activations, ActiveView, Dashboard, LimitView, NoticeView, PendingView, PlannedView,
    RECENT,
};
use crate::activation::ActivationStatus;
use crate::audit::{Event, EventResult, action};
use crate::policy::Policy;
use crate::state::{ActivationFilter, AuditBell, Scope, State};

/// How many patches a slow subscriber may fall behind before it gets the whole dashboard.
const BUFFER: usize = 256;

/// One row of the Active section.
#[derive(Debug, Clone)]
pub struct Row {
    /// What it shows (time left as of when it was built).
    pub view: ActiveView,
    /// Its rendering.
    pub html: Arc<str>,
}

/// The rendered sections other than Active.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sections {
    /// Pending requests.
    pub pending: Arc<str>,
    /// Planned grants.
    pub planned: Arc<str>,
    /// Recent refusals and anomalies.
    pub notices: Arc<str>,
    /// Limit usage.
    pub limits: Arc<str>,
}

/// What the dashboard shows at one version, and what it was built from.
#[derive(Debug)]
pub struct Snapshot {
    /// Incremented by every change a viewer can see.
    pub version: u64,
    /// How far the audit log was read.
    pub head: Position,
    /// The activations in state (only they are kept from the state read: the rows hold what
    /// they grant).
    pub activations: Arc<Activations>,
    /// Every request in the inbox, summarised, by id.
    pub requests: Arc<BTreeMap<String, PendingView>>,
    /// Recent refusals and anomalies, newest first.
    pub notices: Arc<VecDeque<NoticeView>>,
    /// Live activations by id.
    pub active: Arc<BTreeMap<String, Arc<Row>>>,
    /// Requests waiting.
    pub pending: Arc<Vec<PendingView>>,
    /// Planned grants to come.
    pub planned: Arc<Vec<PlannedView>>,
    /// Limit usage.
    pub limits: Arc<Vec<LimitView>>,
    /// The sections, rendered.
    pub sections: Sections,
    /// The next time the dashboard changes by itself (an end, an expiry, a start).
    pub next_due: Option<Timestamp>,
    /// When it was built.
    pub built_at: Timestamp,
    html: OnceLock<Arc<str>>,
}

/// What changed from one version to the next, as sent to viewers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Patch {
    /// The version it makes.
    pub version: u64,
    /// The version it applies to.
    pub base: u64,
    /// How many activations are live now.
    pub count: usize,
    /// Rows added or changed.
    pub upsert: Vec<RowPatch>,
    /// Rows gone (activation ids).
    pub remove: Vec<String>,
    /// Sections whose rendering changed, by element id.
    pub sections: BTreeMap<&'static str, Arc<str>>,
}

/// A row added or changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowPatch {
    /// The activation id.
    pub id: String,
    /// Its end, in seconds since the epoch (rows are ordered by end, then id).
    pub end: i64,
    /// The row's rendering.
    pub html: Arc<str>,
}

/// A patch as sent: serialised once for every subscriber.
#[derive(Debug)]
pub struct Update {
    /// The version it makes.
    pub version: u64,
    /// The version it applies to.
    pub base: u64,
    /// The patch, JSON.
    pub json: Arc<str>,
}

/// The current snapshot and the stream of updates.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<Snapshot>>,
    updates: broadcast::Sender<Arc<Update>>,
}

/// What a refresh read of the state.
#[derive(Debug)]
pub enum StateRead {
    /// Every activation, and what the live ones hold (at start).
    Whole(State),
    /// Only the activations new events named, and what they hold: the others are as they were.
    Named(State),
}

/// What a refresh brings to [`build`].
#[derive(Debug)]
pub struct Inputs {
    /// The state, when it was read again.
    pub state: Option<StateRead>,
    /// The requests (likewise).
    pub requests: Arc<BTreeMap<String, PendingView>>,
    /// The notices (likewise).
    pub notices: Arc<VecDeque<NoticeView>>,
    /// How far the audit log was read.
    pub head: Position,
    /// Whether time passed a due point (or this is the first build): every section is
    /// computed again.
    pub due: bool,
}

impl Snapshot {
    /// The empty dashboard a console starts from.
    pub fn empty() -> Self {
        Self {
            version: 0,
            head: Position::default(),
            activations: Arc::default(),
            requests: Arc::default(),
            notices: Arc::default(),
            active: Arc::default(),
            pending: Arc::default(),
            planned: Arc::default(),
            limits: Arc::default(),
            sections: Sections::default(),
            next_due: None,
            built_at: Timestamp::UNIX_EPOCH,
            html: OnceLock::new(),
        }
    }

    /// The rows, soonest end first.
    pub fn rows(&self) -> Vec<&Arc<Row>> {
        let mut rows: Vec<&Arc<Row>> = self.active.values().collect();
        rows.sort_by(|a, b| a.view.end.cmp(&b.view.end).then_with(|| a.view.id.cmp(&b.view.id)));
        rows
    }

    /// The whole live part of the dashboard page (rendered once per version, when first asked).
    pub fn html(&self) -> Arc<str> {
        self.html
            .get_or_init(|| {
                let rows = self.rows();
                let mut html =
                    pages::active_section(rows.len(), rows.iter().map(|r| &*r.html)).into_string();
                for section in [
                    &self.sections.pending,
                    &self.sections.planned,
                    &self.sections.notices,
                    &self.sections.limits,
                ] {
                    html.push_str(section);
                }
                Arc::from(html)
            })
            .clone()
    }

    /// The dashboard as data (`GET /api/dashboard`), time left counted at `now`.
    pub fn dashboard(&self, now: Timestamp) -> Dashboard {
        Dashboard {
            now,
            active: self
                .rows()
                .into_iter()
                .map(|row| ActiveView {
                    seconds_left: row.view.end.duration_since(now).as_secs().max(0),
                    ..row.view.clone()
                })
                .collect(),
            pending: self.pending.to_vec(),
            planned: self.planned.to_vec(),
            notices: self.notices.iter().cloned().collect(),
            limits: self.limits.to_vec(),
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self {
            current: RwLock::new(Arc::new(Snapshot::empty())),
            updates: broadcast::channel(BUFFER).0,
        }
    }
}

impl Live {
    /// The snapshot now.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Subscribes to updates, then takes the snapshot: every update after it will be received.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Update>>, Arc<Snapshot>) {
        let receiver = self.updates.subscribe();
        (receiver, self.current())
    }

    /// Makes `snapshot` current and sends `patch` (when something changed).
    pub fn publish(&self, snapshot: Snapshot, patch: Option<&Patch>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        if let Some(patch) = patch {
            let json = serde_json::to_string(patch).unwrap_or_default();
            // No subscriber is not an error.
            let _ = self.updates.send(Arc::new(Update {
                version: patch.version,
                base: patch.base,
                json: Arc::from(json),
            }));
        }
    }
}

/// Whether an event may come with a state write, so that the activation it names must be read
/// again to show it. Those that certainly do not: refusals (nothing changed, by definition),
/// requests, approvals and proofs of presence (signed statements kept outside the state), and
/// watch's own notes. (An emergency apply's decision — the request received, the approvals
/// accepted, the grant authorized — is committed with its write-ahead record, so it does.)
pub fn may_change_state(event: &Event) -> bool {
    const NO_WRITE: [&str; 10] = [
        action::REQUEST,
        action::REQUEST_EXTENSION,
        action::APPROVAL,
        action::DENIAL,
        action::PLAN_SIGNED,
        action::REFUSAL,
        action::WATCH_START,
        action::WATCH_STOP,
        REQUEST_SUBMITTED,
        PRESENCE,
    ];
    event.result != EventResult::Refused && !NO_WRITE.contains(&event.action.as_str())
}

/// The console's event for a request submitted to it.
pub const REQUEST_SUBMITTED: &str = "request.submitted";
/// The console's event for a requester's proof of presence.
pub const PRESENCE: &str = "presence";

/// Whether an event comes with a change of the inbox file of its activation.
fn changes_inbox(event: &Event) -> bool {
    matches!(
        event.action.as_str(),
        REQUEST_SUBMITTED | action::APPROVAL | action::DENIAL | PRESENCE
    )
}

/// Builds the next snapshot from the previous one and what changed; the patch is `None` when
/// a viewer would see no difference.
pub fn build(
    policy: &Policy,
    previous: &Snapshot,
    inputs: Inputs,
    now: Timestamp,
) -> (Snapshot, Option<Patch>) {
    let Inputs { state, requests, notices, head, due } = inputs;
    let state_moved = state.is_some();
    let mut upsert = Vec::new();
    let mut remove = Vec::new();
    let mut row = |view: views::ActiveView| -> Arc<Row> {
        match previous.active.get(&view.id) {
            Some(row) if row.view.same_as(&view) => row.clone(),
            _ => {
                let html: Arc<str> = Arc::from(pages::active_row(&view).into_string());
                upsert.push(RowPatch {
                    id: view.id.clone(),
                    end: view.end.as_second(),
                    html: html.clone(),
                });
                Arc::new(Row { view, html })
            }
        }
    };
    let (rows, activations) = match state {
        Some(StateRead::Whole(state)) => {
            let mut rows: BTreeMap<String, Arc<Row>> = BTreeMap::new();
            for view in views::active_views(&state, now) {
                rows.insert(view.id.clone(), row(view));
            }
            remove.extend(previous.active.keys().filter(|id| !rows.contains_key(*id)).cloned());
            (Some(rows), Arc::new(state.activations))
        }
        Some(StateRead::Named(state)) => {
            let mut rows = (*previous.active).clone();
            let mut activations = (*previous.activations).clone();
            let mut grants = views::grants(&state);
            for (id, activation) in &state.activations {
                activations.insert(id.clone(), activation.clone());
                let live =
                    activation.status != ActivationStatus::Reverted && activation.is_live_at(now);
                if live {
                    let held = grants.remove(id.as_str()).unwrap_or_default();
                    rows.insert(id.clone(), row(views::active_view(activation, held, now)));
                } else if rows.remove(id).is_some() {
                    remove.push(id.clone());
                }
            }
            (Some(rows), Arc::new(activations))
        }
        None => (None, previous.activations.clone()),
    };
    // Time alone only ends activations (a start, a revoke or an extension is a state write):
    // the rows whose end has come leave.
    let rows = match rows {
        Some(rows) => Some(rows),
        None if due && previous.active.values().any(|r| r.view.end <= now) => {
            Some((*previous.active).clone())
        }
        None => None,
    };
    let active = match rows {
        Some(mut rows) => {
            rows.retain(|id, row| {
                let live = row.view.end > now;
                if !live {
                    remove.push(id.clone());
                }
                live
            });
            Arc::new(rows)
        }
        None => previous.active.clone(),
    };
    let pending = if state_moved || due || !Arc::ptr_eq(&requests, &previous.requests) {
        Arc::new(views::pending_views(requests.values(), &activations, now))
    } else {
        previous.pending.clone()
    };
    let planned =
        if due { Arc::new(views::planned_views(policy, now)) } else { previous.planned.clone() };
    let limits = if state_moved || due {
        Arc::new(views::limit_usage(policy, &activations, now))
    } else {
        previous.limits.clone()
    };
    let render = |changed: bool, old: &Arc<str>, new: &dyn Fn() -> String| -> Arc<str> {
        if !changed && !old.is_empty() {
            return old.clone();
        }
        let html = new();
        if *html == **old { old.clone() } else { Arc::from(html) }
    };
    let sections = Sections {
        pending: render(
            !Arc::ptr_eq(&pending, &previous.pending),
            &previous.sections.pending,
            &|| pages::pending_section(&pending).into_string(),
        ),
        planned: render(
            !Arc::ptr_eq(&planned, &previous.planned),
            &previous.sections.planned,
            &|| pages::planned_section(&planned).into_string(),
        ),
        notices: render(
            !Arc::ptr_eq(&notices, &previous.notices),
            &previous.sections.notices,
            &|| pages::notices_section(notices.iter()).into_string(),
        ),
        limits: render(!Arc::ptr_eq(&limits, &previous.limits), &previous.sections.limits, &|| {
            pages::limits_section(&limits).into_string()
        }),
    };
    let mut changed_sections: BTreeMap<&'static str, Arc<str>> = BTreeMap::new();
    for (id, new, old) in [
        ("pending", &sections.pending, &previous.sections.pending),
        ("planned", &sections.planned, &previous.sections.planned),
        ("notices", &sections.notices, &previous.sections.notices),
        ("limits", &sections.limits, &previous.sections.limits),
    ] {
        if !Arc::ptr_eq(new, old) {
            changed_sections.insert(id, new.clone());
        }
    }
    let next_due = active
        .values()
        .map(|r| r.view.end)
        .chain(pending.iter().map(|p| p.expires_at))
        .chain(planned.iter().map(|p| p.start))
        .filter(|t| *t > now)
        .min();
    let changed = !upsert.is_empty() || !remove.is_empty() || !changed_sections.is_empty();
    let version = if changed { previous.version + 1 } else { previous.version };
    let patch = changed.then(|| Patch {
        version,
        base: previous.version,
        count: active.len(),
        upsert,
        remove,
        sections: changed_sections,
    });
    let snapshot = Snapshot {
        version,
        head,
        activations,
        requests,
        notices,
        active,
        pending,
        planned,
        limits,
        sections,
        next_due,
        built_at: now,
        html: OnceLock::new(),
    };
    (snapshot, patch)
}

/// How often a store's bell that went down (a lost connection) is set up again.
const BELL_RETRY: Duration = Duration::from_secs(5);

impl Console {
    /// Reads what moved since the last refresh (the audit log from where it was left, and the
    /// activations and inbox requests the new events name) and publishes the next snapshot.
    /// `full` reads everything again (at start, or when the log was replaced).
    pub async fn refresh(self: &Arc<Self>, full: bool) -> Result<(), String> {
        let _turn = self.refreshing.lock().await;
        let previous = self.live.current();
        let now = crate::clock::now();
        let due = full || previous.next_due.is_some_and(|due| now >= due);
        let (events, head, state) = if full {
            // The recent notices from the whole log (streamed, only those kept), and every
            // activation with what the live ones hold.
            let (recent, head) =
                self.feed.last(RECENT, views::is_notice).await.map_err(|e| e.to_string())?;
            let state = self.read_whole(now).await.map_err(|e| e.to_string())?;
            (Vec::from(recent), head, Some(StateRead::Whole(state)))
        } else {
            let (events, head) =
                self.feed.events_after(previous.head).await.map_err(|e| e.to_string())?;
            if events.is_empty() && !due {
                return Ok(());
            }
            let named: std::collections::BTreeSet<String> = events
                .iter()
                .filter(|e| may_change_state(e))
                .filter_map(|e| e.subject.activation.clone())
                .collect();
            let state = if named.is_empty() {
                None
            } else {
                let scope = Scope {
                    activations: named,
                    resources_of_activations: true,
                    ..Scope::default()
                };
                let state = self.store.read_scope(&scope).await.map_err(|e| e.to_string())?;
                Some(StateRead::Named(state))
            };
            (events, head, state)
        };
        // Reading the inbox, comparing rows and rendering are CPU and file work of up to a few
        // hundred milliseconds at scale: done on a blocking thread, so the SSE streams and the
        // pages keep flowing meanwhile.
        let console = self.clone();
        tokio::task::spawn_blocking(move || {
            console.build_and_publish(&previous, events, head, state, full, due, now)
        })
        .await
        .map_err(|error| format!("the refresh stopped: {error}"))?
    }

    /// Every activation, and the resources of those live at `now` (what their rows show).
    async fn read_whole(&self, now: Timestamp) -> Result<State, crate::state::StateError> {
        let all = self.store.activations(&ActivationFilter::default()).await?;
        let live = all
            .iter()
            .filter(|a| a.status != ActivationStatus::Reverted && a.is_live_at(now))
            .map(|a| a.id.clone())
            .collect();
        let scope = Scope { activations: live, resources_of_activations: true, ..Scope::default() };
        let mut state = self.store.read_scope(&scope).await?;
        state.activations = all.into_iter().map(|a| (a.id.clone(), a)).collect();
        Ok(state)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_and_publish(
        &self,
        previous: &Snapshot,
        events: Vec<Event>,
        head: Position,
        state: Option<StateRead>,
        full: bool,
        due: bool,
        now: Timestamp,
    ) -> Result<(), String> {
        let requests = if full {
            let all = self.inbox.list().map_err(|e| e.to_string())?;
            Arc::new(
                all.iter().map(|r| (r.id.clone(), views::pending_view(&self.policy, r))).collect(),
            )
        } else {
            let named: Vec<&str> = events
                .iter()
                .filter(|e| changes_inbox(e))
                .filter_map(|e| e.subject.activation.as_deref())
                .collect();
            if named.is_empty() {
                previous.requests.clone()
            } else {
                let mut requests = (*previous.requests).clone();
                for id in named {
                    match self.inbox.get(id) {
                        Ok(stored) => {
                            requests
                                .insert(id.to_owned(), views::pending_view(&self.policy, &stored));
                        }
                        Err(InboxError::NotFound(_) | InboxError::BadId(_)) => {
                            requests.remove(id);
                        }
                        Err(error) => return Err(error.to_string()),
                    }
                }
                Arc::new(requests)
            }
        };
        let fresh: Vec<NoticeView> =
            events.iter().filter(|e| views::is_notice(e)).map(views::notice).collect();
        let notices = if full || !fresh.is_empty() {
            let mut notices = if full { VecDeque::new() } else { (*previous.notices).clone() };
            for notice in fresh {
                notices.push_front(notice);
            }
            notices.truncate(RECENT);
            Arc::new(notices)
        } else {
            previous.notices.clone()
        };
        let inputs = Inputs { state, requests, notices, head, due };
        let (next, patch) = build(&self.policy, previous, inputs, now);
        self.live.publish(next, patch.as_ref());
        Ok(())
    }

    /// Refreshes whenever the audit log grows (the store's bell rings, or a poll of its head
    /// sees it move) or the dashboard is due to change by itself. Runs until the process
    /// stops.
    pub async fn watch(self: Arc<Self>) {
        let mut bell = self.feed.bell().await;
        let mut bell_set_up = tokio::time::Instant::now();
        let mut failing: Option<String> = None;
        loop {
            let current = self.live.current();
            if bell.as_ref().is_some_and(|b| !b.alive()) && bell_set_up.elapsed() >= BELL_RETRY {
                bell = self.feed.bell().await;
                bell_set_up = tokio::time::Instant::now();
            }
            let poll = bell.as_ref().filter(|b| b.alive()).map_or(POLL, |b| b.poll);
            let until_due = current.next_due.map(|due| {
                let left = due.duration_since(crate::clock::now());
                Duration::try_from(left).unwrap_or(Duration::ZERO)
            });
            let sleep = until_due.map_or(poll, |left| left.min(poll));
            tokio::select! {
                () = ring(bell.as_ref()) => {}
                () = tokio::time::sleep(sleep) => {}
            }
            let due = current.next_due.is_some_and(|due| crate::clock::now() >= due);
            let outcome = match self.feed.head().await {
                Ok(head) if head == current.head && !due => Ok(()),
                // A log shorter than what was read was replaced: read it all again.
                Ok(head) => self.refresh(head < current.head).await,
                Err(error) => Err(error.to_string()),
            };
            match outcome {
                Ok(()) => failing = None,
                // Said once, not every poll, while it lasts.
                Err(error) if failing.as_ref() != Some(&error) => {
                    errln!("warning: the console could not refresh: {error}");
                    failing = Some(error);
                }
                Err(_) => {}
            }
        }
    }
}

/// Waits for `bell` to ring; forever when there is none (or it is down).
async fn ring(bell: Option<&AuditBell>) {
    match bell {
        Some(bell) if bell.alive() => bell.rings.notified().await,
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(actor: &str) -> NoticeView {
        NoticeView {
            time: Timestamp::UNIX_EPOCH,
            actor: actor.to_owned(),
            action: "refusal".to_owned(),
            activation: None,
            reason: "no".to_owned(),
        }
    }

    fn policy() -> Policy {
        let dir = tempfile::tempdir().unwrap();
        crate::sign::generate_key_pair(&dir.path().join("a.key")).unwrap();
        fs_err::write(
            dir.path().join("main.hcl"),
            "person \"a\" {\n  public_key = file(\"a.pub\")\n}\n",
        )
        .unwrap();
        let loaded = crate::policy::load(
            dir.path(),
            &Default::default(),
            Timestamp::UNIX_EPOCH,
            crate::policy::Strictness::Operate,
        );
        loaded.policy.unwrap()
    }

    #[test]
    fn a_change_makes_a_patch_of_what_differs_and_nothing_else() {
        let policy = policy();
        let now = Timestamp::UNIX_EPOCH;
        let empty = Snapshot::empty();
        let inputs = |snapshot: &Snapshot, notices: Arc<VecDeque<NoticeView>>, due| Inputs {
            state: None,
            requests: snapshot.requests.clone(),
            notices,
            head: snapshot.head,
            due,
        };
        // The first build renders every section.
        let (first, patch) = build(&policy, &empty, inputs(&empty, Arc::default(), true), now);
        let patch = patch.unwrap();
        assert_eq!((patch.base, patch.version, patch.count), (0, 1, 0));
        assert_eq!(patch.sections.len(), 4);
        // Nothing new: no patch, same version, the same renderings shared.
        let same = first.notices.clone();
        let (second, patch) = build(&policy, &first, inputs(&first, same, false), now);
        assert_eq!((second.version, patch), (1, None));
        assert!(Arc::ptr_eq(&second.sections.pending, &first.sections.pending));
        // A new notice: a patch of that section alone.
        let notices = Arc::new(VecDeque::from([notice("mallory")]));
        let (third, patch) = build(&policy, &second, inputs(&second, notices, false), now);
        let patch = patch.unwrap();
        assert_eq!((patch.base, patch.version), (1, 2));
        assert_eq!(patch.sections.keys().copied().collect::<Vec<_>>(), ["notices"]);
        assert!(patch.sections["notices"].contains("mallory"));
        assert!(patch.upsert.is_empty() && patch.remove.is_empty());
        assert!(third.html().contains("mallory"));
    }

    fn activation(id: &str, end: i64, status: &str) -> Arc<crate::activation::Activation> {
        let record = serde_json::json!({
            "id": id, "kind": "role", "name": "admin", "requester": "a", "justification": "x",
            "start": "1970-01-01T00:00:00Z", "end": Timestamp::from_second(end).unwrap(),
            "status": status, "source": { "type": "emergency", "plan_digest": "sha256:00" },
            "created_at": "1970-01-01T00:00:00Z", "revert_attempts": 0
        });
        Arc::new(serde_json::from_value(record).unwrap())
    }

    #[test]
    fn rows_that_change_are_sent_alone_and_ended_ones_removed() {
        let policy = policy();
        let now = Timestamp::from_second(100).unwrap();
        let mut state = State::new();
        for (id, end) in [("act_A", 1000), ("act_B", 2000), ("act_C", 3000)] {
            state.activations.insert(id.to_owned(), activation(id, end, "active"));
        }
        let inputs = |state: Option<StateRead>, previous: &Snapshot, due| Inputs {
            state,
            requests: previous.requests.clone(),
            notices: previous.notices.clone(),
            head: previous.head,
            due,
        };
        let (first, patch) = build(
            &policy,
            &Snapshot::empty(),
            inputs(Some(StateRead::Whole(state.clone())), &Snapshot::empty(), true),
            now,
        );
        let patch = patch.unwrap();
        assert_eq!(patch.count, 3);
        assert_eq!(
            patch.upsert.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["act_A", "act_B", "act_C"]
        );
        let html = first.html();
        let (a, b) = (html.find("act_A").unwrap(), html.find("act_B").unwrap());
        assert!(a < b, "rows in end order");
        // B extended and C revoked, the two read again alone: B re-rendered, C removed, A kept.
        let mut named = State::new();
        named.activations.insert("act_B".to_owned(), activation("act_B", 5000, "active"));
        named.activations.insert("act_C".to_owned(), activation("act_C", 3000, "reverted"));
        let (second, patch) =
            build(&policy, &first, inputs(Some(StateRead::Named(named)), &first, false), now);
        let patch = patch.unwrap();
        assert_eq!((patch.base, patch.version, patch.count), (first.version, first.version + 1, 2));
        assert_eq!(patch.upsert.len(), 1);
        assert_eq!((patch.upsert[0].id.as_str(), patch.upsert[0].end), ("act_B", 5000));
        assert_eq!(patch.remove, ["act_C"]);
        assert!(
            Arc::ptr_eq(&second.active["act_A"], &first.active["act_A"]),
            "A not rendered again"
        );
        assert_eq!(second.activations.len(), 3, "every activation is kept for the requests' pages");
        // Time passes A's end: it leaves by itself (due), without a state read.
        let later = Timestamp::from_second(1000).unwrap();
        assert_eq!(second.next_due, Some(Timestamp::from_second(1000).unwrap()));
        let (third, patch) = build(&policy, &second, inputs(None, &second, true), later);
        assert_eq!(patch.unwrap().remove, ["act_A"]);
        assert_eq!(third.dashboard(later).active.len(), 1);
        assert_eq!(third.dashboard(later).active[0].seconds_left, 4000);
    }
}
