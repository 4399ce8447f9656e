//! Reading and changing IAM policies safely: read-modify-write with the etag, retried from a
//! fresh read on conflict, and reads that do not trust an answer older than breakglass's own
//! last write.
//!
//! - **Never overwrite someone else's change.** Every `setIamPolicy` carries the etag of the
//!   policy the change was made to; when Google answers 409 `ABORTED` (someone wrote in
//!   between), the whole read-modify-write starts again from a fresh read, with backoff, as
//!   Google's documentation asks. A policy read without an etag is never written back.
//! - **One writer per policy in this process.** Changes to one resource's policy (two bindings
//!   of one grant on one project) take turns, so they do not make each other conflict.
//! - **Reads after writes.** IAM policy reads are eventually consistent: right after a write, a
//!   read may still answer the policy from before it. The etags that breakglass's writes
//!   replaced are remembered per resource; a read that answers one of them is known to be
//!   stale and is made again (with backoff, a bounded number of times) instead of being taken
//!   for the truth. So a revert's verification neither confirms a removal it cannot see yet as
//!   failed nor, worse, anything from a stale answer; when Google has not caught up in time the
//!   read fails as transient and the engine tries again later.

use breakglass_provider::ProviderError;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::{Api, Written};
use crate::policy::Policy;

/// Read-modify-write cycles tried when others keep writing in between.
const CONFLICT_ATTEMPTS: u32 = 8;
/// Reads tried while Google still answers a policy breakglass has replaced.
const CONSISTENCY_ATTEMPTS: u32 = 8;
/// The first wait between tries; it doubles each time, with jitter, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(100);
const MAX_WAIT: Duration = Duration::from_secs(4);

/// IAM policies as this provider reads and writes them.
#[derive(Debug)]
pub struct Policies {
    api: Api,
    writers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    replaced: Mutex<HashMap<String, HashSet<String>>>,
}

/// A policy read, and the API calls it took.
#[derive(Debug)]
pub struct Read {
    /// The policy.
    pub policy: Policy,
    /// Calls made (more than one when a stale answer was read again).
    pub calls: u64,
}

impl Policies {
    /// Policies read and written through `api`.
    pub fn new(api: Api) -> Self {
        Self { api, writers: Mutex::default(), replaced: Mutex::default() }
    }

    /// The API, for its counters.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The policy of `resource`, never one older than this provider's last write to it.
    pub async fn read(&self, resource: &str) -> Result<Read, ProviderError> {
        for attempt in 0..CONSISTENCY_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(wait(attempt - 1)).await;
            }
            let policy = self.api.get_iam_policy(resource).await?;
            if !self.is_replaced(resource, policy.etag.as_deref()) {
                return Ok(Read { policy, calls: u64::from(attempt) + 1 });
            }
        }
        Err(ProviderError::transient(format!(
            "gcp: {resource}: Google still answered the IAM policy from before breakglass's own \
             change after {CONSISTENCY_ATTEMPTS} reads (its reads are eventually consistent); \
             nothing was concluded from the stale answer. Run again in a minute"
        )))
    }

    /// Applies `edit` to the policy of `resource` and writes it back if `edit` says it changed
    /// anything, retrying from a fresh read when someone else wrote in between. Returns the
    /// policy as it now is, and the API calls made.
    pub async fn modify(
        &self,
        resource: &str,
        edit: impl Fn(&mut Policy) -> Result<bool, ProviderError>,
    ) -> Result<Read, ProviderError> {
        let writer = self.writer(resource);
        let _turn = writer.lock().await;
        let mut calls = 0;
        for attempt in 0..CONFLICT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(wait(attempt - 1)).await;
            }
            let read = self.read(resource).await?;
            calls += read.calls;
            let mut policy = read.policy;
            let Some(etag) = policy.etag.clone().filter(|etag| !etag.is_empty()) else {
                return Err(ProviderError::protocol(format!(
                    "gcp: {resource}: the IAM policy came back without an etag; breakglass \
                     does not write a policy it cannot protect from concurrent changes"
                )));
            };
            if !edit(&mut policy)? {
                return Ok(Read { policy, calls });
            }
            // Version 3 is required to write conditions, and harmless without them.
            policy.version = Some(3);
            calls += 1;
            match self.api.set_iam_policy(resource, &policy).await? {
                Written::Done(written) => {
                    self.remember_replaced(resource, etag);
                    return Ok(Read { policy: written, calls });
                }
                // That etag is outdated: a read that answers it again is stale.
                Written::Conflict => self.remember_replaced(resource, etag),
            }
        }
        Err(ProviderError::transient(format!(
            "gcp: {resource}: the IAM policy changed under each of {CONFLICT_ATTEMPTS} attempts \
             to update it (409 ABORTED: someone else is writing it); nothing was overwritten. \
             Run again"
        )))
    }

    fn writer(&self, resource: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut writers = self.writers.lock().unwrap_or_else(|poison| poison.into_inner());
        writers.entry(resource.to_owned()).or_default().clone()
    }

    fn is_replaced(&self, resource: &str, etag: Option<&str>) -> bool {
        let replaced = self.replaced.lock().unwrap_or_else(|poison| poison.into_inner());
        etag.is_some_and(|etag| replaced.get(resource).is_some_and(|set| set.contains(etag)))
    }

    fn remember_replaced(&self, resource: &str, etag: String) {
        let mut replaced = self.replaced.lock().unwrap_or_else(|poison| poison.into_inner());
        replaced.entry(resource.to_owned()).or_default().insert(etag);
    }
}

/// The wait before retry number `retry` (0 for the first): doubling, capped, with equal jitter.
fn wait(retry: u32) -> Duration {
    let ceiling = FIRST_WAIT.saturating_mul(2u32.saturating_pow(retry)).min(MAX_WAIT);
    let half = ceiling / 2;
    let spread = u64::try_from((ceiling - half).as_millis()).unwrap_or(0);
    half + Duration::from_millis(rand::random_range(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::wait;
    use std::time::Duration;

    #[test]
    fn waits_double_with_jitter_up_to_the_cap() {
        for (retry, ceiling_ms) in [(0, 100), (1, 200), (3, 800), (10, 4000)] {
            let ceiling = Duration::from_millis(ceiling_ms);
            for _ in 0..20 {
                let waited = wait(retry);
                assert!(waited >= ceiling / 2 && waited <= ceiling, "{retry}: {waited:?}");
            }
        }
    }
}
