//! A contract server for the Kubernetes API group `rbac.authorization.k8s.io/v1`: the paths,
//! methods, bearer authentication, object shapes, `limit`/`continue` paging, `resourceVersion`
//! concurrency, delete preconditions, server-side dry run, validation, authorization and
//! `Status` error objects of a real API server, over in-memory objects.
//!
//! No API server can run here, so this stands in for one; to keep it honest, every request it
//! receives and every response it sends is checked against the official OpenAPI description
//! ([`super::spec`]). A violation is recorded, and the server fails the test when dropped.
//!
//! Tests can inject faults — 429 with `Retry-After`, 500, an expired `continue` token (410
//! Gone), a concurrent writer (the next write meets a newer `resourceVersion`: 409), an answer
//! lost after the write was made — and change objects behind breakglass's back.
//!
//! Where the API server's behaviour is richer than the tests need (watch, patch, field
//! selectors, `resourceVersionMatch`), the server refuses with a `Status` rather than pretend.
//! Messages follow the API server's wording (k8s.io/apimachinery `errors`).

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::spec::Spec;

/// The token with every permission.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
/// A token that may only read (`view`-like).
pub const VIEWER_TOKEN: &str = "viewer-token-0123456789";

const GROUP: &str = "rbac.authorization.k8s.io";
const PREFIX: &str = "/apis/rbac.authorization.k8s.io/v1";

/// The four resources, as URLs name them.
pub const RESOURCES: [&str; 4] = ["roles", "clusterroles", "rolebindings", "clusterrolebindings"];

fn kind_of(resource: &str) -> &'static str {
    match resource {
        "roles" => "Role",
        "clusterroles" => "ClusterRole",
        "rolebindings" => "RoleBinding",
        _ => "ClusterRoleBinding",
    }
}

fn namespaced(resource: &str) -> bool {
    matches!(resource, "roles" | "rolebindings")
}

/// A fault for the next matching requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After` (seconds) and a `TooManyRequests` Status.
    TooManyRequests(u64),
    /// 500 with an `InternalError` Status.
    ServerError,
    /// A request carrying a `continue` token finds it expired: 410 Gone, reason `Expired`.
    ExpiredContinue,
    /// Someone writes the object just before this write: its `resourceVersion` moves on.
    ConcurrentWrite,
    /// The write is made, then the answer is lost (a 500).
    LostResponse,
}

#[derive(Debug, Clone)]
struct Injection {
    fault: Fault,
    method: Method,
    path_suffix: String,
    remaining: usize,
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`…
    pub method: String,
    /// The path.
    pub path: String,
    /// The query pairs.
    pub query: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

impl Received {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The cluster's RBAC objects and what the server saw.
#[derive(Debug)]
pub struct Cluster {
    /// Tokens and whether each may write.
    pub tokens: BTreeMap<String, (String, bool)>,
    /// Objects by (resource, namespace or "", name).
    pub objects: BTreeMap<(String, String, String), Value>,
    /// Every request, in order.
    pub received: Vec<Received>,
    /// PUTs that named no `resourceVersion` (unconditional updates).
    pub unconditional_updates: usize,
    resource_version: u64,
    injections: Vec<Injection>,
    violations: Vec<String>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    /// An empty cluster with an admin and a viewer token, holding Kubernetes' own default
    /// `cluster-admin` ClusterRole and ClusterRoleBinding (label
    /// `kubernetes.io/bootstrapping=rbac-defaults`).
    pub fn new() -> Self {
        let mut cluster = Self {
            tokens: BTreeMap::from([
                (ADMIN_TOKEN.to_owned(), ("kubernetes-admin".to_owned(), true)),
                (VIEWER_TOKEN.to_owned(), ("viewer".to_owned(), false)),
            ]),
            objects: BTreeMap::new(),
            received: Vec::new(),
            unconditional_updates: 0,
            resource_version: 1000,
            injections: Vec::new(),
            violations: Vec::new(),
        };
        let defaults = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
        cluster.put_object(
            "clusterroles",
            None,
            json!({
                "metadata": {"name": "cluster-admin", "labels": defaults},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                          {"nonResourceURLs": ["*"], "verbs": ["*"]}]
            }),
        );
        cluster.put_object(
            "clusterrolebindings",
            None,
            json!({
                "metadata": {"name": "cluster-admin", "labels": defaults},
                "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": "system:masters"}]
            }),
        );
        cluster
    }

    /// Stores an object as if written by someone else (a new uid and resourceVersion).
    pub fn put_object(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
        mut object: Value,
    ) -> Value {
        let name = object["metadata"]["name"].as_str().expect("a name").to_owned();
        let version = self.next_version();
        object["apiVersion"] = json!(format!("{GROUP}/v1"));
        object["kind"] = json!(kind_of(resource));
        object["metadata"]["uid"] = json!(format!("uid-{version}"));
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        object["metadata"]["creationTimestamp"] = json!("2026-12-01T09:00:00Z");
        if let Some(namespace) = namespace {
            object["metadata"]["namespace"] = json!(namespace);
        }
        let key = (resource.to_owned(), namespace.unwrap_or("").to_owned(), name);
        self.objects.insert(key, object.clone());
        object
    }

    /// Adds a ClusterRoleBinding of `role` to user `user`, made by hand.
    pub fn binding(mut self, name: &str, role: &str, user: &str) -> Self {
        self.put_object(
            "clusterrolebindings",
            None,
            json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": GROUP, "kind": "User", "name": user}]
            }),
        );
        self
    }

    /// The object, if it exists.
    pub fn object(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.objects.get(&(
            resource.to_owned(),
            namespace.unwrap_or("").to_owned(),
            name.to_owned(),
        ))
    }

    /// Names of the objects of `resource`.
    pub fn names(&self, resource: &str) -> Vec<String> {
        self.objects
            .keys()
            .filter(|(r, _, _)| r == resource)
            .map(|(_, ns, name)| if ns.is_empty() { name.clone() } else { format!("{ns}/{name}") })
            .collect()
    }

    /// Requests whose method is `method` and whose path ends with `suffix`.
    pub fn received_matching(&self, method: &str, suffix: &str) -> Vec<&Received> {
        self.received.iter().filter(|r| r.method == method && r.path.ends_with(suffix)).collect()
    }

    fn next_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn take_fault(&mut self, method: &Method, path: &str, has_continue: bool) -> Option<Fault> {
        let injection = self.injections.iter_mut().find(|i| {
            i.remaining > 0
                && i.method == method
                && path.ends_with(&i.path_suffix)
                && (i.fault != Fault::ExpiredContinue || has_continue)
        })?;
        injection.remaining -= 1;
        Some(injection.fault.clone())
    }
}

/// The contract server, on its own thread and runtime, so blocking tests (the CLI) and async
/// tests can both use it.
pub struct ContractServer {
    url: String,
    cluster: Arc<Mutex<Cluster>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ContractServer {
    /// Serves `cluster` on 127.0.0.1, on a free port.
    pub fn start(cluster: Cluster) -> Self {
        Spec::get();
        let cluster = Arc::new(Mutex::new(cluster));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = cluster.clone();
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
            url: format!("http://{address}"),
            cluster,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes a kubeconfig for this server into `dir` with `token`; returns its path.
    pub fn kubeconfig(&self, dir: &std::path::Path, token: &str) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        fs_err::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: contract\nclusters:\n- name: \
                 contract\n  cluster:\n    server: {}\ncontexts:\n- name: contract\n  context:\n    \
                 cluster: contract\n    user: breakglass\nusers:\n- name: breakglass\n  user:\n    \
                 token: {token}\n",
                self.url
            ),
        )
        .expect("write the kubeconfig");
        path
    }

    /// Looks at or changes the cluster.
    pub fn cluster<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        f(&mut self.cluster.lock().expect("cluster"))
    }

    /// Answers the next `times` requests `METHOD …suffix` with `fault`.
    pub fn inject(&self, fault: Fault, method: &str, path_suffix: &str, times: usize) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        self.cluster(|c| {
            c.injections.push(Injection {
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
        let violations = self.cluster(|c| std::mem::take(&mut c.violations));
        assert!(
            violations.is_empty(),
            "the Kubernetes contract server saw exchanges that the official OpenAPI description \
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
    fn ok(status: StatusCode, body: Value) -> Self {
        Self { status, body, headers: Vec::new() }
    }

    /// A `Status` failure, as the API server writes it.
    fn status(
        status: StatusCode,
        reason: &str,
        message: impl Into<String>,
        details: Value,
    ) -> Self {
        let mut body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message.into(), "reason": reason, "code": status.as_u16(),
        });
        if !details.is_null() {
            body["details"] = details;
        }
        Self { status, body, headers: Vec::new() }
    }
}

fn resource_name(resource: &str) -> String {
    format!("{resource}.{GROUP}")
}

fn not_found(resource: &str, name: &str) -> Reply {
    Reply::status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{} \"{name}\" not found", resource_name(resource)),
        json!({"name": name, "group": GROUP, "kind": resource}),
    )
}

fn conflict(resource: &str, name: &str, why: &str) -> Reply {
    Reply::status(
        StatusCode::CONFLICT,
        "Conflict",
        format!("Operation cannot be fulfilled on {} \"{name}\": {why}", resource_name(resource)),
        json!({"name": name, "group": GROUP, "kind": resource}),
    )
}

fn invalid(resource: &str, name: &str, causes: Vec<(String, String)>) -> Reply {
    let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    Reply::status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{} \"{name}\" is invalid: {}", kind_of(resource), text.join(", ")),
        json!({"name": name, "group": GROUP, "kind": kind_of(resource),
               "causes": causes.iter().map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f})).collect::<Vec<_>>()}),
    )
}

/// Every request: check against the spec, authenticate, authorize, inject faults, route,
/// check the answer.
async fn handle(State(cluster): State<Arc<Mutex<Cluster>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = to_bytes(body, 1 << 22).await.unwrap_or_default();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let authorization =
        parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let spec = Spec::get();
    let (operation, mut violations) =
        spec.check_request(method.as_str(), &path, &query, authorization.as_deref(), &body);
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();

    let reply = {
        let mut cluster = cluster.lock().expect("cluster");
        let reply = respond(
            &mut cluster,
            &method,
            &path,
            &query,
            authorization.as_deref(),
            json_body.as_ref(),
        );
        let text = reply.body.to_string();
        if let Some(operation) = operation {
            violations.extend(spec.check_response(
                operation,
                reply.status.as_u16(),
                Some("application/json"),
                text.as_bytes(),
            ));
        }
        cluster.violations.extend(violations);
        cluster.received.push(Received {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: json_body,
            status: reply.status.as_u16(),
        });
        reply
    };
    let mut response = Response::new(Body::from(reply.body.to_string()));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header"));
    }
    response
}

/// The reply to one request.
fn respond(
    cluster: &mut Cluster,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    authorization: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        return Reply::status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            Value::Null,
        );
    };
    let Some((user, may_write)) = cluster.tokens.get(token).cloned() else {
        return Reply::status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            Value::Null,
        );
    };
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Reply::status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            Value::Null,
        );
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let (namespace, resource, name) = match segments.as_slice() {
        [resource] => (None, *resource, None),
        [resource, name] => (None, *resource, Some(*name)),
        ["namespaces", ns, resource] => (Some(*ns), *resource, None),
        ["namespaces", ns, resource, name] => (Some(*ns), *resource, Some(*name)),
        _ => {
            return Reply::status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                Value::Null,
            );
        }
    };
    if !RESOURCES.contains(&resource) || (namespace.is_some() && !namespaced(resource)) {
        return Reply::status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            Value::Null,
        );
    }
    let verb = match (method.as_str(), name) {
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", None) => "create",
        ("PUT", Some(_)) => "update",
        ("DELETE", Some(_)) => "delete",
        _ => {
            return Reply::status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Value::Null,
            );
        }
    };
    if !may_write && !matches!(verb, "get" | "list") {
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        let named = name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
        return Reply::status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{}{named} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{GROUP}\" {scope}",
                resource_name(resource)
            ),
            json!({"name": name.unwrap_or(""), "group": GROUP, "kind": resource}),
        );
    }
    let has_continue = query.iter().any(|(n, _)| n == "continue");
    let fault = cluster.take_fault(method, path, has_continue);
    match fault {
        Some(Fault::TooManyRequests(seconds)) => {
            let mut reply = Reply::status(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests, please try again later.",
                json!({"retryAfterSeconds": seconds}),
            );
            reply.headers.push(("retry-after", seconds.to_string()));
            return reply;
        }
        Some(Fault::ServerError) => return server_error(),
        Some(Fault::ExpiredContinue) => {
            let mut reply = Reply::status(
                StatusCode::GONE,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                Value::Null,
            );
            reply.body["metadata"] = json!({"continue": "inconsistent-token"});
            return reply;
        }
        Some(Fault::ConcurrentWrite) => {
            if let Some(name) = name {
                let key =
                    (resource.to_owned(), namespace.unwrap_or("").to_owned(), name.to_owned());
                let version = cluster.next_version();
                if let Some(object) = cluster.objects.get_mut(&key) {
                    object["metadata"]["resourceVersion"] = json!(version.to_string());
                    object["metadata"]["annotations"]["touched-by"] = json!("someone-else");
                }
            }
        }
        Some(Fault::LostResponse) => {
            let _ = route(cluster, verb, resource, namespace, name, query, body);
            return server_error();
        }
        None => {}
    }
    route(cluster, verb, resource, namespace, name, query, body)
}

fn server_error() -> Reply {
    Reply::status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Internal error occurred: etcdserver: request timed out",
        json!({"causes": [{"message": "etcdserver: request timed out"}]}),
    )
}

fn route(
    cluster: &mut Cluster,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    query: &[(String, String)],
    body: Option<&Value>,
) -> Reply {
    let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if let Some(dry_run) = param("dryRun")
        && dry_run != "All"
    {
        return Reply::status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Invalid dry run value: {dry_run}"),
            Value::Null,
        );
    }
    for unsupported in ["watch", "fieldSelector", "labelSelector", "resourceVersionMatch"] {
        if param(unsupported).is_some() {
            return Reply::status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("this contract server does not implement `{unsupported}`"),
                Value::Null,
            );
        }
    }
    let dry = param("dryRun").is_some();
    match verb {
        "list" => list(cluster, resource, namespace, query),
        "get" => {
            let name = name.unwrap_or_default();
            match cluster.object(resource, namespace, name) {
                Some(object) => Reply::ok(StatusCode::OK, object.clone()),
                None => not_found(resource, name),
            }
        }
        "create" => create(cluster, resource, namespace, body, dry),
        "update" => update(cluster, resource, namespace, name.unwrap_or_default(), body, dry),
        "delete" => delete(cluster, resource, namespace, name.unwrap_or_default(), body),
        _ => unreachable!("verbs are matched above"),
    }
}

fn list(
    cluster: &mut Cluster,
    resource: &str,
    namespace: Option<&str>,
    query: &[(String, String)],
) -> Reply {
    let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let limit: usize = match param("limit").map(|l| l.parse::<usize>()) {
        None => usize::MAX,
        Some(Ok(0)) => usize::MAX,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Reply::status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "limit must be an integer",
                Value::Null,
            );
        }
    };
    // The continue token: base64 of the last key of the previous page, as the API server's
    // own (base64 JSON with the key to start after).
    let after: Option<String> = match param("continue") {
        None => None,
        Some(token) => match base64::engine::general_purpose::STANDARD
            .decode(&token)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["start"].as_str().map(str::to_owned))
        {
            Some(start) => Some(start),
            None => {
                return Reply::status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "continue key is not valid: illegal base64 data",
                    Value::Null,
                );
            }
        },
    };
    let matching: Vec<(String, Value)> = cluster
        .objects
        .iter()
        .filter(|((r, ns, _), _)| r == resource && namespace.is_none_or(|n| n == ns))
        .map(|((_, ns, name), object)| (format!("{ns}/{name}"), object.clone()))
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .collect();
    let page: Vec<&(String, Value)> = matching.iter().take(limit).collect();
    let remaining = matching.len() - page.len();
    let mut metadata = json!({"resourceVersion": cluster.resource_version.to_string()});
    if remaining > 0 {
        let last = &page.last().expect("a page before the rest").0;
        let token = json!({"v": "meta.k8s.io/v1", "rv": cluster.resource_version, "start": last});
        metadata["continue"] =
            json!(base64::engine::general_purpose::STANDARD.encode(token.to_string()));
        metadata["remainingItemCount"] = json!(remaining);
    }
    Reply::ok(
        StatusCode::OK,
        json!({
            "kind": format!("{}List", kind_of(resource)), "apiVersion": format!("{GROUP}/v1"),
            "metadata": metadata,
            "items": page.iter().map(|(_, object)| object.clone()).collect::<Vec<_>>(),
        }),
    )
}

/// The API server's validation of an RBAC object (k8s.io/kubernetes pkg/apis/rbac/validation),
/// the parts a client can get wrong.
fn validate(resource: &str, object: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        causes.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": may not be '.' or '..' nor contain '/' or '%'"),
        ));
    } else if name.len() > 253 {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{}…\": must be no more than 253 characters", &name[..20]),
        ));
    }
    for (key, value) in object["metadata"]["labels"].as_object().into_iter().flatten() {
        let value = value.as_str().unwrap_or_default();
        let ok = value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            causes.push(("metadata.labels".to_owned(), format!("Invalid value: \"{value}\": a valid label must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.' (label {key})")));
        }
    }
    if resource.ends_with("roles") {
        for (index, rule) in object["rules"].as_array().into_iter().flatten().enumerate() {
            if rule["verbs"].as_array().is_none_or(|v| v.is_empty()) {
                causes.push((
                    format!("rules[{index}].verbs"),
                    "Required value: verbs must contain at least one value".into(),
                ));
            }
        }
        return causes;
    }
    let role_ref = &object["roleRef"];
    if role_ref["apiGroup"] != GROUP {
        causes.push((
            "roleRef.apiGroup".into(),
            format!("Unsupported value: {}: supported values: \"{GROUP}\"", role_ref["apiGroup"]),
        ));
    }
    let kinds: &[&str] =
        if resource == "rolebindings" { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !role_ref["kind"].as_str().is_some_and(|k| kinds.contains(&k)) {
        causes.push((
            "roleRef.kind".into(),
            format!(
                "Unsupported value: {}: supported values: {}",
                role_ref["kind"],
                kinds.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if role_ref["name"].as_str().is_none_or(str::is_empty) {
        causes.push(("roleRef.name".into(), "Required value".into()));
    }
    for (index, subject) in object["subjects"].as_array().into_iter().flatten().enumerate() {
        let kind = subject["kind"].as_str().unwrap_or_default();
        let group = subject["apiGroup"].as_str().unwrap_or_default();
        match kind {
            "ServiceAccount" => {
                if !group.is_empty() {
                    causes.push((format!("subjects[{index}].apiGroup"), format!("Unsupported value: \"{group}\": supported values: \"\"")));
                }
                if subject["namespace"].as_str().is_none_or(str::is_empty) {
                    causes.push((format!("subjects[{index}].namespace"), "Required value".into()));
                }
            }
            "User" | "Group" => {
                if group != GROUP {
                    causes.push((format!("subjects[{index}].apiGroup"), format!("Unsupported value: \"{group}\": supported values: \"{GROUP}\"")));
                }
            }
            other => causes.push((format!("subjects[{index}].kind"), format!("Unsupported value: \"{other}\": supported values: \"ServiceAccount\", \"User\", \"Group\""))),
        }
    }
    causes
}

/// Sets the fields a write may not choose and the server fills in.
fn complete(
    cluster: &mut Cluster,
    resource: &str,
    namespace: Option<&str>,
    object: &mut Value,
    uid: Option<Value>,
    created: Option<Value>,
) {
    let version = cluster.next_version();
    object["apiVersion"] = json!(format!("{GROUP}/v1"));
    object["kind"] = json!(kind_of(resource));
    object["metadata"]["uid"] = uid.unwrap_or_else(|| json!(format!("uid-{version}")));
    object["metadata"]["resourceVersion"] = json!(version.to_string());
    object["metadata"]["creationTimestamp"] =
        created.unwrap_or_else(|| json!("2026-12-01T10:00:00Z"));
    if let Some(namespace) = namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    if resource.ends_with("bindings") {
        // The API server defaults a subject's apiGroup.
        for subject in object["subjects"].as_array_mut().into_iter().flatten() {
            if subject.get("apiGroup").is_none() {
                let group = if subject["kind"] == "ServiceAccount" { "" } else { GROUP };
                subject["apiGroup"] = json!(group);
            }
        }
    }
}

fn namespace_mismatch(object: &Value, namespace: Option<&str>) -> Option<Reply> {
    let declared = object["metadata"]["namespace"].as_str();
    match (declared, namespace) {
        (Some(declared), Some(namespace)) if declared != namespace => Some(Reply::status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
            Value::Null,
        )),
        _ => None,
    }
}

fn create(
    cluster: &mut Cluster,
    resource: &str,
    namespace: Option<&str>,
    body: Option<&Value>,
    dry: bool,
) -> Reply {
    let Some(mut object) = body.cloned().filter(Value::is_object) else {
        return Reply::status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body of the request was in an unknown format",
            Value::Null,
        );
    };
    if let Some(reply) = namespace_mismatch(&object, namespace) {
        return reply;
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let causes = validate(resource, &object);
    if !causes.is_empty() {
        return invalid(resource, &name, causes);
    }
    if cluster.object(resource, namespace, &name).is_some() {
        return Reply::status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", resource_name(resource)),
            json!({"name": name, "group": GROUP, "kind": resource}),
        );
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("resourceVersion");
        metadata.remove("uid");
    }
    complete(cluster, resource, namespace, &mut object, None, None);
    if !dry {
        let key = (resource.to_owned(), namespace.unwrap_or("").to_owned(), name);
        cluster.objects.insert(key, object.clone());
    }
    Reply::ok(StatusCode::CREATED, object)
}

fn update(
    cluster: &mut Cluster,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    body: Option<&Value>,
    dry: bool,
) -> Reply {
    let Some(mut object) = body.cloned().filter(Value::is_object) else {
        return Reply::status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body of the request was in an unknown format",
            Value::Null,
        );
    };
    if let Some(reply) = namespace_mismatch(&object, namespace) {
        return reply;
    }
    if object["metadata"]["name"] != name {
        return Reply::status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the name of the object does not match the name on the URL",
            Value::Null,
        );
    }
    let Some(current) = cluster.object(resource, namespace, name).cloned() else {
        return not_found(resource, name);
    };
    match object["metadata"]["resourceVersion"].as_str() {
        None | Some("") => cluster.unconditional_updates += 1,
        Some(version) if current["metadata"]["resourceVersion"] != version => {
            return conflict(
                resource,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            );
        }
        Some(_) => {}
    }
    let mut causes = validate(resource, &object);
    if resource.ends_with("bindings") && object["roleRef"] != current["roleRef"] {
        causes.push((
            "roleRef".into(),
            format!("Invalid value: {}: cannot change roleRef", object["roleRef"]),
        ));
    }
    if !causes.is_empty() {
        return invalid(resource, name, causes);
    }
    let uid = current["metadata"]["uid"].clone();
    let created = current["metadata"]["creationTimestamp"].clone();
    complete(cluster, resource, namespace, &mut object, Some(uid), Some(created));
    if !dry {
        let key = (resource.to_owned(), namespace.unwrap_or("").to_owned(), name.to_owned());
        cluster.objects.insert(key, object.clone());
    }
    Reply::ok(StatusCode::OK, object)
}

fn delete(
    cluster: &mut Cluster,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    body: Option<&Value>,
) -> Reply {
    let key = (resource.to_owned(), namespace.unwrap_or("").to_owned(), name.to_owned());
    let Some(current) = cluster.objects.get(&key).cloned() else {
        return not_found(resource, name);
    };
    let preconditions = body.map(|b| b["preconditions"].clone()).unwrap_or(Value::Null);
    if let Some(uid) = preconditions["uid"].as_str()
        && current["metadata"]["uid"] != uid
    {
        return conflict(
            resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                current["metadata"]["uid"].as_str().unwrap_or_default()
            ),
        );
    }
    if let Some(version) = preconditions["resourceVersion"].as_str()
        && current["metadata"]["resourceVersion"] != version
    {
        return conflict(
            resource,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {version}, ResourceVersion in object meta: {}",
                current["metadata"]["resourceVersion"].as_str().unwrap_or_default()
            ),
        );
    }
    cluster.objects.remove(&key);
    cluster.next_version();
    Reply::ok(
        StatusCode::OK,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
               "details": {"name": name, "group": GROUP, "kind": resource, "uid": current["metadata"]["uid"]}}),
    )
}
