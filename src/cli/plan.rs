//! `breakglass plan`: what would change, and why.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use super::apply::executor;
use super::audit_trail::{Audit, signer_name};
use super::context::{configure_providers, load_policy, open_store, parse_at, progress};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use crate::address::Address;
use crate::engine::{PlanOptions, dry_run, make_plan};
use crate::plan::Plan;
use crate::sign::{PrivateKey, sign_plan};

/// Output formats of `plan` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: like Terraform's plan.
    Text,
    /// The versioned JSON contract (schemas/plan.schema.json), for CI.
    Json,
    /// For pull-request comments.
    Markdown,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
#[command(
    about = "Show what would change on each platform, and why",
    long_about = "Computes desired state (the baseline plus every activation live at the time), \
                  reads the live objects, and shows each change with its reason: baseline, an \
                  activation starting, an activation that expired or was revoked, or drift. \
                  Nothing is changed. With --out, the plan is saved as a signed DSSE envelope \
                  that `apply` accepts if its signer is a trusted plan signer.",
    after_help = "Examples:\n  breakglass plan\n  breakglass plan --out plan.json --sign-key keys/ci.key\n  \
                  breakglass plan --format markdown > comment.md\n  \
                  breakglass plan --at +2h            # what happens in two hours\n  \
                  breakglass plan --detailed-exitcode # 0 no changes, 2 changes, 4 drift only"
)]
pub struct PlanArgs {
    /// Save the signed plan to FILE, for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Private key that signs the saved plan.
    #[arg(long, value_name = "FILE", env = "BREAKGLASS_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,

    /// Print the plan as JSON (same as --format json).
    #[arg(long)]
    pub json: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 0 when there are no changes, 2 when there are, 4 when only drift is reported.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Plan for another time: RFC 3339 (2026-12-01T15:00:00Z) or an offset (+2h). Shows what
    /// expiry will do; a plan for another time cannot be applied.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<jiff::Timestamp>,

    /// Read live objects (false: plan against state alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,

    /// Plan only this address and what it depends on (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<Address>,

    /// Provider calls in flight at once (default: the policy's parallelism, 10).
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
}

/// Runs `plan`.
pub async fn run(args: &PlanArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let format = if args.json { Format::Json } else { args.format };
    let policy = load_policy(output)?;
    let store = open_store(&policy)?;
    let state = store.read().await?;
    let providers = configure_providers(&policy).await?;
    let at = args.at.unwrap_or_else(crate::clock::now);
    let options = PlanOptions {
        at,
        refresh: args.refresh,
        targets: args.target.clone(),
        parallelism: args.parallelism.unwrap_or(policy.settings.parallelism as usize),
        revert_interrupted: false,
    };
    let mut planned = make_plan(
        &policy,
        &state,
        &providers,
        &options,
        None,
        progress(output, format != Format::Text),
    )
    .await?;
    if args.refresh {
        // The platform's own checks (a Kubernetes server-side dry run), before anyone applies.
        dry_run(&mut planned.plan, &planned.desired, &planned.live, &providers, options.parallelism)
            .await?;
    }
    let plan = planned.plan;
    let audit = Audit::of(&policy);
    if args.refresh {
        audit.record_drift(&executor(), &plan.drift);
    }
    print_plan(&plan, format, output)?;
    if let Some(out) = &args.out {
        let (digest, key) = save(&plan, out, args.sign_key.as_ref(), args.at.is_some())?;
        audit.record_plan_signed(&signer_name(&policy, &key), &plan, &digest, out)?;
    }
    Ok(exit_status(&plan, args.detailed_exitcode))
}

/// Prints a plan in `format`.
pub fn print_plan(plan: &Plan, format: Format, output: Output) -> anyhow::Result<()> {
    match format {
        Format::Text => print!("{}", plan_view::render_text(plan, output.color)),
        Format::Json => println!("{}", serde_json::to_string_pretty(plan)?),
        Format::Markdown => print!("{}", plan_view::render_markdown(plan)),
    }
    Ok(())
}

/// Signs and saves `plan`; returns the envelope's digest and the signer's public key.
fn save(
    plan: &Plan,
    out: &PathBuf,
    key: Option<&PathBuf>,
    at_other_time: bool,
) -> anyhow::Result<(String, ed25519_dalek::VerifyingKey)> {
    if at_other_time {
        bail!("a plan made with --at shows another time and cannot be applied; drop --out or --at");
    }
    let Some(key) = key else {
        bail!(
            "saving a plan needs a key to sign it: pass --sign-key FILE or set BREAKGLASS_SIGN_KEY"
        );
    };
    let key = PrivateKey::load(key)?;
    let envelope = sign_plan(plan, &key);
    fs_err::write(out, envelope.to_json() + "\n")
        .with_context(|| format!("cannot save the plan to {}", out.display()))?;
    eprintln!(
        "Saved the plan to {}, signed by {}. Apply it with: breakglass apply {}",
        out.display(),
        crate::sign::key_id(&key.public_key()),
        out.display()
    );
    Ok((envelope.digest()?, key.public_key()))
}

/// The exit status `--detailed-exitcode` asks for.
pub fn exit_status(plan: &Plan, detailed: bool) -> ExitStatus {
    if !detailed {
        ExitStatus::Success
    } else if plan.has_changes() {
        ExitStatus::Changes
    } else if plan.has_reported_drift() {
        ExitStatus::DriftOnly
    } else {
        ExitStatus::Success
    }
}
