//! The current time.
//!
//! Released binaries read the system clock and nothing else: no flag or environment variable can
//! move a check's notion of "now". Test builds (the `test-clock` feature, which only the test
//! suite enables) also honour `BREAKGLASS_TEST_NOW=RFC3339`, so tests can exercise expiry.

use jiff::Timestamp;

/// Now, to the second (plans, state and the audit log do not need more, and read better).
pub fn now() -> Timestamp {
    truncate(precise_now())
}

fn truncate(timestamp: Timestamp) -> Timestamp {
    Timestamp::from_second(timestamp.as_second()).unwrap_or(timestamp)
}

fn precise_now() -> Timestamp {
    #[cfg(feature = "test-clock")]
    if let Ok(text) = std::env::var("BREAKGLASS_TEST_NOW")
        && let Ok(timestamp) = text.parse()
    {
        return timestamp;
    }
    Timestamp::now()
}
