//! `breakglass drill`: rehearse the whole emergency procedure against the real policy, with
//! throwaway keys and TOTP secret, and no provider or state writes.

use anyhow::Context as _;
use clap::Args;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

use super::audit_trail::Audit;
use super::context::{load_policy, progress, read_scoped};
use super::exit::ExitStatus;
use super::output::{Output, outln};
use crate::audit::{Event, EventResult};
use crate::engine::claims::{Clock, check_request};
use crate::engine::emergency::{
    RequestSpec, TotpSecrets, check_limits, new_activation, request_plan, verify_approvals,
    verify_request_signature, verify_totp,
};
use crate::engine::{PlanOptions, Providers};
use crate::plan::Action;
use crate::policy::blocks::PublicKey;
use crate::policy::{Duration, Policy};
use crate::sign::{Approval, Decision, PrivateKey, SignedPlan, sign_plan};
use crate::state::State;

/// Arguments of `drill`.
#[derive(Debug, Args)]
#[command(
    about = "Rehearse the emergency procedure for a role or override, changing nothing",
    long_about = "Runs every step of the procedure against the real policy — request, signature, \
                  approvals by the approvers block, every check apply --emergency makes, TOTP — \
                  with throwaway keys and a throwaway TOTP secret, reads the live objects to plan \
                  the grant, and prints each step with its time. No provider is written to and \
                  state is not changed; the drill is recorded in the audit log.",
    after_help = "Examples:\n  breakglass drill prod_admin\n  breakglass drill chatbot_kill_switch --as bob --refresh=false\n  \
                  breakglass drill prod_admin --json"
)]
pub struct DrillArgs {
    /// The role or override.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Who plays the requester (default: the first person allowed to request it).
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: Option<String>,

    /// How long the rehearsed activation would last (default: its max_duration).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<Duration>,

    /// Read live objects to plan the grant (false: plan against state).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,

    /// Print the drill as JSON when it ends, passed or not, instead of each step as it runs:
    /// {target, requester, approvers, steps, would_grant, reverts_at, would_revert, passed,
    /// error, milliseconds} (docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// What a drill did: the shape `drill --json` prints.
#[derive(Debug, Serialize)]
pub struct DrillReport {
    /// The role or override rehearsed, as `role.NAME` or `override.NAME`.
    pub target: String,
    /// Who played the requester.
    pub requester: String,
    /// Who played the approvers; empty when the request is auto-approved.
    pub approvers: Vec<String>,
    /// Each step that passed, in order.
    pub steps: Vec<DrillStep>,
    /// What the grant would change (not applied).
    pub would_grant: Vec<DrillChange>,
    /// When the rehearsed activation would end.
    pub reverts_at: Option<Timestamp>,
    /// What the next reconcile or watch would then take back.
    pub would_revert: Vec<DrillChange>,
    /// Whether every step passed.
    pub passed: bool,
    /// Why the drill stopped, when it did not pass.
    pub error: Option<String>,
    /// How long the whole drill took.
    pub milliseconds: u128,
}

/// One step of a drill.
#[derive(Debug, Serialize)]
pub struct DrillStep {
    /// Its number, from 1.
    pub step: usize,
    /// What was done and checked.
    pub what: String,
    /// How long it took.
    pub milliseconds: u128,
}

/// One change a drill would make.
#[derive(Debug, Serialize)]
pub struct DrillChange {
    /// `+` create, `-` delete, `~` update.
    pub action: String,
    /// The object.
    pub address: String,
}

/// Records steps, printing each as it passes unless the drill reports as JSON at the end.
struct Steps {
    started: Instant,
    last: Instant,
    print: bool,
    report: DrillReport,
}

impl Steps {
    fn done(&mut self, what: &str) -> std::io::Result<()> {
        let now = Instant::now();
        let step = DrillStep {
            step: self.report.steps.len() + 1,
            what: what.to_owned(),
            milliseconds: now.duration_since(self.last).as_millis(),
        };
        if self.print {
            outln!("{:>2}. {:<72} {:>6} ms", step.step, step.what, step.milliseconds)?;
        }
        self.report.steps.push(step);
        self.last = now;
        Ok(())
    }
}

/// Replaces the keys of `people` with throwaway ones, returning the private keys.
fn with_throwaway_keys(
    policy: &mut Policy,
    people: &[String],
) -> anyhow::Result<BTreeMap<String, PrivateKey>> {
    let mut keys = BTreeMap::new();
    for person in people {
        let key = PrivateKey::generate()?;
        let public = PublicKey::from_pem(&key.public_key_pem()?).map_err(anyhow::Error::msg)?;
        if let Some(declared) = policy.persons.get_mut(person) {
            declared.public_key.value = public;
        }
        keys.insert(person.clone(), key);
    }
    Ok(keys)
}

/// Runs `drill`.
pub async fn run(args: &DrillArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let real = load_policy(output)?;
    let (reference, rules) = crate::engine::emergency::target(&real, &args.name)?;
    let requester = match &args.person {
        Some(person) => person.clone(),
        None => real
            .allowed_requesters(rules)
            .into_iter()
            .next()
            .context("nobody may request it: the drill needs a requester")?
            .to_owned(),
    };
    let group = rules.approvers.as_ref().and_then(|g| real.approvers.get(&g.name));
    let quorum =
        rules.quorum.as_ref().map(|q| q.value).or(group.map(|g| g.quorum.value)).unwrap_or(0)
            as usize;
    let approvers: Vec<String> = group
        .map(|g| {
            real.expand_persons(g.members.iter().map(|m| &m.value))
                .into_iter()
                .filter(|p| *p != requester || g.allow_self_approval.value)
                .take(quorum)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if !args.json {
        outln!(
            "Drill: {reference}, requested by {requester}, approved by {}.\n",
            if approvers.is_empty() { "auto-approval".to_owned() } else { approvers.join(", ") }
        )?;
    }
    let mut steps = Steps {
        started: Instant::now(),
        last: Instant::now(),
        print: !args.json,
        report: DrillReport {
            target: reference.to_string(),
            requester: requester.clone(),
            approvers: approvers.clone(),
            steps: Vec::new(),
            would_grant: Vec::new(),
            reverts_at: None,
            would_revert: Vec::new(),
            passed: false,
            error: None,
            milliseconds: 0,
        },
    };
    let rehearsed = rehearse(args, output, &real, &mut steps, quorum).await;
    let mut report = steps.report;
    report.milliseconds = steps.started.elapsed().as_millis();
    report.passed = rehearsed.is_ok();
    if let Err(error) = &rehearsed {
        report.error = Some(format!("{error:#}"));
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    }
    rehearsed?;
    if !args.json {
        outln!("\nWould grant (not applied):")?;
        for change in &report.would_grant {
            outln!("  {} {}", change.action, change.address)?;
        }
        if let Some(end) = report.reverts_at {
            outln!("At {end} the next reconcile or watch would revert:")?;
        }
        for change in &report.would_revert {
            outln!("  {} {}", change.action, change.address)?;
        }
        outln!(
            "\nDrill passed in {} ms: every step of the procedure works for {reference}.",
            report.milliseconds
        )?;
    }
    Audit::of(&real)
        .record_or_warn(
            Event::new(&requester, "drill", EventResult::Ok)
                .reason(format!("rehearsal of {reference}"))
                .details(serde_json::json!({
                    "approvers": approvers,
                    "changes": report.would_grant.len(),
                    "milliseconds": report.milliseconds,
                })),
        )
        .await;
    Ok(ExitStatus::Success)
}

/// Every step of the procedure, recorded in `steps`; stops at the first that fails.
async fn rehearse(
    args: &DrillArgs,
    output: Output,
    real: &Policy,
    steps: &mut Steps,
    quorum: usize,
) -> anyhow::Result<()> {
    let requester = steps.report.requester.clone();
    let approvers = steps.report.approvers.clone();
    let (_, rules) = crate::engine::emergency::target(real, &args.name)?;
    let group = rules.approvers.as_ref().and_then(|g| real.approvers.get(&g.name));
    let mut policy = real.clone();
    let mut cast = approvers.clone();
    cast.push(requester.clone());
    let keys = with_throwaway_keys(&mut policy, &cast)?;
    steps.done("throwaway keys for the requester and approvers")?;

    let now = crate::clock::now();
    let duration = args.duration.unwrap_or(rules.max_duration.value);
    let spec = RequestSpec {
        name: &args.name,
        requester: &requester,
        duration,
        justification: "drill: rehearsal of the emergency procedure",
        now,
    };
    let activation = new_activation(&policy, &spec)?;
    let state = read_scoped(real, &activation, now).await?;
    let warnings = check_limits(&policy, &state, &activation, now)?;
    steps.done(&format!("request checked: may request, {duration} within max_duration, limits"))?;

    let providers = if args.refresh {
        Providers::configure(real).await?
    } else {
        Providers::unconfigured(real)?
    };
    let options = PlanOptions {
        at: now,
        refresh: args.refresh,
        targets: Vec::new(),
        parallelism: real.settings.parallelism as usize,
        revert_interrupted: false,
        scoped: true,
    };
    let planned = request_plan(
        &policy,
        &state,
        &providers,
        &activation,
        None,
        warnings,
        &options,
        progress(output, true),
    )
    .await?;
    steps.done(&format!(
        "request planned ({} live objects read, {} API calls)",
        planned.plan.refresh.objects, planned.plan.refresh.api_calls
    ))?;

    let envelope = sign_plan(&planned.plan, &keys[&requester]);
    let signed = SignedPlan { path: "drill".to_owned(), digest: envelope.digest()?, envelope };
    steps.done("request signed by the requester")?;

    let tokens: Vec<String> = approvers
        .iter()
        .map(|approver| {
            let lifetime = group.map_or(Duration::from_mins(30), |g| g.token_lifetime);
            Approval {
                approver: approver.clone(),
                decision: Decision::Approve,
                plan_digest: signed.digest.clone(),
                activation: activation.id.clone(),
                issued_at: now,
                expires_at: now.checked_add(lifetime.to_signed()).unwrap_or(now),
                nonce: Approval::new_nonce(),
                comment: Some("drill".to_owned()),
            }
            .sign(&keys[approver])
        })
        .collect();
    steps.done(&format!("{} approval token(s) signed", tokens.len()))?;

    let (plan, request) = verify_request_signature(&policy, &signed)?;
    check_request(&policy, &plan, &request, &Clock::of(&policy, now))?;
    steps.done(
        "checks 1-3: signed by the requester, who may request it; made now, not expired, its \
         window within max_duration; policy unchanged",
    )?;
    if !activation.auto_approved || !tokens.is_empty() {
        verify_approvals(&policy, &request, &signed.digest, &tokens, &state, now)?;
        steps.done(&format!(
            "checks 5-11: tokens signed by approvers, bound, fresh, unused; quorum {quorum} met"
        ))?;
    } else {
        steps.done("checks 5-11: auto-approved, no tokens needed")?;
    }
    let rule = rules.authentication.as_ref().and_then(|a| policy.authentications.get(&a.name));
    if rule.is_some_and(|r| r.totp) {
        rehearse_totp(&requester, now)?;
        steps.done("check 12: TOTP code verified, and its reuse refused (throwaway secret)")?;
    } else {
        steps.done("check 12: no TOTP required by the authentication rule")?;
    }

    let changes: Vec<_> =
        plan.resource_changes.iter().filter(|c| c.action != Action::NoOp).collect();
    steps.report.would_grant = changes
        .iter()
        .map(|c| DrillChange {
            action: c.action.symbol().to_owned(),
            address: c.address.to_string(),
        })
        .collect();
    steps.report.reverts_at = Some(activation.end);
    steps.report.would_revert = changes
        .iter()
        .map(|c| DrillChange {
            action: if c.action == Action::Create { "-" } else { "~" }.to_owned(),
            address: c.address.to_string(),
        })
        .collect();
    Ok(())
}

/// Check 11 with a throwaway secret, against a record of used codes of its own: the person's
/// real codes — used by a real apply a moment ago, or about to be — are neither consulted nor
/// consumed. The code is accepted once, and refused when presented again.
fn rehearse_totp(requester: &str, now: Timestamp) -> anyhow::Result<()> {
    let mut bytes = [0u8; 20];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the drill's TOTP secret: {e}"))?;
    let secret = totp_rs::Secret::from(bytes).to_base32();
    let secrets = TotpSecrets::from_map(
        [(requester.to_owned(), breakglass_provider::Secret::new(secret))].into(),
        "drill",
    );
    let code = secrets.code(requester, now)?;
    let mut used = State::new();
    let step = verify_totp(&secrets, requester, Some(&code), &used, now)?;
    used.used_totp.push(crate::state::UsedTotp { person: requester.to_owned(), step });
    if verify_totp(&secrets, requester, Some(&code), &used, now).is_ok() {
        anyhow::bail!("check 11: a TOTP code was accepted twice; replayed codes must be refused");
    }
    Ok(())
}
