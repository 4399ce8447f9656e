//! A contract server for the LiteLLM proxy's admin (management) API: the endpoints the
//! `litellm` provider calls, following the proxy's own OpenAPI description (`/openapi.json` of
//! LiteLLM 1.95, schemas `GenerateKeyRequest`, `UpdateKeyRequest`, `KeyRequest`,
//! `BlockKeyRequest`, `KeyListResponseObject`, `UserAPIKeyAuth`, `BlockTeamRequest`) field by
//! field, with state in memory.
//!
//! References: <https://docs.litellm.ai/docs/proxy/virtual_keys> (keys),
//! <https://docs.litellm.ai/docs/proxy/configuration/api> (management API, teams). What it
//! checks like the real proxy: `Authorization: Bearer <master key>` (a wrong or missing key is
//! `401` with `{"error": {"message", "type": "auth_error", "param", "code": "401"}}`), JSON
//! bodies and their types (FastAPI's `422 {"detail": […]}`), unique key aliases, `duration`
//! strings (`30s`, `20m`, `1h`, `7d`), page-number pagination of `/key/list` (`page` ≥ 1,
//! `size` 1–100, `total_pages`), and 404s for unknown keys and teams.
//!
//! **Checked against the vendor's own spec.** `specs/litellm-openapi.json` is the OpenAPI
//! description the proxy itself serves, generated from the official `litellm` package
//! (`specs/litellm-openapi.py`, LiteLLM 1.108.7) and trimmed to these endpoints. Every request
//! is validated against it (query parameters and JSON body) before it is served, and every 200
//! answer of the server before it is sent: a request the spec rejects is answered `422` and, like
//! an answer the spec rejects, recorded as a violation, which fails the test when the server is
//! dropped.
//!
//! Tests drive it through [`LiteLlmServer`]: seed keys and teams, change values behind
//! breakglass's back, queue faults (429 with `retry-after`, 500, a garbage 200).

// Handlers return the API's error `Response` as their `Err`, the axum idiom; its size does not
// matter in a test server.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// The proxy's OpenAPI description, trimmed to the endpoints served here.
static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("specs/litellm-openapi.json")).expect("the LiteLLM spec")
});

/// Violations of `schema` (a schema of the spec, `$ref`s into its components) by `instance`.
fn violations(schema: &Value, instance: &Value, what: &str) -> Vec<String> {
    let mut root = schema.clone();
    let Some(object) = root.as_object_mut() else { return Vec::new() };
    if object.is_empty() {
        return Vec::new(); // the spec says nothing about it
    }
    object.insert("components".to_owned(), SPEC["components"].clone());
    let validator = jsonschema::validator_for(&root).expect("the spec's schemas compile");
    validator
        .iter_errors(instance)
        .map(|error| format!("{what}: {error} at {}", error.instance_path()))
        .collect()
}

/// The spec's operation for a method and path.
fn operation(method: &str, path: &str) -> Option<&'static Value> {
    SPEC["paths"].get(path)?.get(method.to_ascii_lowercase())
}

/// Violations of the spec by a request: undeclared or mistyped query parameters, a body that is
/// not the documented schema.
fn request_violations(method: &str, path: &str, query: &str, body: &[u8]) -> Vec<String> {
    let Some(operation) = operation(method, path) else {
        return vec![format!("{method} {path} is not in the spec")];
    };
    let mut found = Vec::new();
    let parameters: Vec<&Value> = operation["parameters"]
        .as_array()
        .map(|all| all.iter().filter(|p| p["in"] == "query").collect())
        .unwrap_or_default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(parameter) = parameters.iter().find(|p| p["name"] == name) else {
            found.push(format!("{method} {path}: query parameter `{name}` is not in the spec"));
            continue;
        };
        let schema = &parameter["schema"];
        let text = schema.to_string();
        let value = if text.contains("\"integer\"") {
            value.parse::<i64>().map_or_else(|_| json!(value), |n| json!(n))
        } else if text.contains("\"boolean\"") {
            value.parse::<bool>().map_or_else(|_| json!(value), |b| json!(b))
        } else {
            json!(value)
        };
        found.extend(violations(schema, &value, &format!("{method} {path} ?{name}")));
    }
    if let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") {
        match serde_json::from_slice::<Value>(body) {
            Ok(body) => found.extend(violations(schema, &body, &format!("{method} {path} body"))),
            Err(_) => found.push(format!("{method} {path}: the body is not JSON")),
        }
    }
    found
}

/// Violations of the spec by a 200 answer.
pub fn response_violations(method: &str, path: &str, body: &[u8]) -> Vec<String> {
    let Some(schema) = operation(method, path)
        .and_then(|operation| operation.pointer("/responses/200/content/application~1json/schema"))
    else {
        return Vec::new();
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(body) => violations(schema, &body, &format!("{method} {path} answer")),
        Err(_) => vec![format!("{method} {path}: the answer is not JSON")],
    }
}

/// The master key the server accepts.
pub const MASTER_KEY: &str = "sk-litellm-master-contract-test";

/// A failure the server answers the next request with, instead of serving it.
#[derive(Debug, Clone)]
pub enum Fault {
    /// `429` with `retry-after: SECONDS`.
    RateLimited(u64),
    /// `500`.
    ServerError,
    /// `200` with this body, whatever was asked.
    Garbage(String),
}

/// A virtual key as the proxy stores it (`LiteLLM_VerificationToken`).
#[derive(Debug, Clone)]
struct KeyRow {
    key_alias: Option<String>,
    models: Vec<Value>,
    max_budget: Option<f64>,
    rpm_limit: Option<i64>,
    tpm_limit: Option<i64>,
    team_id: Option<String>,
    blocked: Option<bool>,
    expires: Option<Timestamp>,
    metadata: Value,
}

#[derive(Debug, Clone)]
struct TeamRow {
    team_alias: Option<String>,
    blocked: bool,
}

#[derive(Debug, Default)]
struct Inner {
    keys: BTreeMap<String, KeyRow>,
    teams: BTreeMap<String, TeamRow>,
    faults: VecDeque<Fault>,
    seen: Vec<String>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

static GENERATED: AtomicU64 = AtomicU64::new(0);

/// A running contract server on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct LiteLlmServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// LiteLLM's token: the sha256 of the key, in hex.
fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl LiteLlmServer {
    /// Starts a server on a free port, with no keys and no teams.
    pub fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(Inner::default()));
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

    /// Adds a team.
    pub fn add_team(&self, team_id: &str, alias: &str) {
        self.with(|s| {
            s.teams.insert(
                team_id.to_owned(),
                TeamRow { team_alias: Some(alias.to_owned()), blocked: false },
            )
        });
    }

    /// Whether a team is blocked.
    pub fn team_blocked(&self, team_id: &str) -> Option<bool> {
        self.with(|s| s.teams.get(team_id).map(|t| t.blocked))
    }

    /// Blocks or unblocks a team behind breakglass's back.
    pub fn set_team_blocked(&self, team_id: &str, blocked: bool) {
        self.with(|s| s.teams.get_mut(team_id).expect("a known team").blocked = blocked);
    }

    /// Adds a key with this alias (never blocked, no expiry), as its owners would.
    pub fn add_key(&self, alias: &str, models: &[&str]) {
        self.with(|s| {
            let key = format!("sk-seeded-{alias}");
            s.keys.insert(
                hash(&key),
                KeyRow {
                    key_alias: Some(alias.to_owned()),
                    models: models.iter().map(|m| json!(m)).collect(),
                    max_budget: None,
                    rpm_limit: None,
                    tpm_limit: None,
                    team_id: None,
                    blocked: None,
                    expires: None,
                    metadata: json!({}),
                },
            );
        });
    }

    /// The key with this alias as the proxy would list it, if any.
    pub fn key(&self, alias: &str) -> Option<Value> {
        self.with(|s| {
            s.keys
                .iter()
                .find(|(_, row)| row.key_alias.as_deref() == Some(alias))
                .map(|(token, row)| key_json(token, row))
        })
    }

    /// Sets a key's blocked flag behind breakglass's back.
    pub fn set_key_blocked(&self, alias: &str, blocked: bool) {
        self.with(|s| {
            let row = s
                .keys
                .values_mut()
                .find(|row| row.key_alias.as_deref() == Some(alias))
                .expect("a known key");
            row.blocked = Some(blocked);
        });
    }

    /// Answers the next requests with these faults, one each, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| s.faults.extend(faults));
    }

    /// `METHOD /path?query` of every request received, in order.
    pub fn seen(&self) -> Vec<String> {
        self.with(|s| s.seen.clone())
    }

    /// The violations of the spec recorded so far, forgotten (so dropping the server passes).
    pub fn take_violations(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.violations))
    }
}

impl Drop for LiteLlmServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let violations = self.with(|s| std::mem::take(&mut s.violations));
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("the LiteLLM spec was violated:\n{}", violations.join("\n"));
        }
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/key/generate", post(generate_key))
        .route("/key/update", post(update_key))
        .route("/key/delete", post(delete_key))
        .route("/key/list", get(list_keys))
        .route("/key/block", post(block_key))
        .route("/key/unblock", post(unblock_key))
        .route("/team/info", get(team_info))
        .route("/team/block", post(block_team))
        .route("/team/unblock", post(unblock_team))
        .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not Found"}))) })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// LiteLLM's `ProxyException` body: `{"error": {"message", "type", "param", "code"}}`.
fn error(status: StatusCode, kind: &str, param: Option<&str>, message: &str) -> Response {
    let body = json!({
        "error": {
            "message": message,
            "type": kind,
            "param": param.unwrap_or("None"),
            "code": status.as_u16().to_string(),
        }
    });
    (status, axum::Json(body)).into_response()
}

/// FastAPI's validation error: `422 {"detail": [{"type", "loc", "msg", "input"}]}`.
fn invalid(field: &str, message: &str) -> Response {
    let body = json!({
        "detail": [{ "type": "value_error", "loc": ["body", field], "msg": message, "input": null }]
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Records the request, answers a queued fault, then checks the bearer key.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or_else(String::new, |t| t.to_string());
    let fault = {
        let mut s = state.lock().expect("state");
        s.seen.push(format!("{} {target}", request.method()));
        s.faults.pop_front()
    };
    match fault {
        Some(Fault::RateLimited(seconds)) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "throttling_error",
                None,
                "Max parallel request limit reached.",
            );
            response
                .headers_mut()
                .insert("retry-after", seconds.to_string().parse().expect("header"));
            return response;
        }
        Some(Fault::ServerError) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                None,
                "Internal Server Error",
            );
        }
        Some(Fault::Garbage(body)) => {
            return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
        }
        None => {}
    }
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented == Some(MASTER_KEY) {
        return conforming(&state, request, next).await;
    }
    let shown = presented
        .map_or_else(String::new, |key| format!("sk-...{}", &key[key.len().saturating_sub(4)..]));
    error(
        StatusCode::UNAUTHORIZED,
        "auth_error",
        Some("None"),
        &format!(
            "Authentication Error, Invalid proxy server token passed. Received API Key = \
             {shown}, Key Hash (Token) =none. Unable to find token in cache or \
             `LiteLLM_VerificationTokenTable`"
        ),
    )
}

/// Serves a request after checking it against the spec, and checks a 200 answer before it goes.
async fn conforming(state: &Shared, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let problems = request_violations(&method, &path, &query, &body);
    if !problems.is_empty() {
        let detail: Vec<Value> = problems.iter().map(|p| json!({"msg": p})).collect();
        state.lock().expect("state").violations.extend(problems);
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "detail": detail })))
            .into_response();
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
            "contract_error",
            None,
            "the contract server's answer violates the LiteLLM spec",
        );
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(invalid(
            "body",
            "Input should be a valid dictionary or object to extract fields from",
        )),
    }
}

/// LiteLLM's `duration_in_seconds`: `Ns`, `Nm`, `Nh`, `Nd`, `Nw`, `Nmo`.
fn duration_seconds(text: &str) -> Option<i64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let number: i64 = digits.parse().ok()?;
    let unit = match &text[digits.len()..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "mo" => 2_592_000,
        _ => return None,
    };
    Some(number * unit)
}

fn expires_json(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |at| json!(at.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()))
}

/// A key as `/key/list?return_full_object=true` shows it (`UserAPIKeyAuth`).
fn key_json(token: &str, row: &KeyRow) -> Value {
    json!({
        "token": token,
        "key_name": format!("sk-...{}", &token[..4]),
        "key_alias": row.key_alias,
        "spend": 0.0,
        "max_budget": row.max_budget,
        "expires": expires_json(row.expires),
        "models": row.models,
        "aliases": {},
        "config": {},
        "user_id": null,
        "team_id": row.team_id,
        "max_parallel_requests": null,
        "metadata": row.metadata,
        "tpm_limit": row.tpm_limit,
        "rpm_limit": row.rpm_limit,
        "budget_duration": null,
        "allowed_cache_controls": [],
        "permissions": {},
        "model_spend": {},
        "model_max_budget": {},
        "blocked": row.blocked,
        "created_at": "2026-11-01T09:00:00.000000+00:00",
    })
}

/// Reads the optional fields `GenerateKeyRequest` and `UpdateKeyRequest` share into `row`,
/// refusing values of the wrong type as FastAPI would.
fn apply_fields(
    row: &mut KeyRow,
    body: &Map<String, Value>,
    now: Timestamp,
) -> Result<(), Response> {
    for (name, value) in body {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("key_alias", Value::String(alias)) => row.key_alias = Some(alias.clone()),
            ("models", Value::Array(models)) => row.models = models.clone(),
            ("max_budget", Value::Number(n)) => row.max_budget = n.as_f64(),
            ("rpm_limit", Value::Number(n)) if n.is_i64() => row.rpm_limit = n.as_i64(),
            ("tpm_limit", Value::Number(n)) if n.is_i64() => row.tpm_limit = n.as_i64(),
            ("team_id", Value::String(team)) => row.team_id = Some(team.clone()),
            ("blocked", Value::Bool(blocked)) => row.blocked = Some(*blocked),
            ("metadata", Value::Object(_)) => row.metadata = value.clone(),
            ("duration", Value::String(text)) => {
                let seconds = duration_seconds(text)
                    .ok_or_else(|| invalid("duration", "Invalid duration format"))?;
                row.expires = Some(now + jiff::SignedDuration::from_secs(seconds));
            }
            ("key", Value::String(_)) => {}
            (
                "key_alias" | "models" | "max_budget" | "rpm_limit" | "tpm_limit" | "team_id"
                | "blocked" | "metadata" | "duration" | "key",
                _,
            ) => return Err(invalid(name, "Input should be of the documented type")),
            _ => {}
        }
    }
    Ok(())
}

fn alias_taken(s: &Inner, alias: &str, except: Option<&str>) -> bool {
    s.keys.iter().any(|(token, row)| {
        row.key_alias.as_deref() == Some(alias) && Some(token.as_str()) != except
    })
}

/// POST /key/generate (`GenerateKeyRequest` → `GenerateKeyResponse`)
/// <https://docs.litellm.ai/docs/proxy/virtual_keys>
async fn generate_key(State(state): State<Shared>, body: Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut row = KeyRow {
        key_alias: None,
        models: Vec::new(),
        max_budget: None,
        rpm_limit: None,
        tpm_limit: None,
        team_id: None,
        blocked: None,
        expires: None,
        metadata: json!({}),
    };
    if let Err(response) = apply_fields(&mut row, &body, Timestamp::now()) {
        return response;
    }
    let mut s = state.lock().expect("state");
    if let Some(alias) = &row.key_alias
        && alias_taken(&s, alias, None)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request_error",
            Some("key_alias"),
            &format!(
                "Key with alias '{alias}' already exists. Unique key aliases across all keys are required."
            ),
        );
    }
    if let Some(team) = &row.team_id
        && !s.teams.contains_key(team)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request_error",
            Some("team_id"),
            &format!("Team not found, passed team_id={team}"),
        );
    }
    let key = format!("sk-{:022}", GENERATED.fetch_add(1, Ordering::Relaxed) + 1_000_000);
    let token = hash(&key);
    let mut answer = key_json(&token, &row);
    answer["key"] = json!(key);
    answer["duration"] = body.get("duration").cloned().unwrap_or(Value::Null);
    s.keys.insert(token, row);
    ok(answer)
}

/// The token a request names: a key (`sk-…`, hashed) or a token already.
fn token_of(key: &str) -> String {
    if key.starts_with("sk-") { hash(key) } else { key.to_owned() }
}

fn key_not_found(key: &str) -> Response {
    error(StatusCode::NOT_FOUND, "bad_request_error", Some("key"), &format!("Key not found: {key}"))
}

/// POST /key/update (`UpdateKeyRequest`: `key` required)
/// <https://docs.litellm.ai/docs/proxy/virtual_keys>
async fn update_key(State(state): State<Shared>, body: Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(key) = body.get("key").and_then(Value::as_str) else {
        return invalid("key", "Field required");
    };
    let token = token_of(key);
    let mut s = state.lock().expect("state");
    if let Some(alias) = body.get("key_alias").and_then(Value::as_str)
        && alias_taken(&s, alias, Some(&token))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request_error",
            Some("key_alias"),
            &format!("Key with alias '{alias}' already exists."),
        );
    }
    let Some(row) = s.keys.get_mut(&token) else { return key_not_found(key) };
    let mut updated = row.clone();
    if let Err(response) = apply_fields(&mut updated, &body, Timestamp::now()) {
        return response;
    }
    *row = updated;
    let mut answer: Map<String, Value> = body.clone();
    answer.insert("key".to_owned(), json!(token));
    ok(Value::Object(answer))
}

/// POST /key/delete (`KeyRequest`: `keys` or `key_aliases`) → `{"deleted_keys": […]}`
/// <https://docs.litellm.ai/docs/proxy/virtual_keys>
async fn delete_key(State(state): State<Shared>, body: Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let strings = |name: &str| -> Option<Vec<String>> {
        body.get(name)?
            .as_array()
            .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
    };
    let mut s = state.lock().expect("state");
    let tokens: Vec<String> = match (strings("keys"), strings("key_aliases")) {
        (Some(keys), _) => keys.iter().map(|k| token_of(k)).collect(),
        (None, Some(aliases)) => s
            .keys
            .iter()
            .filter(|(_, row)| row.key_alias.as_ref().is_some_and(|a| aliases.contains(a)))
            .map(|(token, _)| token.clone())
            .collect(),
        (None, None) => return invalid("keys", "Either keys or key_aliases must be provided"),
    };
    if tokens.is_empty() || tokens.iter().any(|t| !s.keys.contains_key(t)) {
        return error(
            StatusCode::NOT_FOUND,
            "bad_request_error",
            Some("keys"),
            "Failed to delete all keys. Keys not found.",
        );
    }
    for token in &tokens {
        s.keys.remove(token);
    }
    ok(json!({ "deleted_keys": tokens }))
}

/// GET /key/list (`page` ≥ 1, `size` 1–100 default 10, `key_alias` exact, `return_full_object`)
/// → `KeyListResponseObject` <https://docs.litellm.ai/docs/proxy/virtual_keys>
async fn list_keys(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let number =
        |name: &str, default: usize| query.get(name).map_or(Some(default), |v| v.parse().ok());
    let (Some(page), Some(size)) = (number("page", 1), number("size", 10)) else {
        return invalid("page", "Input should be a valid integer");
    };
    if page < 1 || !(1..=100).contains(&size) {
        return invalid("size", "Input should be between 1 and 100");
    }
    let full = query.get("return_full_object").is_some_and(|v| v == "true");
    let s = state.lock().expect("state");
    let matching: Vec<(&String, &KeyRow)> = s
        .keys
        .iter()
        .filter(|(_, row)| {
            query.get("key_alias").is_none_or(|alias| row.key_alias.as_ref() == Some(alias))
        })
        .collect();
    let total = matching.len();
    let keys: Vec<Value> = matching
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|(token, row)| if full { key_json(token, row) } else { json!(token) })
        .collect();
    ok(json!({
        "keys": keys,
        "total_count": total,
        "current_page": page,
        "total_pages": total.div_ceil(size),
    }))
}

fn set_key_blocked(state: &Shared, body: &Bytes, blocked: bool) -> Response {
    let body = match body_object(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(key) = body.get("key").and_then(Value::as_str) else {
        return invalid("key", "Field required");
    };
    let token = token_of(key);
    let mut s = state.lock().expect("state");
    let Some(row) = s.keys.get_mut(&token) else { return key_not_found(key) };
    row.blocked = Some(blocked);
    ok(key_json(&token, row))
}

/// POST /key/block (`BlockKeyRequest`) → the key (`LiteLLM_VerificationToken`)
/// <https://docs.litellm.ai/docs/proxy/virtual_keys>
async fn block_key(State(state): State<Shared>, body: Bytes) -> Response {
    set_key_blocked(&state, &body, true)
}

/// POST /key/unblock (`BlockKeyRequest`)
/// <https://docs.litellm.ai/docs/proxy/virtual_keys>
async fn unblock_key(State(state): State<Shared>, body: Bytes) -> Response {
    set_key_blocked(&state, &body, false)
}

fn team_json(team_id: &str, row: &TeamRow) -> Value {
    json!({
        "team_id": team_id,
        "team_alias": row.team_alias,
        "organization_id": null,
        "admins": [],
        "members": [],
        "members_with_roles": [],
        "metadata": {},
        "tpm_limit": null,
        "rpm_limit": null,
        "max_budget": null,
        "spend": 0.0,
        "models": [],
        "blocked": row.blocked,
    })
}

fn team_not_found(team_id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found_error",
        Some("team_id"),
        &format!("Team not found, passed team_id={team_id}"),
    )
}

/// GET /team/info?team_id= → `{"team_id", "team_info", "keys", "team_memberships"}`
/// <https://docs.litellm.ai/docs/proxy/configuration/api>
async fn team_info(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(team_id) = query.get("team_id") else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request_error",
            Some("team_id"),
            "Malformed request. No team id passed in.",
        );
    };
    let s = state.lock().expect("state");
    let Some(row) = s.teams.get(team_id) else { return team_not_found(team_id) };
    let keys: Vec<Value> = s
        .keys
        .iter()
        .filter(|(_, key)| key.team_id.as_ref() == Some(team_id))
        .map(|(token, key)| key_json(token, key))
        .collect();
    ok(json!({
        "team_id": team_id,
        "team_info": team_json(team_id, row),
        "keys": keys,
        "team_memberships": [],
    }))
}

fn set_team_blocked(state: &Shared, body: &Bytes, blocked: bool) -> Response {
    let body = match body_object(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(team_id) = body.get("team_id").and_then(Value::as_str) else {
        return invalid("team_id", "Field required");
    };
    let mut s = state.lock().expect("state");
    let Some(row) = s.teams.get_mut(team_id) else { return team_not_found(team_id) };
    row.blocked = blocked;
    ok(team_json(team_id, row))
}

/// POST /team/block (`BlockTeamRequest`: `team_id`) → the team
/// <https://docs.litellm.ai/docs/proxy/configuration/api>
async fn block_team(State(state): State<Shared>, body: Bytes) -> Response {
    set_team_blocked(&state, &body, true)
}

/// POST /team/unblock (`BlockTeamRequest`)
/// <https://docs.litellm.ai/docs/proxy/configuration/api>
async fn unblock_team(State(state): State<Shared>, body: Bytes) -> Response {
    set_team_blocked(&state, &body, false)
}
