//! `breakglass status`: who has what, why, approved by whom, and for how long still.

use super::output::{out, outln};
use clap::Args;
use std::fmt::Write;

use super::context::{load_policy, open_store};
use super::exit::ExitStatus;
use super::output::Output;
use crate::activation::{Activation, ActivationStatus};
use crate::policy::Duration;
use crate::state::ActivationFilter;

/// Arguments of `status`.
#[derive(Debug, Args)]
#[command(
    about = "List activations: who, what, why, approved by, started, time left",
    long_about = "Lists activations that are live or not yet confirmed reverted (--all: every \
                  activation ever recorded). Reads state only; contacts nothing.",
    after_help = "Examples:\n  breakglass status\n  breakglass status --all --json"
)]
pub struct StatusArgs {
    /// Print JSON: the activation records, with time_left_seconds.
    #[arg(long)]
    pub json: bool,

    /// Include reverted activations (history).
    #[arg(long)]
    pub all: bool,
}

fn approved_by(activation: &Activation) -> String {
    if activation.auto_approved {
        return "auto-approved".to_owned();
    }
    if activation.approvals.is_empty() {
        return match activation.source {
            crate::activation::ActivationSource::Grant { .. } => "reviewed in git".to_owned(),
            crate::activation::ActivationSource::Emergency { .. } => "-".to_owned(),
        };
    }
    activation.approvals.iter().map(|a| a.approver.as_str()).collect::<Vec<_>>().join(", ")
}

/// Runs `status`.
pub async fn run(args: &StatusArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    // The activation records only (no resources), live ones from the index on status.
    let filter = ActivationFilter { not_reverted: !args.all, ..ActivationFilter::default() };
    let records = open_store(&policy)?.activations(&filter).await?;
    let now = crate::clock::now();
    let mut shown: Vec<&Activation> = records
        .iter()
        .filter(|a| args.all || a.status != ActivationStatus::Reverted)
        .map(|a| &**a)
        .collect();
    shown.sort_by_key(|a| (a.start, a.id.clone()));
    let left = |a: &Activation| {
        if a.is_live_at(now) {
            u64::try_from(a.end.duration_since(now).as_secs()).unwrap_or(0)
        } else {
            0
        }
    };
    if args.json {
        let records: Vec<serde_json::Value> = shown
            .iter()
            .map(|a| {
                let mut value = serde_json::to_value(a).unwrap_or_default();
                value["live"] = a.is_live_at(now).into();
                value["time_left_seconds"] = left(a).into();
                value
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "now": now, "activations": records })
            )?
        )?;
        return Ok(ExitStatus::Success);
    }
    if shown.is_empty() {
        outln!(
            "No activations{}.",
            if args.all { "" } else { " live or pending revert (--all shows history)" }
        )?;
        return Ok(ExitStatus::Success);
    }
    let mut out = String::new();
    for a in shown {
        let remaining = if a.is_live_at(now) {
            format!("{} left", Duration::from_secs(left(a)))
        } else if a.status == ActivationStatus::Reverted {
            format!("reverted {}", a.reverted_at.map_or_else(|| "-".to_owned(), |t| t.to_string()))
        } else {
            "ended; revert pending".to_owned()
        };
        let _ = writeln!(
            out,
            "{}  {} {} for {}  [{}, {remaining}]",
            a.id,
            a.kind.as_str(),
            a.name,
            a.requester,
            a.status.as_str()
        );
        let _ = writeln!(out, "    why:      {}", a.justification);
        let _ = writeln!(out, "    approved: {}", approved_by(a));
        let _ = writeln!(out, "    from:     {} until {}", a.start, a.end);
        if let Some(revocation) = &a.revoked {
            let _ = writeln!(
                out,
                "    revoked:  by {} at {}: {}",
                revocation.by, revocation.at, revocation.reason
            );
        }
        if let Some(error) = &a.last_error {
            let _ = writeln!(out, "    problem:  {error} (attempts: {})", a.revert_attempts);
        }
        for flag in &a.flags {
            let _ = writeln!(out, "    flag:     {flag}");
        }
    }
    out!("{out}")?;
    Ok(ExitStatus::Success)
}
