//! The client every HTTP provider sends its calls through.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::error::{ErrorKind, ProviderError};
use crate::http::config::HttpConfig;
use crate::http::limiter::Limiter;
use crate::http::response::HttpResponse;
use crate::http::retry::{RetryClassifier, default_kind, wait_before_retry};

/// One provider's HTTP client: a `reqwest` client with timeouts, retries and limits.
///
/// Make one when the provider is configured and clone it wherever it is needed: clones share
/// the limits and the counters.
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Shared>,
    classifier: Option<Arc<dyn RetryClassifier>>,
}

/// What clones share.
struct Shared {
    provider: String,
    config: HttpConfig,
    client: reqwest::Client,
    limiter: Limiter,
    calls: AtomicU64,
    retries: AtomicU64,
}

impl HttpClient {
    /// A client for the provider named `provider` (it starts every error message), with a
    /// `breakglass/<version>` user agent.
    ///
    /// Fails with [`ErrorKind::Invalid`] when `config` cannot be used (no attempts, no
    /// concurrency, a rate that is not positive).
    pub fn new(provider: &str, config: HttpConfig) -> Result<Self, ProviderError> {
        let builder = reqwest::Client::builder()
            .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
        Self::from_builder(provider, config, builder)
    }

    /// Like [`HttpClient::new`], from a `reqwest` builder the provider has set up (a private CA
    /// for a self-hosted endpoint, a client certificate, a user agent). The timeouts of `config`
    /// are set on it.
    pub fn from_builder(
        provider: &str,
        config: HttpConfig,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, ProviderError> {
        config.validate(provider)?;
        let client = builder
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| {
                ProviderError::unsupported(format!(
                    "{provider}: cannot set up an HTTP client: {}",
                    describe(error)
                ))
            })?;
        Ok(Self {
            shared: Arc::new(Shared {
                provider: provider.to_owned(),
                limiter: Limiter::new(config.max_concurrent, config.max_per_second),
                config,
                client,
                calls: AtomicU64::new(0),
                retries: AtomicU64::new(0),
            }),
            classifier: None,
        })
    }

    /// Asks `classifier` about every response before the default retry rules.
    pub fn with_classifier(mut self, classifier: Arc<dyn RetryClassifier>) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// The `reqwest` client, to build requests with.
    pub fn inner(&self) -> &reqwest::Client {
        &self.shared.client
    }

    /// The settings the client was made with.
    pub fn config(&self) -> &HttpConfig {
        &self.shared.config
    }

    /// Sends the request that `build` makes, retrying failures that may pass, and returns the
    /// response, body read.
    ///
    /// `build` is called again for every attempt, so signatures and timestamps are fresh; an
    /// error from it is returned at once, unchanged. Every attempt waits for the provider's
    /// limits ([`HttpConfig::max_concurrent`], [`HttpConfig::max_per_second`]).
    ///
    /// Retried, up to [`HttpConfig::max_attempts`] attempts: 429 ([`ErrorKind::Throttled`]); 500,
    /// 502, 503 and 504, connection failures and timeouts ([`ErrorKind::Transient`]); and what
    /// the [`RetryClassifier`] calls retryable. The wait is what `Retry-After` asks, else
    /// exponential backoff with jitter, capped at [`HttpConfig::max_backoff`] either way.
    ///
    /// Any other response is returned whatever its status: the provider turns its 4xx bodies
    /// into errors. Once attempts are exhausted, the last failure is returned, of its kind, with
    /// the wait the platform asked for, and a message naming the provider, the method, the URL
    /// path (never the query, which may hold secrets), the status and the attempts:
    /// `openai: GET /v1/organization/projects answered 503 Service Unavailable after 5
    /// attempts`.
    ///
    /// Every method is retried, `POST` included: a create whose first attempt timed out may
    /// have happened, so the provider must accept "already exists" from a retry.
    pub async fn send<F>(&self, build: F) -> Result<HttpResponse, ProviderError>
    where
        F: Fn(&reqwest::Client) -> Result<reqwest::Request, ProviderError> + Send + Sync,
    {
        let shared = &*self.shared;
        let mut attempts = 0;
        loop {
            let request = build(&shared.client)?;
            let target =
                Target { method: request.method().clone(), path: request.url().path().to_owned() };
            attempts += 1;
            let failure = match self.attempt(request).await {
                Ok(response) => match self.judge(&response) {
                    None => return Ok(response),
                    Some(failure) => failure,
                },
                Err(failure) => failure,
            };
            if !failure.kind.is_retryable() || attempts >= shared.config.max_attempts {
                return Err(failure.into_error(&shared.provider, &target, attempts));
            }
            let wait = wait_before_retry(&shared.config, attempts - 1, failure.retry_after);
            shared.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// HTTP requests sent so far by this client and its clones, retries included.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::Relaxed)
    }

    /// Retries made so far by this client and its clones.
    pub fn retries(&self) -> u64 {
        self.shared.retries.load(Ordering::Relaxed)
    }

    /// Turns an error from building a request (`RequestBuilder::build`: a malformed URL or
    /// header value) into an [`ErrorKind::Invalid`] error naming the provider, for `build`
    /// closures. The URL is left out of the message.
    pub fn build_error(&self, error: reqwest::Error) -> ProviderError {
        ProviderError::invalid(format!(
            "{}: cannot build the request: {}",
            self.shared.provider,
            describe(error)
        ))
    }

    /// One attempt: waits for the limits, sends, reads the whole body.
    async fn attempt(&self, request: reqwest::Request) -> Result<HttpResponse, Failure> {
        let _in_flight = self.shared.limiter.admit().await;
        self.shared.calls.fetch_add(1, Ordering::Relaxed);
        let mut response = self.shared.client.execute(request).await.map_err(Failure::transport)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let body = response.bytes().await.map_err(Failure::transport)?;
        Ok(HttpResponse::new(status, headers, body))
    }

    /// Whether a response is a failure: the classifier first, then the default rules.
    fn judge(&self, response: &HttpResponse) -> Option<Failure> {
        let status = response.status;
        if let Some(error) = self.classifier.as_ref().and_then(|c| c.classify(response)) {
            return Some(Failure {
                kind: error.kind(),
                retry_after: error.retry_after().or_else(|| response.retry_after()),
                cause: Cause::Status {
                    status: status_text(status, self.classifier.as_deref()),
                    detail: Some(error.message().to_owned()),
                },
            });
        }
        Some(Failure {
            kind: default_kind(status)?,
            retry_after: response.retry_after(),
            cause: Cause::Status {
                status: status_text(status, self.classifier.as_deref()),
                detail: None,
            },
        })
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.shared.provider)
            .field("config", &self.shared.config)
            .field("classifier", &self.classifier.is_some())
            .field("calls", &self.calls())
            .field("retries", &self.retries())
            .finish()
    }
}

/// What a call was sent to, for messages: the method and the URL path, never the query.
struct Target {
    method: Method,
    path: String,
}

/// Why an attempt failed.
struct Failure {
    kind: ErrorKind,
    cause: Cause,
    retry_after: Option<Duration>,
}

enum Cause {
    /// The platform answered `status` (its code and name); `detail` is the classifier's
    /// message.
    Status { status: String, detail: Option<String> },
    /// No answer: the connection failed, timed out, or broke.
    Transport(String),
}

impl Failure {
    /// A failure of `reqwest` to send or to read: connection failures, timeouts and broken
    /// bodies may pass; a request `reqwest` refuses (a URL scheme it cannot speak) will not, nor
    /// will too many redirects or a body it cannot decode.
    fn transport(error: reqwest::Error) -> Self {
        let (kind, what) = if error.is_timeout() {
            (ErrorKind::Transient, "timed out")
        } else if error.is_connect() {
            (ErrorKind::Transient, "could not connect")
        } else if error.is_request() || error.is_body() {
            (ErrorKind::Transient, "the connection failed")
        } else if error.is_builder() {
            (ErrorKind::Invalid, "the request cannot be sent")
        } else {
            (ErrorKind::Protocol, "the answer cannot be read")
        };
        let cause = Cause::Transport(format!("{what} ({})", describe(error)));
        Self { kind, cause, retry_after: None }
    }

    fn into_error(self, provider: &str, target: &Target, attempts: u32) -> ProviderError {
        let Target { method, path } = target;
        let attempts = match attempts {
            1 => "1 attempt".to_owned(),
            n => format!("{n} attempts"),
        };
        let message = match self.cause {
            Cause::Status { status, detail: None } => {
                format!("{provider}: {method} {path} answered {status} after {attempts}")
            }
            Cause::Status { status, detail: Some(detail) } => {
                format!("{provider}: {method} {path} answered {status} after {attempts}: {detail}")
            }
            Cause::Transport(cause) => {
                format!("{provider}: {method} {path} failed after {attempts}: {cause}")
            }
        };
        let error = ProviderError::new(self.kind, message);
        match self.retry_after {
            Some(wait) => error.with_retry_after(wait),
            None => error,
        }
    }
}

/// `503 Service Unavailable`: the code and its name, HTTP's or the platform's (`529
/// Overloaded`), never `<unknown status code>`.
pub fn status_text(status: StatusCode, classifier: Option<&dyn RetryClassifier>) -> String {
    match classifier.and_then(|c| c.status_name(status)).or_else(|| status.canonical_reason()) {
        Some(name) => format!("{} {name}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The error and its causes on one line, without the URL (its query may hold a secret).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::HttpClient;
    use crate::error::{ErrorKind, ProviderError};
    use crate::http::config::HttpConfig;
    use crate::http::response::HttpResponse;
    use crate::http::retry::RetryClassifier;
    use crate::http::test_server::{Reply, TestServer};
    use reqwest::StatusCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    use tokio::task::JoinSet;

    /// Quick retries, so tests stay fast; `Retry-After` up to 2 s is honoured.
    fn fast() -> HttpConfig {
        HttpConfig::default()
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_secs(2))
    }

    /// A client that ignores proxy settings from the environment, which would send 127.0.0.1
    /// elsewhere.
    fn client(config: HttpConfig) -> HttpClient {
        HttpClient::from_builder("test", config, reqwest::Client::builder().no_proxy())
            .expect("client")
    }

    async fn get(http: &HttpClient, url: &str) -> Result<HttpResponse, ProviderError> {
        http.send(|client| client.get(url).build().map_err(|error| http.build_error(error))).await
    }

    #[tokio::test]
    async fn a_503_then_a_200_is_retried_and_succeeds() {
        let server = TestServer::start(|n| match n {
            0 => Reply::status(503),
            _ => Reply::status(200).body("ok"),
        })
        .await;
        let http = client(fast());
        let response = get(&http, &server.url("/v1/things")).await.expect("retried to success");
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.text(), "ok");
        assert_eq!((http.calls(), http.retries()), (2, 1));
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn a_429_waits_as_long_as_retry_after_asks() {
        let server = TestServer::start(|n| match n {
            0 => Reply::status(429).header("retry-after", "1"),
            _ => Reply::status(200),
        })
        .await;
        let http = client(fast());
        let began = Instant::now();
        let response = get(&http, &server.url("/v1/things")).await.expect("retried to success");
        let waited = began.elapsed();
        assert!(response.is_success());
        assert!(waited >= Duration::from_millis(900), "waited only {waited:?}");
        assert_eq!(http.calls(), 2);
    }

    #[tokio::test]
    async fn answers_that_are_not_retried_come_back_at_once() {
        for status in [200, 201, 400, 401, 403, 404, 409, 501] {
            let server = TestServer::start(move |_| Reply::status(status).body("{}")).await;
            let http = client(fast());
            let response = get(&http, &server.url("/v1/things")).await.expect("a response");
            assert_eq!(response.status.as_u16(), status);
            assert_eq!((http.calls(), http.retries()), (1, 0), "{status}");
        }
    }

    #[tokio::test]
    async fn exhausted_attempts_name_provider_method_path_status_and_count() {
        let cases = [
            (
                Reply::status(503),
                ErrorKind::Transient,
                None,
                "test: GET /v1/organization/projects answered 503 Service Unavailable after 3 \
                 attempts",
            ),
            (
                Reply::status(429).header("retry-after", "0"),
                ErrorKind::Throttled,
                Some(Duration::ZERO),
                "test: GET /v1/organization/projects answered 429 Too Many Requests after 3 \
                 attempts",
            ),
        ];
        for (reply, kind, retry_after, message) in cases {
            let server = TestServer::start(move |_| reply.clone()).await;
            let http = client(fast().with_max_attempts(3));
            let url = server.url("/v1/organization/projects?api_key=sk-secret&limit=10");
            let error = get(&http, &url).await.expect_err("attempts exhausted");
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.retry_after(), retry_after, "{error}");
            assert_eq!(error.message(), message);
            assert_eq!((http.calls(), http.retries()), (3, 2));
            assert_eq!(
                server.seen()[0].target,
                "/v1/organization/projects?api_key=sk-secret&limit=10"
            );
        }
    }

    #[tokio::test]
    async fn one_attempt_means_no_retry() {
        let server = TestServer::start(|_| Reply::status(502)).await;
        let http = client(fast().with_max_attempts(1));
        let error = get(&http, &server.url("/x")).await.expect_err("no retry");
        assert_eq!(error.message(), "test: GET /x answered 502 Bad Gateway after 1 attempt");
        assert_eq!((http.calls(), http.retries()), (1, 0));
    }

    /// AWS's way of saying "slow down".
    struct AwsThrottling;

    impl RetryClassifier for AwsThrottling {
        fn classify(&self, response: &HttpResponse) -> Option<ProviderError> {
            (response.status == StatusCode::BAD_REQUEST
                && response.text().contains("<Code>Throttling</Code>"))
            .then(|| ProviderError::new(ErrorKind::Throttled, "Rate exceeded"))
        }
    }

    #[tokio::test]
    async fn a_classifier_turns_a_throttling_400_into_a_retry() {
        let throttled = "<ErrorResponse><Error><Code>Throttling</Code>\
                         <Message>Rate exceeded</Message></Error></ErrorResponse>";
        let server = TestServer::start(move |n| match n {
            0 | 1 => Reply::status(400).body(throttled),
            _ => Reply::status(200),
        })
        .await;
        let http = client(fast()).with_classifier(Arc::new(AwsThrottling));
        let response = get(&http, &server.url("/")).await.expect("retried to success");
        assert!(response.is_success());
        assert_eq!((http.calls(), http.retries()), (3, 2));

        // Other 400s are the provider's to read.
        let server =
            TestServer::start(|_| Reply::status(400).body("<Code>ValidationError</Code>")).await;
        let http = client(fast()).with_classifier(Arc::new(AwsThrottling));
        let response = get(&http, &server.url("/")).await.expect("a response");
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(http.calls(), 1);

        // Exhausted, the classifier's kind and message are kept.
        let server = TestServer::start(move |_| Reply::status(400).body(throttled)).await;
        let http = client(fast().with_max_attempts(2)).with_classifier(Arc::new(AwsThrottling));
        let error = get(&http, &server.url("/")).await.expect_err("attempts exhausted");
        assert_eq!(error.kind(), ErrorKind::Throttled);
        assert_eq!(
            error.message(),
            "test: GET / answered 400 Bad Request after 2 attempts: Rate exceeded"
        );
    }

    /// Says a 200 with an error body is a revoked token.
    struct RevokedToken;

    impl RetryClassifier for RevokedToken {
        fn classify(&self, response: &HttpResponse) -> Option<ProviderError> {
            response
                .text()
                .contains("token_revoked")
                .then(|| ProviderError::denied("the token was revoked"))
        }
    }

    #[tokio::test]
    async fn a_classifier_error_that_is_not_retryable_is_returned_at_once() {
        let server =
            TestServer::start(|_| Reply::status(200).body(r#"{"error":"token_revoked"}"#)).await;
        let http = client(fast()).with_classifier(Arc::new(RevokedToken));
        let error = get(&http, &server.url("/api/users")).await.expect_err("denied");
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert_eq!(
            error.message(),
            "test: GET /api/users answered 200 OK after 1 attempt: the token was revoked"
        );
        assert_eq!(http.calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_and_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let http = client(fast().with_max_attempts(3));
        let error = get(&http, &format!("http://{addr}/v1/things?key=sk-secret"))
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        let message = error.message();
        assert!(
            message.starts_with("test: GET /v1/things failed after 3 attempts: could not connect"),
            "{message}"
        );
        assert!(!message.contains("sk-secret") && !message.contains("127.0.0.1"), "{message}");
        assert_eq!((http.calls(), http.retries()), (3, 2));
    }

    #[tokio::test]
    async fn a_timeout_is_transient_and_retried() {
        let server = TestServer::start(|_| Reply::status(200).delay(Duration::from_secs(5))).await;
        let http =
            client(fast().with_max_attempts(2).with_request_timeout(Duration::from_millis(200)));
        let error = get(&http, &server.url("/slow")).await.expect_err("timed out");
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        assert!(
            error.message().starts_with("test: GET /slow failed after 2 attempts: timed out"),
            "{error}"
        );
        assert_eq!(http.calls(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_max_concurrent_requests_reach_the_server() {
        let server = Arc::new(
            TestServer::start(|_| Reply::status(200).delay(Duration::from_millis(150))).await,
        );
        let http = client(fast().with_max_concurrent(2));
        let mut calls = JoinSet::new();
        for _ in 0..6 {
            // Clones share the limit.
            let (http, server) = (http.clone(), server.clone());
            calls.spawn(async move { get(&http, &server.url("/")).await.map(|r| r.status) });
        }
        while let Some(status) = calls.join_next().await {
            assert_eq!(status.expect("joined").expect("answered"), StatusCode::OK);
        }
        assert_eq!(server.seen().len(), 6);
        assert_eq!(server.most_in_flight(), 2);
        assert_eq!(http.calls(), 6);
    }

    #[tokio::test]
    async fn max_per_second_spaces_call_starts() {
        let server = TestServer::start(|_| Reply::status(200)).await;
        let http = client(fast().with_max_per_second(Some(20.0)));
        let began = Instant::now();
        for _ in 0..5 {
            get(&http, &server.url("/")).await.expect("answered");
        }
        // Four gaps of 50 ms.
        let took = began.elapsed();
        assert!(took >= Duration::from_millis(190), "took only {took:?}");
    }

    #[tokio::test]
    async fn every_attempt_is_built_afresh() {
        let server = TestServer::start(|n| match n {
            0 => Reply::status(500),
            _ => Reply::status(204),
        })
        .await;
        let http = client(fast());
        let built = AtomicUsize::new(0);
        let url = server.url("/sign");
        let response = http
            .send(|client| {
                let attempt = built.fetch_add(1, Ordering::SeqCst) + 1;
                client
                    .post(&url)
                    .header("x-attempt", attempt.to_string())
                    .body("{}")
                    .build()
                    .map_err(|error| http.build_error(error))
            })
            .await
            .expect("retried to success");
        assert_eq!(response.status, StatusCode::NO_CONTENT);
        let attempts: Vec<_> = server
            .seen()
            .iter()
            .map(|seen| (seen.method.clone(), seen.headers["x-attempt"].clone()))
            .collect();
        assert_eq!(
            attempts,
            [("POST".to_owned(), "1".to_owned()), ("POST".to_owned(), "2".to_owned())]
        );
    }

    #[tokio::test]
    async fn an_error_from_build_is_returned_unchanged_and_nothing_is_sent() {
        let http = client(fast());
        let error = http
            .send(|_| Err(ProviderError::invalid("no endpoint configured")))
            .await
            .expect_err("build failed");
        assert_eq!((error.kind(), error.message()), (ErrorKind::Invalid, "no endpoint configured"));
        assert_eq!(http.calls(), 0);

        let error = get(&http, "not a url?key=sk-secret").await.expect_err("bad URL");
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().starts_with("test: cannot build the request: "), "{error}");
        assert!(!error.message().contains("sk-secret"), "{error}");
    }

    #[test]
    fn unusable_settings_are_refused() {
        let error = HttpClient::new("openai", HttpConfig::default().with_max_concurrent(0))
            .expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().starts_with("openai: "), "{error}");
    }

    #[test]
    fn send_can_run_on_any_thread() {
        fn assert_send<T: Send>(_: T) {}
        let http = client(fast());
        assert_send(get(&http, "http://127.0.0.1:9/"));
        assert_send(http.clone());
        assert!(format!("{http:?}").contains("provider: \"test\""));
    }
}
