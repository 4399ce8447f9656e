//! A contract server for the parts of Google Cloud the `gcp` provider uses: Cloud Resource
//! Manager v3's `getIamPolicy` and `setIamPolicy` on projects, folders and organizations, and
//! Google's OAuth 2.0 token endpoint with the JWT bearer grant (RFC 7523) that service
//! accounts use.
//!
//! No emulator of either exists, so this stands in for them, kept honest two ways: every
//! Resource Manager request it receives and every answer it gives is checked against Google's
//! own discovery document ([`super::discovery`]), and the token endpoint checks the JWT as
//! Google documents ("Using OAuth 2.0 for Server to Server Applications"): an RS256 signature
//! verified against the service account's public key, `iss`, `scope`, `aud` (the token URL),
//! `iat` and `exp` at most an hour apart. A violation of the document is recorded, and the
//! server panics the test when it is dropped with violations left (or
//! [`ContractServer::assert_spec_clean`] does).
//!
//! What IAM does, modelled from its documentation (quoted in the handlers): etags that change
//! with every write and a 409 `ABORTED` for a write carrying an old one; version 3 needed to
//! see or write conditions (a lower version shows conditional roles as `ROLE_withcond_HASH`);
//! no conditions on basic roles; 403 for a policy the caller may not read *or* that does not
//! exist; `auditConfigs` kept unless the update mask names them; conditions evaluated on every
//! check ([`Cloud::has_access`]), so an expired binding grants nothing though it stays in the
//! policy.
//!
//! Tests also inject what the real service does on a bad day: throttling (429
//! `RESOURCE_EXHAUSTED`), 503s, someone else's change landing between a read and a write, reads
//! that lag behind writes (eventual consistency), tokens that expire early.

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use super::discovery::Discovery;

/// The scope the provider asks for.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The scopes the token endpoint grants.
const KNOWN_SCOPES: [&str; 2] =
    [CLOUD_PLATFORM, "https://www.googleapis.com/auth/cloud-platform.read-only"];
/// The grant type of RFC 7523.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The executor's service account in every test.
pub const EXECUTOR: &str = "breakglass@ops-admin.iam.gserviceaccount.com";
/// The roles that carry `resourcemanager.*.setIamPolicy` (and `getIamPolicy`).
const ADMIN_ROLES: [&str; 5] = [
    "roles/owner",
    "roles/resourcemanager.projectIamAdmin",
    "roles/resourcemanager.folderIamAdmin",
    "roles/resourcemanager.organizationAdmin",
    "roles/iam.securityAdmin",
];
/// Roles that carry `getIamPolicy` only.
const READER_ROLES: [&str; 3] = ["roles/editor", "roles/viewer", "roles/iam.securityReviewer"];
/// Roles IAM does not let a condition constrain.
const BASIC_ROLES: [&str; 3] = ["roles/owner", "roles/editor", "roles/viewer"];

/// One binding, as the server stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The role.
    pub role: String,
    /// The principals.
    pub members: Vec<String>,
    /// The condition, as sent (`title`, `description`, `expression`).
    pub condition: Option<Value>,
}

impl Binding {
    /// An unconditional binding.
    pub fn new(role: &str, members: &[&str]) -> Self {
        Self {
            role: role.to_owned(),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            condition: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut value = json!({"role": self.role, "members": self.members});
        if let Some(condition) = &self.condition {
            value["condition"] = condition.clone();
        }
        value
    }
}

/// One version of a policy.
#[derive(Debug, Clone)]
struct Version {
    etag: String,
    bindings: Vec<Binding>,
    audit_configs: Option<Value>,
}

/// A project, folder or organization: its policy's history (the last is current).
#[derive(Debug, Clone)]
struct Resource {
    versions: Vec<Version>,
    /// After each write, this many reads still answer the version before it.
    read_lag: usize,
    stale_reads_left: usize,
}

/// A service account the token endpoint knows: its key's id and public key (PKCS#1 DER).
#[derive(Debug, Clone)]
struct Account {
    key_id: String,
    public_key: Vec<u8>,
}

/// An access token the server issued.
#[derive(Debug, Clone)]
struct Token {
    email: String,
    scopes: Vec<String>,
    expires_at: u64,
}

/// Someone else's change to a policy (a colleague in the console, another tool).
pub type Change = Arc<dyn Fn(&mut Vec<Binding>) + Send + Sync>;

/// A fault to inject into the next matching requests.
#[derive(Clone)]
pub enum Fault {
    /// 429 `RESOURCE_EXHAUSTED`, as Google answers a request over quota.
    Throttle,
    /// 503 `UNAVAILABLE`.
    Unavailable,
    /// Someone else's change lands just before this write is handled: its etag is then old.
    ChangeFirst(Change),
    /// The call is handled, then its answer is lost (a 503 reaches the client instead).
    LostAnswer,
}

struct Injection {
    fault: Fault,
    method: &'static str,
    resource: String,
    remaining: usize,
}

/// A request as received, for assertions.
#[derive(Debug, Clone)]
pub struct Received {
    /// `getIamPolicy`, `setIamPolicy` or `token`.
    pub method: String,
    /// The resource (`projects/prod`), empty for the token endpoint.
    pub resource: String,
    /// The JSON body (the form, as JSON, for the token endpoint, with the assertion dropped).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The etag of the policy answered, if a policy was.
    pub etag: Option<String>,
}

/// The state of the cloud: resources and their policies, accounts, tokens, what was seen.
pub struct Cloud {
    resources: BTreeMap<String, Resource>,
    accounts: BTreeMap<String, Account>,
    tokens: BTreeMap<String, Token>,
    injections: Vec<Injection>,
    /// Every request, in order.
    pub received: Vec<Received>,
    /// Writes that carried no etag (IAM accepts them, overwriting whatever is there).
    pub blind_writes: usize,
    violations: Vec<String>,
    serial: u64,
    token_lifetime: u64,
    token_url: String,
}

impl Default for Cloud {
    fn default() -> Self {
        Self::new()
    }
}

impl Cloud {
    /// An empty cloud.
    pub fn new() -> Self {
        Self {
            resources: BTreeMap::new(),
            accounts: BTreeMap::new(),
            tokens: BTreeMap::new(),
            injections: Vec::new(),
            received: Vec::new(),
            blind_writes: 0,
            violations: Vec::new(),
            serial: 0,
            token_lifetime: 3599,
            token_url: String::new(),
        }
    }

    /// Adds a project, folder or organization (`projects/prod`) whose policy holds `bindings`.
    pub fn resource(mut self, name: &str, bindings: Vec<Binding>) -> Self {
        let etag = self.next_etag();
        let version = Version { etag, bindings, audit_configs: None };
        self.resources.insert(
            name.to_owned(),
            Resource { versions: vec![version], read_lag: 0, stale_reads_left: 0 },
        );
        self
    }

    /// Sets the current policy's audit settings (`auditConfigs`).
    pub fn audit_configs(mut self, name: &str, configs: Value) -> Self {
        self.current_mut(name).audit_configs = Some(configs);
        self
    }

    /// Registers a service account's key (its id, and the public half of `key`).
    pub fn account(mut self, email: &str, key_id: &str, public_key: &[u8]) -> Self {
        self.accounts.insert(
            email.to_owned(),
            Account { key_id: key_id.to_owned(), public_key: public_key.to_vec() },
        );
        self
    }

    /// Makes tokens last `seconds` (`expires_in`).
    pub fn token_lifetime(mut self, seconds: u64) -> Self {
        self.token_lifetime = seconds;
        self
    }

    /// The current bindings of `name`.
    pub fn bindings(&self, name: &str) -> Vec<Binding> {
        self.current(name).bindings.clone()
    }

    /// The current etag of `name`.
    pub fn etag(&self, name: &str) -> String {
        self.current(name).etag.clone()
    }

    /// The current audit settings of `name`.
    pub fn audit_of(&self, name: &str) -> Option<Value> {
        self.current(name).audit_configs.clone()
    }

    /// Changes `name`'s policy behind breakglass's back (a new version, a new etag).
    pub fn change(&mut self, name: &str, change: impl FnOnce(&mut Vec<Binding>)) {
        let mut bindings = self.current(name).bindings.clone();
        change(&mut bindings);
        self.commit(name, bindings, None);
    }

    /// From now on, after each write to `name`, the next `reads` reads answer the policy from
    /// before it (replicas catching up).
    pub fn lag_reads(&mut self, name: &str, reads: usize) {
        self.resources.get_mut(name).unwrap_or_else(|| panic!("no resource {name}")).read_lag =
            reads;
    }

    /// Whether `member` holds `role` on `name` at `at`: some binding of the role holds the
    /// member and has no condition, or one true at `at` (IAM evaluates conditions on every
    /// request; a binding whose condition is false grants nothing).
    pub fn has_access(&self, name: &str, member: &str, role: &str, at: &str) -> bool {
        let at: jiff::Timestamp = at.parse().expect("an RFC 3339 time");
        self.current(name).bindings.iter().any(|b| {
            b.role == role
                && b.members.iter().any(|m| m == member)
                && b.condition
                    .as_ref()
                    .is_none_or(|c| evaluate(c["expression"].as_str().unwrap_or(""), at))
        })
    }

    /// Makes every token issued so far expired (Google answers 401 to them).
    pub fn expire_tokens(&mut self) {
        for token in self.tokens.values_mut() {
            token.expires_at = 0;
        }
    }

    /// Issues a token for `email` directly (what `gcloud auth print-access-token` would print).
    pub fn issue_token(&mut self, email: &str) -> String {
        self.mint(email, vec![CLOUD_PLATFORM.to_owned()])
    }

    /// Token exchanges answered with a token.
    pub fn exchanges(&self) -> usize {
        self.received.iter().filter(|r| r.method == "token" && r.status == 200).count()
    }

    /// Requests of `method` on `resource`.
    pub fn calls(&self, method: &str, resource: &str) -> Vec<&Received> {
        self.received.iter().filter(|r| r.method == method && r.resource == resource).collect()
    }

    fn current(&self, name: &str) -> &Version {
        self.resources
            .get(name)
            .and_then(|r| r.versions.last())
            .unwrap_or_else(|| panic!("no resource {name}"))
    }

    fn current_mut(&mut self, name: &str) -> &mut Version {
        self.resources
            .get_mut(name)
            .and_then(|r| r.versions.last_mut())
            .unwrap_or_else(|| panic!("no resource {name}"))
    }

    fn next_etag(&mut self) -> String {
        self.serial += 1;
        // Google's etags are base64 of 8 bytes (`BwWWja0YfJA=`).
        let mut bytes = [0u8; 8];
        bytes[0] = 0x07;
        bytes[1] = 0x05;
        bytes[2..].copy_from_slice(&self.serial.to_be_bytes()[2..]);
        STANDARD.encode(bytes)
    }

    fn commit(
        &mut self,
        name: &str,
        bindings: Vec<Binding>,
        audit_configs: Option<Option<Value>>,
    ) -> Version {
        let etag = self.next_etag();
        let resource = self.resources.get_mut(name).expect("a known resource");
        let audit_configs = audit_configs
            .unwrap_or_else(|| resource.versions.last().and_then(|v| v.audit_configs.clone()));
        let version = Version { etag, bindings: normalise(bindings), audit_configs };
        resource.versions.push(version.clone());
        resource.stale_reads_left = resource.read_lag;
        version
    }

    fn mint(&mut self, email: &str, scopes: Vec<String>) -> String {
        self.serial += 1;
        let token = format!("ya29.c.contract-{}-{}", self.serial, rand::random::<u64>());
        let expires_at = now() + self.token_lifetime;
        self.tokens.insert(token.clone(), Token { email: email.to_owned(), scopes, expires_at });
        token
    }

    fn take_fault(&mut self, method: &str, resource: &str) -> Option<Fault> {
        let injection = self
            .injections
            .iter_mut()
            .find(|i| i.remaining > 0 && i.method == method && i.resource == resource)?;
        injection.remaining -= 1;
        Some(injection.fault.clone())
    }

    /// The caller's roles on `name` now (conditions evaluated).
    fn roles_of(&self, name: &str, email: &str) -> Vec<String> {
        let member = format!("serviceAccount:{email}");
        let now = jiff::Timestamp::now();
        self.current(name)
            .bindings
            .iter()
            .filter(|b| b.members.contains(&member))
            .filter(|b| {
                b.condition
                    .as_ref()
                    .is_none_or(|c| evaluate(c["expression"].as_str().unwrap_or(""), now))
            })
            .map(|b| b.role.clone())
            .collect()
    }
}

/// Merges bindings of the same role and condition, and drops empty ones, as IAM stores them.
fn normalise(bindings: Vec<Binding>) -> Vec<Binding> {
    let mut merged: Vec<Binding> = Vec::new();
    for binding in bindings {
        match merged.iter_mut().find(|b| b.role == binding.role && b.condition == binding.condition)
        {
            Some(existing) => {
                for member in binding.members {
                    if !existing.members.contains(&member) {
                        existing.members.push(member);
                    }
                }
            }
            None => merged.push(binding),
        }
    }
    merged.retain(|b| !b.members.is_empty());
    merged
}

/// The conditions this cloud evaluates: `request.time < timestamp("T")` and `>` (the forms of
/// IAM's date/time attributes); anything else is false, as IAM treats a condition it cannot
/// evaluate in an allow policy.
fn evaluate(expression: &str, at: jiff::Timestamp) -> bool {
    let pattern = regex::Regex::new(
        r#"^\s*request\.time\s*([<>])\s*timestamp\(\s*["']([^"']+)["']\s*\)\s*$"#,
    )
    .expect("a regular expression");
    let Some(captures) = pattern.captures(expression) else { return false };
    let Ok(time) = captures[2].parse::<jiff::Timestamp>() else { return false };
    match &captures[1] {
        "<" => at < time,
        _ => at > time,
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The contract server, on its own thread and runtime so that blocking tests (which run the
/// CLI) and async tests can both use it.
pub struct ContractServer {
    url: String,
    cloud: Arc<Mutex<Cloud>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ContractServer {
    /// Serves `cloud` on 127.0.0.1, on a free port.
    pub fn start(cloud: Cloud) -> Self {
        Discovery::get(); // parse before serving, so the first request is not slow
        let cloud = Arc::new(Mutex::new(cloud));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = cloud.clone();
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
        let url = format!("http://{address}/");
        cloud.lock().expect("cloud").token_url = format!("{url}token");
        Self { url, cloud, shutdown: Some(shutdown_tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT/`: Cloud Resource Manager's root URL here.
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT/token`: the token endpoint here.
    pub fn token_uri(&self) -> String {
        format!("{}token", self.url)
    }

    /// Looks at or changes the cloud.
    pub fn cloud<R>(&self, f: impl FnOnce(&mut Cloud) -> R) -> R {
        f(&mut self.cloud.lock().expect("cloud"))
    }

    /// Answers the next `times` calls of `method` (`getIamPolicy`, `setIamPolicy`, `token`) on
    /// `resource` with `fault`.
    pub fn inject(&self, fault: Fault, method: &'static str, resource: &str, times: usize) {
        self.cloud(|cloud| {
            cloud.injections.push(Injection {
                fault,
                method,
                resource: resource.to_owned(),
                remaining: times,
            })
        });
    }

    /// Takes the violations recorded so far (for a test that provokes some on purpose).
    pub fn take_violations(&self) -> Vec<String> {
        self.cloud(|cloud| std::mem::take(&mut cloud.violations))
    }

    /// Panics with every violation seen so far.
    #[track_caller]
    pub fn assert_spec_clean(&self) {
        let violations = self.take_violations();
        assert!(
            violations.is_empty(),
            "the GCP contract server saw exchanges that Google's discovery document or token \
             endpoint rejects:\n{}",
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
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body }
    }

    /// Google's error envelope (API Design Guide, "Errors").
    fn google(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::google_with(status, code, message, Vec::new())
    }

    fn google_with(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        details: Vec<Value>,
    ) -> Self {
        let mut error = json!({"code": status.as_u16(), "message": message.into(), "status": code});
        if !details.is_empty() {
            error["details"] = Value::Array(details);
        }
        Self { status, body: json!({"error": error}) }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::google(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    fn denied() -> Self {
        Self::google(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "The caller does not have permission",
        )
    }

    /// An OAuth error (RFC 6749 section 5.2), as the token endpoint answers.
    fn oauth(error: &str, description: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": error, "error_description": description}),
        }
    }
}

/// Every request: route the token endpoint, or authenticate, check against the discovery
/// document, inject faults, handle, and check the answer.
async fn handle(State(cloud): State<Arc<Mutex<Cloud>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header = |name: header::HeaderName| {
        parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let content_type = header(header::CONTENT_TYPE);
    let authorization = header(header::AUTHORIZATION);
    let path = parts.uri.path().trim_start_matches('/').to_owned();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).into_owned().collect();

    let reply = {
        let mut cloud = cloud.lock().expect("cloud");
        if path == "token" {
            token_endpoint(&mut cloud, parts.method.as_str(), content_type.as_deref(), &body)
        } else {
            resource_manager(
                &mut cloud,
                parts.method.as_str(),
                &path,
                &query,
                authorization.as_deref(),
                content_type.as_deref(),
                &body,
            )
        }
    };
    let mut response = Response::new(Body::from(reply.body.to_string()));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    response
}

/// Cloud Resource Manager: `POST v3/{resource}:getIamPolicy|setIamPolicy`.
fn resource_manager(
    cloud: &mut Cloud,
    method: &str,
    path: &str,
    query: &[(String, String)],
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let discovery = Discovery::get();
    let token = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| cloud.tokens.get(token))
        .cloned();
    let valid = token.clone().filter(|t| t.expires_at > now());
    let scopes = valid.as_ref().map(|t| t.scopes.clone());
    let (found, mut violations) =
        discovery.check_request(method, path, query, scopes.as_deref(), content_type, body);
    // An expired or unknown token is a 401 to handle, not a broken request.
    if token.is_some() && valid.is_none() {
        violations.retain(|v| !v.contains("Bearer"));
    }
    let (resource, verb) = path
        .strip_prefix("v3/")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(resource, verb)| (resource.to_owned(), verb.to_owned()))
        .unwrap_or_default();
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);

    let reply = match (&found, &valid) {
        (None, _) => Reply::google(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Method not found: {method} /{path}"),
        ),
        (Some(_), None) => Reply::google(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login \
             cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
        ),
        (Some(_), Some(token)) => match cloud.take_fault(leak(&verb), &resource) {
            Some(Fault::Throttle) => Reply::google_with(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                format!(
                    "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per \
                     minute' of service 'cloudresourcemanager.googleapis.com' for consumer \
                     'project_number:{}'.",
                    12345
                ),
                vec![json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                            "metadata": {"service": "cloudresourcemanager.googleapis.com"}})],
            ),
            Some(Fault::Unavailable) => Reply::google(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "The service is currently unavailable.",
            ),
            Some(Fault::ChangeFirst(change)) => {
                let mut bindings = cloud.bindings(&resource);
                change(&mut bindings);
                cloud.commit(&resource, bindings, None);
                iam_method(cloud, &verb, &resource, &token.email, &json_body)
            }
            Some(Fault::LostAnswer) => {
                iam_method(cloud, &verb, &resource, &token.email, &json_body);
                Reply::google(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "The service is currently unavailable.",
                )
            }
            None => iam_method(cloud, &verb, &resource, &token.email, &json_body),
        },
    };

    if let Some(method) = found {
        violations.extend(discovery.check_response(
            method,
            reply.status.as_u16(),
            Some("application/json"),
            reply.body.to_string().as_bytes(),
        ));
    }
    cloud.violations.extend(violations);
    cloud.received.push(Received {
        method: verb,
        resource,
        body: json_body,
        status: reply.status.as_u16(),
        etag: reply.body["etag"].as_str().map(str::to_owned),
    });
    reply
}

/// A `&'static str` for a method name the injections know; others never match.
fn leak(verb: &str) -> &'static str {
    match verb {
        "getIamPolicy" => "getIamPolicy",
        "setIamPolicy" => "setIamPolicy",
        _ => "",
    }
}

fn iam_method(cloud: &mut Cloud, verb: &str, resource: &str, caller: &str, body: &Value) -> Reply {
    // "Permission is denied if the policy or the resource do not exist" (projects.getIamPolicy).
    if !cloud.resources.contains_key(resource) {
        return Reply::denied();
    }
    let roles = cloud.roles_of(resource, caller);
    let may_set = roles.iter().any(|r| ADMIN_ROLES.contains(&r.as_str()));
    let may_get = may_set || roles.iter().any(|r| READER_ROLES.contains(&r.as_str()));
    match verb {
        "getIamPolicy" if may_get => get_iam_policy(cloud, resource, body),
        "setIamPolicy" if may_set => set_iam_policy(cloud, resource, body),
        "getIamPolicy" | "setIamPolicy" => Reply::denied(),
        other => Reply::google(
            StatusCode::NOT_IMPLEMENTED,
            "UNIMPLEMENTED",
            format!("{other} is not served here"),
        ),
    }
}

/// `getIamPolicy`: "Valid values are 0, 1, and 3. Requests specifying an invalid value will be
/// rejected. Requests for policies with any conditional role bindings must specify version 3
/// … if you specify version 3, but the policy has no conditional role bindings, the response
/// uses version 1." A version-1 view of a conditional binding shows its role as
/// `ROLE_withcond_HASH` and hides the condition (IAM's "troubleshooting withcond" page).
fn get_iam_policy(cloud: &mut Cloud, name: &str, body: &Value) -> Reply {
    let requested = body["options"]["requestedPolicyVersion"].as_i64().unwrap_or(0);
    if !matches!(requested, 0 | 1 | 3) {
        return Reply::invalid(format!(
            "Invalid requested policy version: {requested}. Valid values are 0, 1, and 3."
        ));
    }
    let resource = cloud.resources.get_mut(name).expect("checked");
    let version = if resource.stale_reads_left > 0 && resource.versions.len() > 1 {
        resource.stale_reads_left -= 1;
        resource.versions[resource.versions.len() - 2].clone()
    } else {
        resource.versions.last().expect("a version").clone()
    };
    Reply::ok(policy_json(&version, requested == 3))
}

fn policy_json(version: &Version, conditions_visible: bool) -> Value {
    let conditional = version.bindings.iter().any(|b| b.condition.is_some());
    let bindings: Vec<Value> = version
        .bindings
        .iter()
        .map(|binding| match (&binding.condition, conditions_visible) {
            (Some(condition), false) => {
                let hash = format!("{:020x}", fnv(&condition.to_string()) as u128);
                json!({"role": format!("{}_withcond_{}", binding.role, &hash[..20]), "members": binding.members})
            }
            _ => binding.to_json(),
        })
        .collect();
    let mut policy = json!({"version": if conditional && conditions_visible { 3 } else { 1 }, "etag": version.etag});
    if !bindings.is_empty() {
        policy["bindings"] = Value::Array(bindings);
    }
    if let Some(audit) = &version.audit_configs {
        policy["auditConfigs"] = audit.clone();
    }
    policy
}

fn fnv(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf29ce484222325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3))
}

/// `setIamPolicy`, as the discovery document and IAM's documentation describe it.
fn set_iam_policy(cloud: &mut Cloud, name: &str, body: &Value) -> Reply {
    let Some(policy) = body.get("policy").filter(|p| p.is_object()) else {
        return Reply::invalid("policy is required");
    };
    // "If no mask is provided, the following default mask is used: paths: "bindings, etag"".
    let mask: Vec<String> = body["updateMask"]
        .as_str()
        .unwrap_or("bindings,etag")
        .split(',')
        .map(|p| p.trim().to_owned())
        .collect();
    if let Some(unknown) =
        mask.iter().find(|p| !matches!(p.as_str(), "bindings" | "etag" | "auditConfigs"))
    {
        return Reply::invalid(format!("Invalid update mask path: {unknown}"));
    }
    let current = cloud.current(name).clone();
    // "systems are expected to put that etag in the request to setIamPolicy to ensure that
    // their change will be applied to the same version of the policy"; a mismatch is ABORTED.
    match policy["etag"].as_str() {
        Some(etag) if etag != current.etag => {
            return Reply::google(
                StatusCode::CONFLICT,
                "ABORTED",
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
            );
        }
        Some(_) => {}
        None => cloud.blind_writes += 1,
    }
    let mut bindings = Vec::new();
    for binding in policy["bindings"].as_array().into_iter().flatten() {
        let role = binding["role"].as_str().unwrap_or_default().to_owned();
        let members: Vec<String> = binding["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect();
        let condition = binding.get("condition").cloned();
        if let Some(problem) =
            binding_problem(name, &role, &members, condition.as_ref(), &current.bindings)
        {
            return Reply::invalid(problem);
        }
        bindings.push(Binding { role, members, condition });
    }
    let conditional = bindings.iter().any(|b| b.condition.is_some());
    // "Any operation that affects conditional role bindings must specify version 3."
    if conditional && policy["version"].as_i64() != Some(3) {
        return Reply::invalid(
            "Policy version 3 is required to set a policy with conditional role bindings; set policy.version to 3.",
        );
    }
    let bindings =
        if mask.iter().any(|p| p == "bindings") { bindings } else { current.bindings.clone() };
    let audit =
        mask.iter().any(|p| p == "auditConfigs").then(|| policy.get("auditConfigs").cloned());
    let version = cloud.commit(name, bindings, audit);
    Reply::ok(policy_json(&version, true))
}

/// Why IAM would refuse a binding, if it would.
fn binding_problem(
    name: &str,
    role: &str,
    members: &[String],
    condition: Option<&Value>,
    current: &[Binding],
) -> Option<String> {
    let role_ok =
        regex::Regex::new(r"^(roles|(projects|organizations)/[a-z0-9.:-]+/roles)/[A-Za-z0-9_.]+$")
            .expect("a regex");
    if !role_ok.is_match(role) {
        return Some(format!("Role {role} is not supported for this resource."));
    }
    for member in members {
        let ok = [
            "user:",
            "group:",
            "serviceAccount:",
            "domain:",
            "principal://",
            "principalSet://",
            "deleted:",
        ]
        .iter()
        .any(|p| member.len() > p.len() && member.starts_with(p))
            || member == "allUsers"
            || member == "allAuthenticatedUsers";
        if !ok || member.contains(' ') {
            return Some(format!("Invalid member: {member}"));
        }
        // "Project does not support allUsers and allAuthenticatedUsers as members".
        if name.starts_with("projects/")
            && (member == "allUsers" || member == "allAuthenticatedUsers")
        {
            return Some(format!("Project does not support {member} as a member."));
        }
        // "A user cannot be granted the owner role using setIamPolicy(). The user must be
        // granted the owner role using the Cloud Platform Console and must explicitly accept
        // the invitation." (projects.setIamPolicy)
        let already = current.iter().any(|b| b.role == role && b.members.contains(member));
        if name.starts_with("projects/")
            && role == "roles/owner"
            && member.starts_with("user:")
            && !already
        {
            return Some(format!(
                "User {member} cannot be granted roles/owner with setIamPolicy: owners must be \
                 invited through the Cloud Console and accept the invitation."
            ));
        }
    }
    if let Some(condition) = condition {
        // "You cannot use conditions when you grant legacy basic roles" (IAM Conditions overview).
        if BASIC_ROLES.contains(&role) {
            return Some(format!("Conditions are not supported for basic role {role}."));
        }
        if members.iter().any(|m| m == "allUsers" || m == "allAuthenticatedUsers") {
            return Some(
                "Conditions are not supported for allUsers or allAuthenticatedUsers.".to_owned(),
            );
        }
        if condition["expression"].as_str().is_none_or(|e| e.trim().is_empty()) {
            return Some("Condition expression is required.".to_owned());
        }
        if condition["title"].as_str().is_none_or(|t| t.trim().is_empty()) {
            return Some("Condition title is required.".to_owned());
        }
        if condition["title"].as_str().is_some_and(|t| t.chars().count() > 100) {
            return Some("Condition title must be at most 100 characters.".to_owned());
        }
    }
    None
}

/// Google's token endpoint: `POST /token`, form `grant_type` and `assertion` (RFC 7523, as
/// "Using OAuth 2.0 for Server to Server Applications" documents it).
fn token_endpoint(
    cloud: &mut Cloud,
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let form: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let (reply, violation) = exchange(cloud, method, content_type, &form);
    if let Some(violation) = violation {
        cloud.violations.push(format!("token endpoint: {violation}"));
    }
    let mut shown = json!(form);
    if let Some(object) = shown.as_object_mut() {
        object.remove("assertion");
    }
    cloud.received.push(Received {
        method: "token".to_owned(),
        resource: String::new(),
        body: shown,
        status: reply.status.as_u16(),
        etag: None,
    });
    reply
}

/// The answer, and a protocol violation to record (a request no correct client sends).
fn exchange(
    cloud: &mut Cloud,
    method: &str,
    content_type: Option<&str>,
    form: &BTreeMap<String, String>,
) -> (Reply, Option<String>) {
    let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
    if method != "POST" || media != "application/x-www-form-urlencoded" {
        let why = format!(
            "{method} with content type {media:?}; RFC 6749 wants a POST of application/x-www-form-urlencoded"
        );
        return (Reply::oauth("invalid_request", "Bad Request"), Some(why));
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant != JWT_BEARER {
        return (
            Reply::oauth("unsupported_grant_type", &format!("Invalid grant_type: {grant}")),
            Some(format!("grant_type {grant:?}")),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return (
            Reply::oauth("invalid_request", "Missing required parameter: assertion"),
            Some("no assertion".to_owned()),
        );
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header), Some(claims), [signed_header, signed_claims, signature]) = (
        parts.first().and_then(|p| decode(p)),
        parts.get(1).and_then(|p| decode(p)),
        parts.as_slice(),
    ) else {
        return (
            Reply::oauth("invalid_grant", "Invalid JWT: not a signed JWT"),
            Some("the assertion is not a JWS in compact form".to_owned()),
        );
    };
    if header["alg"] != "RS256" {
        return (
            Reply::oauth("invalid_grant", "Invalid JWT Signature."),
            Some(format!("alg {} (Google wants RS256)", header["alg"])),
        );
    }
    for claim in ["iss", "scope", "aud", "iat", "exp"] {
        if claims.get(claim).is_none() {
            return (
                Reply::oauth("invalid_request", &format!("Invalid JWT: missing claim {claim}")),
                Some(format!("no `{claim}` claim")),
            );
        }
    }
    let issuer = claims["iss"].as_str().unwrap_or_default();
    let Some(account) = cloud.accounts.get(issuer).cloned() else {
        return (Reply::oauth("invalid_grant", "Invalid grant: account not found"), None);
    };
    if header.get("kid").is_some_and(|kid| kid != account.key_id.as_str()) {
        return (Reply::oauth("invalid_grant", "Invalid JWT Signature."), None);
    }
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return (
            Reply::oauth("invalid_grant", "Invalid JWT Signature."),
            Some("the signature is not base64url".to_owned()),
        );
    };
    let public = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &account.public_key,
    );
    if public.verify(format!("{signed_header}.{signed_claims}").as_bytes(), &signature).is_err() {
        return (Reply::oauth("invalid_grant", "Invalid JWT Signature."), None);
    }
    if claims["aud"] != cloud.token_url.as_str() {
        let description = format!(
            "Invalid JWT: Failed audience check. The expected value was {} but the actual value was {}",
            cloud.token_url, claims["aud"]
        );
        return (
            Reply::oauth("invalid_grant", &description),
            Some(format!("aud {} is not the token URL", claims["aud"])),
        );
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return (
            Reply::oauth("invalid_grant", "Invalid JWT: iat and exp must be numbers"),
            Some("iat or exp is not a number".to_owned()),
        );
    };
    let skew = 300;
    if exp <= iat || exp - iat > 3600 || iat > now() + skew || exp + skew < now() {
        return (
            Reply::oauth(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            ),
            None,
        );
    }
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return (
            Reply::oauth("invalid_scope", "Invalid OAuth scope or ID token audience provided."),
            Some(format!("scope {:?}", claims["scope"])),
        );
    }
    let lifetime = cloud.token_lifetime;
    let token = cloud.mint(issuer, scopes);
    (
        Reply::ok(json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})),
        None,
    )
}
