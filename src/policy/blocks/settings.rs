//! `breakglass { … }`: settings for the whole policy.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostics::Diagnostic;
use crate::policy::duration::Duration;
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// Where state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// A JSON file beside the policy, with a lock file.
    Local,
    /// Tables in a PostgreSQL database shared by many executors.
    Postgres,
}

/// `state { … }` inside `breakglass`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StateSettings {
    /// `"local"` (default) or `"postgres"`.
    pub backend: StateBackend,
    /// The local state file, relative to the policy directory.
    pub path: String,
    /// The environment variable holding the PostgreSQL connection string (postgres backend).
    pub connection_env: String,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            backend: StateBackend::Local,
            path: ".breakglass/state.json".to_owned(),
            connection_env: "BREAKGLASS_STATE_CONNECTION".to_owned(),
        }
    }
}

/// `audit { … }` inside `breakglass`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditSettings {
    /// The hash-chained audit log, relative to the policy directory.
    pub path: String,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { path: ".breakglass/audit.jsonl".to_owned() }
    }
}

/// `breakglass { … }`: at most one per policy; every attribute has a default.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Settings {
    /// Where state is kept.
    pub state: StateSettings,
    /// Where the audit log is kept.
    pub audit: AuditSettings,
    /// No role or override may last longer than this (default 12h).
    pub max_duration: Duration,
    /// Persons whose keys may sign plans that `apply` accepts.
    pub plan_signers: Vec<Spanned<Reference>>,
    /// How long a saved plan stays applicable (default 1h).
    pub plan_lifetime: Duration,
    /// How long an emergency request waits for approval and apply (default 1h).
    pub request_lifetime: Duration,
    /// Provider calls in flight at once (default 10).
    pub parallelism: u32,
    /// The executor's TOTP secrets file, relative to the policy directory. Overridden by the
    /// `BREAKGLASS_TOTP_SECRETS` environment variable. Never commit real secrets to git.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_secrets_file: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            state: StateSettings::default(),
            audit: AuditSettings::default(),
            max_duration: Duration::from_hours(12),
            plan_signers: Vec::new(),
            plan_lifetime: Duration::from_hours(1),
            request_lifetime: Duration::from_hours(1),
            parallelism: 10,
            totp_secrets_file: None,
        }
    }
}

impl Settings {
    /// Reads a `breakglass` block.
    pub fn decode(reader: &mut BlockReader<'_>) -> Self {
        let defaults = Self::default();
        let state = reader.blocks("state");
        let state = match state.as_slice() {
            [] => StateSettings::default(),
            [block, rest @ ..] => {
                for extra in rest {
                    let range = crate::policy::reader::header_range(reader.file(), extra);
                    reader.push(
                        Diagnostic::error(
                            "more than one state block",
                            "a policy keeps its state in one place; remove the extra block",
                        )
                        .at(range),
                    );
                }
                let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
                let state = decode_state(&mut inner);
                for diagnostic in inner.finish() {
                    reader.push(diagnostic);
                }
                state
            }
        };
        let audit = match reader.blocks("audit").first() {
            None => AuditSettings::default(),
            Some(block) => {
                let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
                let path = inner
                    .string("path", Presence::Optional)
                    .map_or(defaults.audit.path.clone(), |path| path.value);
                for diagnostic in inner.finish() {
                    reader.push(diagnostic);
                }
                AuditSettings { path }
            }
        };
        Self {
            state,
            audit,
            max_duration: reader
                .duration("max_duration", Presence::Optional)
                .map_or(defaults.max_duration, |d| d.value),
            plan_signers: reader
                .references("plan_signers", Presence::Optional, &[ReferenceKind::Person])
                .map(|list| list.value)
                .unwrap_or_default(),
            plan_lifetime: reader
                .duration("plan_lifetime", Presence::Optional)
                .map_or(defaults.plan_lifetime, |d| d.value),
            request_lifetime: reader
                .duration("request_lifetime", Presence::Optional)
                .map_or(defaults.request_lifetime, |d| d.value),
            parallelism: reader
                .count("parallelism", Presence::Optional)
                .map_or(defaults.parallelism, |n| n.value.max(1)),
            totp_secrets_file: reader
                .string("totp_secrets_file", Presence::Optional)
                .map(|path| path.value),
        }
    }
}

fn decode_state(reader: &mut BlockReader<'_>) -> StateSettings {
    let defaults = StateSettings::default();
    StateSettings {
        backend: reader
            .keyword(
                "backend",
                Presence::Optional,
                &[("local", StateBackend::Local), ("postgres", StateBackend::Postgres)],
            )
            .map_or(defaults.backend, |b| b.value),
        path: reader.string("path", Presence::Optional).map_or(defaults.path, |p| p.value),
        connection_env: reader
            .string("connection_env", Presence::Optional)
            .map_or(defaults.connection_env, |p| p.value),
    }
}
