//! `breakglass state list|show|pull|unlock|migrate`: look at, repair and move state.

use super::output::outln;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::sync::Arc;

use super::apply::executor;
use super::audit_trail::Audit;
use super::context::{load_policy, local_store, lock_timeout, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use crate::address::Address;
use crate::audit::{AuditLog, Chain, Event, EventResult, action};
use crate::policy::Policy;
use crate::state::{EventFilter, JsonState, PostgresStore, Scope, StateStore};

/// Arguments of `state`.
#[derive(Debug, Args)]
#[command(
    about = "Inspect state, remove a stale lock, or move state to another backend",
    after_help = "Examples:\n  breakglass state list\n  breakglass state show local_access.oncall_viewer\n  \
                  breakglass state pull > state-backup.json\n  breakglass state unlock 01jabcde…\n  \
                  breakglass state migrate --from json --to local"
)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List managed objects: address and id.
    #[command(after_help = "Examples:\n  breakglass state list\n  breakglass state list --json")]
    List {
        /// Print the list as JSON: {lineage, serial, resources: [{address, provider, type, id,
        /// activation, updated_at}]} (docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Show one managed object as JSON.
    #[command(after_help = "Example:\n  breakglass state show local_access.oncall_viewer")]
    Show {
        /// The object's address.
        address: Address,
    },
    /// Print the whole state as one JSON document (secrets are stored only as digests).
    #[command(after_help = "Example:\n  breakglass state pull > state-backup.json")]
    Pull,
    /// Move the state and its audit log to another backend, keeping lineage, serial, every
    /// record and every event.
    #[command(
        long_about = "Copies the state and its audit log from one backend to another, keeping \
                      the state's lineage and serial, every managed object, activation, used \
                      approval nonce and TOTP step, and every audit event exactly as recorded \
                      (so the hash chain, and any head recorded elsewhere, still verify). The \
                      source is locked meanwhile and left as it was; its audit log must verify; \
                      the destination must hold no state and no events yet. Afterwards the copy \
                      is read back and its chain verified. \
                      `--from json` reads the JSON state file (`.breakglass/state.json`) and the \
                      JSONL audit log (`breakglass { audit { path } }`) of earlier versions: \
                      run it once after upgrading. Otherwise, set `backend` in the policy's \
                      `breakglass { state { … } }` block to the destination afterwards.",
        after_help = "Examples:\n  breakglass state migrate --from json --to local\n  \
                      BREAKGLASS_STATE_CONNECTION='host=db user=breakglass dbname=bg' \\\n    \
                      breakglass state migrate --from local --to postgres"
    )]
    Migrate {
        /// Where the state is now.
        #[arg(long, value_enum)]
        from: BackendName,
        /// Where it goes.
        #[arg(long, value_enum)]
        to: BackendName,
        /// How long to wait for the source's lock.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = lock_timeout)]
        lock_timeout: std::time::Duration,
    },
    /// Remove the lock left by a process that is gone (refused while it still runs).
    #[command(after_help = "Example:\n  breakglass state unlock 01jabcdefghjkmnpqrstvwxyz0")]
    Unlock {
        /// The lock id the lock message names.
        id: String,
    },
}

/// A state backend, as `state migrate` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendName {
    /// The JSON state file and JSONL audit log of earlier versions (a source only).
    Json,
    /// The local database named by `state { path = … }` (`.breakglass/state.db`).
    Local,
    /// The database named by the connection string in `state { connection_env = … }`.
    Postgres,
}

/// The JSON state file of earlier versions for this policy.
fn legacy_state(policy: &Policy) -> JsonState {
    let configured = policy.dir.join(&policy.settings.state.path);
    if configured.extension().is_some_and(|e| e == "json") {
        JsonState::new(configured)
    } else {
        JsonState::new(local_store(policy).legacy_path())
    }
}

/// Copies state and audit log between backends, exactly (lineage, serial and every event's
/// line kept), and checks the copy reads back the same and its chain verifies. The source is
/// locked meanwhile and left as it was.
async fn migrate(
    policy: &Policy,
    from: BackendName,
    to: BackendName,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    if from == to {
        bail!("--from and --to name the same backend; nothing to migrate");
    }
    let env = &policy.settings.state.connection_env;
    let store_of = |backend: BackendName| -> anyhow::Result<Arc<dyn StateStore>> {
        Ok(match backend {
            BackendName::Json => bail!(
                "json is only a source (the files of earlier versions); `breakglass state pull` \
                 prints the state as a JSON document"
            ),
            BackendName::Local => Arc::new(local_store(policy).ignoring_legacy()),
            BackendName::Postgres => Arc::new(PostgresStore::from_env(env)?),
        })
    };
    let destination = store_of(to)?;
    let legacy = legacy_state(policy);
    let legacy_log = AuditLog::new(policy.dir.join(&policy.settings.audit.path));
    // Held until the copy is checked: nobody changes the source meanwhile.
    let (state, lines, source_name, _guard) = match from {
        BackendName::Json => {
            if !legacy.exists() {
                bail!("there is no JSON state at {} to migrate", legacy.path().display());
            }
            let state = legacy.read()?;
            let mut lines = Vec::new();
            legacy_log.for_each_line(|_, line| {
                lines.push(line.to_owned());
                Ok::<_, crate::audit::AuditError>(())
            })?;
            let name = format!("{} and {}", legacy.path().display(), legacy_log.path().display());
            (state, lines, name, None)
        }
        backend => {
            let source = store_of(backend)?;
            let mut guard = source.lock("state migrate", timeout).await?;
            let state = guard.read().await?;
            let mut lines = Vec::new();
            source
                .scan_events(&EventFilter::default(), &mut |event| {
                    lines.push(event.line);
                    true
                })
                .await?;
            (state, lines, source.describe(), Some(guard))
        }
    };
    if state.lineage.is_empty() && state.serial == 0 && lines.is_empty() {
        bail!("there is no state or audit log to migrate in {source_name}");
    }
    let mut chain = Chain::new(None);
    for line in &lines {
        chain.push(line).map_err(|error| {
            anyhow::anyhow!(
                "the audit log of {source_name} does not verify ({error}); nothing was migrated. \
                 `breakglass audit verify` says more"
            )
        })?;
    }
    let source_head = chain.head().to_owned();
    let count = destination.import(&state, &mut lines.into_iter().map(Ok)).await?;
    let copied = destination.read().await?;
    if copied != state {
        bail!(
            "the state read back from {} differs from the source; the source is unchanged",
            destination.describe()
        );
    }
    let mut chain = Chain::new(Some(&source_head));
    let mut problem = None;
    destination
        .scan_events(&EventFilter::default(), &mut |event| match chain.push(&event.line) {
            Ok(_) => true,
            Err(error) => {
                problem = Some(error);
                false
            }
        })
        .await?;
    if let Some(error) = problem.or_else(|| chain.finish().err()) {
        bail!("the audit log copied to {} does not verify: {error}", destination.describe());
    }
    outln!(
        "Migrated the state (lineage {}, serial {}): {} managed object(s), {} activation(s), {} \
         used approval nonce(s), and the audit log ({count} event(s), head {}), from {source_name} \
         to {}. The copy reads back the same and its audit log verifies.",
        state.lineage,
        state.serial,
        state.resources.len(),
        state.activations.len(),
        state.used_nonces.len(),
        chain.head(),
        destination.describe()
    )?;
    match to {
        BackendName::Local if from == BackendName::Json => outln!(
            "The JSON files are left as they were, as a backup; breakglass no longer reads them."
        )?,
        BackendName::Local => outln!(
            "Now set `backend = \"local\"` in the policy's `breakglass {{ state {{ … }} }}` block; \
             keep the source as a backup, unused."
        )?,
        _ => outln!(
            "Now set `backend = \"postgres\"` in the policy's `breakglass {{ state {{ … }} }}` \
             block; keep the source as a backup, unused."
        )?,
    }
    Ok(())
}

/// Runs `state`.
pub async fn run(args: &StateArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    if let StateCommand::Migrate { from, to, lock_timeout } = &args.command {
        migrate(&policy, *from, *to, *lock_timeout).await?;
        return Ok(ExitStatus::Success);
    }
    let store = open_store(&policy)?;
    match &args.command {
        StateCommand::List { json } => {
            let state = store.read().await?;
            if *json {
                let resources: Vec<serde_json::Value> = state
                    .resources
                    .iter()
                    .map(|(address, resource)| {
                        serde_json::json!({
                            "address": address.to_string(),
                            "provider": resource.provider,
                            "type": resource.resource_type,
                            "id": resource.id,
                            "activation": resource.activation,
                            "updated_at": resource.updated_at,
                        })
                    })
                    .collect();
                let list = serde_json::json!({
                    "lineage": state.lineage,
                    "serial": state.serial,
                    "resources": resources,
                });
                outln!("{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                for (address, resource) in &state.resources {
                    outln!("{address}\t{}", resource.id)?;
                }
            }
        }
        StateCommand::Show { address } => {
            let scope = Scope { addresses: [address.clone()].into(), ..Scope::default() };
            let state = store.read_scope(&scope).await?;
            let Some(resource) = state.resources.get(address) else {
                anyhow::bail!(
                    "{address} is not in the state; `breakglass state list` shows what is"
                );
            };
            outln!("{}", serde_json::to_string_pretty(resource)?)?;
        }
        StateCommand::Pull => {
            let state = store.read().await?;
            let mut out = std::io::BufWriter::new(super::output::Stdout);
            serde_json::to_writer_pretty(&mut out, &state).context("encoding the state")?;
            writeln!(out).context("writing the state")?;
            out.flush().context("writing the state")?;
        }
        StateCommand::Migrate { .. } => unreachable!("handled above"),
        StateCommand::Unlock { id } => {
            let info = store.force_unlock(id).await?;
            Audit::in_store(store.clone())
                .record(
                    Event::new(executor(), action::LOCK_UNLOCKED, EventResult::Ok)
                        .reason(format!("removed the lock held by {info}"))
                        .details(serde_json::json!({
                            "lock_id": info.id,
                            "operation": info.operation,
                            "host": info.host,
                            "pid": info.pid,
                            "since": info.created_at,
                        })),
                )
                .await?;
            outln!("Removed the lock held by {info}.")?;
        }
    }
    Ok(ExitStatus::Success)
}
