//! `breakglass apply`: carry out a saved, signed plan, or plan and ask.

use super::output::{errln, out, outln};
use anyhow::bail;
use clap::Args;
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::audit_trail::{Audit, EventsFormat, RecordingProgress, Streaming};
use super::context::{configure_providers, load_policy, lock, lock_timeout, open_store, progress};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use crate::audit::{Event, EventResult};
use crate::engine::Progress;
use crate::engine::emergency::{EmergencyInput, apply_emergency};
use crate::engine::{
    ApplyMode, ApplyReport, ChangeOutcome, EngineError, PlanOptions, apply, check_still_holds,
    make_plan,
};
use crate::event::action;
use crate::plan::Action;
use crate::policy::Policy;
use crate::sign::{PLAN_PAYLOAD_TYPE, approval_of, read_plan_file, read_token};
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
                  breakglass apply --auto-approve --lock-timeout 2m\n  \
                  breakglass apply --emergency request.json --approval $TOKEN1 --approval $TOKEN2 --totp 123456\n\n\
                  With --emergency, every rule is recomputed from the policy and this machine's clock \
                  (times in the request and tokens are claims, checked); checks run in this order and \
                  the first failure is reported (exit 5):\n  \
                  1 the request is signed by the requester it names\n  \
                  2 the requester may request it (checked before anything is computed)\n  \
                  3 its times hold by this clock: not made in the future (clock_skew_tolerance),\n    \
                  younger than request_lifetime, starting when made, at most max_duration long;\n    \
                  and the policy has not changed\n  \
                  4 no limit refuses it, and the live objects it touches have not changed\n  \
                  5 each token is signed by an approver of the role or override\n  6 each token is for this request\n  \
                  7 each token was not issued in the future, claims no more than token_lifetime,\n    \
                  has not expired (nor exceeded max_token_age)\n  \
                  8 no one approves their own request, unless allowed; a denial refuses\n  \
                  9 each token is used for the first time\n 10 each approver counts once\n \
                  11 the quorum is met (unless auto-approved)\n \
                  12 the authentication rule is met (TOTP: RFC 6238, ±1 step, each code once)"
)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`, or a request made by `request` (with --emergency).
    #[arg(value_name = "PLAN")]
    pub plan: Option<PathBuf>,

    /// Apply an emergency request, with approval tokens and authentication.
    #[arg(long)]
    pub emergency: bool,

    /// With --emergency: take the request, and the approvals and passkey presence made for it
    /// in the console, from the request inbox kept beside the state (`breakglass serve`). Each
    /// is verified here, exactly as if it were passed with --approval / --passkey.
    #[arg(long = "request", value_name = "ID", requires = "emergency", conflicts_with = "plan")]
    pub request: Option<String>,

    /// An approval token from `breakglass approve`, or a passkey approval from the console
    /// (repeat for each approver).
    #[arg(long = "approval", value_name = "TOKEN", requires = "emergency")]
    pub approvals: Vec<String>,

    /// The requester's passkey proof of presence (from the request's page in the console), when
    /// the authentication rule asks for `methods = ["passkey"]`.
    #[arg(long, value_name = "TOKEN", requires = "emergency")]
    pub passkey: Option<String>,

    /// The requester's current TOTP code, when the authentication rule asks for one.
    #[arg(long, value_name = "CODE", requires = "emergency")]
    pub totp: Option<String>,

    /// Apply without asking (required without a plan file when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,

    /// How long to wait for the state lock (another apply, or a watch reverting).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = lock_timeout)]
    pub lock_timeout: std::time::Duration,

    /// Provider calls in flight at once (default: the policy's parallelism).
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,

    /// Also print each audit event as it is recorded (json: one JSON object a line on stdout).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventsFormat>,
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
    let _streaming = Streaming::start(&policy, args.events);
    if args.emergency {
        return emergency(args, output, &policy).await;
    }
    let result = plan_and_apply(args, output, &policy).await;
    if let Err(error) = &result {
        Audit::of(&policy).record_refusal(&executor(), "apply", error).await;
    }
    result
}

async fn plan_and_apply(
    args: &ApplyArgs,
    output: Output,
    policy: &Policy,
) -> anyhow::Result<ExitStatus> {
    let saved = match &args.plan {
        Some(path) => {
            let signed = read_plan_file(path)?;
            let trusted = trusted_signers(policy);
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
            errln!("Plan signed by {signer}, a trusted plan signer.");
            Some(plan)
        }
        None => None,
    };
    let store = open_store(policy)?;
    let providers = configure_providers(policy).await?;
    let mut guard = match lock(store.as_ref(), "apply", args.lock_timeout).await {
        Ok(guard) => guard,
        Err(error @ StateError::Locked { .. }) => {
            errln!("error: {error}");
            return Ok(ExitStatus::Locked);
        }
        Err(error) => return Err(error.into()),
    };
    let mut state = guard.read().await?;
    let options = PlanOptions {
        at: crate::clock::now(),
        refresh: true,
        targets: saved.as_ref().map(|p| p.targets.clone()).unwrap_or_default(),
        parallelism: args.parallelism.unwrap_or(policy.settings.parallelism as usize),
        revert_interrupted: false,
        scoped: false,
    };
    let audit = Audit::in_store(store.clone());
    let actor = executor();
    let progress: Arc<dyn Progress> =
        Arc::new(RecordingProgress::new(progress(output, false), actor.clone()));
    let planned = make_plan(policy, &state, &providers, &options, None, progress.clone()).await?;
    audit.record_drift(&actor, &planned.plan.drift).await;
    match &saved {
        Some(saved) => check_still_holds(saved, policy, &state, &planned.plan)?,
        None => {
            out!("{}", plan_view::render_text(&planned.plan, output.color))?;
            if planned.plan.has_changes() && !args.auto_approve && !confirm()? {
                outln!("Apply cancelled.")?;
                return Ok(ExitStatus::Success);
            }
        }
    }
    audit
        .record(Event::new(&actor, "apply.start", EventResult::Ok).details(
            serde_json::json!({ "changes": planned.plan.summary, "plan_file": args.plan }),
        ))
        .await?;
    let report = apply(
        guard.as_mut(),
        &mut state,
        &providers,
        &planned.desired,
        &planned.live,
        &planned.plan.resource_changes,
        &ApplyMode::Full,
        options.parallelism,
        progress,
    )
    .await?;
    let status = print_report(&report)?;
    audit.record_or_warn(finish_event(&actor, &report, status)).await;
    Ok(status)
}

/// Who runs this process, for the audit log.
pub fn executor() -> String {
    std::env::var("USER").map_or_else(|_| "executor".to_owned(), |user| format!("executor:{user}"))
}

fn finish_event(actor: &str, report: &ApplyReport, status: ExitStatus) -> Event {
    let result = if status == ExitStatus::Success { EventResult::Ok } else { EventResult::Failed };
    Event::new(actor, "apply.finish", result).details(serde_json::json!({
        "changes": report.changes.len(),
        "failed": report.changes.iter().filter(|(_, o)| *o != ChangeOutcome::Applied).count(),
        "exit_code": status.code(),
    }))
}

async fn emergency(
    args: &ApplyArgs,
    output: Output,
    policy: &Policy,
) -> anyhow::Result<ExitStatus> {
    let mut tokens = args.approvals.clone();
    let mut presence = args.passkey.clone();
    let signed = match (&args.plan, &args.request) {
        (Some(path), _) => read_plan_file(path)?,
        (None, Some(id)) => {
            let inbox = crate::console::Inbox::beside_state(policy)?;
            let stored = inbox.get(id)?;
            tokens.extend(stored.approval_tokens());
            presence = presence.or(stored.presence.clone().map(|p| p.token));
            stored.signed()?
        }
        (None, None) => bail!(
            "apply --emergency needs the request file, or --request ID from the console's inbox"
        ),
    };
    let requester = signed
        .plan()
        .ok()
        .and_then(|p| p.request)
        .map_or_else(|| "unknown".to_owned(), |r| r.activation.requester);
    let store = open_store(policy)?;
    let audit = Audit::in_store(store.clone());
    let providers = configure_providers(policy).await?;
    let mut guard = match lock(store.as_ref(), "apply --emergency", args.lock_timeout).await {
        Ok(guard) => guard,
        Err(error @ StateError::Locked { .. }) => {
            errln!("error: {error}");
            return Ok(ExitStatus::Locked);
        }
        Err(error) => return Err(error.into()),
    };
    let progress: Arc<dyn Progress> = Arc::new(
        RecordingProgress::new(progress(output, false), requester.clone())
            .for_plan(signed.digest.clone()),
    );
    // The decision is written to the audit log once every check has passed, in the same
    // transaction as the write-ahead record, before any provider call: the request and each
    // approval counted as events of their own (the times they carry are their signers' claims;
    // the events' own times are the executor's receipt), then the grant.
    let claims = SignedClaims::read(&signed, &tokens);
    let record_decision =
        |activation: &crate::activation::Activation| -> Result<Vec<Event>, String> {
            Ok(decision_events(policy, &signed.digest, &claims, activation))
        };
    let input = EmergencyInput {
        policy,
        providers: &providers,
        signed: &signed,
        tokens: &tokens,
        totp_code: args.totp.as_deref(),
        presence: presence.as_deref(),
        parallelism: args.parallelism.unwrap_or(policy.settings.parallelism as usize),
        on_authorized: &record_decision,
    };
    match apply_emergency(input, guard.as_mut(), progress).await {
        Ok(outcome) => {
            let activation = &outcome.activation;
            let status = print_report(&outcome.report)?;
            outln!(
                "{} {} {} for {}: {} until {} ({}).",
                activation.id,
                activation.kind.as_str(),
                activation.name,
                activation.requester,
                activation.status.as_str(),
                activation.end,
                if activation.auto_approved {
                    "auto-approved".to_owned()
                } else {
                    format!(
                        "approved by {}",
                        activation
                            .approvals
                            .iter()
                            .map(|a| a.approver.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )?;
            audit
                .record_or_warn(finish_event(&activation.requester, &outcome.report, status))
                .await;
            Ok(status)
        }
        Err(error) => {
            let refused = error.is_refusal();
            audit
                .record_or_warn(
                    Event::new(
                        &requester,
                        if refused { "refusal" } else { "apply.failed" },
                        if refused { EventResult::Refused } else { EventResult::Failed },
                    )
                    .plan(&signed.digest)
                    .reason(error.to_string())
                    .details(serde_json::json!({ "command": "apply --emergency" })),
                )
                .await;
            Err(error.into())
        }
    }
}

/// What the signed documents of an emergency apply claim, read once for the audit log: the
/// request plan's time, and each approval token's times, by nonce. Claims only — every check
/// was made on them by the engine; the log keeps them beside the executor's own times.
struct SignedClaims {
    request_created_at: Option<jiff::Timestamp>,
    tokens: BTreeMap<String, TokenClaims>,
}

/// What one approval token claims, by its nonce.
struct TokenClaims {
    issued_at: jiff::Timestamp,
    expires_at: jiff::Timestamp,
    /// The credential id of the passkey that signed it (a passkey token).
    passkey: Option<String>,
}

impl SignedClaims {
    fn read(signed: &crate::sign::SignedPlan, tokens: &[String]) -> Self {
        // Ed25519 tokens (DSSE envelopes) and passkey tokens carry the same approval payload.
        let payload = |token: &String| match crate::sign::PasskeyToken::from_token(token) {
            Ok(passkey) => Some((passkey.payload_bytes().ok()?, passkey.credential_id_b64())),
            Err(_) => Some((read_token(token).ok()?.payload_bytes().ok()?, None)),
        };
        let tokens = tokens
            .iter()
            .filter_map(payload)
            .filter_map(|(payload, passkey)| Some((approval_of(&payload).ok()?, passkey)))
            .map(|(approval, passkey)| {
                let claims = TokenClaims {
                    issued_at: approval.issued_at,
                    expires_at: approval.expires_at,
                    passkey,
                };
                (approval.nonce, claims)
            })
            .collect();
        Self { request_created_at: signed.plan().ok().map(|plan| plan.created_at), tokens }
    }
}

/// `object` with the fields of `more` added.
fn with(mut object: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(object), serde_json::Value::Object(more)) = (object.as_object_mut(), more) {
        object.extend(more);
    }
    object
}

/// The key id a person signs with, from the policy (not from the document).
fn signer_key(policy: &Policy, person: &str) -> Option<String> {
    policy.persons.get(person).map(|p| crate::sign::key_id(&p.public_key.key))
}

/// The events of an emergency decision: the request received, each approval counted, and the
/// grant (or extension) applied.
fn decision_events(
    policy: &Policy,
    digest: &str,
    claims: &SignedClaims,
    activation: &crate::activation::Activation,
) -> Vec<Event> {
    let extension = activation.extensions.iter().find(|e| e.plan_digest == digest);
    let kind = if extension.is_some() { "extension" } else { "emergency" };
    let approvals = extension.map_or(&activation.approvals, |e| &e.approvals);
    let mut events = vec![
        Event::new(&activation.requester, action::REQUEST_RECEIVED, EventResult::Ok)
            .activation(&activation.id)
            .plan(digest)
            .reason(extension.map_or(&activation.justification, |e| &e.justification).clone())
            .details(serde_json::json!({
                "kind": activation.kind.as_str(),
                "name": activation.name,
                "request": kind,
                "start": activation.start,
                "end": extension.map_or(activation.end, |e| e.new_end),
                "signer_key": signer_key(policy, &activation.requester),
                "claimed": { "created_at": claims.request_created_at },
            })),
    ];
    for approval in approvals {
        let token = claims.tokens.get(&approval.nonce);
        let issued_at = token.map_or(approval.issued_at, |t| t.issued_at);
        let expires_at = token.map(|t| t.expires_at);
        let passkey = token.and_then(|t| t.passkey.clone());
        // The key that signed it: the approver's passkey, or their Ed25519 key.
        let signer = match &passkey {
            Some(credential) => serde_json::json!({ "passkey": credential }),
            None => serde_json::json!({ "signer_key": signer_key(policy, &approval.approver) }),
        };
        events.push(
            Event::new(&approval.approver, action::APPROVAL_ACCEPTED, EventResult::Ok)
                .activation(&activation.id)
                .plan(digest)
                .details(with(
                    serde_json::json!({
                        "comment": approval.comment,
                        "nonce": approval.nonce,
                        "claimed": { "issued_at": issued_at, "expires_at": expires_at },
                    }),
                    signer,
                )),
        );
    }
    events.push(
        Event::new(&activation.requester, action::APPLY_EMERGENCY, EventResult::Ok)
            .activation(&activation.id)
            .plan(digest)
            .reason(activation.justification.clone())
            .details(serde_json::json!({
                "kind": kind,
                "executor": executor(),
                "auto_approved": activation.auto_approved,
                "authentication": activation.authentication,
                "end": activation.end,
            })),
    );
    events
}

fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "apply asks for confirmation only on a terminal; pass a saved plan file (plan --out) \
             or --auto-approve"
        );
    }
    out!("\nDo you want to perform these actions? Only 'yes' will be accepted: ")?;
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// Prints what an apply did and decides the exit status.
pub fn print_report(report: &ApplyReport) -> std::io::Result<ExitStatus> {
    let count = |actions: &[Action]| {
        report
            .changes
            .iter()
            .filter(|(c, o)| *o == ChangeOutcome::Applied && actions.contains(&c.action))
            .count()
    };
    for (change, outcome) in &report.changes {
        match outcome {
            ChangeOutcome::Failed(error) => errln!("error: {}: {error}", change.address),
            ChangeOutcome::Skipped => {
                errln!("skipped: {} (something it depends on failed)", change.address)
            }
            ChangeOutcome::Applied => {}
        }
    }
    for note in &report.notes {
        outln!("note: {note}")?;
    }
    for id in &report.activated {
        outln!("Activation {id} is active.")?;
    }
    for id in &report.reverted {
        outln!("Activation {id} is reverted (confirmed by reading the live objects).")?;
    }
    for (id, why) in &report.reverting {
        errln!("warning: activation {id} is NOT confirmed reverted: {why}; it will be retried");
    }
    let summary = format!(
        "Resources: {} added, {} changed, {} destroyed.",
        count(&[Action::Create, Action::Replace]),
        count(&[Action::Update]),
        count(&[Action::Delete, Action::Replace])
    );
    if report.has_failures() {
        outln!("Apply failed. {summary} What succeeded is recorded; run apply again to converge.")?;
        Ok(ExitStatus::Failure)
    } else if !report.reverting.is_empty() {
        outln!("Apply complete, but a revert is unconfirmed. {summary}")?;
        Ok(ExitStatus::RevertPending)
    } else {
        outln!("Apply complete! {summary}")?;
        Ok(ExitStatus::Success)
    }
}
