//! The HTTP side: routes, who may see what, the passkey ceremonies, SSE, and TLS.

use crate::cli::output::errln;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::stream::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

use super::feed::AuditFeed;
use super::inbox::{Inbox, InboxError, StoredApproval, StoredPresence, StoredRequest};
use super::live::{Live, PRESENCE, REQUEST_SUBMITTED, Snapshot, Update};
use super::pages::{self, Offer, Viewer};
use super::session::{CEREMONY_LIFETIME, COOKIE, Ceremony, SESSION_LIFETIME, Session, Sessions};
use super::views;
use crate::audit::{Event, EventResult, Stamped};
use crate::engine::claims::{Clock, check_request, request_deadline};
use crate::engine::emergency::{target, verify_request_signature};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::sign::passkey::challenge;
use crate::sign::{
    Approval, Assertion, Decision, PASSKEY_APPROVAL_TYPE, PASSKEY_PRESENCE_TYPE, PasskeyToken,
    Presence, RelyingParty, SignedPlan,
};
use crate::state::StateStore;

/// The payload type of a sign-in assertion.
pub const SIGNIN_TYPE: &str = "application/vnd.breakglass.signin+json";

/// The Content-Security-Policy of every answer: our own script and style only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's shared state.
#[derive(Debug)]
pub struct Console {
    pub(crate) policy: Arc<Policy>,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) inbox: Inbox,
    pub(crate) feed: AuditFeed,
    pub(crate) rp: RelyingParty,
    pub(crate) sessions: Sessions,
    pub(crate) live: Live,
    /// Held by the refresh under way: one at a time, each from the snapshot the last made.
    pub(crate) refreshing: tokio::sync::Mutex<()>,
    publish: Publisher,
}

/// Hands each event the console records to the process's sinks (webhook, Slack), as the CLI's
/// commands do with theirs: so a submission's `request.submitted` event, with the link to the
/// request's page, and each decision reach the people who must act.
#[derive(Clone)]
pub struct Publisher(pub Arc<dyn Fn(&Stamped) + Send + Sync>);

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Publisher")
    }
}

impl Default for Publisher {
    fn default() -> Self {
        Self(Arc::new(|_| {}))
    }
}

/// An error answer: JSON for scripts, the status for everyone.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    message: String,
}

impl Problem {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

impl From<InboxError> for Problem {
    fn from(error: InboxError) -> Self {
        match error {
            InboxError::NotFound(_) | InboxError::BadId(_) => {
                Self::new(StatusCode::NOT_FOUND, error.to_string())
            }
            other => Self::internal(other),
        }
    }
}

type Shared = Arc<Console>;

impl Console {
    /// A console over the policy's state and audit log.
    pub fn new(
        policy: Arc<Policy>,
        store: Arc<dyn StateStore>,
        publish: Publisher,
    ) -> Result<Arc<Self>, String> {
        let console = policy.settings.console.as_ref().ok_or_else(|| {
            "the policy has no console: declare breakglass { console { url = \"https://…\" } }"
                .to_owned()
        })?;
        let rp = RelyingParty { origin: console.origin(), rp_id: console.rp_id.clone() };
        let inbox = Inbox::beside_state(&policy).map_err(|e| e.to_string())?;
        let feed = AuditFeed::new(store.clone());
        Ok(Arc::new(Self {
            policy,
            store,
            inbox,
            feed,
            rp,
            sessions: Sessions::default(),
            live: Live::default(),
            refreshing: tokio::sync::Mutex::new(()),
            publish,
        }))
    }

    fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let cookies = headers.get_all(header::COOKIE);
        let id = cookies
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value.to_owned())?;
        let session = self.sessions.get(&id, crate::clock::now())?;
        Some((id, session))
    }

    fn may_view_dashboard(&self, person: &str) -> bool {
        let console = self.policy.settings.console.as_ref();
        console.is_some_and(|c| {
            self.policy.expand_persons(c.viewers.iter().map(|r| &r.value)).contains(person)
        })
    }

    fn approvers_of(&self, name: &str) -> Vec<&str> {
        target(&self.policy, name)
            .ok()
            .and_then(|(_, rules)| rules.approvers.as_ref())
            .and_then(|g| self.policy.approvers.get(&g.name))
            .map(|g| {
                self.policy.expand_persons(g.members.iter().map(|m| &m.value)).into_iter().collect()
            })
            .unwrap_or_default()
    }

    /// Whether `person` may sign in at all: a viewer, a requester the console block names, or
    /// a member of an approvers group. Anyone else is refused at the door.
    pub fn may_sign_in(&self, person: &str) -> bool {
        let Some(console) = self.policy.settings.console.as_ref() else { return false };
        self.may_view_dashboard(person)
            || self
                .policy
                .expand_persons(console.requesters.iter().map(|r| &r.value))
                .contains(person)
            || self.policy.approvers.values().any(|group| {
                self.policy.expand_persons(group.members.iter().map(|m| &m.value)).contains(person)
            })
    }

    /// Whether `person` may see a request by `requester` for `name`: viewers see every
    /// request, requesters their own, approvers those they may approve.
    fn may_see_request(&self, person: &str, requester: &str, name: &str) -> bool {
        self.may_view_dashboard(person)
            || requester == person
            || self.approvers_of(name).contains(&person)
    }

    /// A POST from a page: from our origin, with the session's CSRF token.
    fn check_post(
        &self,
        headers: &HeaderMap,
        session: &Session,
        token: Option<&str>,
    ) -> Result<(), Problem> {
        self.check_origin(headers)?;
        let token = token.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
        if token != Some(session.csrf.as_str()) {
            return Err(Problem::forbidden(
                "the form's CSRF token is missing or wrong; reload the page",
            ));
        }
        Ok(())
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Problem> {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        if origin != Some(self.rp.origin.as_str()) {
            return Err(Problem::forbidden(format!(
                "this request did not come from the console's own pages ({})",
                self.rp.origin
            )));
        }
        Ok(())
    }

    fn viewer<'a>(&self, session: &'a Session) -> Viewer<'a> {
        Viewer {
            person: &session.person,
            csrf: &session.csrf,
            dashboard: self.may_view_dashboard(&session.person),
        }
    }

    /// Accepts a signed request: its signature and the same claims the executor checks (the
    /// requester may ask, its times hold by this clock, its window fits the role, the same
    /// policy) are checked here so the inbox holds no junk; `apply` checks it all again.
    pub async fn submit(self: &Arc<Self>, envelope_json: &str) -> Result<StoredRequest, Problem> {
        let signed = SignedPlan::from_json(envelope_json, "the submitted request")
            .map_err(|e| Problem::bad(e.to_string()))?;
        let (plan, request) = verify_request_signature(&self.policy, &signed)
            .map_err(|e| Problem::bad(e.to_string()))?;
        let now = crate::clock::now();
        check_request(&self.policy, &plan, &request, &Clock::of(&self.policy, now))
            .map_err(|e| Problem::bad(e.to_string()))?;
        let activation = &request.activation;
        let envelope: serde_json::Value = serde_json::from_str(envelope_json)
            .map_err(|e| Problem::bad(format!("not JSON: {e}")))?;
        let stored = self.inbox.submit(StoredRequest {
            id: activation.id.clone(),
            name: activation.name.clone(),
            requester: activation.requester.clone(),
            justification: activation.justification.clone(),
            plan_digest: signed.digest.clone(),
            // The executor's deadline (made + request_lifetime), not the request's own claim.
            expires_at: request_deadline(&self.policy, &plan),
            submitted_at: now,
            envelope,
            approvals: Vec::new(),
            presence: None,
        })?;
        if stored.plan_digest != signed.digest {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("another request with id {} is already in the inbox", stored.id),
            ));
        }
        self.record(
            Event::new(&activation.requester, REQUEST_SUBMITTED, EventResult::Ok)
                .activation(&activation.id)
                .plan(&signed.digest)
                .reason(activation.justification.clone())
                .details(serde_json::json!({ "name": activation.name, "link": self.link(&activation.id) })),
        )
        .await?;
        Ok(stored)
    }

    fn link(&self, id: &str) -> String {
        self.policy.settings.console.as_ref().map(|c| c.request_url(id)).unwrap_or_default()
    }

    /// Records one of the console's own events, and brings the dashboard up to date with it
    /// before answering: whoever acted sees the result on the next page.
    async fn record(self: &Arc<Self>, event: Event) -> Result<(), Problem> {
        let stamped = self.feed.record(event).await.map_err(Problem::internal)?;
        (self.publish.0)(&stamped);
        if let Err(error) = self.refresh(false).await {
            errln!("warning: the console could not refresh: {error}");
        }
        Ok(())
    }

    fn plan_of(&self, stored: &StoredRequest) -> Result<Plan, Problem> {
        stored.signed().and_then(|s| s.plan().map_err(InboxError::from)).map_err(Problem::internal)
    }
}

/// The router.
pub fn router(console: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page))
        .route("/signin/begin", post(signin_begin))
        .route("/signin/finish", post(signin_finish))
        .route("/signout", post(signout))
        .route("/requests", get(requests_page).post(submit_form))
        .route("/requests/{id}", get(request_page))
        .route("/requests/{id}/begin", post(decision_begin))
        .route("/requests/{id}/finish", post(decision_finish))
        .route("/activations/{id}", get(story_page))
        .route("/events", get(events))
        .route("/api/dashboard", get(api_dashboard))
        .route("/api/requests", get(api_requests).post(api_submit))
        .route("/api/requests/{id}", get(api_request))
        .route("/api/activations/{id}", get(api_story))
        .route("/static/console.js", get(script))
        .route("/static/console.css", get(style))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("static/console.js"))
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("static/console.css"))
}

fn to_signin() -> Response {
    Redirect::to("/signin").into_response()
}

async fn home(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let Some((_, session)) = console.session(&headers) else { return to_signin() };
    if !console.may_view_dashboard(&session.person) {
        return Redirect::to("/requests").into_response();
    }
    let snapshot = console.live.current();
    Html(
        pages::dashboard(&console.viewer(&session), &snapshot.html(), snapshot.version)
            .into_string(),
    )
    .into_response()
}

async fn signin_page() -> Html<String> {
    Html(pages::signin(None).into_string())
}

#[derive(Deserialize)]
struct SigninBegin {
    person: String,
}

fn ceremony_options(
    console: &Console,
    person: &str,
    ceremony: Ceremony,
) -> Result<serde_json::Value, Problem> {
    let passkeys: Vec<String> = console
        .policy
        .persons
        .get(person)
        .map(|p| p.passkeys.values().map(|k| k.credential_id_b64()).collect())
        .unwrap_or_default();
    if passkeys.is_empty() {
        return Err(Problem::forbidden(format!(
            "{person} has no passkey in the policy; enrol one with `breakglass passkey enroll {person}`"
        )));
    }
    let challenge = URL_SAFE_NO_PAD.encode(challenge(&ceremony.payload_type, &ceremony.payload));
    let id = console.sessions.begin(ceremony, crate::clock::now());
    Ok(serde_json::json!({
        "ceremony": id,
        "challenge": challenge,
        "rpId": console.rp.rp_id,
        "allowCredentials": passkeys,
    }))
}

async fn signin_begin(
    State(console): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<SigninBegin>,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    console.check_origin(&headers)?;
    let now = crate::clock::now();
    let person = body.person.trim().to_owned();
    if !console.policy.persons.contains_key(&person) {
        return Err(Problem::forbidden(format!("{person} is not a person in the policy")));
    }
    if !console.may_sign_in(&person) {
        return Err(Problem::forbidden(format!(
            "{person} may not use the console: the policy's console block lets its viewers and \
             requesters in, and approvers"
        )));
    }
    let payload = serde_json::to_vec(&serde_json::json!({
        "purpose": "sign in to the breakglass console",
        "person": person,
        "origin": console.rp.origin,
        "nonce": super::session::random_id(),
        "issued_at": now,
    }))
    .unwrap_or_default();
    let ceremony = Ceremony {
        person: person.clone(),
        payload_type: SIGNIN_TYPE.to_owned(),
        payload,
        request: None,
        expires_at: now.checked_add(CEREMONY_LIFETIME).unwrap_or(now),
    };
    Ok(axum::Json(ceremony_options(&console, &person, ceremony)?))
}

#[derive(Deserialize)]
struct Finish {
    ceremony: String,
    assertion: Assertion,
}

fn verify_ceremony(
    console: &Console,
    ceremony: &Ceremony,
    assertion: Assertion,
) -> Result<PasskeyToken, Problem> {
    let token = PasskeyToken::new(&ceremony.payload_type, &ceremony.payload, assertion);
    let person = console.policy.persons.get(&ceremony.person).ok_or_else(|| {
        Problem::forbidden(format!("{} is no longer in the policy", ceremony.person))
    })?;
    token.verify(&ceremony.payload_type, [person], &console.rp).map_err(|error| {
        Problem::forbidden(format!("the passkey assertion is refused: {error}"))
    })?;
    Ok(token)
}

async fn signin_finish(
    State(console): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Finish>,
) -> Result<Response, Problem> {
    console.check_origin(&headers)?;
    let now = crate::clock::now();
    let ceremony = console
        .sessions
        .finish(&body.ceremony, now)
        .filter(|c| c.payload_type == SIGNIN_TYPE)
        .ok_or_else(|| Problem::forbidden("the sign-in expired or was already used; try again"))?;
    verify_ceremony(&console, &ceremony, body.assertion)?;
    let (id, _) = console.sessions.start(&ceremony.person, now);
    let cookie = format!(
        "{COOKIE}={id}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        SESSION_LIFETIME.as_secs()
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(serde_json::json!({ "person": ceremony.person })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn signout(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    let Some((id, session)) = console.session(&headers) else { return Ok(to_signin()) };
    console.check_post(&headers, &session, Some(&form.csrf))?;
    console.sessions.end(&id);
    let cookie = format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/signin")).into_response())
}

/// The requests `person` may see, from the live snapshot (no file is read): those still
/// waiting, then the others (applied, expired), newest first.
fn visible_requests(
    console: &Console,
    person: &str,
) -> (Vec<views::PendingView>, Vec<views::PendingView>) {
    let now = crate::clock::now();
    let snapshot = console.live.current();
    let mut visible: Vec<&views::PendingView> = snapshot
        .requests
        .values()
        .filter(|r| console.may_see_request(person, &r.requester, &r.name))
        .collect();
    visible.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at).then_with(|| a.id.cmp(&b.id)));
    let (waiting, others): (Vec<_>, Vec<_>) = visible
        .into_iter()
        .cloned()
        .partition(|r| r.expires_at > now && !snapshot.activations.contains_key(&r.id));
    (waiting, others)
}

async fn requests_page(
    State(console): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Some((_, session)) = console.session(&headers) else { return Ok(to_signin()) };
    let (waiting, others) = visible_requests(&console, &session.person);
    Ok(Html(pages::requests(&console.viewer(&session), &waiting, &others).into_string())
        .into_response())
}

#[derive(Deserialize)]
struct SubmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request: String,
}

async fn submit_form(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<SubmitForm>,
) -> Result<Response, Problem> {
    let Some((_, session)) = console.session(&headers) else { return Ok(to_signin()) };
    console.check_post(&headers, &session, Some(&form.csrf))?;
    match console.submit(&form.request).await {
        Ok(stored) => Ok(Redirect::to(&format!("/requests/{}", stored.id)).into_response()),
        Err(problem) => Ok((
            problem.status,
            Html(
                pages::problem(
                    Some(&console.viewer(&session)),
                    "Request refused",
                    &problem.message,
                )
                .into_string(),
            ),
        )
            .into_response()),
    }
}

async fn request_page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let Some((_, session)) = console.session(&headers) else { return Ok(to_signin()) };
    let viewer = console.viewer(&session);
    let stored = match console.inbox.get(&id) {
        Ok(stored) if console.may_see_request(&session.person, &stored.requester, &stored.name) => {
            stored
        }
        Ok(_) | Err(InboxError::NotFound(_) | InboxError::BadId(_)) => {
            return Ok((
                StatusCode::NOT_FOUND,
                Html(
                    pages::problem(
                        Some(&viewer),
                        "No such request",
                        "There is no request with that id that you may see.",
                    )
                    .into_string(),
                ),
            )
                .into_response());
        }
        Err(error) => return Err(error.into()),
    };
    let plan = console.plan_of(&stored)?;
    let rules = target(&console.policy, &stored.name).ok().map(|(_, r)| r);
    let now = crate::clock::now();
    let applied = console.live.current().activations.contains_key(&stored.id);
    let note = if applied {
        "Applied: see the dashboard.".to_owned()
    } else if stored.expires_at <= now {
        "Expired without being applied.".to_owned()
    } else if let Some(who) = stored.rejected_by() {
        format!("Rejected by {who}.")
    } else {
        "Waiting for approval and apply.".to_owned()
    };
    let open = !applied && stored.expires_at > now;
    let person = session.person.as_str();
    let self_allowed = rules
        .and_then(|r| r.approvers.as_ref())
        .and_then(|g| console.policy.approvers.get(&g.name))
        .is_some_and(|g| g.allow_self_approval.value);
    let already = stored.approvals.iter().any(|a| a.approver == person);
    let decide = open
        && !already
        && console.approvers_of(&stored.name).contains(&person)
        && (person != stored.requester || self_allowed);
    let wants_passkey = rules
        .and_then(|r| r.authentication.as_ref())
        .and_then(|a| console.policy.authentications.get(&a.name))
        .is_some_and(|a| a.passkey);
    let presence = open && person == stored.requester && wants_passkey && stored.presence.is_none();
    let offer = Offer { decide, presence };
    Ok(Html(
        pages::request(&viewer, &console.policy, &stored, &plan, rules, &note, offer).into_string(),
    )
    .into_response())
}

#[derive(Deserialize)]
struct DecisionBegin {
    action: String,
    #[serde(default)]
    comment: String,
}

async fn decision_begin(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<DecisionBegin>,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    let (_, session) =
        console.session(&headers).ok_or_else(|| Problem::forbidden("sign in first"))?;
    console.check_post(&headers, &session, None)?;
    let stored = console.inbox.get(&id)?;
    let person = session.person.clone();
    let now = crate::clock::now();
    if stored.expires_at <= now {
        return Err(Problem::bad("the request has expired"));
    }
    let (payload_type, payload) = match body.action.as_str() {
        "approve" | "deny" => {
            if !console.approvers_of(&stored.name).contains(&person.as_str()) {
                return Err(Problem::forbidden(format!(
                    "{person} is not an approver of {}",
                    stored.name
                )));
            }
            let (_, rules) =
                target(&console.policy, &stored.name).map_err(|e| Problem::bad(e.to_string()))?;
            let group =
                rules.approvers.as_ref().and_then(|g| console.policy.approvers.get(&g.name));
            if person == stored.requester && !group.is_some_and(|g| g.allow_self_approval.value) {
                return Err(Problem::forbidden(format!(
                    "{person} cannot approve their own request"
                )));
            }
            let lifetime =
                group.map_or(crate::policy::Duration::from_mins(30), |g| g.token_lifetime);
            let approval = Approval {
                approver: person.clone(),
                decision: if body.action == "approve" { Decision::Approve } else { Decision::Deny },
                plan_digest: stored.plan_digest.clone(),
                activation: stored.id.clone(),
                issued_at: now,
                expires_at: now.checked_add(lifetime.to_signed()).unwrap_or(now),
                nonce: Approval::new_nonce(),
                comment: Some(body.comment.trim().to_owned()).filter(|c| !c.is_empty()),
            };
            (PASSKEY_APPROVAL_TYPE, serde_json::to_vec(&approval).unwrap_or_default())
        }
        "presence" => {
            if person != stored.requester {
                return Err(Problem::forbidden(
                    "only the requester proves presence on their request",
                ));
            }
            let presence = Presence {
                person: person.clone(),
                plan_digest: stored.plan_digest.clone(),
                activation: stored.id.clone(),
                issued_at: now,
                nonce: Approval::new_nonce(),
            };
            (PASSKEY_PRESENCE_TYPE, serde_json::to_vec(&presence).unwrap_or_default())
        }
        other => {
            return Err(Problem::bad(format!(
                "unknown action {other:?}: approve, deny or presence"
            )));
        }
    };
    let ceremony = Ceremony {
        person: person.clone(),
        payload_type: payload_type.to_owned(),
        payload,
        request: Some(stored.id.clone()),
        expires_at: now.checked_add(CEREMONY_LIFETIME).unwrap_or(now),
    };
    Ok(axum::Json(ceremony_options(&console, &person, ceremony)?))
}

async fn decision_finish(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Finish>,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    let (_, session) =
        console.session(&headers).ok_or_else(|| Problem::forbidden("sign in first"))?;
    console.check_post(&headers, &session, None)?;
    let now = crate::clock::now();
    let ceremony = console
        .sessions
        .finish(&body.ceremony, now)
        .filter(|c| c.person == session.person && c.request.as_deref() == Some(id.as_str()))
        .ok_or_else(|| Problem::forbidden("the ceremony expired or was already used; try again"))?;
    let token = verify_ceremony(&console, &ceremony, body.assertion)?;
    let text = token.to_token();
    let presence = ceremony.payload_type == PASSKEY_PRESENCE_TYPE;
    let decision = if presence {
        "presence".to_owned()
    } else {
        serde_json::from_slice::<Approval>(&ceremony.payload)
            .map(|a| if a.decision == Decision::Approve { "approve" } else { "deny" }.to_owned())
            .map_err(Problem::internal)?
    };
    let stored = console.inbox.update(&id, |stored| {
        let mut stored = stored.ok_or_else(|| InboxError::NotFound(id.clone()))?;
        if presence {
            stored.presence = Some(StoredPresence { token: text.clone(), at: now });
        } else {
            stored.approvals.retain(|a| a.approver != ceremony.person);
            stored.approvals.push(StoredApproval {
                approver: ceremony.person.clone(),
                decision: decision.clone(),
                token: text.clone(),
                at: now,
            });
        }
        Ok(stored)
    })?;
    let action = match decision.as_str() {
        "approve" => crate::audit::action::APPROVAL,
        "deny" => crate::audit::action::DENIAL,
        _ => PRESENCE,
    };
    console.record(
        Event::new(&ceremony.person, action, EventResult::Ok)
            .activation(&stored.id)
            .plan(&stored.plan_digest)
            .details(
                serde_json::json!({ "via": "passkey (console)", "link": console.link(&stored.id) }),
            ),
    )
    .await?;
    Ok(axum::Json(serde_json::json!({ "recorded": decision })))
}

async fn story_page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let Some((_, session)) = console.session(&headers) else { return Ok(to_signin()) };
    if !console.may_view_dashboard(&session.person) {
        return Err(Problem::forbidden("only the console's viewers see activations"));
    }
    let events = console.feed.story(&id).await.map_err(Problem::internal)?;
    Ok(Html(pages::story(&console.viewer(&session), &id, &events).into_string()).into_response())
}

#[derive(Deserialize)]
struct EventsQuery {
    /// The version the page was rendered at.
    v: Option<u64>,
}

async fn events(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    require_viewer(&console, &headers)?;
    // A reconnecting EventSource says where it was with Last-Event-ID; a page, with ?v=.
    let known = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(query.v);
    Ok(Sse::new(live_stream(console, known)).keep_alive(KeepAlive::default()))
}

fn whole(snapshot: &Snapshot) -> SseEvent {
    SseEvent::default().event("dashboard").id(snapshot.version.to_string()).data(&*snapshot.html())
}

fn patch(update: &Update) -> SseEvent {
    SseEvent::default().event("patch").id(update.version.to_string()).data(&*update.json)
}

/// The SSE stream of one viewer: the whole dashboard unless they have the current version,
/// then each patch; the whole dashboard again if they fall behind.
pub fn live_stream(
    console: Shared,
    known: Option<u64>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let (receiver, snapshot) = console.live.subscribe();
    let first = (known != Some(snapshot.version)).then(|| whole(&snapshot));
    let start = (console, receiver, snapshot.version, first);
    futures_util::stream::unfold(start, |(console, mut receiver, mut seen, first)| async move {
        if let Some(event) = first {
            return Some((Ok(event), (console, receiver, seen, None)));
        }
        loop {
            match receiver.recv().await {
                Ok(update) if update.version <= seen => {}
                Ok(update) if update.base == seen => {
                    seen = update.version;
                    return Some((Ok(patch(&update)), (console, receiver, seen, None)));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    let snapshot = console.live.current();
                    seen = snapshot.version;
                    return Some((Ok(whole(&snapshot)), (console, receiver, seen, None)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

fn require_viewer(console: &Console, headers: &HeaderMap) -> Result<Session, Problem> {
    let (_, session) =
        console.session(headers).ok_or_else(|| Problem::forbidden("sign in first"))?;
    if !console.may_view_dashboard(&session.person) {
        return Err(Problem::forbidden("only the console's viewers see the dashboard"));
    }
    Ok(session)
}

async fn api_dashboard(
    State(console): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    require_viewer(&console, &headers)?;
    let dashboard = console.live.current().dashboard(crate::clock::now());
    Ok(axum::Json(dashboard).into_response())
}

async fn api_requests(
    State(console): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (_, session) =
        console.session(&headers).ok_or_else(|| Problem::forbidden("sign in first"))?;
    let (waiting, others) = visible_requests(&console, &session.person);
    Ok(axum::Json(serde_json::json!({ "waiting": waiting, "others": others })).into_response())
}

async fn api_request(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (_, session) =
        console.session(&headers).ok_or_else(|| Problem::forbidden("sign in first"))?;
    let stored = console.inbox.get(&id)?;
    if !console.may_see_request(&session.person, &stored.requester, &stored.name) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("there is no request {id} you may see"),
        ));
    }
    let plan = console.plan_of(&stored)?;
    Ok(axum::Json(serde_json::json!({
        "request": views::pending_view(&console.policy, &stored),
        "changes": plan.resource_changes,
        "decisions": stored.approvals.iter().map(|a| serde_json::json!({"approver": a.approver, "decision": a.decision, "at": a.at, "token": a.token})).collect::<Vec<_>>(),
        "presence": stored.presence.as_ref().map(|p| p.at),
    }))
    .into_response())
}

async fn api_submit(
    State(console): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, Problem> {
    // JSON only: a cross-site form cannot send it without a CORS preflight we never grant.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the signed request as application/json",
        ));
    }
    let stored = console.submit(&body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({ "id": stored.id, "url": console.link(&stored.id) })),
    )
        .into_response())
}

async fn api_story(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    require_viewer(&console, &headers)?;
    let events = console.feed.story(&id).await.map_err(Problem::internal)?;
    Ok(axum::Json(events).into_response())
}
