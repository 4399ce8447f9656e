//! Shared HTTP behaviour for every provider that talks to a platform over HTTP (AWS, Anthropic,
//! OpenAI, LiteLLM).
//!
//! A provider makes one [`HttpClient`] when it is configured and sends every call through
//! [`HttpClient::send`]. The client owns what every provider would otherwise redo, and redo
//! slightly differently: connect and request timeouts, retries of throttling (429), server
//! failures (500, 502, 503, 504), connection errors and timeouts with exponential backoff and
//! jitter, `Retry-After`, and a limit on calls in flight and calls per second.
//!
//! Design choices:
//! - **The provider builds the request, the client sends it.** [`HttpClient::send`] takes a
//!   closure that builds the request and calls it again for every attempt, so signatures and
//!   timestamps (AWS SigV4) are fresh on each retry. The client knows nothing of any platform's
//!   endpoints or error bodies.
//! - **Only the retry decision is shared.** A response that is not retried comes back as it is,
//!   whatever its status; the provider turns its own 4xx bodies into errors. A platform whose
//!   throttling is not a 429 (AWS answers 400 with `<Code>Throttling</Code>`) says so with a
//!   [`RetryClassifier`].
//! - **Limits are per provider, not per call site.** Clones of a client share its limits and
//!   counters, so a provider clones one client everywhere and the platform sees at most
//!   [`HttpConfig::max_concurrent`] calls at once, however many resources the engine refreshes.
//! - **Nothing secret reaches an error or a log.** Errors name the provider, the method and the
//!   URL path, never the query string, a header or a request body; [`HttpResponse`]'s `Debug`
//!   shows no body.

mod client;
mod config;
mod limiter;
mod response;
mod retry;
#[cfg(test)]
mod test_server;

pub use client::HttpClient;
pub use config::HttpConfig;
pub use response::HttpResponse;
pub use retry::RetryClassifier;
