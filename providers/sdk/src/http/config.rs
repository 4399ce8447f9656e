//! How an [`HttpClient`](super::HttpClient) times out, retries and limits its calls.

use std::time::Duration;

use crate::error::ProviderError;

/// Timeouts, retry policy and rate limits of one provider's HTTP client.
///
/// Start from [`HttpConfig::default`] and change what the platform needs:
///
/// ```
/// # use breakglass_provider::http::HttpConfig;
/// # use std::time::Duration;
/// let config = HttpConfig::default()
///     .with_max_concurrent(4)
///     .with_max_per_second(Some(10.0))
///     .with_request_timeout(Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// How long to wait for a connection to open. Default 10 s.
    pub connect_timeout: Duration,
    /// How long one attempt may take, from connecting to the last byte of the body. Default 30 s.
    pub request_timeout: Duration,
    /// Attempts per call, the first included: 1 means no retry. Default 5.
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles with each retry. Default 200 ms.
    pub initial_backoff: Duration,
    /// The longest wait between attempts, for backoff and `Retry-After` alike. Default 20 s.
    pub max_backoff: Duration,
    /// Calls in flight at once for this provider. Default 8.
    pub max_concurrent: usize,
    /// Calls started per second for this provider, or `None` for no limit. Default `None`.
    pub max_per_second: Option<f64>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(20),
            max_concurrent: 8,
            max_per_second: None,
        }
    }
}

impl HttpConfig {
    /// Sets [`HttpConfig::connect_timeout`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`HttpConfig::request_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`HttpConfig::max_attempts`].
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets [`HttpConfig::initial_backoff`].
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets [`HttpConfig::max_backoff`].
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets [`HttpConfig::max_concurrent`].
    pub fn with_max_concurrent(mut self, calls: usize) -> Self {
        self.max_concurrent = calls;
        self
    }

    /// Sets [`HttpConfig::max_per_second`].
    pub fn with_max_per_second(mut self, calls: Option<f64>) -> Self {
        self.max_per_second = calls;
        self
    }

    /// Checks that the values can be used; `provider` names the provider in the message.
    pub(super) fn validate(&self, provider: &str) -> Result<(), ProviderError> {
        let problem = if self.max_attempts == 0 {
            Some("`max_attempts` must be at least 1 (1 means no retry)".to_owned())
        } else if self.max_concurrent == 0 {
            Some("`max_concurrent` must be at least 1".to_owned())
        } else if let Some(rate) = self.max_per_second.filter(|r| !(r.is_finite() && *r > 0.0)) {
            Some(format!("`max_per_second` must be a positive number, got {rate}"))
        } else if self.initial_backoff > self.max_backoff {
            Some(format!(
                "`initial_backoff` ({:?}) must not exceed `max_backoff` ({:?})",
                self.initial_backoff, self.max_backoff
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => {
                Err(ProviderError::invalid(format!("{provider}: HTTP settings: {problem}")))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HttpConfig;
    use crate::ErrorKind;
    use std::time::Duration;

    #[test]
    fn defaults_validate() {
        assert_eq!(HttpConfig::default().validate("test").map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn unusable_values_are_invalid_and_named() {
        let cases = [
            (HttpConfig::default().with_max_attempts(0), "`max_attempts`"),
            (HttpConfig::default().with_max_concurrent(0), "`max_concurrent`"),
            (HttpConfig::default().with_max_per_second(Some(0.0)), "`max_per_second`"),
            (HttpConfig::default().with_max_per_second(Some(f64::NAN)), "`max_per_second`"),
            (HttpConfig::default().with_max_per_second(Some(-1.0)), "`max_per_second`"),
            (
                HttpConfig::default().with_initial_backoff(Duration::from_secs(60)),
                "`initial_backoff`",
            ),
        ];
        for (config, named) in cases {
            let error = config.validate("openai").expect_err(named);
            assert_eq!(error.kind(), ErrorKind::Invalid, "{named}");
            assert!(error.message().starts_with("openai: "), "{error}");
            assert!(error.message().contains(named), "{error}");
        }
    }
}
