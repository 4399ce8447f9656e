//! A contract server for OpenAI's Administration API: the endpoints the `openai` provider uses,
//! with the paths, methods, bearer authentication, JSON field names, cursor pagination, status
//! codes and error bodies OpenAI publishes, over in-memory state.
//!
//! No emulator of this API exists, so this stands in for it; to keep it honest, every request
//! it receives and every response it sends is checked against OpenAI's own OpenAPI description
//! ([`super::spec`]). A violation is recorded, and the server panics the test when it is
//! dropped with violations recorded (or [`ContractServer::assert_spec_clean`] does): a request
//! the spec rejects fails the test that sent it.
//!
//! Tests can also inject faults (429 with `retry-after-ms`, 500, a response lost after the
//! change was made, a body that is not JSON, a cursor that does not advance) and change state
//! behind breakglass's back ([`ContractServer::org`]).
//!
//! Where the published API is silent (the exact wording of error messages, what a project with
//! no model permissions answers), the choice made is written beside the handler.
//!
//! References: the OpenAPI description (tests/contract/specs/openai-openapi.yaml) and the API
//! reference at <https://platform.openai.com/docs/api-reference/administration>.

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::spec::Spec;

/// The admin key tests use, unless they choose another.
pub const ADMIN_KEY: &str = "sk-admin-contract-0123456789abcdef";

/// A model's rate limits, with the organization's limit as their ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// `rl-…`.
    pub id: String,
    /// The model.
    pub model: String,
    /// Current limits by field name; fields absent do not apply to the model. Integers, as
    /// the spec has them: it sets no minimum.
    pub values: BTreeMap<String, i64>,
    /// The organization's limits: a project limit may not exceed them.
    pub ceilings: BTreeMap<String, i64>,
}

/// A project member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The user's id.
    pub user_id: String,
    /// `owner` or `member`.
    pub role: String,
    /// Unix seconds.
    pub added_at: i64,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Project {
    /// `proj_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, once archived.
    pub archived_at: Option<i64>,
    /// Members, in the order they were added (the list order).
    pub members: Vec<Member>,
    /// Rate limits, one per model.
    pub rate_limits: Vec<RateLimit>,
    /// `(mode, model_ids)`, if a policy is set.
    pub model_permissions: Option<(String, Vec<String>)>,
}

/// A fault to inject into the next matching requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with OpenAI's rate-limit error and `retry-after-ms`.
    TooManyRequests {
        /// The wait asked for.
        retry_after_ms: u64,
    },
    /// 500 with OpenAI's server error.
    ServerError,
    /// The change is made, then the answer is lost (a 500): a retry meets its own effect.
    LostResponse,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 with JSON that is not the documented object.
    WrongShape(Value),
    /// List pages ignore `after`: the first page again, forever.
    StuckCursor,
    /// The answer comes this late (after the change, if any, was made).
    Slow(std::time::Duration),
}

#[derive(Debug, Clone)]
struct Injection {
    fault: Fault,
    method: Method,
    path_suffix: String,
    remaining: usize,
}

/// A request as received, for assertions.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path below `/v1`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

/// The organization: its users, projects, and what the server saw.
#[derive(Debug, Default)]
pub struct Org {
    /// The one admin key accepted.
    pub admin_key: String,
    /// Users of the organization: id → (name, email).
    pub users: BTreeMap<String, (String, String)>,
    /// Projects, in creation order.
    pub projects: Vec<Project>,
    injections: Vec<Injection>,
    /// Every request, in order.
    pub received: Vec<Received>,
    /// Spec violations found, and not yet taken by a test.
    violations: Vec<String>,
    clock: i64,
}

impl Org {
    /// An empty organization that accepts [`ADMIN_KEY`].
    pub fn new() -> Self {
        Self { admin_key: ADMIN_KEY.to_owned(), clock: 1_764_000_000, ..Self::default() }
    }

    /// Adds a user to the organization.
    pub fn user(mut self, id: &str, name: &str) -> Self {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        self.users.insert(id.to_owned(), (name.to_owned(), email));
        self
    }

    /// Adds a project.
    pub fn project(mut self, id: &str, name: &str) -> Self {
        let created_at = self.tick();
        self.projects.push(Project {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at,
            ..Project::default()
        });
        self
    }

    /// Adds a member (who must be an organization user) to a project.
    pub fn member(mut self, project: &str, user: &str, role: &str) -> Self {
        assert!(self.users.contains_key(user), "{user} is not an organization user");
        let added_at = self.tick();
        self.project_mut(project).members.push(Member {
            user_id: user.to_owned(),
            role: role.to_owned(),
            added_at,
        });
        self
    }

    /// Adds a model's rate limit (requests and tokens per minute), the organization's limit
    /// ten times that.
    pub fn rate_limit(mut self, project: &str, model: &str, requests: i64, tokens: i64) -> Self {
        let values: BTreeMap<String, i64> = [
            ("max_requests_per_1_minute".to_owned(), requests),
            ("max_tokens_per_1_minute".to_owned(), tokens),
        ]
        .into();
        let ceilings = values.iter().map(|(k, v)| (k.clone(), v * 10)).collect();
        let id = format!("rl-{model}");
        self.project_mut(project).rate_limits.push(RateLimit {
            id,
            model: model.to_owned(),
            values,
            ceilings,
        });
        self
    }

    /// Sets a project's model permissions.
    pub fn model_permissions(mut self, project: &str, mode: &str, models: &[&str]) -> Self {
        self.project_mut(project).model_permissions =
            Some((mode.to_owned(), models.iter().map(|m| (*m).to_owned()).collect()));
        self
    }

    /// The project `id`; panics if there is none (a test's mistake).
    pub fn project_mut(&mut self, id: &str) -> &mut Project {
        self.projects.iter_mut().find(|p| p.id == id).unwrap_or_else(|| panic!("no project {id}"))
    }

    /// The member `user` of `project`, if any.
    pub fn member_of(&self, project: &str, user: &str) -> Option<&Member> {
        self.projects.iter().find(|p| p.id == project)?.members.iter().find(|m| m.user_id == user)
    }

    /// The rate limit of `model` in `project`.
    pub fn limit_of(&mut self, project: &str, model: &str) -> &mut RateLimit {
        self.project_mut(project)
            .rate_limits
            .iter_mut()
            .find(|l| l.model == model)
            .unwrap_or_else(|| panic!("no rate limit for {model}"))
    }

    /// Requests whose method is `method` and whose path ends with `suffix`.
    pub fn received_matching(&self, method: &str, suffix: &str) -> Vec<&Received> {
        self.received.iter().filter(|r| r.method == method && r.path.ends_with(suffix)).collect()
    }

    fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }

    fn take_fault(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let injection = self
            .injections
            .iter_mut()
            .find(|i| i.remaining > 0 && i.method == method && path.ends_with(&i.path_suffix))?;
        injection.remaining -= 1;
        Some(injection.fault.clone())
    }
}

/// The contract server, on its own thread and runtime so that blocking tests (which run the
/// CLI) and async tests can both use it.
pub struct ContractServer {
    base_url: String,
    org: Arc<Mutex<Org>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ContractServer {
    /// Serves `org` on 127.0.0.1, on a free port.
    pub fn start(org: Org) -> Self {
        Spec::get(); // parse before serving, so the first request is not slow
        let org = Arc::new(Mutex::new(org));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = org.clone();
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
        Self {
            base_url: format!("http://{address}/v1"),
            org,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/v1`, what `OPENAI_BASE_URL` is set to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Looks at or changes the organization: to check what breakglass did, or to change a
    /// value behind its back.
    pub fn org<R>(&self, f: impl FnOnce(&mut Org) -> R) -> R {
        f(&mut self.org.lock().expect("org"))
    }

    /// Answers the next `times` requests `METHOD …suffix` with `fault`.
    pub fn inject(&self, fault: Fault, method: &str, path_suffix: &str, times: usize) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        self.org(|org| {
            org.injections.push(Injection {
                fault,
                method,
                path_suffix: path_suffix.to_owned(),
                remaining: times,
            })
        });
    }

    /// Panics with every spec violation seen so far.
    #[track_caller]
    pub fn assert_spec_clean(&self) {
        let violations = self.org(|org| std::mem::take(&mut org.violations));
        assert!(
            violations.is_empty(),
            "the OpenAI contract server saw exchanges that OpenAI's OpenAPI description \
             rejects:\n{}",
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
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body, headers: Vec::new() }
    }

    /// OpenAI's error body (`ErrorResponse`): <https://platform.openai.com/docs/guides/error-codes>.
    fn error(
        status: StatusCode,
        kind: &str,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let body = json!({"error": {
            "message": message.into(), "type": kind, "param": null, "code": code
        }});
        Self { status, body, headers: Vec::new() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, "invalid_request_error", None, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::error(StatusCode::NOT_FOUND, "invalid_request_error", Some("not_found"), message)
    }
}

/// Every request: authenticate, check against the spec, inject faults, route, check the answer.
async fn handle(State(org): State<Arc<Mutex<Org>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let method = parts.method.clone();
    let full_path = parts.uri.path().to_owned();
    let query_string = parts.uri.query().map(str::to_owned);
    let query: Vec<(String, String)> = query_string.as_deref().map(url_pairs).unwrap_or_default();
    let header = |name: header::HeaderName| {
        parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let authorization = header(header::AUTHORIZATION);
    let content_type = header(header::CONTENT_TYPE);
    let spec = Spec::get();
    let path = full_path.strip_prefix("/v1").unwrap_or(&full_path).to_owned();
    let (operation, mut violations) = spec.check_request(
        method.as_str(),
        &path,
        &query,
        authorization.as_deref(),
        content_type.as_deref(),
        &body,
    );
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();

    // The lock is released before any wait, so a slow answer does not hold up other requests.
    let (reply, text, delay) = {
        let mut org = org.lock().expect("org");
        let mut delay = None;
        let (reply, raw) = if !full_path.starts_with("/v1/") {
            (Reply::not_found(format!("Invalid URL ({method} {full_path})")), None)
        } else if let Some(reply) = authenticate(&org, authorization.as_deref()) {
            (reply, None)
        } else {
            match org.take_fault(&method, &path) {
                Some(Fault::TooManyRequests { retry_after_ms }) => {
                    let mut reply = Reply::error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "requests",
                        Some("rate_limit_exceeded"),
                        "Rate limit reached for requests to the Administration API. Please try again \
                     shortly.",
                    );
                    reply.headers.push(("retry-after-ms", retry_after_ms.to_string()));
                    (reply, None)
                }
                Some(Fault::ServerError) => (server_error(), None),
                Some(Fault::LostResponse) => {
                    let _ = route(&mut org, &method, &path, &query, json_body.as_ref(), false);
                    (server_error(), None)
                }
                Some(Fault::NotJson) => (
                    Reply::ok(Value::Null),
                    Some("<html><body>upstream says hi</body></html>".to_owned()),
                ),
                Some(Fault::WrongShape(value)) => (Reply::ok(Value::Null), Some(value.to_string())),
                Some(Fault::StuckCursor) => {
                    (route(&mut org, &method, &path, &query, json_body.as_ref(), true), None)
                }
                Some(Fault::Slow(wait)) => {
                    delay = Some(wait);
                    (route(&mut org, &method, &path, &query, json_body.as_ref(), false), None)
                }
                None => (route(&mut org, &method, &path, &query, json_body.as_ref(), false), None),
            }
        };

        let text = raw.clone().unwrap_or_else(|| reply.body.to_string());
        // Injected garbage violates the spec on purpose; everything else must follow it.
        if raw.is_none()
            && let Some(operation) = operation
        {
            violations.extend(spec.check_response(
                operation,
                reply.status.as_u16(),
                Some("application/json"),
                text.as_bytes(),
            ));
        }
        org.violations.extend(violations);
        org.received.push(Received {
            method: method.to_string(),
            path,
            query: query_string,
            body: json_body,
            status: reply.status.as_u16(),
        });
        (reply, text, delay)
    };
    if let Some(wait) = delay {
        tokio::time::sleep(wait).await;
    }

    let mut response = Response::new(Body::from(text));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header"));
    }
    response
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let text = text.replace('+', " ");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn server_error() -> Reply {
    Reply::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    )
}

/// Bearer authentication (`AdminApiKeyAuth` in the spec). OpenAI answers a wrong key with 401
/// and a message that shows only the key's ends:
/// <https://platform.openai.com/docs/guides/error-codes#api-errors>.
fn authenticate(org: &Org, authorization: Option<&str>) -> Option<Reply> {
    let unauthorized = |message: String, code| {
        Reply::error(StatusCode::UNAUTHORIZED, "invalid_request_error", code, message)
    };
    match authorization.and_then(|value| value.strip_prefix("Bearer ")) {
        None => Some(unauthorized(
            "You didn't provide an API key. You need to provide your API key in an Authorization \
             header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .to_owned(),
            None,
        )),
        Some(key) if key == org.admin_key => None,
        Some(key) => {
            let shown = if key.len() > 12 {
                format!("{}{}{}", &key[..8], "*".repeat(key.len() - 12), &key[key.len() - 4..])
            } else {
                "*".repeat(key.len())
            };
            Some(unauthorized(
                format!(
                    "Incorrect API key provided: {shown}. You can find your API key at \
                     https://platform.openai.com/account/api-keys."
                ),
                Some("invalid_api_key"),
            ))
        }
    }
}

/// Routes a request to its handler. `stuck` makes list pages ignore their cursor.
fn route(
    org: &mut Org,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: Option<&Value>,
    stuck: bool,
) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body = body.cloned().unwrap_or(Value::Null);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["organization", "projects", project]) => retrieve_project(org, project),
        ("POST", ["organization", "projects", project]) => modify_project(org, project, &body),
        ("GET", ["organization", "projects", project, "users"]) => {
            list_project_users(org, project, query, stuck)
        }
        ("POST", ["organization", "projects", project, "users"]) => {
            create_project_user(org, project, &body)
        }
        ("GET", ["organization", "projects", project, "users", user]) => {
            retrieve_project_user(org, project, user)
        }
        ("POST", ["organization", "projects", project, "users", user]) => {
            modify_project_user(org, project, user, &body)
        }
        ("DELETE", ["organization", "projects", project, "users", user]) => {
            delete_project_user(org, project, user)
        }
        ("GET", ["organization", "projects", project, "rate_limits"]) => {
            list_project_rate_limits(org, project, query, stuck)
        }
        ("POST", ["organization", "projects", project, "rate_limits", id]) => {
            update_project_rate_limit(org, project, id, &body)
        }
        ("GET", ["organization", "projects", project, "model_permissions"]) => {
            retrieve_model_permissions(org, project)
        }
        ("POST", ["organization", "projects", project, "model_permissions"]) => {
            update_model_permissions(org, project, &body)
        }
        ("DELETE", ["organization", "projects", project, "model_permissions"]) => {
            delete_model_permissions(org, project)
        }
        _ => Reply::not_found(format!("Invalid URL ({method} /v1{path})")),
    }
}

fn find_project<'a>(org: &'a mut Org, project: &str) -> Result<&'a mut Project, Reply> {
    org.projects
        .iter_mut()
        .find(|p| p.id == project)
        .ok_or_else(|| Reply::not_found(format!("No such project: {project}")))
}

/// `limit` and `after` of a list: `limit` from 1 to 100 (`default` if absent).
fn paging(query: &[(String, String)], default: usize) -> Result<(usize, Option<String>), Reply> {
    let mut limit = default;
    let mut after = None;
    for (name, value) in query {
        match name.as_str() {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => {
                    return Err(Reply::invalid(format!(
                        "Invalid limit {value:?}: it must be from 1 to 100"
                    )));
                }
            },
            "after" => after = Some(value.clone()),
            _ => {}
        }
    }
    Ok((limit, after))
}

/// A page of `items` (id, object) after the cursor. OpenAI documents `after` as "an object ID
/// that defines your place in the list"; a cursor that names no object is refused here.
fn page(items: Vec<(String, Value)>, limit: usize, after: Option<&str>) -> Reply {
    let start = match after {
        None => 0,
        Some(after) => match items.iter().position(|(id, _)| id == after) {
            Some(position) => position + 1,
            None => return Reply::invalid(format!("No object with id {after:?} to page after")),
        },
    };
    let slice: Vec<&(String, Value)> = items.iter().skip(start).take(limit).collect();
    let has_more = start + slice.len() < items.len();
    Reply::ok(json!({
        "object": "list",
        "data": slice.iter().map(|(_, value)| value.clone()).collect::<Vec<_>>(),
        "first_id": slice.first().map(|(id, _)| id.clone()),
        "last_id": slice.last().map(|(id, _)| id.clone()),
        "has_more": has_more,
    }))
}

fn project_json(project: &Project) -> Value {
    json!({
        "id": project.id, "object": "organization.project", "name": project.name,
        "created_at": project.created_at, "archived_at": project.archived_at,
        "status": if project.archived_at.is_some() { "archived" } else { "active" },
    })
}

/// Retrieve project: `GET /organization/projects/{project_id}`,
/// <https://platform.openai.com/docs/api-reference/projects/retrieve>.
fn retrieve_project(org: &mut Org, project: &str) -> Reply {
    match find_project(org, project) {
        Ok(project) => Reply::ok(project_json(project)),
        Err(reply) => reply,
    }
}

/// Modify project: `POST /organization/projects/{project_id}` with `ProjectUpdateRequest`,
/// <https://platform.openai.com/docs/api-reference/projects/modify>.
fn modify_project(org: &mut Org, project: &str, body: &Value) -> Reply {
    let project = match find_project(org, project) {
        Ok(project) => project,
        Err(reply) => return reply,
    };
    if project.archived_at.is_some() {
        return Reply::invalid("Project is archived and cannot be modified");
    }
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        project.name = name.to_owned();
    }
    Reply::ok(project_json(project))
}

fn user_json(org: &Org, member: &Member) -> Value {
    let (name, email) = org.users.get(&member.user_id).cloned().unwrap_or_default();
    json!({
        "object": "organization.project.user", "id": member.user_id, "name": name,
        "email": email, "role": member.role, "added_at": member.added_at,
    })
}

/// List project users: `GET /organization/projects/{project_id}/users?limit&after` (limit 1 to
/// 100, default 20; 400 when the project is archived),
/// <https://platform.openai.com/docs/api-reference/project-users/list>.
fn list_project_users(
    org: &mut Org,
    project: &str,
    query: &[(String, String)],
    stuck: bool,
) -> Reply {
    let (limit, after) = match paging(query, 20) {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let members = match find_project(org, project) {
        Ok(project) if project.archived_at.is_some() => {
            return Reply::invalid("Project is archived");
        }
        Ok(project) => project.members.clone(),
        Err(reply) => return reply,
    };
    let items = members.iter().map(|m| (m.user_id.clone(), user_json(org, m))).collect();
    page(items, limit, if stuck { None } else { after.as_deref() })
}

/// Create project user: `POST /organization/projects/{project_id}/users` with
/// `ProjectUserCreateRequest` ("Users must already be members of the organization to be added
/// to a project"), <https://platform.openai.com/docs/api-reference/project-users/create>.
/// Adding a user who is already a member is refused (400), as a duplicate.
fn create_project_user(org: &mut Org, project: &str, body: &Value) -> Reply {
    let user = body.get("user_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let role = body.get("role").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !matches!(role.as_str(), "owner" | "member") {
        return Reply::invalid(format!("Invalid role {role:?}: expected owner or member"));
    }
    if !org.users.contains_key(&user) {
        return Reply::invalid(format!("User {user} is not a member of the organization"));
    }
    let added_at = org.tick();
    let project = match find_project(org, project) {
        Ok(project) => project,
        Err(reply) => return reply,
    };
    if project.archived_at.is_some() {
        return Reply::invalid("Project is archived");
    }
    if project.members.iter().any(|m| m.user_id == user) {
        return Reply::invalid(format!("User {user} is already a member of the project"));
    }
    let member = Member { user_id: user, role, added_at };
    project.members.push(member.clone());
    Reply::ok(user_json(org, &member))
}

/// Retrieve project user: `GET /organization/projects/{project_id}/users/{user_id}`,
/// <https://platform.openai.com/docs/api-reference/project-users/retrieve>.
fn retrieve_project_user(org: &mut Org, project: &str, user: &str) -> Reply {
    if let Err(reply) = find_project(org, project) {
        return reply;
    }
    match org.member_of(project, user).cloned() {
        Some(member) => Reply::ok(user_json(org, &member)),
        None => Reply::not_found(format!("No such user {user} in project {project}")),
    }
}

/// Modify project user: `POST /organization/projects/{project_id}/users/{user_id}` with
/// `ProjectUserUpdateRequest`, <https://platform.openai.com/docs/api-reference/project-users/modify>.
fn modify_project_user(org: &mut Org, project: &str, user: &str, body: &Value) -> Reply {
    let role = body.get("role").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !matches!(role.as_str(), "owner" | "member") {
        return Reply::invalid(format!("Invalid role {role:?}: expected owner or member"));
    }
    let project_ref = match find_project(org, project) {
        Ok(project) => project,
        Err(reply) => return reply,
    };
    let Some(member) = project_ref.members.iter_mut().find(|m| m.user_id == user) else {
        return Reply::not_found(format!("No such user {user} in project {project}"));
    };
    member.role = role;
    let member = member.clone();
    Reply::ok(user_json(org, &member))
}

/// Delete project user: `DELETE /organization/projects/{project_id}/users/{user_id}`,
/// <https://platform.openai.com/docs/api-reference/project-users/delete>.
fn delete_project_user(org: &mut Org, project: &str, user: &str) -> Reply {
    let project_ref = match find_project(org, project) {
        Ok(project) => project,
        Err(reply) => return reply,
    };
    if project_ref.archived_at.is_some() {
        return Reply::invalid("Project is archived");
    }
    let before = project_ref.members.len();
    project_ref.members.retain(|m| m.user_id != user);
    if project_ref.members.len() == before {
        return Reply::not_found(format!("No such user {user} in project {project}"));
    }
    Reply::ok(json!({"object": "organization.project.user.deleted", "id": user, "deleted": true}))
}

fn rate_limit_json(limit: &RateLimit) -> Value {
    let mut value = json!({"object": "project.rate_limit", "id": limit.id, "model": limit.model});
    for (name, n) in &limit.values {
        value[name] = json!(n);
    }
    value
}

/// List project rate limits: `GET /organization/projects/{project_id}/rate_limits?limit&after`
/// (default 100), <https://platform.openai.com/docs/api-reference/project-rate-limits/list>.
fn list_project_rate_limits(
    org: &mut Org,
    project: &str,
    query: &[(String, String)],
    stuck: bool,
) -> Reply {
    let (limit, after) = match paging(query, 100) {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let limits = match find_project(org, project) {
        Ok(project) => project.rate_limits.clone(),
        Err(reply) => return reply,
    };
    let items = limits.iter().map(|l| (l.id.clone(), rate_limit_json(l))).collect();
    page(items, limit, if stuck { None } else { after.as_deref() })
}

/// Modify project rate limit: `POST /organization/projects/{project_id}/rate_limits/{rate_limit_id}`
/// with `ProjectRateLimitUpdateRequest`; "Rate limits may be configured to be equal to or lower
/// than the organization's rate limits" (400 otherwise), and a limit that does not apply to
/// the model is refused,
/// <https://platform.openai.com/docs/api-reference/project-rate-limits/update>.
fn update_project_rate_limit(org: &mut Org, project: &str, id: &str, body: &Value) -> Reply {
    let project_ref = match find_project(org, project) {
        Ok(project) => project,
        Err(reply) => return reply,
    };
    let Some(limit) = project_ref.rate_limits.iter_mut().find(|l| l.id == id) else {
        return Reply::not_found(format!("No such rate limit {id} in project {project}"));
    };
    let Some(fields) = body.as_object() else {
        return Reply::invalid("The body must be a JSON object");
    };
    let mut changes = Vec::new();
    for (name, value) in fields {
        let Some(n) = value.as_i64() else {
            return Reply::invalid(format!("{name} must be an integer"));
        };
        let Some(ceiling) = limit.ceilings.get(name) else {
            return Reply::invalid(format!("{name} does not apply to model {}", limit.model));
        };
        if n > *ceiling {
            return Reply::invalid(format!(
                "{name} of {n} exceeds the organization's limit of {ceiling} for {}",
                limit.model
            ));
        }
        changes.push((name.clone(), n));
    }
    limit.values.extend(changes);
    Reply::ok(rate_limit_json(limit))
}

fn permissions_json(mode: &str, models: &[String]) -> Value {
    json!({"object": "project.model_permissions", "mode": mode, "model_ids": models})
}

/// Retrieve project model permissions: `GET /organization/projects/{project_id}/model_permissions`
/// (operation `retrieve-project-model-permissions`; API reference "Projects"). The spec does
/// not say what a project with no policy answers; this server answers an empty deny list,
/// which restricts nothing and is valid against the documented response.
fn retrieve_model_permissions(org: &mut Org, project: &str) -> Reply {
    match find_project(org, project) {
        Ok(project) => match &project.model_permissions {
            Some((mode, models)) => Reply::ok(permissions_json(mode, models)),
            None => Reply::ok(permissions_json("deny_list", &[])),
        },
        Err(reply) => reply,
    }
}

/// Modify project model permissions: `POST /organization/projects/{project_id}/model_permissions`
/// with `ProjectModelPermissionsUpdateRequest` (operation `update-project-model-permissions`).
fn update_model_permissions(org: &mut Org, project: &str, body: &Value) -> Reply {
    let mode = body.get("mode").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !matches!(mode.as_str(), "allow_list" | "deny_list") {
        return Reply::invalid(format!("Invalid mode {mode:?}"));
    }
    let Some(models) = body.get("model_ids").and_then(Value::as_array) else {
        return Reply::invalid("model_ids must be a list of model ids");
    };
    let models: Vec<String> = models.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect();
    match find_project(org, project) {
        Ok(project) => {
            project.model_permissions = Some((mode.clone(), models.clone()));
            Reply::ok(permissions_json(&mode, &models))
        }
        Err(reply) => reply,
    }
}

/// Delete project model permissions: `DELETE /organization/projects/{project_id}/model_permissions`
/// (operation `delete-project-model-permissions`).
fn delete_model_permissions(org: &mut Org, project: &str) -> Reply {
    match find_project(org, project) {
        Ok(project) => {
            project.model_permissions = None;
            Reply::ok(json!({"object": "project.model_permissions.deleted", "deleted": true}))
        }
        Err(reply) => reply,
    }
}
