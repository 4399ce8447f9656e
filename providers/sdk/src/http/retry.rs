//! Which answers are retried, and how long to wait before the next attempt.

use std::time::Duration;

use jiff::Timestamp;
use jiff::fmt::rfc2822::DateTimeParser;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::{ErrorKind, ProviderError};
use crate::http::config::HttpConfig;
use crate::http::response::HttpResponse;

/// Lets a provider say which answers are failures that the default rules miss (AWS answers
/// throttling as a 400 whose body holds `<Code>Throttling</Code>`).
///
/// [`HttpClient::send`](super::HttpClient::send) asks the classifier about every response
/// before applying its own rules:
/// - `Some` error of a retryable kind ([`ErrorKind::Throttled`], [`ErrorKind::Transient`]): the
///   call is retried like a 429 or a 503. The error's
///   [`retry_after`](ProviderError::retry_after), else the response's `Retry-After`, sets the
///   wait. Once attempts run out, `send` returns the error with its message after the provider,
///   method, path, status and attempt count.
/// - `Some` error of any other kind: `send` returns it at once, with the same prefix.
/// - `None`: the default rules decide; 429, 500, 502, 503 and 504 are retried, and any other
///   response is returned to the caller.
///
/// The classifier runs on every response, successes included, so it should look at the status
/// before it parses a body.
pub trait RetryClassifier: Send + Sync {
    /// The failure this response stands for, or `None` to leave it to the default rules.
    fn classify(&self, response: &HttpResponse) -> Option<ProviderError>;

    /// The platform's name for a status HTTP does not name (Anthropic's 529 is "Overloaded"),
    /// so messages say `529 Overloaded`, not a bare number.
    fn status_name(&self, status: StatusCode) -> Option<&'static str> {
        let _ = status;
        None
    }
}

/// The kind of failure a status stands for under the default rules, if it is retried.
pub(super) fn default_kind(status: StatusCode) -> Option<ErrorKind> {
    match status {
        StatusCode::TOO_MANY_REQUESTS => Some(ErrorKind::Throttled),
        StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Some(ErrorKind::Transient),
        _ => None,
    }
}

/// The wait before retry number `retry` (0 for the first retry).
///
/// With a wait the platform asked for, that wait, capped at `max_backoff`: the platform knows
/// when it will answer again, and jitter would only make us early. Without one, exponential
/// backoff (`initial_backoff * 2^retry`, capped at `max_backoff`) with equal jitter: a wait
/// drawn between half the backoff and all of it. Equal rather than full jitter keeps a floor
/// under the wait, so a throttled platform is never asked again at once, while concurrent calls
/// that failed together still spread out.
pub(super) fn wait_before_retry(
    config: &HttpConfig,
    retry: u32,
    asked: Option<Duration>,
) -> Duration {
    if let Some(asked) = asked {
        return asked.min(config.max_backoff);
    }
    let ceiling = exponential_backoff(config, retry);
    let half = ceiling / 2;
    let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::random_range(0..=spread))
}

/// `initial_backoff * 2^retry`, capped at `max_backoff`, before jitter.
fn exponential_backoff(config: &HttpConfig, retry: u32) -> Duration {
    let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
    config.initial_backoff.saturating_mul(factor).min(config.max_backoff)
}

/// The wait a response asks for: OpenAI's `retry-after-ms`, else `Retry-After` as seconds or an
/// HTTP date. A date in the past asks for no wait; a value we cannot read asks for nothing.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(millis) = header("retry-after-ms").and_then(parse_seconds) {
        return Some(millis / 1000);
    }
    let value = header(RETRY_AFTER.as_str())?;
    parse_seconds(value).or_else(|| parse_http_date(value, Timestamp::now()))
}

/// `"2"`, `"1.5"` (not in the standard, but sent) → the duration; anything else → `None`.
fn parse_seconds(value: &str) -> Option<Duration> {
    if !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let seconds: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// `"Sun, 06 Nov 1994 08:49:37 GMT"` → the time from `now` until then, zero if it has passed.
fn parse_http_date(value: &str, now: Timestamp) -> Option<Duration> {
    static PARSER: DateTimeParser = DateTimeParser::new();
    let at = PARSER.parse_timestamp(value).ok()?;
    let wait = now.duration_until(at);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::{HttpConfig, default_kind, parse_http_date, retry_after, wait_before_retry};
    use crate::ErrorKind;
    use jiff::Timestamp;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use std::time::Duration;

    #[test]
    fn default_rules_retry_throttling_and_passing_server_failures() {
        let cases = [
            (429, Some(ErrorKind::Throttled)),
            (500, Some(ErrorKind::Transient)),
            (502, Some(ErrorKind::Transient)),
            (503, Some(ErrorKind::Transient)),
            (504, Some(ErrorKind::Transient)),
            (501, None),
            (200, None),
            (400, None),
            (401, None),
            (403, None),
            (404, None),
            (409, None),
        ];
        for (status, kind) in cases {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(default_kind(status), kind, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_stops_at_the_cap() {
        let config = HttpConfig::default()
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(1000));
        let cases = [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (40, 1000)];
        for (retry, ceiling_ms) in cases {
            let ceiling = Duration::from_millis(ceiling_ms);
            for _ in 0..50 {
                let wait = wait_before_retry(&config, retry, None);
                assert!(wait >= ceiling / 2 && wait <= ceiling, "retry {retry}: {wait:?}");
            }
        }
    }

    #[test]
    fn an_asked_wait_is_kept_but_capped() {
        let config = HttpConfig::default().with_max_backoff(Duration::from_secs(20));
        let cases = [(0, 0), (3, 3), (20, 20), (3600, 20)];
        for (asked, waited) in cases {
            let wait = wait_before_retry(&config, 0, Some(Duration::from_secs(asked)));
            assert_eq!(wait, Duration::from_secs(waited), "asked {asked}s");
        }
    }

    #[test]
    fn retry_after_is_read_from_seconds_dates_and_milliseconds() {
        let in_a_minute = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&(Timestamp::now() + Duration::from_secs(60)))
            .expect("date");
        // Headers, and the wait they ask for as a range in milliseconds.
        type Case<'a> = (&'a [(&'static str, &'a str)], Option<(u64, u64)>);
        let cases: [Case; 10] = [
            (&[], None),
            (&[("retry-after", "0")], Some((0, 0))),
            (&[("retry-after", " 2 ")], Some((2000, 2000))),
            (&[("retry-after", "1.5")], Some((1500, 1500))),
            (&[("retry-after", "-1")], None),
            (&[("retry-after", "soon")], None),
            (&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")], Some((0, 0))),
            (&[("retry-after", &in_a_minute)], Some((58_000, 60_000))),
            (&[("retry-after-ms", "250")], Some((250, 250))),
            (&[("retry-after-ms", "250"), ("retry-after", "1")], Some((250, 250))),
        ];
        for (pairs, expected) in cases {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().expect("header value"));
            }
            let got = retry_after(&headers);
            match expected {
                None => assert_eq!(got, None, "{pairs:?}"),
                Some((low, high)) => {
                    let got = got.unwrap_or_else(|| panic!("{pairs:?} asks for a wait"));
                    let range = Duration::from_millis(low)..=Duration::from_millis(high);
                    assert!(range.contains(&got), "{pairs:?}: {got:?}");
                }
            }
        }
    }

    #[test]
    fn an_http_date_is_measured_from_now() {
        let now: Timestamp = "1994-11-06T08:49:30Z".parse().expect("timestamp");
        let wait = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now);
        assert_eq!(wait, Some(Duration::from_secs(7)));
    }
}
