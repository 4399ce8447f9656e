//! What most commands need first: the policy, loaded and valid; the state store; providers.

use super::output::err;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::audit_trail::Publishing;
use super::output::Output;
use super::progress::CliProgress;
use crate::diagnostics::render_text;
use crate::engine::Providers;
use crate::policy::Policy;
use crate::policy::blocks::StateBackend;
use crate::state::{LocalStore, PostgresStore, State, StateError, StateGuard, StateStore};
use crate::{clock, policy, providers};

/// The policy directory of this run, decided once (see [`find_policy_dir`]).
static POLICY_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Decides where the policy is, once per run: the current directory when `-C DIR` named it,
/// else `BREAKGLASS_DIR`, else the nearest directory holding `*.hcl` files from the current
/// one upwards (so `breakglass status` works from `keys/`). Paths given on the command line
/// stay relative to the current directory.
pub fn find_policy_dir(named_by_flag: bool) -> PathBuf {
    POLICY_DIR
        .get_or_init(|| {
            let from_env = std::env::var_os("BREAKGLASS_DIR").filter(|dir| !dir.is_empty());
            match from_env {
                Some(dir) if !named_by_flag => PathBuf::from(dir),
                _ if named_by_flag => PathBuf::from("."),
                _ => search_upwards(),
            }
        })
        .clone()
}

/// The policy directory of this run.
pub fn policy_dir() -> PathBuf {
    find_policy_dir(false)
}

/// The nearest of `.`, `..`, `../..`… that holds a `*.hcl` file; `.` if none does (loading
/// then says there is no policy here, and how to point at one).
fn search_upwards() -> PathBuf {
    let Ok(start) = std::env::current_dir() else { return PathBuf::from(".") };
    let has_policy = |dir: &Path| {
        fs_err::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let path = entry.path();
                path.extension().is_some_and(|ext| ext == "hcl") && path.is_file()
            })
        })
    };
    let mut relative = PathBuf::from(".");
    for dir in start.ancestors() {
        if has_policy(dir) {
            return relative;
        }
        relative =
            if relative == Path::new(".") { PathBuf::from("..") } else { relative.join("..") };
    }
    PathBuf::from(".")
}

/// Loads the policy of this run ([`policy_dir`]); if it has errors, prints them to stderr and
/// fails.
pub fn load_policy(output: Output) -> anyhow::Result<Policy> {
    let loaded = policy::load(
        &policy_dir(),
        &providers::schemas(),
        clock::now(),
        policy::Strictness::Operate,
    );
    valid(loaded, output)
}

/// Loads the policy as [`load_policy`] does and reads, without locking, the state it names:
/// the read starts as soon as the settings are decoded, on another thread, while the policy's
/// checks across blocks run (at 60,900 activations each takes a quarter of a second). If the
/// policy turns out invalid, the state read is dropped unused; it may by then have done what any
/// read does to a state file of an older breakglass (upgraded its tables), and nothing else.
pub async fn load_policy_and_state(
    output: Output,
) -> anyhow::Result<(Policy, Arc<dyn StateStore>, State)> {
    let mut reading = None;
    let loaded = policy::load_with(
        &policy_dir(),
        &providers::schemas(),
        clock::now(),
        policy::Strictness::Operate,
        |decoded| {
            reading = Some(open_store(decoded).map(|store| {
                let reader = Arc::clone(&store);
                (store, tokio::spawn(async move { reader.read().await }))
            }));
        },
    );
    let policy = valid(loaded, output)?;
    // A valid policy had every block decoded, so the read was started.
    let (store, read) = reading.context("the policy loaded without its settings")??;
    let state = read.await.context("the state read stopped")??;
    Ok((policy, store, state))
}

/// The policy `loaded` holds; if it has errors, prints them to stderr and fails.
fn valid(loaded: policy::Loaded, output: Output) -> anyhow::Result<Policy> {
    if loaded.diagnostics.has_errors() {
        err!("{}", render_text(&loaded.diagnostics, &loaded.sources, output.color));
        bail!(
            "the policy is invalid ({} error(s)); nothing was done",
            loaded.diagnostics.error_count()
        );
    }
    loaded.policy.context("no policy was loaded")
}

/// The local state database the policy's settings name. A `path` ending in `.json` (the JSON
/// state of earlier versions, as older docs wrote it) names the database beside it, `.db`.
pub fn local_store(policy: &Policy) -> LocalStore {
    let path = policy.dir.join(&policy.settings.state.path);
    if path.extension().is_some_and(|e| e == "json") {
        LocalStore::new(path.with_extension("db"))
    } else {
        LocalStore::new(path)
    }
}

/// The state store (and audit log) the policy's settings name.
pub fn open_store(policy: &Policy) -> anyhow::Result<Arc<dyn StateStore>> {
    match policy.settings.state.backend {
        StateBackend::Local => Ok(Arc::new(local_store(policy))),
        StateBackend::Postgres => {
            Ok(Arc::new(PostgresStore::from_env(&policy.settings.state.connection_env)?))
        }
    }
}

/// Reads, without locking, only the rows of the policy's state that planning `activation`
/// and checking its limits need (indexed lookups; see [`crate::engine::scope`]).
pub async fn read_scoped(
    policy: &Policy,
    activation: &crate::activation::Activation,
    now: jiff::Timestamp,
) -> anyhow::Result<crate::state::State> {
    let providers = Providers::unconfigured(policy)?;
    let mut scope = crate::engine::scope::scope_of(policy, &providers, &[activation], now)?;
    crate::engine::scope::add_check_rows(&mut scope, policy, activation, &[], now);
    Ok(open_store(policy)?.read_scope(&scope).await?)
}

/// Takes the state lock for `operation`; every commit through it publishes the events it
/// recorded to the command's sinks.
pub async fn lock(
    store: &dyn StateStore,
    operation: &str,
    timeout: Duration,
) -> Result<Box<dyn StateGuard>, StateError> {
    Ok(Publishing::wrap(store.lock(operation, timeout).await?))
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
