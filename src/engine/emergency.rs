//! Emergency access: building a request, and every check `apply --emergency` makes, in the
//! order the governance procedure lists them, stopping at the first that fails with its exact
//! reason. Nothing here trusts what a responder passes beyond their signature: times come from
//! the clock, rules from the policy, used nonces and codes from state.

use breakglass_provider::Secret;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::apply::{ApplyMode, ApplyReport, apply};
use super::claims::{
    Clock, SignedApproval, TokenRules, check_approval, check_request, counts_since, extend_record,
    limit_covers, trusted_activation,
};
use super::error::EngineError;
use super::missing::{Missing, MissingApprovals, MissingTotp};
use super::planner::{PlanOptions, Planned, make_plan};
use super::progress::Progress;
use super::providers::Providers;
use super::scope::{add_check_rows, add_presence_rows, scope_of};
use crate::activation::{
    Activation, ActivationKind, ActivationSource, ActivationStatus, ApprovalRecord, Extension,
};
use crate::event::Event;
use crate::plan::{Action, EmergencyRequest, Plan, ResourceChange};
use crate::policy::blocks::{AccessRules, LimitAction, LimitScope};
use crate::policy::{Duration, Policy, Reference, ReferenceKind};
use crate::sign::passkey::{counter_advances, is_passkey_token};
use crate::sign::{
    APPROVAL_PAYLOAD_TYPE, Approval, PASSKEY_APPROVAL_TYPE, PASSKEY_PRESENCE_TYPE,
    PLAN_PAYLOAD_TYPE, PasskeyToken, Presence, RelyingParty, SignedPlan, approval_of, read_token,
};
use crate::state::{Change, Scope, State, StateGuard, UsedNonce, UsedTotp};

fn refused(message: impl Into<String>) -> EngineError {
    EngineError::Refused(message.into())
}

/// The role or override called `name`, as a reference and its rules.
pub fn target<'a>(
    policy: &'a Policy,
    name: &str,
) -> Result<(Reference, &'a AccessRules), EngineError> {
    match (policy.roles.get(name), policy.overrides.get(name)) {
        (Some(_), Some(_)) => Err(refused(format!(
            "both a role and an override are called {name}; rename one of them"
        ))),
        (Some(role), None) => Ok((Reference::new(ReferenceKind::Role, name), &role.rules)),
        (None, Some(override_)) => {
            Ok((Reference::new(ReferenceKind::Override, name), &override_.rules))
        }
        (None, None) => {
            let known: Vec<&str> =
                policy.roles.keys().chain(policy.overrides.keys()).map(String::as_str).collect();
            Err(refused(format!(
                "there is no role or override called {name}; the policy has: {}.{} \
                 `breakglass roles` lists what you may request",
                known.join(", "),
                crate::policy::suggest::did_you_mean(name, known.iter().copied())
            )))
        }
    }
}

/// The rules of an activation's role or override.
pub fn rules_of<'a>(
    policy: &'a Policy,
    activation: &Activation,
) -> Result<(Reference, &'a AccessRules), EngineError> {
    target(policy, &activation.name)
}

fn describe_requesters(policy: &Policy, rules: &AccessRules) -> String {
    match &rules.requesters {
        None => "anyone".to_owned(),
        Some(list) => {
            let names: Vec<String> = list.iter().map(|r| r.value.to_string()).collect();
            let persons: Vec<&str> = policy.allowed_requesters(rules).into_iter().collect();
            format!("{} ({})", names.join(", "), persons.join(", "))
        }
    }
}

/// Checks that `person` may request `reference` now.
pub fn check_requester(
    policy: &Policy,
    reference: &Reference,
    rules: &AccessRules,
    person: &str,
) -> Result<(), EngineError> {
    if !policy.persons.contains_key(person) {
        return Err(refused(policy.unknown_person(person)));
    }
    if !policy.allowed_requesters(rules).contains(person) {
        return Err(refused(format!(
            "{person} may not request {reference}: its requesters are {}",
            describe_requesters(policy, rules)
        )));
    }
    Ok(())
}

/// What a responder asks for.
#[derive(Debug, Clone)]
pub struct RequestSpec<'a> {
    /// The role or override.
    pub name: &'a str,
    /// Who asks.
    pub requester: &'a str,
    /// For how long.
    pub duration: Duration,
    /// Why.
    pub justification: &'a str,
    /// Now.
    pub now: Timestamp,
}

/// Builds a new activation from a request, refusing what the policy does not allow.
pub fn new_activation(policy: &Policy, spec: &RequestSpec<'_>) -> Result<Activation, EngineError> {
    let (reference, rules) = target(policy, spec.name)?;
    check_requester(policy, &reference, rules, spec.requester)?;
    if spec.justification.trim().is_empty() {
        return Err(refused(
            "a justification is required: say why, with the incident or ticket (--justification TEXT)",
        ));
    }
    check_duration(&reference, rules, spec.duration)?;
    let end = spec
        .now
        .checked_add(spec.duration.to_signed())
        .map_err(|error| refused(format!("the duration is too long: {error}")))?;
    Ok(Activation {
        id: format!("act_{}", ulid::Ulid::generate()),
        kind: match reference.kind {
            ReferenceKind::Override => ActivationKind::Override,
            _ => ActivationKind::Role,
        },
        name: spec.name.to_owned(),
        requester: spec.requester.to_owned(),
        justification: spec.justification.trim().to_owned(),
        start: spec.now,
        end,
        status: ActivationStatus::Applying,
        source: ActivationSource::Emergency { plan_digest: String::new() },
        approvals: Vec::new(),
        auto_approved: !policy.auto_approvers_of(&reference).is_empty(),
        authentication: Vec::new(),
        priors: BTreeMap::new(),
        created_at: spec.now,
        activated_at: None,
        revoked: None,
        reverted_at: None,
        revert_attempts: 0,
        last_error: None,
        extensions: Vec::new(),
        flags: Vec::new(),
    })
}

fn check_duration(
    reference: &Reference,
    rules: &AccessRules,
    duration: Duration,
) -> Result<(), EngineError> {
    if duration.as_secs() == 0 {
        return Err(refused("the duration must be more than zero, as in --duration 30m"));
    }
    if duration > rules.max_duration.value {
        return Err(refused(format!(
            "{duration} is longer than {reference} allows (max_duration {})",
            rules.max_duration.value
        )));
    }
    Ok(())
}

/// An extension of live activation `id` by `duration`, within `max_duration` in total.
pub fn extension(
    state: &State,
    policy: &Policy,
    id: &str,
    requester: &str,
    duration: Duration,
    justification: &str,
    now: Timestamp,
) -> Result<(Activation, Timestamp), EngineError> {
    let Some(current) = state.activations.get(id) else {
        return Err(refused(format!(
            "there is no activation {id}; `breakglass status` lists them"
        )));
    };
    if !current.is_live_at(now) || current.status != ActivationStatus::Active {
        return Err(refused(format!(
            "activation {id} is not live (status {}, ends {}); request a new one instead",
            current.status.as_str(),
            current.end
        )));
    }
    if current.requester != requester {
        return Err(refused(format!(
            "activation {id} is {}'s; only they may extend it",
            current.requester
        )));
    }
    if justification.trim().is_empty() {
        return Err(refused("a justification is required for an extension (--justification TEXT)"));
    }
    let (reference, rules) = rules_of(policy, current)?;
    check_requester(policy, &reference, rules, requester)?;
    let new_end = current
        .end
        .checked_add(duration.to_signed())
        .map_err(|error| refused(format!("the duration is too long: {error}")))?;
    let total = Duration::from_secs(
        u64::try_from(new_end.duration_since(current.start).as_secs()).unwrap_or(u64::MAX),
    );
    if total > rules.max_duration.value {
        return Err(refused(format!(
            "extended, activation {id} would last {total} in all, longer than {reference} allows \
             (max_duration {}); the most it can be extended by now is {}",
            rules.max_duration.value,
            Duration::from_secs(rules.max_duration.value.as_secs().saturating_sub(
                u64::try_from(current.end.duration_since(current.start).as_secs()).unwrap_or(0)
            ))
        )));
    }
    let mut extended = (**current).clone();
    extended.end = new_end;
    extended.justification = justification.trim().to_owned();
    Ok((extended, current.end))
}

/// Checks the policy's `limit` blocks for a new activation: refuses beyond a limit that says
/// `refuse`, and returns a warning for each limit that says `warn`. Activations are counted by
/// the executor's time of grant and their whole window ([`counts_since`]), never by a time a
/// requester signed.
pub fn check_limits(
    policy: &Policy,
    state: &State,
    activation: &Activation,
    now: Timestamp,
) -> Result<Vec<String>, EngineError> {
    let (reference, _) = rules_of(policy, activation)?;
    let mut warnings = Vec::new();
    for limit in policy.limits.values() {
        if !limit_covers(policy, limit, &activation.name, activation.kind) {
            continue;
        }
        let since = now.checked_sub(limit.window.to_signed()).unwrap_or(Timestamp::MIN);
        let used = state
            .activations
            .values()
            .filter(|a| a.id != activation.id)
            .filter(|a| limit.per == LimitScope::Everyone || a.requester == activation.requester)
            .filter(|a| counts_since(a, since) && limit_covers(policy, limit, &a.name, a.kind))
            .count();
        if used < limit.max_activations as usize {
            continue;
        }
        let whom = match limit.per {
            LimitScope::Person => format!("{} already had", activation.requester),
            LimitScope::Everyone => "there were already".to_owned(),
        };
        let message = format!(
            "limit \"{}\": {whom} {used} matching activation(s) in the last {} (at most {}){}",
            limit.name,
            limit.window,
            limit.max_activations,
            limit.description.as_deref().map_or_else(String::new, |d| format!(": {d}"))
        );
        match limit.action {
            LimitAction::Refuse => {
                return Err(refused(format!("{message}; {reference} cannot be requested now")));
            }
            LimitAction::Warn => warnings.push(message),
        }
    }
    Ok(warnings)
}

/// The changes that belong to `activation`, no-ops included: an object the activation finds
/// already as it wants it must still be recorded as the activation's.
pub fn changes_of(changes: &[ResourceChange], activation: &str) -> Vec<ResourceChange> {
    changes.iter().filter(|c| c.reason.activation() == Some(activation)).cloned().collect()
}

/// Makes the request plan: the changes the activation makes, nothing else; made at
/// `options.at` (when the requester asked), it expires after the policy's `request_lifetime`.
/// `state` needs to hold only the activation's scope ([`scope_of`]): the plan covers only what
/// the activation touches.
#[allow(clippy::too_many_arguments)]
pub async fn request_plan(
    policy: &Policy,
    state: &State,
    providers: &Providers,
    activation: &Activation,
    extends: Option<Timestamp>,
    warnings: Vec<String>,
    options: &PlanOptions,
    progress: Arc<dyn Progress>,
) -> Result<Planned, EngineError> {
    let options = PlanOptions { scoped: true, ..options.clone() };
    let mut planned =
        make_plan(policy, state, providers, &options, Some(activation), progress).await?;
    planned.plan.resource_changes = changes_of(&planned.plan.resource_changes, &activation.id);
    planned.plan.drift.clear();
    planned.plan.activations.clear();
    planned.plan.summary = Plan::summarize(&planned.plan.resource_changes, &[]);
    // Made when the requester asked (the activation starts then), not when refresh finished:
    // the executor holds the start to this time.
    planned.plan.created_at = options.at;
    planned.plan.expires_at = planned
        .plan
        .created_at
        .checked_add(policy.settings.request_lifetime.to_signed())
        .unwrap_or(planned.plan.created_at);
    planned.plan.request =
        Some(EmergencyRequest { activation: activation.clone(), extends, warnings });
    Ok(planned)
}

/// Step 1: the plan is signed by the requester it names. Returns the plan and its request.
/// Nothing else in it is trusted yet: see [`super::claims`].
pub fn verify_request_signature(
    policy: &Policy,
    signed: &SignedPlan,
) -> Result<(Plan, EmergencyRequest), EngineError> {
    let everyone: Vec<(&str, &ed25519_dalek::VerifyingKey)> =
        policy.persons.iter().map(|(name, p)| (name.as_str(), &p.public_key.key)).collect();
    let (signer, _) = signed
        .envelope
        .verify(PLAN_PAYLOAD_TYPE, everyone.iter().map(|(n, k)| (*n, *k)))
        .map_err(|error| refused(format!("the request's signature does not verify: {error}")))?;
    let plan = signed.plan()?;
    let Some(request) = plan.request.clone() else {
        return Err(refused(
            "this plan is not an emergency request; apply it with `breakglass apply PLAN` instead",
        ));
    };
    if request.activation.requester != signer {
        return Err(refused(format!(
            "the request names {} as requester but is signed by {signer}",
            request.activation.requester
        )));
    }
    Ok((plan, request))
}

/// Step 4: planned again now, the activation makes the same changes.
pub fn check_request_not_stale(saved: &Plan, fresh: &[ResourceChange]) -> Result<(), EngineError> {
    let key = |c: &ResourceChange| {
        (
            c.address.to_string(),
            c.action,
            c.id.clone(),
            c.live_digest.clone(),
            serde_json::to_string(&c.after).unwrap_or_default(),
        )
    };
    let then: BTreeSet<_> =
        saved.resource_changes.iter().filter(|c| c.action != Action::NoOp).map(key).collect();
    let now: BTreeSet<_> = fresh.iter().filter(|c| c.action != Action::NoOp).map(key).collect();
    if then != now {
        let differing: BTreeSet<String> =
            then.symmetric_difference(&now).map(|k| k.0.clone()).collect();
        return Err(EngineError::Stale(format!(
            "the live objects the request touches changed since it was made ({})",
            differing.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// The approvals counted for a request.
#[derive(Debug, Clone, Default)]
pub struct Approvals {
    /// One record per distinct approver.
    pub records: Vec<ApprovalRecord>,
    /// Nonces to record as used, with who signed them.
    pub nonces: Vec<(String, String)>,
    /// Passkey signature counters to record (credential id, counter).
    pub counters: Vec<(String, u32)>,
}

/// The relying party passkeys are checked against: the policy's console.
pub fn relying_party(policy: &Policy) -> Result<RelyingParty, EngineError> {
    let console = policy.settings.console.as_ref().ok_or_else(|| {
        refused(
            "a passkey token was given but the policy declares no console, whose origin and \
             rp_id passkeys are checked against",
        )
    })?;
    Ok(RelyingParty { origin: console.origin(), rp_id: console.rp_id.clone() })
}

/// Checks a passkey's signature counter against state and those already taken in this run;
/// returns the counter to record.
fn check_counter(
    state: &State,
    taken: &[(String, u32)],
    credential_id: &str,
    counter: u32,
    what: &str,
) -> Result<(), EngineError> {
    let previous = taken
        .iter()
        .filter(|(id, _)| id == credential_id)
        .map(|(_, c)| *c)
        .max()
        .or_else(|| state.passkey_counters.get(credential_id).copied());
    if !counter_advances(previous, counter) {
        return Err(refused(format!(
            "{what}: the passkey's signature counter ({counter}) did not go up from the {} \
             recorded; the assertion is replayed or the authenticator was cloned",
            previous.unwrap_or(0)
        )));
    }
    Ok(())
}

/// The approvers of a role or override: who they are, how many must approve, and what the
/// policy says of their tokens.
#[derive(Debug, Clone)]
pub struct ApproverGroup<'p> {
    /// The role or override.
    pub target: Reference,
    /// The persons in the approvers block.
    pub members: BTreeSet<&'p str>,
    /// Approvals needed.
    pub quorum: usize,
    /// Lifetime, age and self-approval rules of the tokens.
    pub tokens: TokenRules,
}

/// The approvers block of `reference` and its rules.
pub fn approver_group<'p>(
    policy: &'p Policy,
    reference: &Reference,
    rules: &AccessRules,
) -> Result<ApproverGroup<'p>, EngineError> {
    let Some(group_ref) = &rules.approvers else {
        return Err(refused(format!("{reference} names no approvers and is not auto-approved")));
    };
    let Some(group) = policy.approvers.get(&group_ref.name) else {
        return Err(refused(format!("{} is not in the policy", group_ref.value)));
    };
    let max_age = rules
        .authentication
        .as_ref()
        .and_then(|a| policy.authentications.get(&a.name))
        .and_then(|a| a.max_token_age);
    Ok(ApproverGroup {
        target: reference.clone(),
        members: policy.expand_persons(group.members.iter().map(|m| &m.value)),
        quorum: rules.quorum.as_ref().map_or(group.quorum.value, |q| q.value) as usize,
        tokens: TokenRules {
            group: group_ref.value.to_string(),
            lifetime: group.token_lifetime,
            max_age,
            allow_self_approval: group.allow_self_approval.value,
        },
    })
}

/// Opens approval token #`number`: its signature must verify against the key of a member of
/// the approvers block. Every kind of token opens here into the same [`SignedApproval`], whose
/// claims [`check_approval`] then checks: a DSSE envelope signed with an approver's Ed25519 key,
/// or a passkey token (the same approval payload signed by a WebAuthn assertion, checked against
/// the approvers' enrolled passkeys and the console's origin and relying-party id).
pub fn open_token(
    policy: &Policy,
    group: &ApproverGroup<'_>,
    number: usize,
    token: &str,
) -> Result<SignedApproval, EngineError> {
    let not_an_approver = |why: String| {
        refused(format!(
            "approval token #{number} is not signed by an approver of {} ({}: {}){why}",
            group.target,
            group.tokens.group,
            group.members.iter().copied().collect::<Vec<_>>().join(", ")
        ))
    };
    if is_passkey_token(token) {
        let passkey = PasskeyToken::from_token(token)
            .map_err(|error| refused(format!("approval token #{number}: {error}")))?;
        let rp = relying_party(policy)?;
        let persons = group.members.iter().filter_map(|name| policy.persons.get(*name));
        let verified = passkey
            .verify(PASSKEY_APPROVAL_TYPE, persons, &rp)
            .map_err(|error| not_an_approver(format!(": {error}")))?;
        let approval: Approval = approval_of(&verified.payload)?;
        return Ok(SignedApproval {
            number,
            signer: verified.person,
            approval,
            passkey: Some((verified.credential_id, verified.counter)),
        });
    }
    let envelope = read_token(token).map_err(|error| {
        refused(format!("approval token #{number} is not an approval token: {error}"))
    })?;
    let keys = group
        .members
        .iter()
        .filter_map(|name| policy.persons.get(*name).map(|p| (*name, &p.public_key.key)));
    let (signer, payload) =
        envelope.verify(APPROVAL_PAYLOAD_TYPE, keys).map_err(|_| not_an_approver(String::new()))?;
    let approval: Approval = approval_of(&payload)?;
    Ok(SignedApproval { number, signer: signer.to_owned(), approval, passkey: None })
}

/// Steps 5–11: every token (signed by an approver, bound to this request, fresh by the
/// executor's clock, not the requester's own, an approval, never used before), then each
/// approver once, then the quorum.
pub fn verify_approvals(
    policy: &Policy,
    request: &EmergencyRequest,
    plan_digest: &str,
    tokens: &[String],
    state: &State,
    now: Timestamp,
) -> Result<Approvals, EngineError> {
    let activation = &request.activation;
    let (reference, rules) = rules_of(policy, activation)?;
    let group = approver_group(policy, &reference, rules)?;
    let clock = Clock::of(policy, now);
    let mut approvals = Approvals::default();
    let mut counted: BTreeSet<String> = BTreeSet::new();
    let mut repeated: Vec<String> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        let signed = open_token(policy, &group, index + 1, token)?;
        check_approval(&group.tokens, &signed, plan_digest, activation, &clock)?;
        let SignedApproval { number, signer, approval, passkey } = signed;
        if let Some(used) = state.used_nonces.get(&approval.nonce) {
            return Err(refused(format!(
                "approval token #{number} (by {signer}) was already used at {} (for {}); each token works once",
                used.used_at, used.activation
            )));
        }
        if let Some((credential_id, counter)) = passkey {
            let what = format!("approval token #{number} (by {signer})");
            check_counter(state, &approvals.counters, &credential_id, counter, &what)?;
            approvals.counters.push((credential_id, counter));
        }
        approvals.nonces.push((approval.nonce.clone(), signer.clone()));
        if !counted.insert(signer.clone()) {
            repeated.push(signer);
            continue;
        }
        approvals.records.push(ApprovalRecord {
            approver: signer,
            decision: "approve".to_owned(),
            comment: approval.comment.clone(),
            issued_at: approval.issued_at,
            nonce: approval.nonce.clone(),
        });
    }
    let quorum = group.quorum;
    if counted.len() < quorum {
        // Short of the quorum: missing, not wrong; said with who can still approve.
        let can_approve = group
            .members
            .iter()
            .filter(|m| !counted.contains(**m))
            .filter(|m| group.tokens.allow_self_approval || **m != activation.requester)
            .map(|m| (*m).to_owned())
            .collect();
        return Err(EngineError::Incomplete(Box::new(Missing {
            request: String::new(),
            approvals: Some(MissingApprovals {
                target: reference.to_string(),
                group: group.tokens.group.clone(),
                quorum,
                counted: counted.into_iter().collect(),
                repeated,
                can_approve,
            }),
            totp: None,
        })));
    }
    Ok(approvals)
}

/// The executor's TOTP secrets, by person (base32, as authenticator apps use them).
#[derive(Debug, Clone, Default)]
pub struct TotpSecrets {
    secrets: BTreeMap<String, Secret>,
    source: String,
}

impl TotpSecrets {
    /// Where secrets are read from: `BREAKGLASS_TOTP_SECRETS`, else the policy's
    /// `totp_secrets_file` (relative to the policy directory).
    pub fn location(policy: &Policy) -> Option<PathBuf> {
        std::env::var_os("BREAKGLASS_TOTP_SECRETS")
            .map(PathBuf::from)
            .or_else(|| policy.settings.totp_secrets_file.as_ref().map(|f| policy.dir.join(f)))
    }

    /// Reads a secrets file: a JSON object from person to base32 secret (keys starting with
    /// `_` are comments).
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let shown = path.display().to_string();
        let text = fs_err::read_to_string(path)
            .map_err(|error| refused(format!("cannot read the TOTP secrets file: {error}")))?;
        let object: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|error| refused(format!("{shown} is not a TOTP secrets file ({error}); expected {{\"alice\": \"BASE32SECRET\"}}")))?;
        let secrets = object
            .into_iter()
            .filter(|(name, _)| !name.starts_with('_'))
            .filter_map(|(name, value)| value.as_str().map(|s| (name, Secret::new(s))))
            .collect();
        Ok(Self { secrets, source: shown })
    }

    /// Secrets given directly (drills, tests).
    pub fn from_map(secrets: BTreeMap<String, Secret>, source: &str) -> Self {
        Self { secrets, source: source.to_owned() }
    }

    fn totp(&self, person: &str) -> Result<totp_rs::Totp, EngineError> {
        let secret = self.secrets.get(person).ok_or_else(|| {
            refused(format!("the executor has no TOTP secret for {person} (in {})", self.source))
        })?;
        let bytes = totp_rs::Secret::try_from_base32(secret.expose().trim()).map_err(|_| {
            refused(format!("the TOTP secret for {person} in {} is not base32", self.source))
        })?;
        totp_rs::Builder::new().with_secret(bytes).with_skew(1).build().map_err(|error| {
            refused(format!("the TOTP secret for {person} in {} is unusable: {error}", self.source))
        })
    }

    /// The current code for `person` (drills and tests).
    pub fn code(&self, person: &str, now: Timestamp) -> Result<String, EngineError> {
        Ok(self.totp(person)?.generate(u64::try_from(now.as_second()).unwrap_or(0)).to_string())
    }
}

/// Step 11: the TOTP code is right (RFC 6238, ±1 step) and was never accepted before. Returns
/// the time step to record.
pub fn verify_totp(
    secrets: &TotpSecrets,
    person: &str,
    code: Option<&str>,
    state: &State,
    now: Timestamp,
) -> Result<u64, EngineError> {
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(refused(format!(
            "this request needs a TOTP code from {person}'s authenticator app: pass --totp CODE"
        )));
    };
    let totp = secrets.totp(person)?;
    let step = totp.check(code, u64::try_from(now.as_second()).unwrap_or(0)).ok_or_else(|| {
        refused(format!("the TOTP code for {person} is wrong, or older than one 30-second step"))
    })?;
    if state.used_totp.iter().any(|u| u.person == person && u.step == step) {
        return Err(refused(format!(
            "this TOTP code for {person} was already used; wait for the next code (every 30 seconds)"
        )));
    }
    Ok(step)
}

/// A requester's passkey presence, checked, to record.
#[derive(Debug)]
struct PresenceUsed {
    nonce: String,
    credential_id: String,
    counter: u32,
}

/// Step 11 (passkey): the requester proved presence with one of their passkeys on this very
/// request, once.
#[allow(clippy::too_many_arguments)]
fn verify_presence(
    policy: &Policy,
    requester: &str,
    token: Option<&str>,
    plan_digest: &str,
    activation: &str,
    plan: &Plan,
    state: &State,
    approvals: &Approvals,
    now: Timestamp,
) -> Result<PresenceUsed, EngineError> {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(refused(format!(
            "this request needs {requester} to prove presence with their passkey: sign it on the \
             request's page in the console and pass --passkey TOKEN"
        )));
    };
    let rp = relying_party(policy)?;
    let person = policy
        .persons
        .get(requester)
        .ok_or_else(|| refused(format!("{requester} is not a person in the policy")))?;
    let verified = PasskeyToken::from_token(token)
        .and_then(|t| t.verify(PASSKEY_PRESENCE_TYPE, [person], &rp))
        .map_err(|error| {
            refused(format!("the passkey presence of {requester} is refused: {error}"))
        })?;
    let presence: Presence = serde_json::from_slice(&verified.payload)
        .map_err(|error| refused(format!("the passkey presence is not a presence: {error}")))?;
    if presence.person != requester
        || presence.plan_digest != plan_digest
        || presence.activation != activation
    {
        return Err(refused(format!(
            "the passkey presence is for another request ({} by {}), not this one ({plan_digest})",
            presence.plan_digest, presence.person
        )));
    }
    // The console's clock made `issued_at`: allowed ahead of ours by the policy's tolerance.
    let tolerance = Clock::of(policy, now).tolerance.to_signed();
    let latest = now.checked_add(tolerance).unwrap_or(now);
    if presence.issued_at < plan.created_at || presence.issued_at > latest {
        return Err(refused(format!(
            "the passkey presence says it was made at {}, outside the request's life ({} to now)",
            presence.issued_at, plan.created_at
        )));
    }
    if let Some(used) = state.used_nonces.get(&presence.nonce) {
        return Err(refused(format!(
            "the passkey presence was already used at {} (for {}); each works once",
            used.used_at, used.activation
        )));
    }
    check_counter(
        state,
        &approvals.counters,
        &verified.credential_id,
        verified.counter,
        "the passkey presence",
    )?;
    Ok(PresenceUsed {
        nonce: presence.nonce,
        credential_id: verified.credential_id,
        counter: verified.counter,
    })
}

/// What `apply --emergency` is given.
pub struct EmergencyInput<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Configured providers.
    pub providers: &'a Providers,
    /// The signed request.
    pub signed: &'a SignedPlan,
    /// Approval tokens.
    pub tokens: &'a [String],
    /// The requester's TOTP code.
    pub totp_code: Option<&'a str>,
    /// The requester's passkey proof of presence on the request (a passkey token).
    pub presence: Option<&'a str>,
    /// Provider calls in flight at once.
    pub parallelism: usize,
    /// Called once every check has passed, before the write-ahead record and any provider
    /// call, with the activation as it will be recorded: it returns the audit events recording
    /// the decision, committed in the same transaction as the write-ahead record, so the log
    /// shows it before the changes. An error stops the apply.
    pub on_authorized: &'a (dyn Fn(&Activation) -> Result<Vec<Event>, String> + Send + Sync),
}

impl std::fmt::Debug for EmergencyInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmergencyInput")
            .field("signed", &self.signed.digest)
            .field("tokens", &self.tokens.len())
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

/// What `apply --emergency` did.
#[derive(Debug)]
pub struct EmergencyOutcome {
    /// The activation, as recorded.
    pub activation: Activation,
    /// What was applied.
    pub report: ApplyReport,
    /// An extension rather than a new activation.
    pub extension: bool,
}

/// `apply --emergency`: every check in order, then the write-ahead record, then the grant.
/// The caller holds the state lock (`guard`), so nonces and codes are checked and recorded
/// atomically. Nothing in the request or the tokens is taken on trust beyond who signed them:
/// every rule is recomputed from the policy and the executor's clock ([`super::claims`]). Only
/// the rows the activation and its checks need are read (indexed lookups), only its objects are
/// planned and refreshed, and each write holds only what changed.
pub async fn apply_emergency(
    input: EmergencyInput<'_>,
    guard: &mut dyn StateGuard,
    progress: Arc<dyn Progress>,
) -> Result<EmergencyOutcome, EngineError> {
    let EmergencyInput {
        policy,
        providers,
        signed,
        tokens,
        totp_code,
        presence,
        parallelism,
        on_authorized,
    } = input;
    let now = crate::clock::now();
    let clock = Clock::of(policy, now);
    // 1. Signed by the requester it names.
    let (saved, request) = verify_request_signature(policy, signed)?;
    let id = request.activation.id.clone();
    // Its own record first (an indexed lookup): a request applied already, or a run to resume.
    let own = Scope { activations: [id.clone()].into(), ..Scope::default() };
    let state = guard.read_scope(&own).await?;
    let extension = request.extends.is_some();
    if let Some(existing) = state.activations.get(&id) {
        let resuming = !extension
            && existing.status == ActivationStatus::Applying
            && existing.source
                == (ActivationSource::Emergency { plan_digest: signed.digest.clone() });
        let already_extended =
            extension && existing.extensions.iter().any(|e| e.plan_digest == signed.digest);
        if already_extended || (!extension && !resuming) {
            return Err(refused(format!(
                "this request was already applied (activation {id} is {})",
                existing.status.as_str()
            )));
        }
        if resuming {
            // A run died after recording it: finish the grant, checks were passed then.
            let existing = (**existing).clone();
            let scope = scope_of(policy, providers, &[&existing], now)?;
            let state = guard.read_scope(&scope).await?;
            return finish(
                policy,
                providers,
                guard,
                state,
                existing,
                parallelism,
                progress,
                now,
                false,
            )
            .await;
        }
    }
    // 2. The requester may request it — before anything is computed from the request.
    // 3. Its times hold by the executor's clock, and its window fits the role.
    let (reference, rules) = check_request(policy, &saved, &request, &clock)?;
    // Then the rows the activation and its checks need, now that it may be compiled.
    let mut scope = scope_of(policy, providers, &[&request.activation], now)?;
    add_check_rows(&mut scope, policy, &request.activation, tokens, now);
    add_presence_rows(&mut scope, presence);
    let state = guard.read_scope(&scope).await?;
    let activation = if extension {
        let current = state.activations.get(&id).ok_or_else(|| {
            refused(format!(
                "there is no activation {id} to extend; `breakglass status` lists them"
            ))
        })?;
        extend_record(&reference, rules, current, &request, &clock)?
    } else {
        trusted_activation(&request.activation, &signed.digest, now)
    };
    // 4. No limit refuses it (counted by the executor's time of grant), and, planned again
    let limit_warnings =
        if extension { Vec::new() } else { check_limits(policy, &state, &activation, now)? };
    //    now, it makes the same changes.
    let options = PlanOptions {
        at: now,
        refresh: true,
        targets: Vec::new(),
        parallelism,
        revert_interrupted: false,
        scoped: true,
    };
    let fresh =
        make_plan(policy, &state, providers, &options, Some(&activation), progress.clone()).await?;
    let fresh_changes = changes_of(&fresh.plan.resource_changes, &id);
    check_request_not_stale(&saved, &fresh_changes)?;
    // 5–11. Approvals, unless auto-approved. Approvals short of the quorum and a TOTP code
    // not given are both missing things: gathered, and refused together below.
    let mut missing = Missing { request: signed.path.clone(), ..Missing::default() };
    let auto = !policy.auto_approvers_of(&reference).is_empty();
    let approvals = if auto && tokens.is_empty() {
        Approvals::default()
    } else {
        match verify_approvals(policy, &request, &signed.digest, tokens, &state, now) {
            Ok(approvals) => approvals,
            Err(EngineError::Incomplete(lacking)) => {
                missing.approvals = lacking.approvals;
                Approvals::default()
            }
            Err(other) => return Err(other),
        }
    };
    // 12. Authentication.
    let mut factors = vec!["signed request".to_owned()];
    let mut totp_step = None;
    let rule = rules.authentication.as_ref().and_then(|a| policy.authentications.get(&a.name));
    if rule.is_some_and(|r| r.totp) {
        let location = TotpSecrets::location(policy).ok_or_else(|| {
            refused("this request needs a TOTP check but the executor has no secrets file: set BREAKGLASS_TOTP_SECRETS or breakglass { totp_secrets_file }")
        })?;
        let secrets = TotpSecrets::load(&location)?;
        let given = totp_code.is_some_and(|code| !code.trim().is_empty());
        match verify_totp(&secrets, &activation.requester, totp_code, &state, now) {
            Ok(step) => totp_step = Some(step),
            Err(error) if !given || missing.approvals.is_some() => {
                missing.totp = Some(MissingTotp {
                    person: activation.requester.clone(),
                    problem: given.then(|| error.reason()),
                });
            }
            Err(error) => return Err(error),
        }
        factors.push("totp".to_owned());
    }
    if !missing.is_empty() {
        return Err(EngineError::Incomplete(Box::new(missing)));
    }
    let mut presence_used = None;
    if rule.is_some_and(|r| r.passkey) {
        presence_used = Some(verify_presence(
            policy,
            &activation.requester,
            presence,
            &signed.digest,
            &id,
            &saved,
            &state,
            &approvals,
            now,
        )?);
        factors.push("passkey".to_owned());
    }

    // Write-ahead: the record, the used nonces and code, before any provider call, in one
    // transaction with the audit events recording the decision.
    let mut next = state;
    let mut change = Change::default();
    for (nonce, approver) in &approvals.nonces {
        change.used_nonces.push((
            nonce.clone(),
            UsedNonce { approver: approver.clone(), activation: id.clone(), used_at: now },
        ));
    }
    change.passkey_counters.extend(approvals.counters.iter().cloned());
    if let Some(used) = presence_used {
        change.used_nonces.push((
            used.nonce,
            UsedNonce {
                approver: activation.requester.clone(),
                activation: id.clone(),
                used_at: now,
            },
        ));
        change.passkey_counters.push((used.credential_id, used.counter));
    }
    if let Some(step) = totp_step {
        change.used_totp.push(UsedTotp { person: activation.requester.clone(), step });
    }
    let mut activation = activation;
    if extension {
        let record = next
            .activations
            .get_mut(&id)
            .map(Arc::make_mut)
            .ok_or_else(|| refused(format!("activation {id} is gone")))?;
        record.extensions.push(Extension {
            previous_end: record.end,
            new_end: activation.end,
            justification: request.activation.justification.trim().to_owned(),
            plan_digest: signed.digest.clone(),
            approvals: approvals.records.clone(),
            at: now,
        });
        record.end = activation.end;
        activation = record.clone();
        change.activations.push(Arc::new(activation.clone()));
    } else {
        activation.approvals = approvals.records.clone();
        activation.auto_approved = auto && approvals.records.is_empty();
        activation.authentication = factors;
        activation.flags = limit_warnings;
        change.activations.push(Arc::new(activation.clone()));
    }
    // The objects it is about to grant, on record in the same write.
    next.activations.insert(id.clone(), Arc::new(activation.clone()));
    let starting: BTreeSet<&str> = [id.as_str()].into();
    let mine = changes_of(&fresh.plan.resource_changes, &id);
    for address in super::apply::write_ahead_records(
        &mut next,
        &fresh.desired,
        &fresh.live,
        providers,
        &mine,
        &starting,
        now,
    ) {
        let record = next.resources.get(&address).cloned();
        change.resources.push((address, record));
    }
    change.events = on_authorized(&activation).map_err(|error| {
        EngineError::Refused(format!("cannot record the grant in the audit log: {error}"))
    })?;
    change.apply_to(&mut next);
    guard.commit(change).await?;
    crate::crash::point(crate::crash::AFTER_WRITE_AHEAD);
    finish_with(providers, guard, next, activation, fresh, parallelism, progress, extension).await
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    policy: &Policy,
    providers: &Providers,
    guard: &mut dyn StateGuard,
    state: State,
    activation: Activation,
    parallelism: usize,
    progress: Arc<dyn Progress>,
    now: Timestamp,
    extension: bool,
) -> Result<EmergencyOutcome, EngineError> {
    let options = PlanOptions {
        at: now,
        refresh: true,
        targets: Vec::new(),
        parallelism,
        revert_interrupted: false,
        scoped: true,
    };
    let planned =
        make_plan(policy, &state, providers, &options, Some(&activation), progress.clone()).await?;
    finish_with(providers, guard, state, activation, planned, parallelism, progress, extension)
        .await
}

#[allow(clippy::too_many_arguments)]
async fn finish_with(
    providers: &Providers,
    guard: &mut dyn StateGuard,
    mut state: State,
    activation: Activation,
    planned: Planned,
    parallelism: usize,
    progress: Arc<dyn Progress>,
    extension: bool,
) -> Result<EmergencyOutcome, EngineError> {
    let changes = changes_of(&planned.plan.resource_changes, &activation.id);
    let report = apply(
        guard,
        &mut state,
        providers,
        &planned.desired,
        &planned.live,
        &changes,
        &ApplyMode::Activation(activation.id.clone()),
        parallelism,
        progress,
    )
    .await?;
    let recorded = state.activations.get(&activation.id).map_or(activation, |r| (**r).clone());
    Ok(EmergencyOutcome { activation: recorded, report, extension })
}
