//! Provider errors, each with a kind the engine can act on.

use std::fmt;
use std::time::Duration;

/// What kind of failure a provider call met; decides retry versus stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object does not exist.
    NotFound,
    /// The platform asked us to slow down; retried with backoff.
    Throttled,
    /// A passing failure (5xx, connection reset, timeout); retried with backoff.
    Transient,
    /// The credentials are missing, wrong, or lack permission; never retried.
    Denied,
    /// The request was wrong (bad attribute, conflict, unsupported change); never retried.
    Invalid,
    /// The platform answered something we cannot understand; never retried.
    Protocol,
    /// The provider is not configured, or the operation is not offered.
    Unsupported,
}

impl ErrorKind {
    /// Whether a call that failed this way may succeed if simply tried again.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Transient)
    }

    /// A short lower-case name for messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Transient => "transient",
            ErrorKind::Denied => "permission denied",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Protocol => "unexpected response",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a provider call: its kind, a message that says what failed and what would be
/// right, and, for throttling, how long the platform asked us to wait.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ProviderError {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl ProviderError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), retry_after: None }
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Shorthand for [`ErrorKind::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// Shorthand for [`ErrorKind::Transient`].
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// Shorthand for [`ErrorKind::Denied`].
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, message)
    }

    /// Shorthand for [`ErrorKind::Protocol`].
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// Shorthand for [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Records how long the platform asked us to wait before trying again.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Prefixes the message with context (the address or object the call was about).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wait the platform asked for, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}
