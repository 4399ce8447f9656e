//! `breakglass request`: a responder asks for a role or an override, signing the request plan.

use super::output::{errln, out, outln};
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;

use super::audit_trail::Audit;
use super::context::{load_policy, progress, read_scoped};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view;
use crate::audit::{Event, EventResult};
use crate::engine::emergency::{RequestSpec, check_limits, new_activation, request_plan, target};
use crate::engine::{EngineError, PlanOptions, Providers};
use crate::policy::{Duration, Policy};
use crate::sign::{PrivateKey, sign_plan};

/// Arguments of `request`.
#[derive(Debug, Args)]
#[command(
    about = "Ask for emergency access: a role or an override, for a bounded time",
    long_about = "Builds an activation of a role or an override (who, why, from now until now + \
                  DURATION) and the plan that applies it, signed with your key, and saves it to \
                  --out. Approvers sign tokens for it with `breakglass approve`; the executor \
                  applies it with `breakglass apply --emergency`. Refused, with the reason, when \
                  you may not request it, DURATION is above its max_duration, there is no \
                  justification, or a limit would be exceeded.",
    after_help = "Examples:\n  breakglass request prod_admin --duration 30m \\\n    \
                  --justification \"INC-4711: payments API down\" --as alice \\\n    \
                  --key ~/.breakglass/alice.key --out request.json\n  \
                  breakglass request chatbot_kill_switch --duration 2h --justification \"INC-12\" \\\n    \
                  --as bob --key bob.key --out kill.json --refresh=false"
)]
pub struct RequestArgs {
    /// The role or override.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// For how long, as in 30m, 1h, 1h30m (at most its max_duration).
    #[arg(long, value_name = "DURATION")]
    pub duration: Duration,

    /// Why: the incident or ticket, for approvers and the audit log.
    #[arg(long, value_name = "TEXT")]
    pub justification: String,

    /// Who you are: a person in the policy.
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: String,

    /// Your private key.
    #[arg(long, value_name = "FILE", env = "BREAKGLASS_KEY")]
    pub key: PathBuf,

    /// Where to save the signed request.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Also submit it to the web console at URL (`breakglass serve`), whose page for it
    /// shows approvers what it grants and lets them approve with a passkey.
    #[arg(long, value_name = "URL")]
    pub submit: Option<String>,

    /// Read live objects (false: plan against state; no platform credentials needed).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
}

/// Loads the signer's key and checks it is `person`'s key in the policy.
pub fn load_own_key(
    policy: &Policy,
    person: &str,
    path: &std::path::Path,
) -> anyhow::Result<PrivateKey> {
    let Some(declared) = policy.persons.get(person) else {
        bail!(EngineError::Refused(policy.unknown_person(person)));
    };
    let key = PrivateKey::load(path)?;
    if key.public_key() != declared.public_key.key {
        bail!(EngineError::Refused(format!(
            "{} is not {person}'s key: it does not match public_key in person \"{person}\"",
            path.display()
        )));
    }
    Ok(key)
}

/// Runs `request`.
pub async fn run(args: &RequestArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let audit = Audit::of(&policy);
    let result = build(args, output, &policy, &audit).await;
    if let Err(error) = &result {
        audit
            .record_or_warn(
                Event::new(&args.person, "refusal", EventResult::Refused)
                    .reason(format!("request {}: {error:#}", args.name))
                    .details(serde_json::json!({ "command": "request", "name": args.name })),
            )
            .await;
    }
    result
}

async fn build(
    args: &RequestArgs,
    output: Output,
    policy: &Policy,
    audit: &Audit,
) -> anyhow::Result<ExitStatus> {
    let key = load_own_key(policy, &args.person, &args.key)?;
    let now = crate::clock::now();
    let spec = RequestSpec {
        name: &args.name,
        requester: &args.person,
        duration: args.duration,
        justification: &args.justification,
        now,
    };
    let activation = new_activation(policy, &spec)?;
    let state = read_scoped(policy, &activation, now).await?;
    let warnings = check_limits(policy, &state, &activation, now)?;
    let providers = if args.refresh {
        Providers::configure(policy).await?
    } else {
        Providers::unconfigured(policy)?
    };
    let options = PlanOptions {
        at: now,
        refresh: args.refresh,
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
        None,
        warnings.clone(),
        &options,
        progress(output, false),
    )
    .await?;
    let envelope = sign_plan(&planned.plan, &key);
    let digest = envelope.digest()?;
    fs_err::write(&args.out, envelope.to_json() + "\n")?;
    let link = policy.settings.console.as_ref().map(|c| c.request_url(&activation.id));
    audit
        .record(
            Event::new(&args.person, "request", EventResult::Ok)
                .activation(&activation.id)
                .plan(&digest)
                .reason(activation.justification.clone())
                .details(serde_json::json!({
                    "kind": activation.kind.as_str(),
                    "name": activation.name,
                    "start": activation.start,
                    "end": activation.end,
                    "warnings": warnings,
                    "link": link,
                })),
        )
        .await?;
    if let Some(url) = &args.submit {
        let page = submit(url, &envelope.to_json()).await?;
        outln!("Submitted to the console: {page}")?;
    }
    out!("{}", plan_view::render_text(&planned.plan, output.color))?;
    outln!(
        "\nRequest {} saved to {}: {} {} for {} until {}.",
        activation.id,
        args.out.display(),
        activation.kind.as_str(),
        activation.name,
        activation.requester,
        activation.end
    )?;
    for warning in &warnings {
        outln!("warning: {warning}")?;
    }
    let (reference, rules) = target(policy, &args.name)?;
    if activation.auto_approved {
        outln!(
            "{reference} is auto-approved. Next: breakglass apply --emergency {}",
            args.out.display()
        )?;
    } else if let Some(group) = rules.approvers.as_ref().and_then(|g| policy.approvers.get(&g.name))
    {
        let quorum = rules.quorum.as_ref().map_or(group.quorum.value, |q| q.value);
        let members = policy.expand_persons(group.members.iter().map(|m| &m.value));
        outln!(
            "Next: {quorum} approval(s) from approvers.{} ({}): breakglass approve {} --as NAME --key KEY",
            group.name,
            members.into_iter().collect::<Vec<_>>().join(", "),
            args.out.display()
        )?;
        outln!("Then: breakglass apply --emergency {} --approval TOKEN …", args.out.display())?;
    }
    errln!(
        "The request expires at {} (request_lifetime {}).",
        planned.plan.expires_at,
        policy.settings.request_lifetime
    );
    Ok(ExitStatus::Success)
}

/// Posts the signed request to the console; returns the request's page.
async fn submit(url: &str, envelope: &str) -> anyhow::Result<String> {
    let endpoint = format!("{}/api/requests", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(envelope.to_owned())
        .send()
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot submit to the console at {url}: {}", error.without_url())
        })?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the console at {url} refused the request ({status}): {}",
            answer["error"].as_str().unwrap_or("no reason given")
        );
    }
    Ok(answer["url"].as_str().unwrap_or_default().to_owned())
}
