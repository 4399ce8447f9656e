//! A contract server for Anthropic's Admin API: the endpoints the `anthropic` provider calls,
//! following the published reference field by field, with state in memory.
//!
//! Reference: <https://platform.claude.com/docs/en/api/admin> (each handler cites its page);
//! errors: <https://docs.anthropic.com/en/api/errors>. What it checks like the real API:
//! `x-api-key` (a wrong or missing key is `401 authentication_error`), the `anthropic-version`
//! header, paths and methods, JSON bodies and enum values, cursor pagination (`limit` 1–1000,
//! default 20, `after_id`/`before_id`, `has_more`, `first_id`/`last_id`), and the error body
//! `{"type": "error", "error": {"type", "message"}, "request_id"}`.
//!
//! **Checked against the vendor's own types.** `specs/anthropic-admin.json` holds the request
//! and response schemas of these endpoints, taken from Anthropic's official Python SDK (its
//! types are generated from Anthropic's OpenAPI description; `specs/anthropic-admin.py`,
//! anthropic 2.14.0). Every request is validated against it (query parameters and JSON body)
//! before it is served, and every 200 answer before it is sent: a request the schemas reject is
//! answered `400 invalid_request_error` and, like an answer they reject, recorded as a
//! violation, which fails the test when the server is dropped.
//!
//! Tests drive it through [`AnthropicServer`]: seed objects, change values behind breakglass's
//! back, queue faults (429 with `retry-after`, 500, 529, a garbage 200, a cursor that does not
//! advance), and read what was asked.

// Handlers return the API's error `Response` as their `Err`, the axum idiom; its size does not
// matter in a test server.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// The endpoints' schemas, from Anthropic's SDK, keyed by `METHOD /path/{param}`.
static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("specs/anthropic-admin.json")).expect("the Anthropic spec")
});

/// The operation whose path template matches `path`.
fn operation(method: &str, path: &str) -> Option<&'static Value> {
    let segments: Vec<&str> = path.split('/').collect();
    SPEC["operations"].as_object()?.iter().find_map(|(key, operation)| {
        let (key_method, template) = key.split_once(' ')?;
        let parts: Vec<&str> = template.split('/').collect();
        let matches = key_method == method
            && parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(p, s)| p.starts_with('{') || p == s);
        matches.then_some(operation)
    })
}

/// Violations of `schema` (self-contained, with its `$defs`) by `instance`.
pub fn violations(schema: &Value, instance: &Value, what: &str) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the SDK's schemas compile");
    validator
        .iter_errors(instance)
        .map(|error| format!("{what}: {error} at {}", error.instance_path()))
        .collect()
}

/// Violations of the schemas by a request: undeclared or mistyped query parameters, a body
/// that is not the documented schema.
fn request_violations(method: &str, path: &str, query: &str, body: &[u8]) -> Vec<String> {
    let Some(operation) = operation(method, path) else {
        return vec![format!("{method} {path} is not an endpoint the schemas describe")];
    };
    let mut found = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(schema) = operation.pointer(&format!("/query/properties/{name}")) else {
            found.push(format!("{method} {path}: query parameter `{name}` is not documented"));
            continue;
        };
        let value = match schema["type"].as_str() {
            Some("integer") => value.parse::<i64>().map_or_else(|_| json!(value), |n| json!(n)),
            Some("boolean") => value.parse::<bool>().map_or_else(|_| json!(value), |b| json!(b)),
            _ => json!(value),
        };
        found.extend(violations(schema, &value, &format!("{method} {path} ?{name}")));
    }
    if let Some(schema) = operation.get("body") {
        match serde_json::from_slice::<Value>(body) {
            Ok(body) => found.extend(violations(schema, &body, &format!("{method} {path} body"))),
            Err(_) => found.push(format!("{method} {path}: the body is not JSON")),
        }
    }
    found
}

/// Violations of the schemas by a 200 answer.
pub fn response_violations(method: &str, path: &str, body: &[u8]) -> Vec<String> {
    let Some(schema) = operation(method, path).and_then(|operation| operation.get("response"))
    else {
        return vec![format!("{method} {path} is not an endpoint the schemas describe")];
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(body) => violations(schema, &body, &format!("{method} {path} answer")),
        Err(_) => vec![format!("{method} {path}: the answer is not JSON")],
    }
}

/// The admin key the server accepts unless a test says otherwise.
pub const ADMIN_KEY: &str = "sk-ant-admin01-contract-test-key";

/// A failure the server answers the next request with, instead of serving it.
#[derive(Debug, Clone)]
pub enum Fault {
    /// `429 rate_limit_error` with `retry-after: SECONDS`.
    RateLimited(u64),
    /// `500 api_error`.
    ServerError,
    /// `529 overloaded_error`.
    Overloaded,
    /// `200` with this body, whatever was asked.
    Garbage(String),
}

#[derive(Debug, Clone)]
struct WorkspaceRow {
    name: String,
    archived_at: Option<String>,
}

#[derive(Debug, Clone)]
struct ApiKeyRow {
    name: String,
    workspace_id: Option<String>,
    status: String,
}

#[derive(Debug, Default)]
struct Inner {
    admin_key: String,
    users: BTreeSet<String>,
    workspaces: BTreeMap<String, WorkspaceRow>,
    members: BTreeMap<String, BTreeMap<String, String>>,
    api_keys: BTreeMap<String, ApiKeyRow>,
    faults: VecDeque<Fault>,
    stuck_cursor: bool,
    seen: Vec<String>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// A running contract server on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct AnthropicServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AnthropicServer {
    /// Starts a server on a free port, with no objects.
    pub fn start() -> Self {
        let state: Shared =
            Arc::new(Mutex::new(Inner { admin_key: ADMIN_KEY.to_owned(), ..Inner::default() }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = router(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        Self { url, state, stop: Some(stop), thread: Some(thread) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.state.lock().expect("state"))
    }

    /// Adds a user to the organization.
    pub fn add_user(&self, user_id: &str) {
        self.with(|s| s.users.insert(user_id.to_owned()));
    }

    /// Adds a workspace.
    pub fn add_workspace(&self, id: &str, name: &str) {
        self.with(|s| {
            s.workspaces
                .insert(id.to_owned(), WorkspaceRow { name: name.to_owned(), archived_at: None });
            s.members.entry(id.to_owned()).or_default();
        });
    }

    /// Makes `user_id` (added to the organization if new) a member of `workspace_id` with `role`,
    /// behind breakglass's back.
    pub fn set_member(&self, workspace_id: &str, user_id: &str, role: &str) {
        self.with(|s| {
            s.users.insert(user_id.to_owned());
            s.members
                .entry(workspace_id.to_owned())
                .or_default()
                .insert(user_id.to_owned(), role.to_owned());
        });
    }

    /// The role of a member, if a member.
    pub fn member_role(&self, workspace_id: &str, user_id: &str) -> Option<String> {
        self.with(|s| s.members.get(workspace_id)?.get(user_id).cloned())
    }

    /// Adds an API key.
    pub fn add_api_key(&self, id: &str, name: &str, workspace_id: &str, status: &str) {
        self.with(|s| {
            s.api_keys.insert(
                id.to_owned(),
                ApiKeyRow {
                    name: name.to_owned(),
                    workspace_id: Some(workspace_id.to_owned()),
                    status: status.to_owned(),
                },
            )
        });
    }

    /// Sets a key's status behind breakglass's back.
    pub fn set_api_key_status(&self, id: &str, status: &str) {
        self.with(|s| s.api_keys.get_mut(id).expect("a known key").status = status.to_owned());
    }

    /// A key's status.
    pub fn api_key_status(&self, id: &str) -> Option<String> {
        self.with(|s| s.api_keys.get(id).map(|k| k.status.clone()))
    }

    /// Answers the next requests with these faults, one each, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| s.faults.extend(faults));
    }

    /// From now on, list endpoints ignore `after_id`: every page is the first, `has_more` true.
    pub fn stick_cursor(&self) {
        self.with(|s| s.stuck_cursor = true);
    }

    /// `METHOD /path?query` of every request received, in order.
    pub fn seen(&self) -> Vec<String> {
        self.with(|s| s.seen.clone())
    }

    /// The violations of the schemas recorded so far, forgotten (so dropping the server passes).
    pub fn take_violations(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.violations))
    }
}

impl Drop for AnthropicServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let violations = self.with(|s| std::mem::take(&mut s.violations));
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("the Anthropic Admin API schemas were violated:\n{}", violations.join("\n"));
        }
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/organizations/workspaces", get(list_workspaces))
        .route(
            "/v1/organizations/workspaces/{workspace_id}",
            get(get_workspace).post(update_workspace),
        )
        .route("/v1/organizations/workspaces/{workspace_id}/archive", post(archive_workspace))
        .route(
            "/v1/organizations/workspaces/{workspace_id}/members",
            get(list_members).post(create_member),
        )
        .route(
            "/v1/organizations/workspaces/{workspace_id}/members/{user_id}",
            get(get_member).post(update_member).delete(delete_member),
        )
        .route("/v1/organizations/api_keys", get(list_api_keys))
        .route("/v1/organizations/api_keys/{api_key_id}", get(get_api_key).post(update_api_key))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found_error", "Not found") })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// `{"type": "error", "error": {"type", "message"}, "request_id"}`
/// (<https://docs.anthropic.com/en/api/errors>).
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let request_id = format!("req_contract{:08}", REQUESTS.fetch_add(1, Ordering::Relaxed));
    let body = json!({
        "type": "error",
        "error": { "type": kind, "message": message },
        "request_id": request_id,
    });
    (status, [("request-id", request_id.clone())], axum::Json(body)).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Records the request, answers a queued fault, then checks authentication and the version
/// header as the API does.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or_else(String::new, |t| t.to_string());
    let (fault, admin_key) = {
        let mut s = state.lock().expect("state");
        s.seen.push(format!("{} {target}", request.method()));
        (s.faults.pop_front(), s.admin_key.clone())
    };
    match fault {
        Some(Fault::RateLimited(seconds)) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            );
            response
                .headers_mut()
                .insert("retry-after", seconds.to_string().parse().expect("header"));
            return response;
        }
        Some(Fault::ServerError) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "Internal server error");
        }
        Some(Fault::Overloaded) => {
            return error(
                StatusCode::from_u16(529).expect("529"),
                "overloaded_error",
                "Overloaded",
            );
        }
        Some(Fault::Garbage(body)) => {
            return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
        }
        None => {}
    }
    let headers = request.headers();
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(admin_key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key");
    }
    if headers.get("anthropic-version").is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    conforming(&state, request, next).await
}

/// Serves a request after checking it against the schemas, and checks a 200 answer before it
/// goes.
async fn conforming(state: &Shared, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let problems = request_violations(&method, &path, &query, &body);
    if !problems.is_empty() {
        let message = problems.join("; ");
        state.lock().expect("state").violations.extend(problems);
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &message);
    }
    let response = next.run(Request::from_parts(parts, axum::body::Body::from(body))).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let problems = response_violations(&method, &path, &body);
    if !problems.is_empty() {
        state.lock().expect("state").violations.extend(problems);
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "the contract server's answer violates the schemas",
        );
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The JSON object of a request body, or the API's 400.
fn body_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "The request body is not valid JSON.",
        )),
    }
}

/// Cursor pagination over items sorted by id, as every list endpoint does: `limit` (default 20,
/// 1 to 1000), `after_id` or `before_id`.
fn page(items: Vec<(String, Value)>, query: &HashMap<String, String>, stuck: bool) -> Response {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(limit)) if (1..=1000).contains(&limit) => limit,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "limit: Input should be between 1 and 1000",
            );
        }
    };
    let (after, before) =
        if stuck { (None, None) } else { (query.get("after_id"), query.get("before_id")) };
    if after.is_some() && before.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Cannot specify both after_id and before_id",
        );
    }
    let (window, has_more): (Vec<(String, Value)>, bool) = match (after, before) {
        (Some(after), _) => {
            let rest: Vec<_> = items.into_iter().filter(|(id, _)| id > after).collect();
            let more = rest.len() > limit;
            (rest.into_iter().take(limit).collect(), more)
        }
        (_, Some(before)) => {
            let rest: Vec<_> = items.into_iter().filter(|(id, _)| id < before).collect();
            let skip = rest.len().saturating_sub(limit);
            (rest.into_iter().skip(skip).collect(), skip > 0)
        }
        (None, None) => {
            let more = items.len() > limit;
            (items.into_iter().take(limit).collect(), more)
        }
    };
    ok(json!({
        "data": window.iter().map(|(_, item)| item.clone()).collect::<Vec<_>>(),
        "has_more": has_more || stuck,
        "first_id": window.first().map(|(id, _)| id.clone()),
        "last_id": window.last().map(|(id, _)| id.clone()),
    }))
}

fn workspace_json(id: &str, row: &WorkspaceRow) -> Value {
    json!({
        "id": id,
        "type": "workspace",
        "name": row.name,
        "created_at": "2026-01-05T10:00:00.000000Z",
        "archived_at": row.archived_at,
        "display_color": "#6C5BB9",
        "compartment_id": format!("cmpt_{id}"),
        "data_residency": {
            "allowed_inference_geos": "unrestricted",
            "default_inference_geo": "global",
            "workspace_geo": "us",
        },
        "tags": {},
    })
}

fn member_json(workspace_id: &str, user_id: &str, role: &str) -> Value {
    json!({
        "type": "workspace_member",
        "user_id": user_id,
        "workspace_id": workspace_id,
        "workspace_role": role,
    })
}

fn api_key_json(id: &str, row: &ApiKeyRow) -> Value {
    json!({
        "id": id,
        "type": "api_key",
        "name": row.name,
        "workspace_id": row.workspace_id,
        "created_at": "2026-01-05T10:00:00.000000Z",
        "created_by": { "id": "user_owner", "type": "user" },
        "partial_key_hint": format!("sk-ant-api03-{}...AAAA", &id[id.len().saturating_sub(3)..]),
        "status": row.status,
        "expires_at": null,
        "scope": match &row.workspace_id {
            Some(workspace_id) => json!({ "type": "workspace", "workspace_id": workspace_id }),
            None => json!({ "type": "organization" }),
        },
    })
}

fn no_workspace() -> Response {
    error(StatusCode::NOT_FOUND, "not_found_error", "Workspace not found.")
}

/// GET /v1/organizations/workspaces
/// <https://platform.claude.com/docs/en/api/admin/workspaces/list>
async fn list_workspaces(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let s = state.lock().expect("state");
    let archived = query.get("include_archived").is_some_and(|v| v == "true");
    let items = s
        .workspaces
        .iter()
        .filter(|(_, row)| archived || row.archived_at.is_none())
        .map(|(id, row)| (id.clone(), workspace_json(id, row)))
        .collect();
    page(items, &query, s.stuck_cursor)
}

/// GET /v1/organizations/workspaces/{workspace_id}
/// <https://platform.claude.com/docs/en/api/admin/workspaces/retrieve>
async fn get_workspace(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let s = state.lock().expect("state");
    match s.workspaces.get(&id) {
        Some(row) => ok(workspace_json(&id, row)),
        None => no_workspace(),
    }
}

/// POST /v1/organizations/workspaces/{workspace_id} `{"name"}` (1 to 40 characters)
/// <https://platform.claude.com/docs/en/api/admin/workspaces/update>
async fn update_workspace(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(name) =
        body.get("name").and_then(Value::as_str).filter(|n| (1..=40).contains(&n.chars().count()))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "name: String should have at least 1 and at most 40 characters",
        );
    };
    let mut s = state.lock().expect("state");
    match s.workspaces.get_mut(&id) {
        Some(row) => {
            row.name = name.to_owned();
            ok(workspace_json(&id, row))
        }
        None => no_workspace(),
    }
}

/// POST /v1/organizations/workspaces/{workspace_id}/archive
/// <https://platform.claude.com/docs/en/api/admin/workspaces/archive>
async fn archive_workspace(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let mut s = state.lock().expect("state");
    match s.workspaces.get_mut(&id) {
        Some(row) => {
            row.archived_at.get_or_insert_with(|| "2026-11-28T12:00:00.000000Z".to_owned());
            ok(workspace_json(&id, row))
        }
        None => no_workspace(),
    }
}

/// GET /v1/organizations/workspaces/{workspace_id}/members
/// <https://platform.claude.com/docs/en/api/admin/workspaces/members/list>
async fn list_members(
    State(state): State<Shared>,
    Path(workspace_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let s = state.lock().expect("state");
    let Some(members) = s.members.get(&workspace_id) else { return no_workspace() };
    let items = members
        .iter()
        .map(|(user, role)| (user.clone(), member_json(&workspace_id, user, role)))
        .collect();
    page(items, &query, s.stuck_cursor)
}

const NO_BILLING_ROLES: [&str; 4] =
    ["workspace_user", "workspace_developer", "workspace_restricted_developer", "workspace_admin"];

fn role_of(body: &serde_json::Map<String, Value>) -> Result<String, Response> {
    match body.get("workspace_role").and_then(Value::as_str) {
        Some(role) if NO_BILLING_ROLES.contains(&role) => Ok(role.to_owned()),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "workspace_role: Input should be 'workspace_user', 'workspace_developer', 'workspace_restricted_developer' or 'workspace_admin'",
        )),
    }
}

/// POST /v1/organizations/workspaces/{workspace_id}/members `{"user_id", "workspace_role"}`
/// <https://platform.claude.com/docs/en/api/admin/workspaces/members/create>
async fn create_member(
    State(state): State<Shared>,
    Path(workspace_id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(user_id) = body.get("user_id").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "user_id: Field required");
    };
    let role = match role_of(&body) {
        Ok(role) => role,
        Err(response) => return response,
    };
    let mut s = state.lock().expect("state");
    if !s.users.contains(user_id) {
        return error(StatusCode::NOT_FOUND, "not_found_error", "User not found.");
    }
    let Some(members) = s.members.get_mut(&workspace_id) else { return no_workspace() };
    if members.contains_key(user_id) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "User is already a member of this workspace.",
        );
    }
    members.insert(user_id.to_owned(), role.clone());
    ok(member_json(&workspace_id, user_id, &role))
}

fn no_member() -> Response {
    error(StatusCode::NOT_FOUND, "not_found_error", "Workspace member not found.")
}

/// GET /v1/organizations/workspaces/{workspace_id}/members/{user_id}
/// <https://platform.claude.com/docs/en/api/admin/workspaces/members/retrieve>
async fn get_member(
    State(state): State<Shared>,
    Path((workspace_id, user_id)): Path<(String, String)>,
) -> Response {
    let s = state.lock().expect("state");
    match s.members.get(&workspace_id).and_then(|m| m.get(&user_id)) {
        Some(role) => ok(member_json(&workspace_id, &user_id, role)),
        None => no_member(),
    }
}

/// POST /v1/organizations/workspaces/{workspace_id}/members/{user_id} `{"workspace_role"}`
/// <https://platform.claude.com/docs/en/api/admin/workspaces/members/update>
async fn update_member(
    State(state): State<Shared>,
    Path((workspace_id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let role = match role_of(&body) {
        Ok(role) => role,
        Err(response) => return response,
    };
    let mut s = state.lock().expect("state");
    match s.members.get_mut(&workspace_id).and_then(|m| m.get_mut(&user_id)) {
        Some(current) => {
            *current = role.clone();
            ok(member_json(&workspace_id, &user_id, &role))
        }
        None => no_member(),
    }
}

/// DELETE /v1/organizations/workspaces/{workspace_id}/members/{user_id}
/// <https://platform.claude.com/docs/en/api/admin/workspaces/members/delete>
async fn delete_member(
    State(state): State<Shared>,
    Path((workspace_id, user_id)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    match s.members.get_mut(&workspace_id).and_then(|m| m.remove(&user_id)) {
        Some(_) => ok(json!({
            "type": "workspace_member_deleted",
            "user_id": user_id,
            "workspace_id": workspace_id,
        })),
        None => no_member(),
    }
}

/// GET /v1/organizations/api_keys (filters `status`, `workspace_id`)
/// <https://platform.claude.com/docs/en/api/admin/api_keys/list>
async fn list_api_keys(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let s = state.lock().expect("state");
    let items = s
        .api_keys
        .iter()
        .filter(|(_, row)| query.get("status").is_none_or(|status| *status == row.status))
        .filter(|(_, row)| {
            query.get("workspace_id").is_none_or(|w| Some(w) == row.workspace_id.as_ref())
        })
        .map(|(id, row)| (id.clone(), api_key_json(id, row)))
        .collect();
    page(items, &query, s.stuck_cursor)
}

/// GET /v1/organizations/api_keys/{api_key_id}
/// <https://platform.claude.com/docs/en/api/admin/api_keys/retrieve>
async fn get_api_key(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let s = state.lock().expect("state");
    match s.api_keys.get(&id) {
        Some(row) => ok(api_key_json(&id, row)),
        None => error(StatusCode::NOT_FOUND, "not_found_error", "API key not found."),
    }
}

/// POST /v1/organizations/api_keys/{api_key_id} `{"name"?, "status"?}` (`active`, `inactive`,
/// `archived`; an archived key cannot change)
/// <https://platform.claude.com/docs/en/api/admin/api_keys/update>
async fn update_api_key(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let status = match body.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(status))
            if ["active", "inactive", "archived"].contains(&status.as_str()) =>
        {
            Some(status.clone())
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "status: Input should be 'active', 'inactive' or 'archived'",
            );
        }
    };
    let mut s = state.lock().expect("state");
    let Some(row) = s.api_keys.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "not_found_error", "API key not found.");
    };
    if row.status == "archived" {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Archived API keys cannot be updated.",
        );
    }
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        row.name = name.to_owned();
    }
    if let Some(status) = status {
        row.status = status;
    }
    ok(api_key_json(&id, row))
}
