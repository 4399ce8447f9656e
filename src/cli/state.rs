//! `breakglass state list|show|unlock`: look at and repair state.

use clap::{Args, Subcommand};

use super::apply::executor;
use super::audit_trail::Audit;
use super::context::{load_policy, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use crate::address::Address;
use crate::audit::{Event, EventResult, action};

/// Arguments of `state`.
#[derive(Debug, Args)]
#[command(
    about = "Inspect state, or remove a stale lock",
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
    /// List managed objects' addresses.
    #[command(after_help = "Example:\n  breakglass state list")]
    List,
    /// Show one managed object as JSON.
    #[command(after_help = "Example:\n  breakglass state show local_access.oncall_viewer")]
    Show {
        /// The object's address.
        address: Address,
    },
    /// Remove the lock left by a process that is gone (refused while it still runs).
    #[command(after_help = "Example:\n  breakglass state unlock 01jabcdefghjkmnpqrstvwxyz0")]
    Unlock {
        /// The lock id the lock message names.
        id: String,
    },
}

/// Runs `state`.
pub async fn run(args: &StateArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let store = open_store(&policy)?;
    match &args.command {
        StateCommand::List => {
            let state = store.read().await?;
            for (address, resource) in &state.resources {
                println!("{address}\t{}", resource.id);
            }
        }
        StateCommand::Show { address } => {
            let state = store.read().await?;
            let Some(resource) = state.resources.get(address) else {
                anyhow::bail!(
                    "{address} is not in the state; `breakglass state list` shows what is"
                );
            };
            println!("{}", serde_json::to_string_pretty(resource)?);
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
            println!("Removed the lock held by {info}.");
        }
    }
    Ok(ExitStatus::Success)
}
