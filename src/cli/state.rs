//! `breakglass state list|show|pull|unlock|migrate`: look at, repair and move state.

use super::output::outln;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::apply::executor;
use super::audit_trail::Audit;
use super::context::{load_policy, lock_timeout, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use crate::address::Address;
use crate::audit::{Event, EventResult, action};
use crate::policy::Policy;
use crate::state::{LocalStore, PostgresStore, StateStore};

/// Arguments of `state`.
#[derive(Debug, Args)]
#[command(
    about = "Inspect state, remove a stale lock, or move state to another backend",
    after_help = "Examples:\n  breakglass state list\n  breakglass state show local_access.oncall_viewer\n  \
                  breakglass state unlock 01jabcde…"
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
    /// Print the whole state as JSON (secrets are stored only as digests).
    #[command(after_help = "Example:\n  breakglass state pull > state-backup.json")]
    Pull,
    /// Copy the state from one backend to another, keeping lineage, serial and every record.
    #[command(
        long_about = "Copies the state from one backend to another, keeping its lineage and \
                      serial, every managed object, every activation and every used approval \
                      nonce, then reads it back to check nothing was lost. The source is locked \
                      meanwhile and left as it was; the destination must hold no state yet \
                      (for `--to local`: no state file). \
                      Afterwards, set `backend` in the policy's `breakglass { state { … } }` \
                      block to the destination.",
        after_help = "Example:\n  BREAKGLASS_STATE_CONNECTION='host=db user=breakglass dbname=bg' \\\n    \
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
    /// The local file named by `state { path = … }`.
    Local,
    /// The database named by the connection string in `state { connection_env = … }`.
    Postgres,
}

/// Copies the state between the local file and PostgreSQL, exactly (lineage and serial kept),
/// and checks it reads back the same. The source is locked meanwhile and left as it was.
async fn migrate(
    policy: &Policy,
    from: BackendName,
    to: BackendName,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    if from == to {
        bail!("--from and --to name the same backend; nothing to migrate");
    }
    let path = policy.dir.join(&policy.settings.state.path);
    let local = LocalStore::new(&path);
    let env = &policy.settings.state.connection_env;
    let postgres = PostgresStore::from_env(env)?;
    let (source, destination): (&dyn StateStore, &dyn StateStore) = match from {
        BackendName::Local => (&local, &postgres),
        BackendName::Postgres => (&postgres, &local),
    };
    let name = |backend: BackendName| match backend {
        BackendName::Local => path.display().to_string(),
        BackendName::Postgres => format!("postgres ({env})"),
    };
    // Held until the copy is checked: nobody changes the source meanwhile.
    let guard = source.lock("state migrate", timeout).await?;
    let state = guard.state().clone();
    if state.lineage.is_empty() && state.serial == 0 {
        bail!("there is no state to migrate in {}", name(from));
    }
    match to {
        BackendName::Postgres => postgres.import(&state, "state migrate").await?,
        BackendName::Local => local.import(&state, "state migrate").await?,
    }
    let copied = destination.read().await?;
    if copied != state {
        bail!(
            "the state read back from {} differs from the source; the source is unchanged",
            name(to)
        );
    }
    // Issue 5: the audit log moves here too, its hash chain checked after the copy.
    outln!(
        "Migrated the state (lineage {}, serial {}): {} managed object(s), {} activation(s), {} \
         used approval nonce(s), from {} to {}.",
        state.lineage,
        state.serial,
        state.resources.len(),
        state.activations.len(),
        state.used_nonces.len(),
        name(from),
        name(to)
    )?;
    let word = match to {
        BackendName::Local => "local",
        BackendName::Postgres => "postgres",
    };
    outln!(
        "Now set `backend = \"{word}\"` in the policy's `breakglass {{ state {{ … }} }}` block; \
         keep the source as a backup, unused."
    )?;
    drop(guard);
    Ok(())
}

/// Runs `state`.
pub async fn run(args: &StateArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
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
            let state = store.read().await?;
            let Some(resource) = state.resources.get(address) else {
                anyhow::bail!(
                    "{address} is not in the state; `breakglass state list` shows what is"
                );
            };
            outln!("{}", serde_json::to_string_pretty(resource)?)?;
        }
        StateCommand::Pull => {
            let state = store.read().await?;
            outln!("{}", serde_json::to_string_pretty(&state).context("encoding the state")?)?;
        }
        StateCommand::Migrate { from, to, lock_timeout } => {
            migrate(&policy, *from, *to, *lock_timeout).await?;
        }
        StateCommand::Unlock { id } => {
            let info = store.force_unlock(id).await?;
            Audit::of(&policy).record(
                Event::new(executor(), action::LOCK_UNLOCKED, EventResult::Ok)
                    .reason(format!("removed the lock held by {info}"))
                    .details(serde_json::json!({
                        "lock_id": info.id,
                        "operation": info.operation,
                        "host": info.host,
                        "pid": info.pid,
                        "since": info.created_at,
                    })),
            )?;
            outln!("Removed the lock held by {info}.")?;
        }
    }
    Ok(ExitStatus::Success)
}
