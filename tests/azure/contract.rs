//! A contract server for the parts of Azure the `azure` provider uses: the Microsoft identity
//! platform's token endpoint (client credentials), and Azure Resource Manager's
//! `Microsoft.Authorization` role assignments (2022-04-01) and PIM role assignment schedule
//! requests, schedules and schedule instances (2020-10-01), over an in-memory tenant.
//!
//! No emulator of these APIs exists, so this stands in for them; to keep it honest, every ARM
//! request it receives and every answer it gives is checked against Azure's own OpenAPI
//! descriptions ([`super::swagger`]), and every token request against the token endpoint's
//! documented fields. A violation is recorded, and the server fails the test when it is dropped
//! with violations recorded (or [`ContractServer::assert_spec_clean`] does).
//!
//! What it models, as Azure documents it:
//! - one assignment of a role to a principal at a scope (`409 RoleAssignmentExists` for a
//!   second, whatever its name), principals and roles that must exist (`PrincipalNotFound`,
//!   `RoleDefinitionDoesNotExist`), `403 AuthorizationFailed` where the caller may not write;
//! - `$filter` (`atScope()`, `principalId eq '…'`, `assignedTo('…')`) with ARM's scope rules
//!   (at, above and below), and paging with an absolute `nextLink` carrying `$skipToken`;
//! - schedule requests (`AdminAssign`, `AdminUpdate`, `AdminExtend`, `AdminRemove`) with
//!   `scheduleInfo` (`AfterDateTime`, `AfterDuration`, `NoExpiration`), the PIM policy's longest
//!   active assignment (`RoleAssignmentRequestPolicyValidationFailed`), a status that moves from
//!   pending to done as time passes (a long-running operation), and the end Azure enforces: on
//!   the server's clock, an assignment whose schedule has ended is gone;
//! - eventual consistency: after a write, the next `consistency_lag` reads of assignments and
//!   schedules still answer as before it;
//! - throttling: a read budget counted down in `x-ms-ratelimit-remaining-subscription-reads`,
//!   and `429` with `Retry-After` once it is spent;
//! - tokens that expire (`401 ExpiredAuthenticationToken`).
//!
//! Tests can also inject faults (429, 500, an answer lost after the change was made), run
//! someone else's change just before a request lands ([`ContractServer::before`], to race the
//! provider), and look at or change the tenant ([`ContractServer::tenant`]).
//!
//! Where Azure's documentation is silent (the exact message of an error, what a second `PUT` of
//! a schedule request's name answers), the choice made is written beside the handler.

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::swagger::{Pairs, Swagger, percent_decode};

/// The tenant tests sign in to.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The service principal breakglass acts as (its application id).
pub const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// Its object id (who ARM says made a request).
pub const CALLER_OBJECT_ID: &str = "9a1c3b5d-7e2f-4a6b-8c0d-1e2f3a4b5c6d";
/// Its client secret.
pub const CLIENT_SECRET: &str = "contract~Secret.0123456789abcdef";
/// The subscription of the examples.
pub const SUBSCRIPTION: &str = "5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f";

/// Built-in role definition GUIDs.
pub mod roles {
    /// Owner.
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    /// Contributor.
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    /// Reader.
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    /// User Access Administrator.
    pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
}

/// `/subscriptions/{SUBSCRIPTION}`.
pub fn subscription_scope() -> String {
    format!("/subscriptions/{SUBSCRIPTION}")
}

/// `/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
pub fn role_id(guid: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    )
}

/// A role assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Its name (a GUID).
    pub name: String,
    /// Where it applies (`/subscriptions/…`).
    pub scope: String,
    /// The role definition's GUID.
    pub role: String,
    /// The principal's object id.
    pub principal: String,
    /// `User`, `Group`, `ServicePrincipal`.
    pub principal_type: String,
    /// When it was made.
    pub created_on: Timestamp,
}

/// A role assignment schedule: when an assignment starts and ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its name (a GUID).
    pub name: String,
    /// Where the role applies.
    pub scope: String,
    /// The role definition's GUID.
    pub role: String,
    /// The principal's object id.
    pub principal: String,
    /// The principal's type.
    pub principal_type: String,
    /// The request that made it (none for a plain role assignment).
    pub request: Option<String>,
    /// When it starts.
    pub start: Timestamp,
    /// When Azure ends it; `None`: never.
    pub end: Option<Timestamp>,
    /// The assignment it made, once started.
    pub assignment: Option<String>,
    /// When it was made.
    pub created_on: Timestamp,
    /// When it last changed.
    pub updated_on: Timestamp,
}

/// A schedule request, as received and as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRequest {
    /// Its name (a GUID).
    pub name: String,
    /// Where it applies.
    pub scope: String,
    /// The role definition's GUID.
    pub role: String,
    /// The principal's object id.
    pub principal: String,
    /// `AdminAssign`, `AdminRemove`, …
    pub request_type: String,
    /// The body as sent.
    pub body: Value,
    /// When it starts.
    pub start: Timestamp,
    /// The end it asks for.
    pub end: Option<Timestamp>,
    /// `Accepted`, `PendingRevocation`, `Provisioned`, `Revoked`, `Failed`.
    pub status: String,
    /// Calls to the server still to come before it is carried out.
    pub ticks_left: usize,
    /// The schedule it made or changed.
    pub schedule: Option<String>,
    /// When it was received.
    pub created_on: Timestamp,
}

/// A fault to inject into the next matching requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with ARM's throttling error and `Retry-After` in seconds.
    TooManyRequests {
        /// The wait asked for.
        retry_after_secs: u64,
    },
    /// 500 with ARM's error.
    ServerError,
    /// The change is made, then the answer is lost (a 500): a retry meets its own effect.
    LostResponse,
    /// 401 `ExpiredAuthenticationToken`, whatever the token.
    ExpiredToken,
    /// The schedule request is accepted and later ends with this status.
    RequestEnds(String),
}

#[derive(Debug, Clone)]
struct Injection {
    fault: Fault,
    method: Method,
    path_suffix: String,
    remaining: usize,
}

type Change = Box<dyn FnOnce(&mut Tenant) + Send>;

struct Hook {
    method: Method,
    path_suffix: String,
    change: Option<Change>,
}

/// A request as received, for assertions.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `PUT`, `POST`, `DELETE`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query, decoded.
    pub query: Pairs,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

impl Received {
    /// The value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What reads answer while writes are not visible yet.
#[derive(Debug, Clone)]
struct Stale {
    assignments: Vec<Assignment>,
    schedules: Vec<Schedule>,
    reads_left: usize,
}

/// The tenant: its directory, its role assignments, and what the server saw.
pub struct Tenant {
    /// The server's clock: schedules start and end by it.
    pub now: Timestamp,
    /// Principals of the directory: object id → type.
    pub principals: BTreeMap<String, String>,
    /// Role definitions that exist (GUIDs).
    pub roles: BTreeSet<String>,
    /// Role assignments, in the order they were made.
    pub assignments: Vec<Assignment>,
    /// Schedules, in the order they were made.
    pub schedules: Vec<Schedule>,
    /// Schedule requests, in the order they were received.
    pub requests: Vec<ScheduleRequest>,
    /// Objects per page of a list.
    pub page_size: usize,
    /// Reads after a write that still answer as before it.
    pub consistency_lag: usize,
    /// Calls to the server after which a schedule request is carried out (0: at once).
    pub provisioning_ticks: usize,
    /// Scopes (and what is below them) where the caller may not write.
    pub denied_scopes: Vec<String>,
    /// The PIM policy's longest active assignment, if it has one.
    pub max_active_duration: Option<SignedDuration>,
    /// The lifetime of the tokens the token endpoint issues.
    pub token_lifetime: Duration,
    /// Reads allowed per second, if ARM's read budget is modelled.
    pub read_budget: Option<usize>,
    budget_left: usize,
    budget_empty_since: Option<Instant>,
    tokens: BTreeMap<String, Instant>,
    injections: Vec<Injection>,
    hooks: Vec<Hook>,
    stale: Option<Stale>,
    /// Every request, in order.
    pub received: Vec<Received>,
    violations: Vec<String>,
    counter: u64,
    base_url: String,
}

impl Tenant {
    /// A tenant with the built-in roles and no principals, its clock at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            principals: BTreeMap::new(),
            roles: [
                roles::OWNER,
                roles::CONTRIBUTOR,
                roles::READER,
                roles::USER_ACCESS_ADMINISTRATOR,
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            assignments: Vec::new(),
            schedules: Vec::new(),
            requests: Vec::new(),
            page_size: 100,
            consistency_lag: 0,
            provisioning_ticks: 0,
            denied_scopes: Vec::new(),
            max_active_duration: None,
            token_lifetime: Duration::from_secs(3599),
            read_budget: None,
            budget_left: 0,
            budget_empty_since: None,
            tokens: BTreeMap::new(),
            injections: Vec::new(),
            hooks: Vec::new(),
            stale: None,
            received: Vec::new(),
            violations: Vec::new(),
            counter: 0,
            base_url: String::new(),
        }
    }

    /// Adds a principal to the directory.
    pub fn principal(mut self, id: &str, kind: &str) -> Self {
        self.principals.insert(id.to_ascii_lowercase(), kind.to_owned());
        self
    }

    /// Adds a plain role assignment, as someone would in the portal, and visible at once (made
    /// long enough ago to have replicated); returns its name.
    pub fn assign(&mut self, scope: &str, role: &str, principal: &str) -> String {
        let name = self.new_guid();
        let principal_type =
            self.principals.get(principal).cloned().unwrap_or_else(|| "User".into());
        self.assignments.push(Assignment {
            name: name.clone(),
            scope: scope.to_owned(),
            role: role.to_owned(),
            principal: principal.to_owned(),
            principal_type: principal_type.clone(),
            created_on: self.now,
        });
        let schedule = self.new_guid();
        self.schedules.push(Schedule {
            name: schedule,
            scope: scope.to_owned(),
            role: role.to_owned(),
            principal: principal.to_owned(),
            principal_type,
            request: None,
            start: self.now,
            end: None,
            assignment: Some(name.clone()),
            created_on: self.now,
            updated_on: self.now,
        });
        name
    }

    /// The assignment of `role` to `principal` at exactly `scope`, if any.
    pub fn assignment(&self, scope: &str, role: &str, principal: &str) -> Option<&Assignment> {
        self.assignments.iter().find(|a| same_assignment(a, scope, role, principal))
    }

    /// The schedules of `role` for `principal` at exactly `scope`.
    pub fn schedules_of(&self, scope: &str, role: &str, principal: &str) -> Vec<&Schedule> {
        self.schedules
            .iter()
            .filter(|s| {
                same_scope(&s.scope, scope)
                    && s.role.eq_ignore_ascii_case(role)
                    && s.principal.eq_ignore_ascii_case(principal)
            })
            .collect()
    }

    /// Requests whose method is `method` and whose path ends with `suffix`.
    pub fn received_matching(&self, method: &str, suffix: &str) -> Vec<&Received> {
        self.received.iter().filter(|r| r.method == method && r.path.ends_with(suffix)).collect()
    }

    /// Makes every token issued so far expire (as time passing would).
    pub fn expire_tokens(&mut self) {
        let past = Instant::now();
        for expiry in self.tokens.values_mut() {
            *expiry = past;
        }
    }

    fn new_guid(&mut self) -> String {
        self.counter += 1;
        let n = self.counter;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            0xc0de_0000u32 + n as u32,
            n % 0xffff,
            n % 0xfff,
            n % 0xfff,
            n
        )
    }

    fn take_fault(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let injection = self
            .injections
            .iter_mut()
            .find(|i| i.remaining > 0 && i.method == method && path.ends_with(&i.path_suffix))?;
        injection.remaining -= 1;
        Some(injection.fault.clone())
    }

    fn take_hook(&mut self, method: &Method, path: &str) -> Option<Change> {
        self.hooks
            .iter_mut()
            .find(|h| h.change.is_some() && h.method == method && path.contains(&h.path_suffix))
            .and_then(|h| h.change.take())
    }

    /// Before a change: reads keep answering as now for `consistency_lag` more reads.
    fn begin_write(&mut self) {
        if self.consistency_lag == 0 {
            return;
        }
        match &mut self.stale {
            Some(stale) => stale.reads_left = self.consistency_lag,
            None => {
                self.stale = Some(Stale {
                    assignments: self.assignments.clone(),
                    schedules: self.schedules.clone(),
                    reads_left: self.consistency_lag,
                })
            }
        }
    }

    /// What a read sees: the state before recent writes while they are not visible yet.
    fn view(&mut self) -> (Vec<Assignment>, Vec<Schedule>) {
        if let Some(stale) = &mut self.stale {
            if stale.reads_left > 0 {
                stale.reads_left -= 1;
                let seen = (stale.assignments.clone(), stale.schedules.clone());
                if stale.reads_left == 0 {
                    self.stale = None;
                }
                return seen;
            }
            self.stale = None;
        }
        (self.assignments.clone(), self.schedules.clone())
    }

    /// Time passes: pending requests move on, schedules start and end.
    fn tick(&mut self) {
        for index in 0..self.requests.len() {
            let request = &mut self.requests[index];
            if request.ticks_left > 0 {
                request.ticks_left -= 1;
                if request.ticks_left == 0 {
                    self.carry_out(index);
                }
            }
        }
        let now = self.now;
        let ended: Vec<Schedule> = self
            .schedules
            .iter()
            .filter(|s| s.end.is_some_and(|end| end <= now))
            .cloned()
            .collect();
        if !ended.is_empty() {
            // Azure's own expiry: the assignment ends with its schedule.
            self.begin_write();
            for schedule in ended {
                self.schedules.retain(|s| s.name != schedule.name);
                if let Some(assignment) = schedule.assignment {
                    self.assignments.retain(|a| a.name != assignment);
                }
            }
        }
        self.start_due();
    }

    /// Carries out request `index`; its status says how it ended.
    fn carry_out(&mut self, index: usize) {
        let request = self.requests[index].clone();
        if matches!(request.status.as_str(), "Failed" | "Canceled" | "Denied") {
            return;
        }
        let now = self.now;
        self.begin_write();
        let status = match request.request_type.as_str() {
            "AdminAssign" => {
                let name = self.new_guid();
                let principal_type = self
                    .principals
                    .get(&request.principal)
                    .cloned()
                    .unwrap_or_else(|| "User".into());
                self.schedules.push(Schedule {
                    name: name.clone(),
                    scope: request.scope.clone(),
                    role: request.role.clone(),
                    principal: request.principal.clone(),
                    principal_type,
                    request: Some(request.name.clone()),
                    start: request.start,
                    end: request.end,
                    assignment: None,
                    created_on: now,
                    updated_on: now,
                });
                self.requests[index].schedule = Some(name);
                "Provisioned"
            }
            "AdminUpdate" | "AdminExtend" => {
                let found = self.schedules.iter_mut().find(|s| {
                    same_scope(&s.scope, &request.scope)
                        && s.role == request.role
                        && s.principal == request.principal
                        && s.assignment.is_some()
                });
                match found {
                    Some(schedule) => {
                        schedule.end = request.end;
                        schedule.updated_on = now;
                        self.requests[index].schedule = Some(schedule.name.clone());
                        "Provisioned"
                    }
                    None => "Failed",
                }
            }
            "AdminRemove" => {
                let (scope, role, principal) = (&request.scope, &request.role, &request.principal);
                self.schedules.retain(|s| {
                    !(same_scope(&s.scope, scope) && s.role == *role && s.principal == *principal)
                });
                self.assignments.retain(|a| !same_assignment(a, scope, role, principal));
                "Revoked"
            }
            _ => "Failed",
        };
        self.requests[index].status = status.to_owned();
        self.start_due();
    }

    /// Starts schedules whose start has come: each makes its assignment.
    fn start_due(&mut self) {
        let now = self.now;
        for index in 0..self.schedules.len() {
            if self.schedules[index].assignment.is_none() && self.schedules[index].start <= now {
                self.begin_write();
                let name = self.new_guid();
                let schedule = &mut self.schedules[index];
                schedule.assignment = Some(name.clone());
                let assignment = Assignment {
                    name,
                    scope: schedule.scope.clone(),
                    role: schedule.role.clone(),
                    principal: schedule.principal.clone(),
                    principal_type: schedule.principal_type.clone(),
                    created_on: now,
                };
                self.assignments.push(assignment);
            }
        }
    }
}

fn same_scope(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

fn same_assignment(a: &Assignment, scope: &str, role: &str, principal: &str) -> bool {
    same_scope(&a.scope, scope)
        && a.role.eq_ignore_ascii_case(role)
        && a.principal.eq_ignore_ascii_case(principal)
}

/// Whether scope `above` is `below` or one of its ancestors (by path segments).
fn at_or_above(above: &str, below: &str) -> bool {
    let above = above.trim_end_matches('/').to_ascii_lowercase();
    let below = below.trim_end_matches('/').to_ascii_lowercase();
    below == above || below.starts_with(&format!("{above}/"))
}

fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The GUID at the end of a role definition id.
fn role_guid(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    let marker = "/providers/microsoft.authorization/roledefinitions/";
    let guid = &lower[lower.rfind(marker)? + marker.len()..];
    is_guid(guid).then(|| guid.to_owned())
}

/// The contract server, on its own thread and runtime so that blocking tests (which run the
/// CLI) and async tests can both use it.
pub struct ContractServer {
    base_url: String,
    tenant: Arc<Mutex<Tenant>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ContractServer {
    /// Serves `tenant` on 127.0.0.1, on a free port: the token endpoint at
    /// `/{tenant}/oauth2/v2.0/token` and Resource Manager at the root.
    pub fn start(tenant: Tenant) -> Self {
        Swagger::get(); // parse before serving, so the first request is not slow
        let tenant = Arc::new(Mutex::new(tenant));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = tenant.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the contract server");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
                ready_tx.send(listener.local_addr().expect("an address")).expect("ready");
                let router = Router::new().fallback(handle).with_state(shared);
                axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .expect("the contract server runs");
            });
        });
        let address = ready_rx.recv().expect("the contract server started");
        let base_url = format!("http://{address}");
        tenant.lock().expect("tenant").base_url = base_url.clone();
        Self { base_url, tenant, shutdown: Some(shutdown_tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`: both `AZURE_AUTHORITY_HOST` and the Resource Manager endpoint.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Looks at or changes the tenant: to check what breakglass did, or to change something
    /// behind its back.
    pub fn tenant<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        f(&mut self.tenant.lock().expect("tenant"))
    }

    /// Answers the next `times` requests `METHOD …suffix` with `fault`.
    pub fn inject(&self, fault: Fault, method: &str, path_suffix: &str, times: usize) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        self.tenant(|tenant| {
            tenant.injections.push(Injection {
                fault,
                method,
                path_suffix: path_suffix.to_owned(),
                remaining: times,
            })
        });
    }

    /// Runs `change` (someone else's) just before the next request `METHOD` whose path holds
    /// `path_part` is handled.
    pub fn before(
        &self,
        method: &str,
        path_part: &str,
        change: impl FnOnce(&mut Tenant) + Send + 'static,
    ) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        self.tenant(|tenant| {
            tenant.hooks.push(Hook {
                method,
                path_suffix: path_part.to_owned(),
                change: Some(Box::new(change)),
            })
        });
    }

    /// Panics with every violation seen so far.
    #[track_caller]
    pub fn assert_spec_clean(&self) {
        let violations = self.tenant(|tenant| std::mem::take(&mut tenant.violations));
        assert!(
            violations.is_empty(),
            "the Azure contract server saw exchanges that Azure's descriptions reject:\n{}",
            violations.join("\n")
        );
    }
}

impl Drop for ContractServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if !std::thread::panicking() {
            self.assert_spec_clean();
        }
    }
}

/// What a handler answers.
struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Self {
        Self { status, body: Some(body), headers: Vec::new() }
    }

    fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    fn empty(status: StatusCode) -> Self {
        Self { status, body: None, headers: Vec::new() }
    }

    /// ARM's error body: `{"error": {"code", "message"}}` (`ErrorResponse`, `CloudError`).
    fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::json(status, json!({"error": {"code": code, "message": message.into()}}))
    }

    fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, code, message)
    }
}

/// Every request: the token endpoint, or ARM (checked, authenticated, faults, route, checked).
async fn handle(State(tenant): State<Arc<Mutex<Tenant>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query: Pairs = parts.uri.query().map(url_pairs).unwrap_or_default();
    let header = |name: header::HeaderName| {
        parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let authorization = header(header::AUTHORIZATION);
    let content_type = header(header::CONTENT_TYPE);
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();

    let reply = {
        let mut tenant = tenant.lock().expect("tenant");
        let tenant = &mut *tenant;
        let reply = if path.ends_with("/oauth2/v2.0/token") {
            token_endpoint(tenant, &method, &path, content_type.as_deref(), &body)
        } else {
            arm(
                tenant,
                &method,
                &path,
                &query,
                authorization.as_deref(),
                content_type.as_deref(),
                &body,
                json_body.as_ref(),
            )
        };
        tenant.received.push(Received {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: if path.ends_with("/token") { None } else { json_body },
            status: reply.status.as_u16(),
        });
        reply
    };

    let text = reply.body.as_ref().map(Value::to_string).unwrap_or_default();
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = reply.status;
    if reply.body.is_some() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header"));
    }
    response
}

/// The identity platform's token endpoint, client credentials grant:
/// <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>
/// (RFC 6749 §4.4). Errors carry `error`, an `error_description` starting with an `AADSTS`
/// code, and `error_codes`, as the platform answers them.
fn token_endpoint(
    tenant: &mut Tenant,
    method: &Method,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let refuse = |status: StatusCode, error: &str, code: u64, text: &str| {
        let description = format!(
            "AADSTS{code}: {text}\r\nTrace ID: 0d5b4a3c-contract\r\nCorrelation ID: \
             7c9e6679-contract\r\nTimestamp: 2026-11-28 12:00:00Z"
        );
        Reply::json(
            status,
            json!({"error": error, "error_description": description, "error_codes": [code],
                   "timestamp": "2026-11-28 12:00:00Z", "trace_id": "0d5b4a3c-contract",
                   "correlation_id": "7c9e6679-contract",
                   "error_uri": format!("https://login.microsoftonline.com/error?code={code}")}),
        )
    };
    let mut violations = Vec::new();
    if *method != Method::POST {
        violations.push(format!("{method} {path}: the token endpoint takes POST"));
    }
    let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_owned();
    if media != "application/x-www-form-urlencoded" {
        violations.push(format!(
            "POST {path}: a token request of content type {media:?}, not \
             application/x-www-form-urlencoded"
        ));
    }
    let form: BTreeMap<String, String> =
        url_pairs(&String::from_utf8_lossy(body)).into_iter().collect();
    for field in form.keys() {
        if !["grant_type", "client_id", "client_secret", "scope"].contains(&field.as_str()) {
            violations.push(format!("POST {path}: token request field `{field}` is not one of the client credentials grant"));
        }
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let reply = if segments.len() != 4 || segments[1..] != ["oauth2", "v2.0", "token"] {
        violations
            .push(format!("POST {path}: not the token endpoint (/{{tenant}}/oauth2/v2.0/token)"));
        refuse(
            StatusCode::NOT_FOUND,
            "invalid_request",
            900023,
            "Specified tenant identifier is neither a valid DNS name, nor a valid external domain.",
        )
    } else if !segments[0].eq_ignore_ascii_case(TENANT_ID) {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                segments[0]
            ),
        )
    } else if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        violations.push(format!("POST {path}: grant_type is not client_credentials"));
        refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        )
    } else if let Some(missing) =
        ["client_id", "client_secret", "scope"].into_iter().find(|f| !form.contains_key(*f))
    {
        violations.push(format!("POST {path}: token request without `{missing}`"));
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{missing}'."),
        )
    } else if form["scope"] != format!("{}/.default", tenant.base_url) {
        violations.push(format!(
            "POST {path}: scope {:?} is not Resource Manager's `.default`",
            form["scope"]
        ));
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        )
    } else if !form["client_id"].eq_ignore_ascii_case(CLIENT_ID) {
        refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{TENANT_ID}'.",
                form["client_id"]
            ),
        )
    } else if form["client_secret"] != CLIENT_SECRET {
        refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT_ID}'."
            ),
        )
    } else {
        tenant.counter += 1;
        let token =
            format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.contract-{}.signature", tenant.counter);
        tenant.tokens.insert(token.clone(), Instant::now() + tenant.token_lifetime);
        let lifetime = tenant.token_lifetime.as_secs();
        Reply::ok(
            json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
        )
    };
    tenant.violations.extend(violations);
    reply
}

/// Resource Manager.
#[allow(clippy::too_many_arguments)]
fn arm(
    tenant: &mut Tenant,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    json_body: Option<&Value>,
) -> Reply {
    let swagger = Swagger::get();
    let (operation, mut violations) =
        swagger.check_request(method.as_str(), path, query, authorization, content_type, body);
    let mut reply = match authenticate(tenant, authorization) {
        Some(refusal) => refusal,
        None => match tenant.take_fault(method, path) {
            Some(Fault::TooManyRequests { retry_after_secs }) => {
                let mut reply = Reply::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "The request is being throttled as the limit has been reached for operation \
                     type - Read_ObservationWindow_00:05:00.",
                );
                reply.headers.push(("retry-after", retry_after_secs.to_string()));
                reply
            }
            Some(Fault::ServerError) => server_error(),
            Some(Fault::ExpiredToken) => expired_token(),
            Some(Fault::LostResponse) => {
                let _ = route(tenant, method, path, query, json_body, None);
                server_error()
            }
            Some(Fault::RequestEnds(status)) => {
                route(tenant, method, path, query, json_body, Some(status))
            }
            None => {
                if let Some(change) = tenant.take_hook(method, path) {
                    change(tenant);
                }
                match spend_read_budget(tenant, method) {
                    Some(throttled) => throttled,
                    None => route(tenant, method, path, query, json_body, None),
                }
            }
        },
    };
    if *method == Method::GET {
        let left = if tenant.read_budget.is_some() { tenant.budget_left } else { 11999 };
        reply.headers.push(("x-ms-ratelimit-remaining-subscription-reads", left.to_string()));
    } else {
        reply.headers.push(("x-ms-ratelimit-remaining-subscription-writes", "1199".to_owned()));
    }
    if let Some(operation) = operation {
        let text = reply.body.as_ref().map(Value::to_string).unwrap_or_default();
        violations.extend(swagger.check_response(
            operation,
            reply.status.as_u16(),
            reply.body.as_ref().map(|_| "application/json; charset=utf-8"),
            text.as_bytes(),
        ));
    }
    tenant.violations.extend(violations);
    reply
}

fn server_error() -> Reply {
    Reply::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "Encountered internal server error. Diagnostic information: timestamp '20261128T120000Z'.",
    )
}

fn expired_token() -> Reply {
    let mut reply = Reply::error(
        StatusCode::UNAUTHORIZED,
        "ExpiredAuthenticationToken",
        "The access token expiry UTC time is earlier than current UTC time.",
    );
    reply.headers.push((
        "www-authenticate",
        "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", \
         error_description=\"The access token has expired.\""
            .to_owned(),
    ));
    reply
}

/// The bearer token must be one the token endpoint issued and still valid.
fn authenticate(tenant: &Tenant, authorization: Option<&str>) -> Option<Reply> {
    let token = authorization.and_then(|value| value.strip_prefix("Bearer "));
    match token.and_then(|token| tenant.tokens.get(token)) {
        Some(expiry) if Instant::now() < *expiry => None,
        Some(_) => Some(expired_token()),
        None => Some(Reply::error(
            StatusCode::UNAUTHORIZED,
            if token.is_some() { "InvalidAuthenticationToken" } else { "AuthenticationFailed" },
            if token.is_some() {
                "The access token is invalid."
            } else {
                "Authentication failed. The 'Authorization' header is missing."
            },
        )),
    }
}

/// ARM's read budget: each read spends one; once spent, reads are throttled for a second.
fn spend_read_budget(tenant: &mut Tenant, method: &Method) -> Option<Reply> {
    let capacity = tenant.read_budget?;
    if *method != Method::GET {
        return None;
    }
    if tenant.budget_left == 0 {
        match tenant.budget_empty_since {
            Some(since) if since.elapsed() < Duration::from_secs(1) => {
                let mut reply = Reply::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "The request is being throttled as the limit has been reached for operation \
                     type - Read_ObservationWindow_00:00:01.",
                );
                reply.headers.push(("retry-after", "1".to_owned()));
                return Some(reply);
            }
            _ => {
                tenant.budget_left = capacity;
                tenant.budget_empty_since = None;
            }
        }
    }
    tenant.budget_left -= 1;
    if tenant.budget_left == 0 {
        tenant.budget_empty_since = Some(Instant::now());
    }
    None
}

/// Routes an ARM request. `ends` is the status an injected fault gives a schedule request.
fn route(
    tenant: &mut Tenant,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: Option<&Value>,
    ends: Option<String>,
) -> Reply {
    tenant.tick();
    let lower = path.to_ascii_lowercase();
    let Some(at) = lower.find("/providers/microsoft.authorization/") else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!("The resource type could not be found in the namespace for the path '{path}'."),
        );
    };
    let scope = path[..at].to_owned();
    let rest: Vec<&str> =
        path[at + "/providers/microsoft.authorization/".len()..].split('/').collect();
    let api = query.iter().find(|(k, _)| k == "api-version").map(|(_, v)| v.as_str()).unwrap_or("");
    let kind = rest[0].to_ascii_lowercase();
    let wanted = if kind == "roleassignments" { "2022-04-01" } else { "2020-10-01" };
    if api != wanted {
        return Reply::bad_request(
            "InvalidApiVersionParameter",
            format!("The api-version '{api}' is invalid. The supported versions are '{wanted}'."),
        );
    }
    if scope.is_empty() {
        return Reply::bad_request(
            "InvalidScope",
            "The scope '/' is not supported by this server.",
        );
    }
    let filter = query.iter().find(|(k, _)| k == "$filter").map(|(_, v)| v.as_str());
    let skip = query
        .iter()
        .find(|(k, _)| k == "$skipToken")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let body = body.cloned().unwrap_or(Value::Null);
    match (method.as_str(), kind.as_str(), rest.get(1)) {
        ("GET", "roleassignments", None) => list_assignments(tenant, path, &scope, filter, skip),
        ("GET", "roleassignments", Some(name)) => get_assignment(tenant, &scope, name),
        ("PUT", "roleassignments", Some(name)) => put_assignment(tenant, &scope, name, &body),
        ("DELETE", "roleassignments", Some(name)) => delete_assignment(tenant, &scope, name),
        ("GET", "roleassignmentschedules", None) => {
            list_schedules(tenant, path, &scope, filter, skip, false)
        }
        ("GET", "roleassignmentschedules", Some(name)) => get_schedule(tenant, &scope, name, false),
        ("GET", "roleassignmentscheduleinstances", None) => {
            list_schedules(tenant, path, &scope, filter, skip, true)
        }
        ("GET", "roleassignmentscheduleinstances", Some(name)) => {
            get_schedule(tenant, &scope, name, true)
        }
        ("PUT", "roleassignmentschedulerequests", Some(name)) if rest.len() == 2 => {
            put_request(tenant, &scope, name, &body, ends)
        }
        ("GET", "roleassignmentschedulerequests", Some(name)) if rest.len() == 2 => {
            get_request(tenant, &scope, name)
        }
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("This server does not serve {method} {path}."),
        ),
    }
}

/// What a `$filter` selects.
enum Filter {
    /// No filter: at, above and below the scope.
    All,
    /// `atScope()`: at or above the scope.
    AtScope,
    /// `principalId eq '…'`, `assignedTo('…')`: that principal's, at, above and below.
    Principal(String),
}

fn parse_filter(filter: Option<&str>) -> Result<Filter, Reply> {
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(Filter::All);
    };
    let unquote = |text: &str| text.trim().trim_matches('\'').to_ascii_lowercase();
    if filter == "atScope()" {
        Ok(Filter::AtScope)
    } else if let Some(id) = filter.strip_prefix("principalId eq ") {
        Ok(Filter::Principal(unquote(id)))
    } else if let Some(id) = filter.strip_prefix("assignedTo(").and_then(|f| f.strip_suffix(')')) {
        Ok(Filter::Principal(unquote(id)))
    } else {
        // Azure's wording for a filter it does not take is not documented.
        Err(Reply::bad_request(
            "UnsupportedQuery",
            format!("The filter '{filter}' is not supported."),
        ))
    }
}

fn selected(filter: &Filter, request_scope: &str, scope: &str, principal: &str) -> bool {
    let related = at_or_above(scope, request_scope) || at_or_above(request_scope, scope);
    match filter {
        Filter::All => related,
        Filter::AtScope => at_or_above(scope, request_scope),
        Filter::Principal(id) => related && principal.eq_ignore_ascii_case(id),
    }
}

/// A page of `items` from `skip`, with an absolute `nextLink` when more follow.
fn page(
    tenant: &Tenant,
    path: &str,
    filter: Option<&str>,
    api: &str,
    items: Vec<Value>,
    skip: usize,
) -> Reply {
    let end = (skip + tenant.page_size).min(items.len());
    let value: Vec<Value> = items.get(skip..end).map(<[Value]>::to_vec).unwrap_or_default();
    let mut body = json!({"value": value});
    if end < items.len() {
        let mut link = format!("{}{path}?api-version={api}", tenant.base_url);
        if let Some(filter) = filter {
            link.push_str(&format!("&$filter={}", encode(filter)));
        }
        link.push_str(&format!("&$skipToken={end}"));
        body["nextLink"] = json!(link);
    }
    Reply::ok(body)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn assignment_json(assignment: &Assignment) -> Value {
    // Azure answers a built-in role's id in its tenant form, as the API's own examples show.
    json!({
        "id": format!("{}/providers/Microsoft.Authorization/roleAssignments/{}", assignment.scope, assignment.name),
        "name": assignment.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{}", assignment.role),
            "principalId": assignment.principal,
            "principalType": assignment.principal_type,
            "scope": assignment.scope,
            "condition": null,
            "conditionVersion": null,
            "createdOn": assignment.created_on.to_string(),
            "updatedOn": assignment.created_on.to_string(),
            "createdBy": CALLER_OBJECT_ID,
            "updatedBy": CALLER_OBJECT_ID,
            "delegatedManagedIdentityResourceId": null,
            "description": null
        }
    })
}

/// List role assignments for a scope: `GET {scope}/providers/Microsoft.Authorization/
/// roleAssignments?$filter` (RoleAssignments_ListForScope, and _ListForSubscription for a
/// subscription).
fn list_assignments(
    tenant: &mut Tenant,
    path: &str,
    scope: &str,
    filter: Option<&str>,
    skip: usize,
) -> Reply {
    let parsed = match parse_filter(filter) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let (assignments, _) = tenant.view();
    let items = assignments
        .iter()
        .filter(|a| selected(&parsed, scope, &a.scope, &a.principal))
        .map(assignment_json)
        .collect();
    page(tenant, path, filter, "2022-04-01", items, skip)
}

/// Get a role assignment: `GET {scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
fn get_assignment(tenant: &mut Tenant, scope: &str, name: &str) -> Reply {
    let (assignments, _) = tenant.view();
    match assignments
        .iter()
        .find(|a| same_scope(&a.scope, scope) && a.name.eq_ignore_ascii_case(name))
    {
        Some(assignment) => Reply::ok(assignment_json(assignment)),
        None => Reply::error(
            StatusCode::NOT_FOUND,
            "RoleAssignmentNotFound",
            format!("The role assignment '{name}' is not found."),
        ),
    }
}

fn denied(tenant: &Tenant, scope: &str, action: &str) -> Option<Reply> {
    tenant.denied_scopes.iter().any(|denied| at_or_above(denied, scope)).then(|| {
        Reply::error(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{CLIENT_ID}' with object id '{CALLER_OBJECT_ID}' does not have \
                 authorization to perform action '{action}' over scope '{scope}' or the scope is \
                 invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    })
}

/// The role and principal a write names, checked against the directory.
fn role_and_principal(
    tenant: &Tenant,
    properties: &Value,
) -> Result<(String, String, String), Reply> {
    let role_id = properties["roleDefinitionId"].as_str().unwrap_or_default();
    let Some(role) = role_guid(role_id) else {
        return Err(Reply::bad_request(
            "InvalidRoleDefinitionId",
            format!("The role definition ID '{role_id}' is not valid."),
        ));
    };
    if !tenant.roles.contains(&role) {
        return Err(Reply::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{role}' does not exist."),
        ));
    }
    let principal = properties["principalId"].as_str().unwrap_or_default().to_ascii_lowercase();
    let Some(kind) = tenant.principals.get(&principal) else {
        return Err(Reply::bad_request(
            "PrincipalNotFound",
            format!(
                "Principal {principal} does not exist in the directory {TENANT_ID}. Check that \
                 you have the correct principal ID. If you are creating this principal and then \
                 immediately assigning a role, this error might be related to a replication \
                 delay. In this case, set the role assignment principalType property to a value, \
                 such as ServicePrincipal, User, or Group. See https://aka.ms/docs-principaltype"
            ),
        ));
    };
    Ok((role, principal, kind.clone()))
}

/// Create a role assignment: `PUT {scope}/providers/Microsoft.Authorization/roleAssignments/
/// {name}`. One assignment per role, principal and scope: another name for the same is `409
/// RoleAssignmentExists`. A second `PUT` of the same assignment answers it again (200); one
/// that changes its role or principal is refused (`RoleAssignmentUpdateNotPermitted`).
fn put_assignment(tenant: &mut Tenant, scope: &str, name: &str, body: &Value) -> Reply {
    if !is_guid(name) {
        return Reply::bad_request(
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        );
    }
    if let Some(refusal) = denied(tenant, scope, "Microsoft.Authorization/roleAssignments/write") {
        return refusal;
    }
    let properties = &body["properties"];
    let (role, principal, kind) = match role_and_principal(tenant, properties) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    if let Some(declared) = properties["principalType"].as_str()
        && !declared.eq_ignore_ascii_case(&kind)
    {
        return Reply::bad_request(
            "UnmatchedPrincipalType",
            format!(
                "The PrincipalId '{principal}' has type '{kind}', which is different from specified PrincipalType '{declared}'."
            ),
        );
    }
    if let Some(existing) = tenant
        .assignments
        .iter()
        .find(|a| same_scope(&a.scope, scope) && a.name.eq_ignore_ascii_case(name))
    {
        return if existing.role == role && existing.principal == principal {
            Reply::ok(assignment_json(existing))
        } else {
            Reply::bad_request(
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        };
    }
    if tenant.assignment(scope, &role, &principal).is_some() {
        return Reply::error(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        );
    }
    tenant.begin_write();
    let assignment = Assignment {
        name: name.to_ascii_lowercase(),
        scope: scope.to_owned(),
        role: role.clone(),
        principal: principal.clone(),
        principal_type: kind.clone(),
        created_on: tenant.now,
    };
    tenant.assignments.push(assignment.clone());
    let schedule = tenant.new_guid();
    tenant.schedules.push(Schedule {
        name: schedule,
        scope: scope.to_owned(),
        role,
        principal,
        principal_type: kind,
        request: None,
        start: tenant.now,
        end: None,
        assignment: Some(assignment.name.clone()),
        created_on: tenant.now,
        updated_on: tenant.now,
    });
    Reply::json(StatusCode::CREATED, assignment_json(&assignment))
}

/// Delete a role assignment: 200 with what was deleted, 204 when there is none.
fn delete_assignment(tenant: &mut Tenant, scope: &str, name: &str) -> Reply {
    if let Some(refusal) = denied(tenant, scope, "Microsoft.Authorization/roleAssignments/delete") {
        return refusal;
    }
    let Some(index) = tenant
        .assignments
        .iter()
        .position(|a| same_scope(&a.scope, scope) && a.name.eq_ignore_ascii_case(name))
    else {
        return Reply::empty(StatusCode::NO_CONTENT);
    };
    tenant.begin_write();
    let assignment = tenant.assignments.remove(index);
    tenant.schedules.retain(|s| s.assignment.as_deref() != Some(assignment.name.as_str()));
    Reply::ok(assignment_json(&assignment))
}

fn schedule_json(tenant: &Tenant, schedule: &Schedule, instance: bool) -> Value {
    let (collection, name) = if instance {
        ("roleAssignmentScheduleInstances", schedule.assignment.clone().unwrap_or_default())
    } else {
        ("roleAssignmentSchedules", schedule.name.clone())
    };
    let mut properties = json!({
        "scope": schedule.scope,
        "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{}", schedule.role),
        "principalId": schedule.principal,
        "principalType": schedule.principal_type,
        "assignmentType": "Assigned",
        "memberType": "Direct",
        "status": "Provisioned",
        "startDateTime": schedule.start.to_string(),
        "createdOn": schedule.created_on.to_string(),
    });
    if let Some(end) = schedule.end {
        properties["endDateTime"] = json!(end.to_string());
    }
    if instance {
        properties["roleAssignmentScheduleId"] = json!(format!(
            "{}/providers/Microsoft.Authorization/roleAssignmentSchedules/{}",
            schedule.scope, schedule.name
        ));
        if let Some(assignment) = &schedule.assignment {
            properties["originRoleAssignmentId"] = json!(format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{assignment}",
                schedule.scope
            ));
        }
    } else {
        properties["updatedOn"] = json!(schedule.updated_on.to_string());
        if let Some(request) = &schedule.request {
            let scope = tenant
                .requests
                .iter()
                .find(|r| &r.name == request)
                .map_or(&schedule.scope, |r| &r.scope);
            properties["roleAssignmentScheduleRequestId"] = json!(format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{request}"
            ));
        }
    }
    json!({
        "id": format!("{}/providers/Microsoft.Authorization/{collection}/{name}", schedule.scope),
        "name": name,
        "type": format!("Microsoft.Authorization/{collection}"),
        "properties": properties,
    })
}

/// List schedules (`RoleAssignmentSchedules_ListForScope`) or, with `instances`, the active
/// instances of schedules (`RoleAssignmentScheduleInstances_ListForScope`). A plain role
/// assignment has a schedule without an end, as PIM shows it.
fn list_schedules(
    tenant: &mut Tenant,
    path: &str,
    scope: &str,
    filter: Option<&str>,
    skip: usize,
    instances: bool,
) -> Reply {
    let parsed = match parse_filter(filter) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let (_, schedules) = tenant.view();
    let items = schedules
        .iter()
        .filter(|s| !instances || s.assignment.is_some())
        .filter(|s| selected(&parsed, scope, &s.scope, &s.principal))
        .map(|s| schedule_json(tenant, s, instances))
        .collect();
    page(tenant, path, filter, "2020-10-01", items, skip)
}

fn get_schedule(tenant: &mut Tenant, scope: &str, name: &str, instance: bool) -> Reply {
    let (_, schedules) = tenant.view();
    let found = schedules.iter().find(|s| {
        same_scope(&s.scope, scope)
            && if instance {
                s.assignment.as_deref() == Some(name)
            } else {
                s.name.eq_ignore_ascii_case(name)
            }
    });
    match found {
        Some(schedule) => Reply::ok(schedule_json(tenant, schedule, instance)),
        None => Reply::error(
            StatusCode::NOT_FOUND,
            "RoleAssignmentScheduleNotFound",
            format!("The role assignment schedule '{name}' is not found."),
        ),
    }
}

fn request_json(tenant: &Tenant, request: &ScheduleRequest) -> Value {
    let sent = &request.body["properties"];
    let mut properties = json!({
        "scope": request.scope,
        "roleDefinitionId": sent["roleDefinitionId"],
        "principalId": request.principal,
        "principalType": tenant.principals.get(&request.principal).cloned().unwrap_or_else(|| "User".into()),
        "requestType": request.request_type,
        "status": request.status,
        "requestorId": CALLER_OBJECT_ID,
        "createdOn": request.created_on.to_string(),
    });
    for field in ["scheduleInfo", "justification", "ticketInfo"] {
        if let Some(value) = sent.get(field).filter(|v| !v.is_null()) {
            properties[field] = value.clone();
        }
    }
    if let Some(schedule) = &request.schedule {
        properties["targetRoleAssignmentScheduleId"] = json!(format!(
            "{}/providers/Microsoft.Authorization/roleAssignmentSchedules/{schedule}",
            request.scope
        ));
    }
    json!({
        "id": format!("{}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{}", request.scope, request.name),
        "name": request.name,
        "type": "Microsoft.Authorization/roleAssignmentScheduleRequests",
        "properties": properties,
    })
}

/// When a schedule requested this way starts and ends: `AfterDateTime` (`endDateTime`),
/// `AfterDuration` (an ISO 8601 `duration` from the start) or `NoExpiration`.
fn schedule_times(now: Timestamp, info: &Value) -> Result<(Timestamp, Option<Timestamp>), Reply> {
    let invalid = |message: String| Reply::bad_request("InvalidScheduleInfo", message);
    let start = match info["startDateTime"].as_str() {
        Some(text) => text
            .parse::<Timestamp>()
            .map_err(|_| invalid(format!("The start date time '{text}' is not valid.")))?,
        None => now,
    };
    let expiration = &info["expiration"];
    let end = match expiration["type"].as_str() {
        Some("AfterDateTime") => {
            let text = expiration["endDateTime"].as_str().ok_or_else(|| {
                invalid("The expiration end date time is required for AfterDateTime.".into())
            })?;
            Some(
                text.parse::<Timestamp>()
                    .map_err(|_| invalid(format!("The end date time '{text}' is not valid.")))?,
            )
        }
        Some("AfterDuration") => {
            let text = expiration["duration"].as_str().ok_or_else(|| {
                invalid("The expiration duration is required for AfterDuration.".into())
            })?;
            // ISO 8601, days included (`P1DT2H`), as .NET's TimeSpan reads it.
            let duration = text
                .parse::<jiff::Span>()
                .and_then(|span| span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()))
                .map_err(|_| {
                    invalid(format!("The duration '{text}' is not an ISO 8601 duration."))
                })?;
            Some(start + duration)
        }
        Some("NoExpiration") | None => None,
        Some(other) => return Err(invalid(format!("The expiration type '{other}' is not valid."))),
    };
    if end.is_some_and(|end| end <= start.max(now)) {
        return Err(invalid("The expiration must be after the start and in the future.".into()));
    }
    Ok((start, end))
}

/// Create a role assignment schedule request: `PUT {scope}/providers/Microsoft.Authorization/
/// roleAssignmentScheduleRequests/{name}`, 201 with the request and its status. The docs do not
/// say what a second `PUT` of a name answers: here, the same request again is answered with the
/// request as it stands (ARM's PUT is idempotent), another under that name is refused.
fn put_request(
    tenant: &mut Tenant,
    scope: &str,
    name: &str,
    body: &Value,
    ends: Option<String>,
) -> Reply {
    if !is_guid(name) {
        return Reply::bad_request(
            "InvalidRoleAssignmentScheduleRequestName",
            format!("The role assignment schedule request name '{name}' must be a GUID."),
        );
    }
    let properties = &body["properties"];
    let request_type = properties["requestType"].as_str().unwrap_or_default().to_owned();
    if let Some(existing) = tenant.requests.iter().find(|r| r.name.eq_ignore_ascii_case(name)) {
        return if existing.request_type == request_type
            && existing
                .principal
                .eq_ignore_ascii_case(properties["principalId"].as_str().unwrap_or_default())
        {
            Reply::json(StatusCode::CREATED, request_json(tenant, existing))
        } else {
            Reply::bad_request(
                "RoleAssignmentScheduleRequestExists",
                format!("A role assignment schedule request named '{name}' already exists."),
            )
        };
    }
    if let Some(refusal) =
        denied(tenant, scope, "Microsoft.Authorization/roleAssignmentScheduleRequests/write")
    {
        return refusal;
    }
    let (role, principal, _) = match role_and_principal(tenant, properties) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let active = tenant.assignment(scope, &role, &principal).is_some();
    let pending =
        tenant.schedules_of(scope, &role, &principal).into_iter().any(|s| s.assignment.is_none());
    let (start, end) = match request_type.as_str() {
        "AdminAssign" | "AdminUpdate" | "AdminExtend" => {
            match schedule_times(tenant.now, &properties["scheduleInfo"]) {
                Ok(times) => times,
                Err(reply) => return reply,
            }
        }
        "AdminRemove" => (tenant.now, None),
        other => {
            return Reply::bad_request(
                "InvalidRequestType",
                format!(
                    "The request type '{other}' is not supported for this principal: it has no eligible assignment to activate."
                ),
            );
        }
    };
    match request_type.as_str() {
        "AdminAssign" if active || pending => {
            return Reply::error(
                StatusCode::CONFLICT,
                "RoleAssignmentExists",
                "The role assignment already exists.",
            );
        }
        "AdminUpdate" | "AdminExtend" | "AdminRemove" if !active => {
            return Reply::bad_request(
                "RoleAssignmentDoesNotExist",
                "The Role assignment does not exist.",
            );
        }
        _ => {}
    }
    if request_type != "AdminRemove"
        && let Some(longest) = tenant.max_active_duration
        && end.is_none_or(|end| end.duration_since(start) > longest)
    {
        return Reply::bad_request(
            "RoleAssignmentRequestPolicyValidationFailed",
            "The following policy rules failed: [\"ExpirationRule\"]",
        );
    }
    let pending_status =
        if request_type == "AdminRemove" { "PendingRevocation" } else { "Accepted" };
    let request = ScheduleRequest {
        name: name.to_ascii_lowercase(),
        scope: scope.to_owned(),
        role,
        principal,
        request_type,
        body: body.clone(),
        start,
        end,
        status: pending_status.to_owned(),
        ticks_left: tenant.provisioning_ticks,
        schedule: None,
        created_on: tenant.now,
    };
    tenant.requests.push(request);
    let index = tenant.requests.len() - 1;
    match ends {
        Some(status) => {
            tenant.requests[index].status = status;
            tenant.requests[index].ticks_left = 0;
        }
        None if tenant.provisioning_ticks == 0 => tenant.carry_out(index),
        None => {}
    }
    Reply::json(StatusCode::CREATED, request_json(tenant, &tenant.requests[index]))
}

/// Get a role assignment schedule request, as it stands.
fn get_request(tenant: &mut Tenant, scope: &str, name: &str) -> Reply {
    match tenant
        .requests
        .iter()
        .find(|r| same_scope(&r.scope, scope) && r.name.eq_ignore_ascii_case(name))
    {
        Some(request) => Reply::ok(request_json(tenant, request)),
        None => Reply::error(
            StatusCode::NOT_FOUND,
            "RoleAssignmentScheduleRequestNotFound",
            format!("The role assignment schedule request '{name}' is not found."),
        ),
    }
}

fn url_pairs(query: &str) -> Pairs {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&name.replace('+', " ")), percent_decode(&value.replace('+', " ")))
        })
        .collect()
}

/// Builds the JSON body of a schedule request someone else sends (for tests that act as
/// another administrator).
pub fn schedule_request_body(
    principal: &str,
    role: &str,
    request_type: &str,
    schedule_info: Option<Value>,
) -> Value {
    let mut properties = Map::new();
    properties.insert("principalId".into(), json!(principal));
    properties.insert("roleDefinitionId".into(), json!(role_id(role)));
    properties.insert("requestType".into(), json!(request_type));
    if let Some(info) = schedule_info {
        properties.insert("scheduleInfo".into(), info);
    }
    json!({"properties": properties})
}
