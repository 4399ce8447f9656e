//! `breakglass apply`: carry out a saved, signed plan, or plan and ask.

use anyhow::bail;
use clap::Args;
use ed25519_dalek::VerifyingKey;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::context::{configure_providers, load_policy, lock_timeout, open_store, progress};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use crate::engine::{
    ApplyReport, ChangeOutcome, EngineError, PlanOptions, apply, check_still_holds, make_plan,
};
use crate::plan::Action;
use crate::policy::Policy;
use crate::sign::{PLAN_PAYLOAD_TYPE, read_plan_file};
use crate::state::StateError;

/// Arguments of `apply`.
#[derive(Debug, Args)]
#[command(
    about = "Apply a saved plan, or plan and apply after confirmation",
    long_about = "With a plan file: refuses unless it is signed by a trusted plan signer, has not \
                  expired, was made against this state, and every live object it touches still \
                  reads as it did at plan time. Without a file: plans, shows the plan and asks \
                  for `yes` (only on a terminal; elsewhere pass --auto-approve or a plan file). \
                  Changes are applied in dependency order; each is recorded in state as it \
                  succeeds; after a failure, running again converges.",
    after_help = "Examples:\n  breakglass apply plan.json\n  breakglass apply\n  \
                  breakglass apply --auto-approve --lock-timeout 2m"
)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`.
    #[arg(value_name = "PLAN")]
    pub plan: Option<PathBuf>,

    /// Apply without asking (required without a plan file when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,

    /// How long to wait for the state lock.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = lock_timeout)]
    pub lock_timeout: std::time::Duration,

    /// Provider calls in flight at once (default: the policy's parallelism).
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
}

/// The trusted plan signers' names and keys.
pub fn trusted_signers(policy: &Policy) -> Vec<(&str, &VerifyingKey)> {
    policy
        .settings
        .plan_signers
        .iter()
        .filter_map(|reference| policy.persons.get_key_value(&reference.name))
        .map(|(name, person)| (name.as_str(), &person.public_key.key))
        .collect()
}

/// Runs `apply`.
pub async fn run(args: &ApplyArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let saved = match &args.plan {
        Some(path) => {
            let signed = read_plan_file(path)?;
            let trusted = trusted_signers(&policy);
            let (signer, _) = signed
                .envelope
                .verify(PLAN_PAYLOAD_TYPE, trusted.iter().map(|(n, k)| (*n, *k)))
                .map_err(EngineError::from)?;
            let plan = signed.plan()?;
            let now = crate::clock::now();
            if now >= plan.expires_at {
                return Err(EngineError::Refused(format!(
                    "the plan expired at {}; run plan again",
                    plan.expires_at
                ))
                .into());
            }
            eprintln!("Plan signed by {signer}, a trusted plan signer.");
            Some(plan)
        }
        None => None,
    };
    let store = open_store(&policy)?;
    let providers = configure_providers(&policy).await?;
    let mut guard = match store.lock("apply", args.lock_timeout).await {
        Ok(guard) => guard,
        Err(error @ StateError::Locked { .. }) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Locked);
        }
        Err(error) => return Err(error.into()),
    };
    let state = guard.state().clone();
    let options = PlanOptions {
        at: crate::clock::now(),
        refresh: true,
        targets: saved.as_ref().map(|p| p.targets.clone()).unwrap_or_default(),
        parallelism: args.parallelism.unwrap_or(policy.settings.parallelism as usize),
    };
    let progress = progress(output, false);
    let planned = make_plan(&policy, &state, &providers, &options, None, progress.clone()).await?;
    match &saved {
        Some(saved) => check_still_holds(saved, &policy, &state, &planned.plan)?,
        None => {
            print!("{}", plan_view::render_text(&planned.plan, output.color));
            if planned.plan.has_changes() && !args.auto_approve && !confirm()? {
                println!("Apply cancelled.");
                return Ok(ExitStatus::Success);
            }
        }
    }
    let report = apply(
        guard.as_mut(),
        &providers,
        &planned.desired,
        &planned.live,
        &planned.plan.resource_changes,
        options.parallelism,
        progress,
    )
    .await?;
    Ok(print_report(&report))
}

fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "apply asks for confirmation only on a terminal; pass a saved plan file (plan --out) \
             or --auto-approve"
        );
    }
    print!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// Prints what an apply did and decides the exit status.
pub fn print_report(report: &ApplyReport) -> ExitStatus {
    let count = |actions: &[Action]| {
        report
            .changes
            .iter()
            .filter(|(c, o)| *o == ChangeOutcome::Applied && actions.contains(&c.action))
            .count()
    };
    for (change, outcome) in &report.changes {
        match outcome {
            ChangeOutcome::Failed(error) => eprintln!("error: {}: {error}", change.address),
            ChangeOutcome::Skipped => {
                eprintln!("skipped: {} (something it depends on failed)", change.address)
            }
            ChangeOutcome::Applied => {}
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    for id in &report.activated {
        println!("Activation {id} is active.");
    }
    for id in &report.reverted {
        println!("Activation {id} is reverted (confirmed by reading the live objects).");
    }
    for (id, why) in &report.reverting {
        eprintln!("warning: activation {id} is NOT confirmed reverted: {why}; it will be retried");
    }
    let summary = format!(
        "Resources: {} added, {} changed, {} destroyed.",
        count(&[Action::Create, Action::Replace]),
        count(&[Action::Update]),
        count(&[Action::Delete, Action::Replace])
    );
    if report.has_failures() {
        println!(
            "Apply failed. {summary} What succeeded is recorded; run apply again to converge."
        );
        ExitStatus::Failure
    } else if !report.reverting.is_empty() {
        println!("Apply complete, but a revert is unconfirmed. {summary}");
        ExitStatus::RevertPending
    } else {
        println!("Apply complete! {summary}");
        ExitStatus::Success
    }
}
