//! `breakglass show`: render a saved plan or request, and say who signed it and whether it
//! would be accepted.

use clap::Args;
use std::path::PathBuf;

use super::context::load_policy;
use super::exit::ExitStatus;
use super::output::{Output, errln};
use super::plan::{Format, MarkdownArgs, exit_status, print_plan};
use crate::engine::claims::{Clock, check_approval, check_request, counts_until, request_deadline};
use crate::engine::emergency::{approver_group, open_token, verify_request_signature};
use crate::policy::{Duration, Policy};
use crate::sign::{PLAN_PAYLOAD_TYPE, SignedPlan, read_plan_file};

/// Arguments of `show`.
#[derive(Debug, Args)]
#[command(
    about = "Show a saved plan or an emergency request, who signed it, and whether it holds",
    long_about = "Renders a saved plan file. A plan's signature is checked against the policy's \
                  trusted plan signers. An emergency request's signature is checked against the \
                  key of the person it names as requester, then every check apply --emergency \
                  makes without state, by this machine's clock: whether that person may request \
                  it, its times, its window; with --approval, each token is checked as the \
                  executor would (signed by an approver, bound to this request, within its \
                  lifetime and age) and the quorum counted. What only the executor can check \
                  (tokens already used, limits, unchanged live objects, TOTP) is left to it. \
                  Nothing is contacted and nothing is changed.",
    after_help = "Examples:\n  breakglass show plan.json\n  breakglass show plan.json --json\n  \
                  breakglass show plan.json --format markdown --detailed-exitcode > comment.md\n  \
                  breakglass show request.json --approval $TOKEN1 --approval $TOKEN2"
)]
pub struct ShowArgs {
    /// The plan or request file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 0 when the plan has no changes, 2 when it has, 4 when it reports only drift (as
    /// `plan --detailed-exitcode` did when the plan was made).
    #[arg(long)]
    pub detailed_exitcode: bool,

    #[command(flatten)]
    pub markdown: MarkdownArgs,

    /// An approval token for the request, to check (repeat for each).
    #[arg(long = "approval", value_name = "TOKEN")]
    pub approvals: Vec<String>,
}

/// Runs `show`.
pub fn run(args: &ShowArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let signed = read_plan_file(&args.file)?;
    let plan = signed.plan()?;
    let format = if args.json { Format::Json } else { args.format };
    print_plan(&plan, format, &args.markdown.budget(), output)?;
    let status = exit_status(&plan, args.detailed_exitcode);
    let what = if plan.request.is_some() { "Request" } else { "Plan" };
    if signed.envelope.signatures.is_empty() {
        errln!(
            "{what} {}: unsigned (saved for review with --no-sign; apply refuses it); expires {}.",
            signed.digest,
            plan.expires_at
        );
        return Ok(status);
    }
    let Ok(policy) = load_policy(output) else {
        errln!(
            "{what} {}: signature not checked: the policy here could not be loaded.",
            signed.digest
        );
        return Ok(status);
    };
    if plan.request.is_some() {
        for line in request_verdict(&policy, &signed, &args.approvals) {
            errln!("{line}");
        }
        return Ok(status);
    }
    let trusted = super::apply::trusted_signers(&policy);
    let trust =
        match signed.envelope.verify(PLAN_PAYLOAD_TYPE, trusted.iter().map(|(n, k)| (*n, *k))) {
            Ok((signer, _)) => format!("signed by {signer}, a trusted plan signer"),
            Err(error) => format!("NOT trusted: {error}"),
        };
    errln!("Plan {}: {trust}; expires {}.", signed.digest, plan.expires_at);
    if !args.approvals.is_empty() {
        errln!("Approval tokens are for emergency requests; this is a plan, so none was checked.");
    }
    Ok(status)
}

/// What the executor would make of a request and its tokens, by this machine's clock, one line
/// each.
fn request_verdict(policy: &Policy, signed: &SignedPlan, tokens: &[String]) -> Vec<String> {
    let digest = &signed.digest;
    let (plan, request) = match verify_request_signature(policy, signed) {
        Ok(verified) => verified,
        Err(error) => return vec![format!("Request {digest}: NOT trusted: {}.", error.reason())],
    };
    let activation = &request.activation;
    let mut lines = vec![format!(
        "Request {digest}: signed by {}, the requester it names.",
        activation.requester
    )];
    let clock = Clock::of(policy, crate::clock::now());
    let (reference, rules) = match check_request(policy, &plan, &request, &clock) {
        Ok(found) => found,
        Err(error) => {
            lines.push(format!("apply --emergency would refuse it: {}.", error.reason()));
            return lines;
        }
    };
    let lasts = Duration::from_secs(
        u64::try_from(activation.end.duration_since(activation.start).as_secs()).unwrap_or(0),
    );
    lines.push(format!(
        "By this clock ({}) it holds: {} may request {reference}; good until {}; {} to {} ({lasts}, \
         max_duration {}).",
        clock.now,
        activation.requester,
        request_deadline(policy, &plan),
        activation.start,
        activation.end,
        rules.max_duration.value
    ));
    let auto = !policy.auto_approvers_of(&reference).is_empty();
    if tokens.is_empty() {
        if auto {
            lines.push(format!("{reference} is auto-approved: no tokens needed."));
        }
        lines.push(checked_by_the_executor());
        return lines;
    }
    let group = match approver_group(policy, &reference, rules) {
        Ok(group) => group,
        Err(error) => {
            lines.push(format!("The tokens cannot count: {}.", error.reason()));
            return lines;
        }
    };
    let mut counted = std::collections::BTreeSet::new();
    for (index, token) in tokens.iter().enumerate() {
        let number = index + 1;
        let verdict = open_token(policy, &group, number, token).and_then(|opened| {
            check_approval(&group.tokens, &opened, digest, activation, &clock).map(|()| opened)
        });
        match verdict {
            Ok(opened) => {
                lines.push(format!(
                    "Approval #{number}: by {}, an approver of {reference}; counts until {}.",
                    opened.signer,
                    counts_until(&group.tokens, &opened.approval)
                ));
                counted.insert(opened.signer);
            }
            Err(error) => {
                lines.push(format!("Approval #{number}: does not count: {}.", error.reason()))
            }
        }
    }
    lines.push(format!(
        "{} of {} approvals from {}{}.",
        counted.len(),
        group.quorum,
        group.tokens.group,
        if counted.len() >= group.quorum { ": quorum met" } else { ": quorum NOT met" }
    ));
    lines.push(checked_by_the_executor());
    lines
}

fn checked_by_the_executor() -> String {
    "Left to the executor: limits, tokens already used, the live objects unchanged, TOTP."
        .to_owned()
}
