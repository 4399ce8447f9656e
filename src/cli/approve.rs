//! `breakglass approve`: an approver reviews a request and signs a token for it.

use super::output::{err, errln, outln};
use anyhow::bail;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::audit_trail::Audit;
use super::context::load_policy;
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use super::request::load_own_key;
use crate::audit::{Event, EventResult};
use crate::engine::EngineError;
use crate::engine::claims::{Clock, check_request};
use crate::engine::emergency::{rules_of, verify_request_signature};
use crate::sign::{Approval, Decision, read_plan_file};

/// Arguments of `approve`.
#[derive(Debug, Args)]
#[command(
    about = "Review an emergency request and sign an approval (or denial) token for it",
    long_about = "Shows what the request asks for — role or override, requester, justification, \
                  duration, every change — then signs a token bound to this request only, valid for \
                  the approvers block's token_lifetime, usable once. Refuses, saying why, a request \
                  apply --emergency would refuse by the checks that need no state: one its \
                  requester may not make, made in the future or expired (by this machine's \
                  clock), starting other than when it was made, longer than max_duration, or made \
                  against another version of the policy. The token is printed alone on \
                  stdout (one base64url string); pass it to `apply --emergency --approval`. You are \
                  asked to confirm on a terminal; elsewhere (a script, a pipe) --yes is required, \
                  as nothing is signed without one or the other.",
    after_help = "Examples:\n  breakglass approve request.json --as carol --key ~/.breakglass/carol.key\n  \
                  TOKEN=$(breakglass approve request.json --as dave --key dave.key --yes --comment \"ok, INC-4711\")\n  \
                  breakglass approve request.json --as dave --key dave.key --deny --comment \"use read_logs\""
)]
pub struct ApproveArgs {
    /// The request file.
    #[arg(value_name = "REQUEST")]
    pub request: PathBuf,

    /// Who you are: an approver in the policy.
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: String,

    /// Your private key.
    #[arg(long, value_name = "FILE", env = "BREAKGLASS_KEY")]
    pub key: PathBuf,

    /// A comment, kept in the token and the audit log.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,

    /// Deny instead of approve.
    #[arg(long)]
    pub deny: bool,

    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// Runs `approve`; a refusal is recorded in the audit log.
pub async fn run(args: &ApproveArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let audit = Audit::of(&policy);
    let result = review_and_sign(args, output, &policy, &audit).await;
    if let Err(error) = &result {
        let mut event = Event::new(&args.person, "refusal", EventResult::Refused)
            .reason(format!("approve {}: {error:#}", args.request.display()))
            .details(serde_json::json!({ "command": "approve" }));
        // The request it was about, so the report files the refusal under its activation.
        if let Ok(signed) = read_plan_file(&args.request) {
            event = event.plan(signed.digest);
        }
        audit.record_or_warn(event).await;
    }
    result
}

async fn review_and_sign(
    args: &ApproveArgs,
    output: Output,
    policy: &crate::policy::Policy,
    audit: &Audit,
) -> anyhow::Result<ExitStatus> {
    let key = load_own_key(policy, &args.person, &args.key)?;
    let signed = read_plan_file(&args.request)?;
    let (plan, request) = verify_request_signature(policy, &signed)?;
    let activation = &request.activation;
    let (reference, rules) = rules_of(policy, activation)?;
    let Some(group) = rules.approvers.as_ref().and_then(|g| policy.approvers.get(&g.name)) else {
        bail!(EngineError::Refused(format!("{reference} has no approvers block to approve with")));
    };
    let members = policy.expand_persons(group.members.iter().map(|m| &m.value));
    if !members.contains(args.person.as_str()) {
        bail!(EngineError::Refused(format!(
            "{} is not an approver of {reference}: approvers.{} is {}",
            args.person,
            group.name,
            members.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let length = activation.end.duration_since(activation.start);
    errln!("Request {} by {}:", activation.id, activation.requester);
    errln!(
        "  {}: {} {}",
        if request.extends.is_some() { "extend" } else { "activate" },
        activation.kind.as_str(),
        activation.name
    );
    errln!("  why:     {}", activation.justification);
    errln!(
        "  when:    {} → {} ({})",
        activation.start,
        activation.end,
        crate::policy::Duration::from_secs(u64::try_from(length.as_secs()).unwrap_or(0))
    );
    for warning in &request.warnings {
        errln!("  WARNING: {warning}");
    }
    err!("\n{}", plan_view::render_text(&plan, output.color && std::io::stderr().is_terminal()));
    // The checks the executor makes that need no state, by this machine's clock: an approval
    // of a request the executor would refuse is never signed.
    let clock = Clock::of(policy, crate::clock::now());
    if let Err(error) = check_request(policy, &plan, &request, &clock) {
        errln!("\nNothing signed: apply --emergency would refuse this request.");
        return Err(error.into());
    }
    if activation.requester == args.person && !group.allow_self_approval.value {
        bail!(EngineError::Refused(format!(
            "{} cannot approve their own request: approvers.{} does not allow self-approval",
            args.person, group.name
        )));
    }
    let verb = if args.deny { "Deny" } else { "Approve" };
    if !args.yes && !std::io::stdin().is_terminal() {
        bail!(
            "approve asks for confirmation only on a terminal, and nothing was signed; after \
             reviewing the request above, pass --yes to sign without being asked"
        );
    }
    if !args.yes {
        err!("\n{verb} this request? Only 'yes' will be accepted: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            errln!("Nothing signed.");
            return Ok(ExitStatus::Success);
        }
    }
    let now = crate::clock::now();
    let approval = Approval {
        approver: args.person.clone(),
        decision: if args.deny { Decision::Deny } else { Decision::Approve },
        plan_digest: signed.digest.clone(),
        activation: activation.id.clone(),
        issued_at: now,
        expires_at: now.checked_add(group.token_lifetime.to_signed()).unwrap_or(now),
        nonce: Approval::new_nonce(),
        comment: args.comment.clone(),
    };
    let token = approval.sign(&key);
    audit
        .record_or_warn(
            Event::new(
                &args.person,
                if args.deny { "denial" } else { "approval" },
                EventResult::Ok,
            )
            .activation(&activation.id)
            .plan(&signed.digest)
            .details(serde_json::json!({
                "comment": args.comment,
                "expires_at": approval.expires_at,
                "nonce": approval.nonce,
            })),
        )
        .await;
    outln!("{token}")?;
    errln!(
        "{verb}d {} for {} ({}): token valid until {}, once.",
        activation.id,
        activation.requester,
        reference,
        approval.expires_at
    );
    Ok(ExitStatus::Success)
}
