//! Azure Resource Manager over the shared HTTP client: URLs with their `api-version`, the bearer
//! token (fetched again once when ARM refuses it), paging through `nextLink`, pacing by the
//! `x-ms-ratelimit-remaining-*` headers, and ARM's error bodies (`{"error": {"code",
//! "message"}}`) turned into errors that say what to do.
//!
//! Retries of throttling (429, `Retry-After`) and server failures (5xx) are the shared client's
//! ([`breakglass_provider::http`]). ARM also counts what is left of a caller's budget in every
//! answer (`x-ms-ratelimit-remaining-subscription-reads: 11999`); when a budget runs out, calls
//! of that kind pause for a second rather than spend the next one on a 429.

use breakglass_provider::http::{HttpClient, HttpConfig, HttpResponse};
use breakglass_provider::{ErrorKind, ProviderError, Secret};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use crate::api::{ErrorResponse, Page};
use crate::config::{AzureConfig, CLIENT_ID_VARIABLE};
use crate::token::TokenSource;

/// More pages than any scope has: a list this long is a server that never ends its list.
pub const MAX_PAGES: usize = 10_000;

/// How long calls of a kind pause once ARM says their budget is spent.
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);

/// What a query value may hold unencoded.
const QUERY_VALUE: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A failed ARM call: the error, and ARM's error code when the body had one
/// (`RoleAssignmentExists`), for callers that act on particular codes.
#[derive(Debug, Clone)]
pub struct ArmError {
    /// ARM's `error.code`.
    pub code: Option<String>,
    /// The error, with its kind and message.
    pub error: ProviderError,
}

impl ArmError {
    /// Whether ARM answered with error code `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    /// The kind of the error.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }
}

impl From<ProviderError> for ArmError {
    fn from(error: ProviderError) -> Self {
        Self { code: None, error }
    }
}

impl From<ArmError> for ProviderError {
    fn from(error: ArmError) -> Self {
        error.error
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// A configured connection to Resource Manager. Clones share the token, limits and counters.
#[derive(Debug, Clone)]
pub struct Arm {
    http: HttpClient,
    tokens: Arc<TokenSource>,
    endpoint: Url,
    client_id: String,
    pacing: Arc<Pacing>,
    /// How long a schedule request, or a change to become visible, is waited for.
    pub operation_timeout: Duration,
    /// The first wait between two looks.
    pub poll_interval: Duration,
    /// Role definition GUIDs whose assignments are privileged.
    pub privileged_roles: BTreeSet<String>,
}

impl Arm {
    /// A connection as `config` says.
    pub fn new(config: &AzureConfig) -> Result<Self, ProviderError> {
        let http_config = HttpConfig::default()
            .with_max_attempts(config.max_attempts)
            .with_request_timeout(config.timeout);
        let builder = || {
            let builder = reqwest::Client::builder()
                .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
            // A proxy from the environment would send a local test server's traffic elsewhere.
            if config.is_loopback() { builder.no_proxy() } else { builder }
        };
        let http = HttpClient::from_builder("azure", http_config.clone(), builder())?;
        let token_http = HttpClient::from_builder("azure", http_config, builder())?;
        Ok(Self {
            http,
            tokens: Arc::new(TokenSource::new(config, token_http)),
            endpoint: config.resource_manager.clone(),
            client_id: config.client_id.clone(),
            pacing: Arc::new(Pacing::default()),
            operation_timeout: config.operation_timeout,
            poll_interval: config.poll_interval,
            privileged_roles: config.privileged_roles.clone(),
        })
    }

    /// HTTP requests sent to Resource Manager so far, retries included.
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// Tokens fetched so far.
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens.fetched()
    }

    /// `GET path?api-version=…` decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, api: &str) -> Result<T, ArmError> {
        let url = self.url(path, api, None);
        let response = self.call(Method::GET, url.clone(), None).await?;
        decode(&response, &url)
    }

    /// Every object of the list at `path`, with `$filter`, page after page through `nextLink`;
    /// and how many pages (calls) it took.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        api: &str,
        filter: &str,
    ) -> Result<(Vec<T>, u64), ArmError> {
        let mut url = self.url(path, api, Some(filter));
        let mut items = Vec::new();
        let mut seen = BTreeSet::new();
        let mut pages = 0usize;
        loop {
            let response = self.call(Method::GET, url.clone(), None).await?;
            let page: Page<T> = decode(&response, &url)?;
            pages += 1;
            items.extend(page.value);
            let Some(link) = page.next_link.filter(|link| !link.is_empty()) else {
                return Ok((items, pages as u64));
            };
            let stop = |why: String| {
                ArmError::from(ProviderError::protocol(format!(
                    "azure: GET {}: page {pages} {why}; stopped reading the list rather than \
                     loop or send the token elsewhere",
                    url.path()
                )))
            };
            let next =
                Url::parse(&link).map_err(|_| stop("has a nextLink that is not a URL".into()))?;
            if next.origin() != self.endpoint.origin() {
                return Err(stop(format!(
                    "has a nextLink to another host ({})",
                    next.host_str().unwrap_or("none")
                )));
            }
            if !seen.insert(link) {
                return Err(stop("has a nextLink already followed".into()));
            }
            if pages >= MAX_PAGES {
                return Err(stop(format!("is the {MAX_PAGES}th and the list still goes on")));
            }
            url = next;
        }
    }

    /// `PUT path?api-version=…` with `body` as JSON, the answer decoded as `T`.
    pub async fn put<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        api: &str,
        body: &B,
    ) -> Result<T, ArmError> {
        let url = self.url(path, api, None);
        let body = serde_json::to_vec(body).map_err(|error| {
            ProviderError::invalid(format!("azure: PUT {}: {error}", url.path()))
        })?;
        let response = self.call(Method::PUT, url.clone(), Some(body)).await?;
        decode(&response, &url)
    }

    /// `DELETE path?api-version=…`: 200 (deleted) and 204 (nothing there) are both success.
    pub async fn delete(&self, path: &str, api: &str) -> Result<(), ArmError> {
        let url = self.url(path, api, None);
        self.call(Method::DELETE, url, None).await.map(|_| ())
    }

    /// `endpoint/path?api-version=…[&$filter=…]`. `path` is a scope and what follows it; the
    /// scope was checked ([`crate::key::checked_scope`]), as ARM takes it unencoded.
    fn url(&self, path: &str, api: &str, filter: Option<&str>) -> Url {
        let mut url = self.endpoint.clone();
        let base = self.endpoint.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        let mut query = format!("api-version={}", utf8_percent_encode(api, QUERY_VALUE));
        if let Some(filter) = filter {
            query.push_str(&format!("&$filter={}", utf8_percent_encode(filter, QUERY_VALUE)));
        }
        url.set_query(Some(&query));
        url
    }

    /// One call: paced, with a token, sent again with a fresh token if ARM refuses the first.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, ArmError> {
        let what = format!("{method} {}", url.path());
        let kind = Budget::of(&method);
        let mut refreshed = false;
        loop {
            let token = self.tokens.token().await?;
            self.pacing.wait(kind).await;
            let response = self.send(&method, &url, body.as_deref(), &token).await?;
            self.pacing.note(kind, &response);
            if response.status == StatusCode::UNAUTHORIZED && !refreshed {
                // Expired early or revoked: one fresh token, then the answer stands.
                self.tokens.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            if response.is_success() {
                return Ok(response);
            }
            return Err(self.failure(&what, &response));
        }
    }

    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        token: &Secret,
    ) -> Result<HttpResponse, ProviderError> {
        self.http
            .send(|client| {
                let mut request = client
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(body) = body {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.to_vec());
                }
                request.build().map_err(|error| self.http.build_error(error))
            })
            .await
    }

    /// The error an answer that is not a success stands for, with what to do about it.
    fn failure(&self, what: &str, response: &HttpResponse) -> ArmError {
        let status = response.status;
        let (code, message) = match response.json::<ErrorResponse>() {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => (None, None),
        };
        let said = match (&code, &message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, Some(message)) => message.clone(),
            (None, None) => {
                format!("the body is not an ARM error; it starts: {}", response.excerpt())
            }
        };
        let is = |name: &str| code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name));
        let text = format!("azure: {what} answered {status} ({said})");
        let error = match status {
            StatusCode::UNAUTHORIZED => ProviderError::denied(format!(
                "{text}: Resource Manager refused a fresh token too; check that the service \
                 principal {CLIENT_ID_VARIABLE} ({}) exists and is enabled in the tenant",
                self.client_id
            )),
            StatusCode::FORBIDDEN => ProviderError::denied(format!(
                "{text}: the service principal {CLIENT_ID_VARIABLE} ({}) lacks a permission \
                 here. It needs Microsoft.Authorization/roleAssignments/read, write and delete, \
                 roleAssignmentSchedules/read and roleAssignmentScheduleRequests/read and write \
                 at the scope: assign it User Access Administrator there",
                self.client_id
            )),
            StatusCode::NOT_FOUND => ProviderError::not_found(text),
            StatusCode::BAD_REQUEST if is("RoleAssignmentDoesNotExist") => {
                ProviderError::not_found(text)
            }
            StatusCode::BAD_REQUEST if is("PrincipalNotFound") => ProviderError::invalid(format!(
                "{text}: the principal is not in the tenant. If it was created moments ago, set \
                 principal_type so Azure does not wait for directory replication, and apply \
                 again"
            )),
            status if status.is_client_error() => ProviderError::invalid(text),
            _ => ProviderError::protocol(format!("{text}, which the API does not document")),
        };
        ArmError { code, error }
    }
}

/// Decodes a successful answer, naming the call in the error.
fn decode<T: DeserializeOwned>(response: &HttpResponse, url: &Url) -> Result<T, ArmError> {
    response.json().map_err(|error| {
        ArmError::from(ProviderError::protocol(format!(
            "azure: {}: {}",
            url.path(),
            error.message()
        )))
    })
}

/// Which budget of ARM's a call spends.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Reads,
    Writes,
}

impl Budget {
    fn of(method: &Method) -> Self {
        if *method == Method::GET { Budget::Reads } else { Budget::Writes }
    }

    /// The suffixes of the headers that count this budget.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Budget::Reads => &["-reads"],
            Budget::Writes => &["-writes", "-deletes"],
        }
    }
}

/// When calls of each kind may go again, after ARM said their budget was spent.
#[derive(Debug, Default)]
struct Pacing {
    reads: Mutex<Option<Instant>>,
    writes: Mutex<Option<Instant>>,
}

impl Pacing {
    fn slot(&self, budget: Budget) -> &Mutex<Option<Instant>> {
        match budget {
            Budget::Reads => &self.reads,
            Budget::Writes => &self.writes,
        }
    }

    async fn wait(&self, budget: Budget) {
        let until = *self.slot(budget).lock().expect("pacing");
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Reads the remaining budget from the answer's `x-ms-ratelimit-remaining-*` headers.
    fn note(&self, budget: Budget, response: &HttpResponse) {
        let remaining = remaining(budget, response);
        let mut slot = self.slot(budget).lock().expect("pacing");
        match remaining {
            Some(0) => *slot = Some(Instant::now() + RATE_LIMIT_PAUSE),
            Some(_) => *slot = None,
            // An answer that counts nothing (an error from a proxy) changes nothing.
            None => {}
        }
    }
}

/// The smallest budget left that the answer reports for `budget`.
fn remaining(budget: Budget, response: &HttpResponse) -> Option<u64> {
    response
        .headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("x-ms-ratelimit-remaining-")
                && budget.suffixes().iter().any(|suffix| name.ends_with(suffix))
        })
        .filter_map(|(_, value)| value.to_str().ok()?.trim().parse::<u64>().ok())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    fn arm(endpoint: &str) -> Arm {
        let mut attributes = breakglass_provider::Attributes::new();
        for (name, value) in [
            ("tenant_id", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            ("client_secret", "s3cret"),
            ("resource_manager_endpoint", endpoint),
        ] {
            attributes.insert(name.into(), json!(value));
        }
        Arm::new(&AzureConfig::from_attributes(&attributes, |_| None).unwrap()).unwrap()
    }

    fn response(status: u16, body: &str, headers: &[(&'static str, &str)]) -> HttpResponse {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        HttpResponse::new(StatusCode::from_u16(status).unwrap(), map, body.to_owned())
    }

    #[test]
    fn urls_keep_the_scope_and_encode_the_filter() {
        let arm = arm("https://management.azure.com/");
        let url = arm.url(
            "/subscriptions/s1/resourceGroups/rg-(prod)/providers/Microsoft.Authorization/roleAssignments",
            "2022-04-01",
            Some("principalId eq '3f2b'"),
        );
        assert_eq!(
            url.as_str(),
            "https://management.azure.com/subscriptions/s1/resourceGroups/rg-(prod)/providers/\
             Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId%20eq%20%273f2b%27"
        );
    }

    #[test]
    fn arm_errors_become_errors_that_say_what_to_do() {
        let arm = arm("https://management.azure.com");
        let body = |code: &str, message: &str| {
            json!({"error": {"code": code, "message": message}}).to_string()
        };
        let cases = [
            (
                403,
                body(
                    "AuthorizationFailed",
                    "The client 'x' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write'",
                ),
                ErrorKind::Denied,
                "assign it User Access Administrator there",
            ),
            (
                401,
                body("InvalidAuthenticationToken", "The access token is invalid."),
                ErrorKind::Denied,
                "AZURE_CLIENT_ID",
            ),
            (
                404,
                body("RoleAssignmentNotFound", "The role assignment 'x' is not found."),
                ErrorKind::NotFound,
                "RoleAssignmentNotFound",
            ),
            (
                400,
                body("RoleAssignmentDoesNotExist", "The Role assignment does not exist."),
                ErrorKind::NotFound,
                "does not exist",
            ),
            (
                400,
                body("PrincipalNotFound", "Principal 3f2b does not exist in the directory."),
                ErrorKind::Invalid,
                "set principal_type",
            ),
            (
                409,
                body("RoleAssignmentExists", "The role assignment already exists."),
                ErrorKind::Invalid,
                "409 Conflict (RoleAssignmentExists: The role assignment already exists.)",
            ),
            (
                400,
                "<html>bad gateway</html>".to_owned(),
                ErrorKind::Invalid,
                "not an ARM error; it starts: <html>",
            ),
            (501, "{}".to_owned(), ErrorKind::Protocol, "does not document"),
        ];
        for (status, body, kind, expected) in cases {
            let failure = arm.failure("PUT /subscriptions/s1/x", &response(status, &body, &[]));
            assert_eq!(failure.kind(), kind, "{status}: {failure}");
            assert!(failure.error.message().contains(expected), "{status}: {failure}");
            assert!(
                failure.error.message().starts_with("azure: PUT /subscriptions/s1/x answered"),
                "{failure}"
            );
        }
        let exists = arm.failure("PUT /x", &response(409, &body("RoleAssignmentExists", "m"), &[]));
        assert!(exists.is("roleassignmentexists"));
    }

    #[test]
    fn the_smallest_remaining_budget_of_the_kind_counts() {
        let answer = response(
            200,
            "{}",
            &[
                ("x-ms-ratelimit-remaining-subscription-reads", "11999"),
                ("x-ms-ratelimit-remaining-tenant-reads", "7"),
                ("x-ms-ratelimit-remaining-subscription-writes", "0"),
            ],
        );
        assert_eq!(remaining(Budget::Reads, &answer), Some(7));
        assert_eq!(remaining(Budget::Writes, &answer), Some(0));
        assert_eq!(remaining(Budget::Reads, &response(200, "{}", &[])), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_pauses_calls_of_its_kind_only() {
        let pacing = Pacing::default();
        pacing.note(
            Budget::Reads,
            &response(200, "{}", &[("x-ms-ratelimit-remaining-subscription-reads", "0")]),
        );
        let began = Instant::now();
        pacing.wait(Budget::Writes).await;
        assert_eq!(began.elapsed(), Duration::ZERO);
        pacing.wait(Budget::Reads).await;
        assert_eq!(began.elapsed(), RATE_LIMIT_PAUSE);
        pacing.note(
            Budget::Reads,
            &response(200, "{}", &[("x-ms-ratelimit-remaining-subscription-reads", "5")]),
        );
        let again = Instant::now();
        pacing.wait(Budget::Reads).await;
        assert_eq!(again.elapsed(), Duration::ZERO);
    }
}
