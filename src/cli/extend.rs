//! `breakglass extend`: lengthen a live activation without a gap, approved like a request.

use super::output::{out, outln};
use clap::Args;
use std::path::PathBuf;

use super::audit_trail::Audit;
use super::context::{load_policy, open_store, progress, read_scoped};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use super::request::load_own_key;
use crate::audit::{Event, EventResult};
use crate::engine::emergency::{extension, request_plan};
use crate::engine::{PlanOptions, Providers};
use crate::policy::Duration;
use crate::sign::sign_plan;
use crate::state::Scope;

/// Arguments of `extend`.
#[derive(Debug, Args)]
#[command(
    about = "Ask to extend a live activation (a new request, approved like the first)",
    long_about = "Builds a request that moves a live activation's end later by DURATION, within \
                  the role's max_duration in total, signed with your key. It is approved and \
                  applied like any request (`approve`, `apply --emergency`); the activation never \
                  lapses in between, and the platform's own expiry moves with it.",
    after_help = "Example:\n  breakglass extend act_01JABCDEFGHJKMNPQRSTVWXYZ0 --duration 15m \\\n    \
                  --justification \"INC-4711: migration still running\" --as alice --key alice.key --out extend.json"
)]
pub struct ExtendArgs {
    /// The activation id (see `breakglass status`).
    #[arg(value_name = "ID")]
    pub id: String,

    /// How much longer.
    #[arg(long, value_name = "DURATION")]
    pub duration: Duration,

    /// Why.
    #[arg(long, value_name = "TEXT")]
    pub justification: String,

    /// Who you are: the activation's requester.
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: String,

    /// Your private key.
    #[arg(long, value_name = "FILE", env = "BREAKGLASS_KEY")]
    pub key: PathBuf,

    /// Where to save the signed request.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `extend`; a refusal is recorded in the audit log.
pub async fn run(args: &ExtendArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let result = ask(args, output, &policy).await;
    if let Err(error) = &result {
        Audit::of(&policy).record_refusal(&args.person, "extend", error).await;
    }
    result
}

async fn ask(
    args: &ExtendArgs,
    output: Output,
    policy: &crate::policy::Policy,
) -> anyhow::Result<ExitStatus> {
    let key = load_own_key(policy, &args.person, &args.key)?;
    let store = open_store(policy)?;
    let now = crate::clock::now();
    let records = store
        .read_scope(&Scope { activations: [args.id.clone()].into(), ..Scope::default() })
        .await?;
    let (activation, previous_end) = extension(
        &records,
        policy,
        &args.id,
        &args.person,
        args.duration,
        &args.justification,
        now,
    )?;
    let state = read_scoped(policy, &activation, now).await?;
    let providers = Providers::configure(policy).await?;
    let options = PlanOptions {
        at: now,
        refresh: true,
        targets: Vec::new(),
        parallelism: policy.settings.parallelism as usize,
        revert_interrupted: false,
        scoped: true,
    };
    let planned = request_plan(
        policy,
        &state,
        &providers,
        &activation,
        Some(previous_end),
        Vec::new(),
        &options,
        progress(output, false),
    )
    .await?;
    let envelope = sign_plan(&planned.plan, &key);
    fs_err::write(&args.out, envelope.to_json() + "\n")?;
    Audit::in_store(store)
        .record(
            Event::new(&args.person, "request.extension", EventResult::Ok)
                .activation(&activation.id)
                .plan(envelope.digest()?)
                .reason(activation.justification.clone())
                .details(
                    serde_json::json!({ "previous_end": previous_end, "new_end": activation.end }),
                ),
        )
        .await?;
    out!("{}", plan_view::render_text(&planned.plan, output.color))?;
    outln!(
        "\nExtension of {} saved to {}: until {} (was {}). Approve with `breakglass approve`, apply with `breakglass apply --emergency`.",
        activation.id,
        args.out.display(),
        activation.end,
        previous_end
    )?;
    Ok(ExitStatus::Success)
}
