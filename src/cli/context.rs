//! What most commands need first: the policy, loaded and valid; the state store; providers.

use anyhow::{Context as _, bail};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::output::Output;
use super::progress::CliProgress;
use crate::diagnostics::render_text;
use crate::engine::Providers;
use crate::policy::Policy;
use crate::policy::blocks::StateBackend;
use crate::state::{LocalStore, PostgresStore, StateStore};
use crate::{clock, policy, providers};

/// Loads the policy in the current directory; if it has errors, prints them to stderr and
/// fails.
pub fn load_policy(output: Output) -> anyhow::Result<Policy> {
    let loaded = policy::load(
        Path::new("."),
        &providers::schemas(),
        clock::now(),
        policy::Strictness::Operate,
    );
    if loaded.diagnostics.has_errors() {
        eprint!("{}", render_text(&loaded.diagnostics, &loaded.sources, output.color));
        bail!(
            "the policy is invalid ({} error(s)); nothing was done",
            loaded.diagnostics.error_count()
        );
    }
    loaded.policy.context("no policy was loaded")
}

/// The state store the policy's settings name.
pub fn open_store(policy: &Policy) -> anyhow::Result<Box<dyn StateStore>> {
    match policy.settings.state.backend {
        StateBackend::Local => {
            Ok(Box::new(LocalStore::new(policy.dir.join(&policy.settings.state.path))))
        }
        StateBackend::Postgres => {
            Ok(Box::new(PostgresStore::from_env(&policy.settings.state.connection_env)?))
        }
    }
}

/// Configures the providers the policy uses.
pub async fn configure_providers(policy: &Policy) -> anyhow::Result<Providers> {
    Ok(Providers::configure(policy).await?)
}

/// Progress reporting for this run.
pub fn progress(output: Output, quiet: bool) -> Arc<CliProgress> {
    Arc::new(CliProgress::new(output.interactive, quiet))
}

/// Parses a lock timeout such as `30s`.
pub fn lock_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<crate::policy::Duration>().map(|d| d.to_std()).map_err(|e| e.to_string())
}

/// Parses `--at`: an RFC 3339 time, or `+DURATION` / `-DURATION` from now.
pub fn parse_at(text: &str) -> Result<jiff::Timestamp, String> {
    let now = clock::now();
    let relative = |rest: &str, sign: i64| {
        rest.parse::<crate::policy::Duration>().map_err(|e| e.to_string()).and_then(|d| {
            now.checked_add(jiff::SignedDuration::from_secs(sign * d.as_secs() as i64))
                .map_err(|e| e.to_string())
        })
    };
    if let Some(rest) = text.strip_prefix('+') {
        return relative(rest, 1);
    }
    if let Some(rest) = text.strip_prefix('-') {
        return relative(rest, -1);
    }
    text.parse().map_err(|_| {
        format!("{text:?} is not a time: write RFC 3339 (2026-12-01T15:00:00Z) or an offset from now (+2h)")
    })
}
