//! The per-provider limits: calls in flight, and calls started per second.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Admits calls under both limits. Shared by every clone of a client.
#[derive(Debug)]
pub(super) struct Limiter {
    slots: Semaphore,
    pacer: Option<Pacer>,
}

impl Limiter {
    /// At most `max_concurrent` calls in flight, and, with `max_per_second`, call starts spaced
    /// by `1 / max_per_second`. Both are checked by `HttpConfig::validate` first.
    pub(super) fn new(max_concurrent: usize, max_per_second: Option<f64>) -> Self {
        Self {
            slots: Semaphore::new(max_concurrent.min(Semaphore::MAX_PERMITS)),
            pacer: max_per_second.map(Pacer::new),
        }
    }

    /// Waits until a call may start; the call is in flight until the permit is dropped.
    ///
    /// The slot is taken before the pace: a call waiting for its turn in the second holds a
    /// slot, so starts stay evenly spaced even when slots free up in bursts.
    pub(super) async fn admit(&self) -> SemaphorePermit<'_> {
        let permit = self.slots.acquire().await.expect("the limiter's semaphore is never closed");
        if let Some(pacer) = &self.pacer {
            pacer.wait_turn().await;
        }
        permit
    }
}

/// Spaces call starts at least `interval` apart: a token bucket that holds one token.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next_start: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(per_second: f64) -> Self {
        // A rate so low that the interval does not fit a `Duration` means "one call, ever".
        let interval = Duration::try_from_secs_f64(1.0 / per_second).unwrap_or(Duration::MAX);
        Self { interval, next_start: Mutex::new(None) }
    }

    /// Books the next free start time and sleeps until it.
    async fn wait_turn(&self) {
        let start = {
            // A poisoned lock still holds a valid instant; keep pacing.
            let mut next = self.next_start.lock().unwrap_or_else(|poison| poison.into_inner());
            let now = Instant::now();
            let start = next.map_or(now, |next| next.max(now));
            *next = start.checked_add(self.interval);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Limiter;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_rate() {
        let limiter = Limiter::new(100, Some(10.0));
        let began = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let _permit = limiter.admit().await;
            starts.push(began.elapsed());
        }
        let expected: Vec<Duration> = (0..5).map(|n| Duration::from_millis(100 * n)).collect();
        assert_eq!(starts, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_limit_are_in_flight() {
        let limiter = Arc::new(Limiter::new(3, None));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let (limiter, in_flight, most) = (limiter.clone(), in_flight.clone(), most.clone());
                tokio::spawn(async move {
                    let _permit = limiter.admit().await;
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for call in calls {
            call.await.expect("call");
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
