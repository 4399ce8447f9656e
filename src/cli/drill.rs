//! `breakglass drill`: rehearse the whole emergency procedure against the real policy, with
//! throwaway keys and TOTP secret, and no provider or state writes.

use anyhow::Context as _;
use clap::Args;
use std::collections::BTreeMap;
use std::time::Instant;

use super::audit_trail::Audit;
use super::context::{load_policy, progress, read_scoped};
use super::exit::ExitStatus;
use super::output::Output;
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

/// Arguments of `drill`.
#[derive(Debug, Args)]
#[command(
    about = "Rehearse the emergency procedure for a role or override, changing nothing",
    long_about = "Runs every step of the procedure against the real policy — request, signature, \
                  approvals by the approvers block, every check apply --emergency makes, TOTP — \
                  with throwaway keys and a throwaway TOTP secret, reads the live objects to plan \
                  the grant, and prints each step with its time. No provider is written to and \
                  state is not changed; the drill is recorded in the audit log.",
    after_help = "Examples:\n  breakglass drill prod_admin\n  breakglass drill chatbot_kill_switch --as bob --refresh=false"
)]
pub struct DrillArgs {
    /// The role or override.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Who plays the requester (default: the first person allowed to request it).
    #[arg(long = "as", value_name = "PERSON")]
    pub person: Option<String>,

    /// How long the rehearsed activation would last (default: its max_duration).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<Duration>,

    /// Read live objects to plan the grant (false: plan against state).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
}

struct Steps {
    started: Instant,
    last: Instant,
    count: usize,
}

impl Steps {
    fn done(&mut self, what: &str) {
        self.count += 1;
        let now = Instant::now();
        println!(
            "{:>2}. {what:<72} {:>6} ms",
            self.count,
            now.duration_since(self.last).as_millis()
        );
        self.last = now;
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
    let mut steps = Steps { started: Instant::now(), last: Instant::now(), count: 0 };
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
    println!(
        "Drill: {reference}, requested by {requester}, approved by {}.\n",
        if approvers.is_empty() { "auto-approval".to_owned() } else { approvers.join(", ") }
    );

    let mut policy = real.clone();
    let mut cast = approvers.clone();
    cast.push(requester.clone());
    let keys = with_throwaway_keys(&mut policy, &cast)?;
    steps.done("throwaway keys for the requester and approvers");

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
    let state = read_scoped(&real, &activation, now).await?;
    let warnings = check_limits(&policy, &state, &activation, now)?;
    steps.done(&format!("request checked: may request, {duration} within max_duration, limits"));

    let providers = if args.refresh {
        Providers::configure(&real).await?
    } else {
        Providers::unconfigured(&real)?
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
    ));

    let envelope = sign_plan(&planned.plan, &keys[&requester]);
    let signed = SignedPlan { path: "drill".to_owned(), digest: envelope.digest()?, envelope };
    steps.done("request signed by the requester");

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
    steps.done(&format!("{} approval token(s) signed", tokens.len()));

    let (plan, request) = verify_request_signature(&policy, &signed)?;
    check_request(&policy, &plan, &request, &Clock::of(&policy, now))?;
    steps.done(
        "checks 1-3: signed by the requester, who may request it; made now, not expired, its \
         window within max_duration; policy unchanged",
    );
    if !activation.auto_approved || !tokens.is_empty() {
        verify_approvals(&policy, &request, &signed.digest, &tokens, &state, now)?;
        steps.done(&format!(
            "checks 5-11: tokens signed by approvers, bound, fresh, unused; quorum {quorum} met"
        ));
    } else {
        steps.done("checks 5-11: auto-approved, no tokens needed");
    }
    let rule = rules.authentication.as_ref().and_then(|a| policy.authentications.get(&a.name));
    if rule.is_some_and(|r| r.totp) {
        let mut bytes = [0u8; 20];
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes)
            .map_err(|e| anyhow::anyhow!("no randomness for the drill's TOTP secret: {e}"))?;
        let secret = totp_rs::Secret::from(bytes).to_base32();
        let secrets = TotpSecrets::from_map(
            [(requester.clone(), breakglass_provider::Secret::new(secret))].into(),
            "drill",
        );
        let code = secrets.code(&requester, now)?;
        verify_totp(&secrets, &requester, Some(&code), &state, now)?;
        steps.done("check 12: TOTP code verified (throwaway secret)");
    } else {
        steps.done("check 12: no TOTP required by the authentication rule");
    }

    let changes: Vec<_> =
        plan.resource_changes.iter().filter(|c| c.action != Action::NoOp).collect();
    println!("\nWould grant (not applied):");
    for change in &changes {
        println!("  {} {}", change.action.symbol(), change.address);
    }
    println!("At {} the next reconcile or watch would revert:", activation.end);
    for change in &changes {
        let undo = match change.action {
            Action::Create => "-",
            _ => "~",
        };
        println!("  {undo} {}", change.address);
    }
    let total = steps.started.elapsed().as_millis();
    println!("\nDrill passed in {total} ms: every step of the procedure works for {reference}.");
    Audit::of(&real).record_or_warn(
        Event::new(&requester, "drill", EventResult::Ok)
            .reason(format!("rehearsal of {reference}"))
            .details(serde_json::json!({ "approvers": approvers, "changes": changes.len(), "milliseconds": total })),
    )
    .await;
    Ok(ExitStatus::Success)
}
