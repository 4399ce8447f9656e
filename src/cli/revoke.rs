//! `breakglass revoke`: end an activation early.

use super::output::outln;
use anyhow::bail;
use clap::Args;
use std::sync::Arc;

use super::apply::executor;
use super::audit_trail::Streaming;
use super::context::{load_policy, lock, lock_timeout, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use super::reconcile::reconcile_once;
use crate::activation::{ActivationStatus, Revocation};
use crate::audit::{Event, EventResult};
use crate::engine::reconcile::ReconcileOptions;
use crate::state::{Change, Scope};

/// Arguments of `revoke`.
#[derive(Debug, Args)]
#[command(
    about = "End an activation early and revert it now",
    long_about = "Marks the activation revoked (who, when, why) and reverts it at once, like \
                  reconcile: only a re-read of the live objects marks it reverted.",
    after_help = "Examples:\n  breakglass revoke act_01JABCDEFGHJKMNPQRSTVWXYZ0 --reason \"incident closed\"\n  \
                  breakglass status        # lists activation ids"
)]
pub struct RevokeArgs {
    /// The activation id (see `breakglass status`).
    #[arg(value_name = "ID")]
    pub id: String,

    /// Why it ends early.
    #[arg(long, value_name = "TEXT", default_value = "revoked early")]
    pub reason: String,

    /// Who revokes it (default: the user running the command).
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: Option<String>,

    /// How long to wait for the state lock.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = lock_timeout)]
    pub lock_timeout: std::time::Duration,
}

/// Runs `revoke`.
pub async fn run(args: &RevokeArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let _streaming = Streaming::start(&policy, None);
    let store = open_store(&policy)?;
    let by = args.person.clone().unwrap_or_else(executor);
    {
        let mut guard = lock(store.as_ref(), "revoke", args.lock_timeout).await?;
        let scope = Scope { activations: [args.id.clone()].into(), ..Scope::default() };
        let mut state = guard.read_scope(&scope).await?;
        let Some(activation) = state.activations.get_mut(&args.id).map(Arc::make_mut) else {
            bail!("there is no activation {}; `breakglass status --all` lists them", args.id);
        };
        if activation.status == ActivationStatus::Reverted {
            bail!("activation {} is already reverted", args.id);
        }
        if activation.revoked.is_none() {
            activation.revoked = Some(Revocation {
                at: crate::clock::now(),
                by: by.clone(),
                reason: args.reason.clone(),
            });
            // The revocation and its event, in one transaction.
            guard
                .commit(Change {
                    activations: vec![Arc::new(activation.clone())],
                    events: vec![
                        Event::new(&by, "activation.revoked", EventResult::Ok)
                            .activation(&args.id)
                            .reason(args.reason.clone()),
                    ],
                    ..Change::default()
                })
                .await?;
        }
    }
    outln!("Revoked {}; reverting now.", args.id)?;
    let options = ReconcileOptions {
        at: None,
        dry_run: false,
        apply_grants: false,
        parallelism: policy.settings.parallelism as usize,
        only: Some([args.id.clone()].into()),
    };
    let (_, status) =
        reconcile_once(&policy, &store, &options, args.lock_timeout, output, false).await?;
    Ok(status)
}
