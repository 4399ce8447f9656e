//! What signed documents claim, checked against the policy and the clock of whoever acts.
//!
//! A signature proves who said something, not that it is allowed. Every time and every rule in
//! an emergency request or an approval token is a claim: the functions here recompute each one
//! from the policy and the actor's own clock (the executor's for `apply --emergency`, the
//! approver's for `approve`) and refuse what does not hold, whatever else the document says.
//!
//! They are pure — policy, claimed document and now in; `Ok` or a refusal out — so that every
//! command (apply, approve, show, drill) runs the same checks, whatever keeps the state, and
//! tests can hand them forged documents directly. What needs state (nonces already used, the
//! activation an extension lengthens, limits) is passed in as plain values.

use jiff::{SignedDuration, Timestamp};

use super::emergency::{check_requester, target};
use super::error::EngineError;
use crate::activation::{Activation, ActivationKind, ActivationSource, ActivationStatus};
use crate::plan::{EmergencyRequest, Plan};
use crate::policy::blocks::{AccessRules, Limit};
use crate::policy::{Duration, Policy, Reference, ReferenceKind};
use crate::sign::{Approval, Decision};

fn refused(message: impl Into<String>) -> EngineError {
    EngineError::Refused(message.into())
}

/// The acting machine's time, and how far another machine's clock may be from it
/// (`clock_skew_tolerance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Now, by the acting machine's clock.
    pub now: Timestamp,
    /// How far a signed time may be ahead of `now` before it is refused as skewed.
    pub tolerance: Duration,
}

impl Clock {
    /// `now`, with the policy's tolerance.
    pub fn of(policy: &Policy, now: Timestamp) -> Self {
        Self { now, tolerance: policy.settings.clock_skew_tolerance }
    }

    /// How far `claimed` is ahead of now, if further than the tolerance allows.
    fn too_far_ahead(&self, claimed: Timestamp) -> Option<Duration> {
        let ahead = claimed.duration_since(self.now);
        (ahead > self.tolerance.to_signed()).then(|| length(ahead))
    }

    fn tolerance_note(&self) -> String {
        format!("clock_skew_tolerance {}", self.tolerance)
    }
}

/// A signed length of time as a policy duration (never negative; whole seconds).
fn length(duration: SignedDuration) -> Duration {
    Duration::from_secs(u64::try_from(duration.as_secs()).unwrap_or(0))
}

fn later(time: Timestamp, by: Duration) -> Timestamp {
    time.checked_add(by.to_signed()).unwrap_or(Timestamp::MAX)
}

fn earlier(time: Timestamp, by: Duration) -> Timestamp {
    time.checked_sub(by.to_signed()).unwrap_or(Timestamp::MIN)
}

/// Whether `id` is what `request` makes: `act_` and a ULID (26 characters of Crockford base32).
/// Anything else is a hand-made id, which could collide with another record or read as part of
/// an address.
pub fn is_request_id(id: &str) -> bool {
    id.strip_prefix("act_").is_some_and(|ulid| ulid::Ulid::from_string(ulid).is_ok())
}

/// Who may ask for what: the requester is a person who may request the role or override the
/// request names (now, by this policy), the kind it claims is the kind the policy gives that
/// name, it says why, and its id is one `request` would make. Needs nothing computed, so it
/// runs before anything is compiled.
pub fn may_request<'p>(
    policy: &'p Policy,
    activation: &Activation,
) -> Result<(Reference, &'p AccessRules), EngineError> {
    let (reference, rules) = target(policy, &activation.name)?;
    let kind = match reference.kind {
        ReferenceKind::Override => ActivationKind::Override,
        _ => ActivationKind::Role,
    };
    if activation.kind != kind {
        return Err(refused(format!(
            "the request asks for {} {}, but {} is a {} in the policy",
            activation.kind.as_str(),
            activation.name,
            activation.name,
            kind.as_str()
        )));
    }
    check_requester(policy, &reference, rules, &activation.requester)?;
    if activation.justification.trim().is_empty() {
        return Err(refused(
            "the request gives no justification; make a new request that says why",
        ));
    }
    if !is_request_id(&activation.id) {
        return Err(refused(format!(
            "the request's activation id {:?} is not one `breakglass request` makes \
             (act_ and a ULID); make a new request",
            activation.id
        )));
    }
    Ok((reference, rules))
}

/// The request was made against this policy (by digest).
pub fn same_policy(plan: &Plan, policy: &Policy) -> Result<(), EngineError> {
    if plan.policy_digest != policy.digest {
        return Err(EngineError::Stale("the policy changed since the request was made".to_owned()));
    }
    Ok(())
}

/// When a request stops being usable: `request_lifetime` after it was made, or its own
/// `expires_at` if that is sooner. A later `expires_at` buys nothing.
pub fn request_deadline(policy: &Policy, plan: &Plan) -> Timestamp {
    later(plan.created_at, policy.settings.request_lifetime).min(plan.expires_at)
}

/// The request's own times, by `clock`: it was not made in the future (beyond the tolerance:
/// the requester's clock is ahead), and it is not older than `request_lifetime`, whatever its
/// `expires_at` says.
pub fn request_times(policy: &Policy, plan: &Plan, clock: &Clock) -> Result<(), EngineError> {
    let requester = plan.request.as_ref().map_or("the requester", |r| &r.activation.requester);
    if let Some(ahead) = clock.too_far_ahead(plan.created_at) {
        return Err(refused(format!(
            "{requester}'s clock is {ahead} ahead: the request says it was made at {}, and it \
             is {} here ({}); fix the clock (NTP) and make a new request",
            plan.created_at,
            clock.now,
            clock.tolerance_note()
        )));
    }
    let deadline = request_deadline(policy, plan);
    if clock.now >= deadline {
        return Err(refused(format!(
            "the request expired at {deadline} (requests are good for {} after they are made); \
             make a new request",
            policy.settings.request_lifetime
        )));
    }
    Ok(())
}

/// The window of a new activation, by `clock`: it starts when the request was made (within
/// the tolerance: not back-dated, not scheduled for later — scheduled access is a `grant`
/// block, reviewed in git), not in the future, and lasts at most the role's `max_duration`.
pub fn new_window(
    reference: &Reference,
    rules: &AccessRules,
    activation: &Activation,
    made_at: Timestamp,
    clock: &Clock,
) -> Result<(), EngineError> {
    let (start, end) = (activation.start, activation.end);
    if end <= start {
        return Err(refused(format!("the activation ends ({end}) before it starts ({start})")));
    }
    if start < earlier(made_at, clock.tolerance) {
        return Err(refused(format!(
            "the activation starts at {start}, before the request was made ({made_at}): an \
             emergency request starts when it is made; make a new request"
        )));
    }
    if start > later(made_at, clock.tolerance) || clock.too_far_ahead(start).is_some() {
        return Err(refused(format!(
            "the activation starts at {start}, later than the request was made ({made_at}) and \
             than now ({}): an emergency request starts when it is made; access planned ahead \
             is a grant block, reviewed in git",
            clock.now
        )));
    }
    check_length(reference, rules, start, end, "the activation")
}

/// `end − start` is at most the role's `max_duration`.
fn check_length(
    reference: &Reference,
    rules: &AccessRules,
    start: Timestamp,
    end: Timestamp,
    what: &str,
) -> Result<(), EngineError> {
    let lasts = length(end.duration_since(start));
    let max = rules.max_duration.value;
    if lasts > max {
        return Err(refused(format!(
            "{what} would last {lasts} ({start} to {end}), longer than {reference} allows \
             (max_duration {max})"
        )));
    }
    Ok(())
}

/// What an extension request claims, checked without state: it moves the end later, and the
/// whole activation it describes fits in `max_duration`. (The executor checks the window again
/// against the activation's own record, [`extend_record`]; an approver may not have the state.)
pub fn extension_claims(
    reference: &Reference,
    rules: &AccessRules,
    request: &EmergencyRequest,
) -> Result<(), EngineError> {
    let activation = &request.activation;
    if let Some(previous) = request.extends
        && activation.end <= previous
    {
        return Err(refused(format!(
            "the extension ends at {}, not after the end it extends ({previous})",
            activation.end
        )));
    }
    check_length(reference, rules, activation.start, activation.end, "extended, the activation")
}

/// The record of live activation `current` lengthened as `request` asks, checked against the
/// record rather than the request: same requester, role and kind; still live; extending the
/// end it has now; and the whole activation, from the recorded start to the new end, within
/// `max_duration`.
pub fn extend_record(
    reference: &Reference,
    rules: &AccessRules,
    current: &Activation,
    request: &EmergencyRequest,
    clock: &Clock,
) -> Result<Activation, EngineError> {
    let asked = &request.activation;
    let id = &current.id;
    if (asked.requester.as_str(), asked.name.as_str(), asked.kind)
        != (current.requester.as_str(), current.name.as_str(), current.kind)
    {
        return Err(refused(format!(
            "the extension is by {} for {} {}, but activation {id} is {}'s {} {}; only its \
             requester may extend it",
            asked.requester,
            asked.kind.as_str(),
            asked.name,
            current.requester,
            current.kind.as_str(),
            current.name
        )));
    }
    if !current.is_live_at(clock.now) || current.status != ActivationStatus::Active {
        return Err(refused(format!(
            "activation {id} is not live (status {}, ends {}); it can no longer be extended",
            current.status.as_str(),
            current.end
        )));
    }
    if request.extends != Some(current.end) {
        return Err(refused(format!(
            "activation {id} now ends at {}, not at the end this extension was requested \
             against ({}); request the extension again",
            current.end,
            request.extends.map_or_else(|| "none".to_owned(), |t| t.to_string())
        )));
    }
    if asked.end <= current.end {
        return Err(refused(format!(
            "the extension ends at {}, not after activation {id}'s end ({})",
            asked.end, current.end
        )));
    }
    check_length(reference, rules, current.start, asked.end, "extended, the activation")?;
    let mut extended = current.clone();
    extended.end = asked.end;
    Ok(extended)
}

/// Every check on a request that needs only the policy and a clock, in the order
/// `apply --emergency` makes them: who may ask, the policy it was made against, its times, and
/// its window. Returns the role or override and its rules.
pub fn check_request<'p>(
    policy: &'p Policy,
    plan: &Plan,
    request: &EmergencyRequest,
    clock: &Clock,
) -> Result<(Reference, &'p AccessRules), EngineError> {
    let (reference, rules) = may_request(policy, &request.activation)?;
    request_times(policy, plan, clock)?;
    match request.extends {
        None => new_window(&reference, rules, &request.activation, plan.created_at, clock)?,
        Some(_) => extension_claims(&reference, rules, request)?,
    }
    same_policy(plan, policy)?;
    Ok((reference, rules))
}

/// The activation to record for a new request: only what the requester may say (who, what,
/// why, when — each checked by [`check_request`]) is taken from the signed document; every
/// field the executor owns (status, source, approvals, authentication, the values an override
/// replaces, revocation, extensions, flags, times of record) starts afresh.
pub fn trusted_activation(asked: &Activation, plan_digest: &str, now: Timestamp) -> Activation {
    Activation {
        id: asked.id.clone(),
        kind: asked.kind,
        name: asked.name.clone(),
        requester: asked.requester.clone(),
        justification: asked.justification.trim().to_owned(),
        start: asked.start,
        end: asked.end,
        status: ActivationStatus::Applying,
        source: ActivationSource::Emergency { plan_digest: plan_digest.to_owned() },
        approvals: Vec::new(),
        auto_approved: false,
        authentication: Vec::new(),
        priors: Default::default(),
        created_at: now,
        activated_at: None,
        revoked: None,
        reverted_at: None,
        revert_attempts: 0,
        last_error: None,
        extensions: Vec::new(),
        flags: Vec::new(),
    }
}

/// What the policy says about the approval tokens of one role or override.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// The approvers block, as written (`approvers.leads`), for messages.
    pub group: String,
    /// Its `token_lifetime`: the longest a token may claim to be valid.
    pub lifetime: Duration,
    /// The authentication rule's `max_token_age`, if any.
    pub max_age: Option<Duration>,
    /// Whether the requester may approve their own request.
    pub allow_self_approval: bool,
}

/// An approval whose signature verified, whatever kind of token carried it: who signed it
/// (a person of the approvers block), and what they signed.
#[derive(Debug, Clone)]
pub struct SignedApproval {
    /// Its position among the tokens given (1-based), for messages.
    pub number: usize,
    /// The person whose key verified the signature.
    pub signer: String,
    /// What they signed (every field a claim, checked by [`check_approval`]).
    pub approval: Approval,
    /// For a passkey token: the credential id (base64url) and the authenticator's signature
    /// counter, which must go up from the one state recorded.
    pub passkey: Option<(String, u32)>,
}

impl SignedApproval {
    fn name(&self) -> String {
        format!("approval token #{} (by {})", self.number, self.signer)
    }
}

/// When an approval stops counting: `token_lifetime` after it was issued, or its own
/// `expires_at` if that is sooner.
pub fn token_deadline(rules: &TokenRules, approval: &Approval) -> Timestamp {
    later(approval.issued_at, rules.lifetime).min(approval.expires_at)
}

/// Until when an approval counts: its deadline, or `max_token_age` after it was issued if
/// that is sooner.
pub fn counts_until(rules: &TokenRules, approval: &Approval) -> Timestamp {
    let deadline = token_deadline(rules, approval);
    rules.max_age.map_or(deadline, |age| deadline.min(later(approval.issued_at, age)))
}

/// One approval's claims, by `clock`: it names its signer; it is for this request (digest and
/// activation); it was not issued in the future (beyond the tolerance: the approver's clock is
/// ahead); the lifetime it claims is within `token_lifetime`; it has not expired; it is younger
/// than `max_token_age`; it is not the requester's own (unless allowed); and it approves.
pub fn check_approval(
    rules: &TokenRules,
    signed: &SignedApproval,
    plan_digest: &str,
    activation: &Activation,
    clock: &Clock,
) -> Result<(), EngineError> {
    let approval = &signed.approval;
    let signer = &signed.signer;
    let number = signed.number;
    if approval.approver != *signer {
        return Err(refused(format!(
            "approval token #{number} names {} as approver but is signed by {signer}",
            approval.approver
        )));
    }
    let token = signed.name();
    if approval.plan_digest != plan_digest {
        return Err(refused(format!(
            "{token} is for another plan ({}), not this request ({plan_digest})",
            approval.plan_digest
        )));
    }
    if approval.activation != activation.id {
        return Err(refused(format!(
            "{token} names activation {}, not this request's ({})",
            approval.activation, activation.id
        )));
    }
    if let Some(ahead) = clock.too_far_ahead(approval.issued_at) {
        return Err(refused(format!(
            "{signer}'s clock is {ahead} ahead: {token} says it was issued at {}, and it is {} \
             here ({}); fix the clock (NTP) and ask for a new approval",
            approval.issued_at,
            clock.now,
            clock.tolerance_note()
        )));
    }
    let claimed = length(approval.expires_at.duration_since(approval.issued_at));
    if claimed > rules.lifetime {
        return Err(refused(format!(
            "{token} claims to be valid for {claimed} ({} to {}), longer than {} allows \
             (token_lifetime {}); ask for a new approval",
            approval.issued_at, approval.expires_at, rules.group, rules.lifetime
        )));
    }
    let deadline = token_deadline(rules, approval);
    if clock.now >= deadline {
        return Err(refused(format!("{token} expired at {deadline}; ask for a new approval")));
    }
    if let Some(max_age) = rules.max_age
        && clock.now.duration_since(approval.issued_at) > max_age.to_signed()
    {
        return Err(refused(format!(
            "{token} was issued at {}, more than {max_age} ago (max_token_age); ask for a new \
             approval",
            approval.issued_at
        )));
    }
    if *signer == activation.requester && !rules.allow_self_approval {
        return Err(refused(format!(
            "{signer} cannot approve their own request: {} does not allow self-approval",
            rules.group
        )));
    }
    if approval.decision == Decision::Deny {
        return Err(refused(format!(
            "{signer} denied the request{}",
            approval.comment.as_deref().map_or_else(String::new, |c| format!(": {c}"))
        )));
    }
    Ok(())
}

/// Whether `activation` counts toward a limit whose window began at `since`: it was granted,
/// by the executor's clock, in the window, or some part of its own window lies in it (a start
/// in the future or the past cannot take it out). An `applying` record that never became
/// active (an apply in flight) is not counted.
pub fn counts_since(activation: &Activation, since: Timestamp) -> bool {
    let granted = activation.activated_at.unwrap_or(activation.created_at);
    let was_granted =
        activation.activated_at.is_some() || activation.status != ActivationStatus::Applying;
    was_granted && (granted >= since || activation.end > since || activation.start >= since)
}

/// Whether `limit` covers activations of `name` (of `kind`).
pub fn limit_covers(policy: &Policy, limit: &Limit, name: &str, kind: ActivationKind) -> bool {
    let by_name = limit.roles.iter().any(|r| {
        r.name == name
            && matches!(
                (&r.kind, kind),
                (ReferenceKind::Role, ActivationKind::Role)
                    | (ReferenceKind::Override, ActivationKind::Override)
            )
    });
    let risk = target(policy, name).ok().map(|(_, rules)| rules.risk.value);
    by_name || limit.risk.is_some_and(|wanted| risk == Some(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Spanned;

    const NOW: &str = "2026-11-28T12:00:00Z";

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn clock() -> Clock {
        Clock { now: at(NOW), tolerance: Duration::from_mins(2) }
    }

    fn rules(max: Duration) -> AccessRules {
        let here = crate::diagnostics::Position { line: 1, column: 1, byte: 0 };
        let range = crate::diagnostics::SourceRange {
            filename: "access.hcl".into(),
            start: here,
            end: here,
        };
        AccessRules {
            description: None,
            risk: Spanned::new(crate::policy::blocks::Risk::Low, range.clone()),
            requesters: None,
            approvers: None,
            quorum: None,
            authentication: None,
            max_duration: Spanned::new(max, range),
            unreadable: Vec::new(),
        }
    }

    /// alice's activation `act_x` of role read_logs.
    fn asked() -> Activation {
        let mut activation = Activation {
            id: "act_x".to_owned(),
            kind: ActivationKind::Role,
            name: "read_logs".to_owned(),
            requester: "alice".to_owned(),
            justification: "INC-1".to_owned(),
            start: at(NOW),
            end: at(NOW),
            status: ActivationStatus::Applying,
            source: ActivationSource::Emergency { plan_digest: String::new() },
            approvals: Vec::new(),
            auto_approved: false,
            authentication: Vec::new(),
            priors: Default::default(),
            created_at: at(NOW),
            activated_at: None,
            revoked: None,
            reverted_at: None,
            revert_attempts: 0,
            last_error: None,
            extensions: Vec::new(),
            flags: Vec::new(),
        };
        activation.flags.push("claimed by the requester".to_owned());
        activation.status = ActivationStatus::Active;
        activation
    }

    fn activation(start: &str, end: &str) -> Activation {
        let mut activation = asked();
        activation.start = at(start);
        activation.end = at(end);
        activation
    }

    #[test]
    fn a_trusted_activation_keeps_only_what_the_requester_may_say() {
        let mut forged = asked();
        forged.approvals.push(crate::activation::ApprovalRecord {
            approver: "carol".to_owned(),
            decision: "approve".to_owned(),
            comment: None,
            issued_at: at(NOW),
            nonce: "n".to_owned(),
        });
        forged.auto_approved = true;
        let mut prior = breakglass_provider::Attributes::new();
        prior.insert("value".into(), breakglass_provider::Value::from("pwned"));
        forged.priors.insert("local_setting.chatbot_endpoint".parse().unwrap(), prior);
        forged.created_at = at("2020-01-01T00:00:00Z");
        let trusted = trusted_activation(&forged, "sha256:d", at(NOW));
        assert_eq!(
            (trusted.status, trusted.approvals.len(), trusted.auto_approved, trusted.priors.len()),
            (ActivationStatus::Applying, 0, false, 0)
        );
        assert!(trusted.flags.is_empty());
        assert_eq!(trusted.created_at, at(NOW));
        assert_eq!(
            trusted.source,
            ActivationSource::Emergency { plan_digest: "sha256:d".to_owned() }
        );
        assert_eq!(
            (trusted.start, trusted.end, trusted.requester),
            (forged.start, forged.end, forged.requester)
        );
    }

    fn role() -> Reference {
        Reference::new(ReferenceKind::Role, "read_logs")
    }

    /// (start, end, made at, refusal expected to contain, or "" for accepted)
    const WINDOWS: &[(&str, &str, &str, &str)] = &[
        ("2026-11-28T12:00:00Z", "2026-11-28T20:00:00Z", NOW, ""),
        ("2026-11-28T11:30:00Z", "2026-11-28T12:30:00Z", "2026-11-28T11:30:00Z", ""),
        ("2026-11-28T12:00:00Z", "2036-11-28T12:00:00Z", NOW, "longer than role.read_logs"),
        ("2026-11-28T12:00:00Z", "2026-11-28T20:00:01Z", NOW, "would last 8h1s"),
        ("2026-11-28T12:01:59Z", "2026-11-28T13:00:00Z", "2026-11-28T12:00:00Z", ""),
        ("2026-11-28T12:02:01Z", "2026-11-28T13:00:00Z", "2026-11-28T12:02:01Z", "later than"),
        ("2026-11-29T12:00:00Z", "2026-11-29T13:00:00Z", NOW, "grant block"),
        ("2026-11-28T11:00:00Z", "2026-11-28T12:30:00Z", "2026-11-28T11:30:00Z", "before the"),
        ("2026-11-28T12:00:00Z", "2026-11-28T12:00:00Z", NOW, "before it starts"),
    ];

    #[test]
    fn a_new_window_starts_when_made_and_lasts_at_most_max_duration() {
        let rules = rules(Duration::from_hours(8));
        for (start, end, made, expected) in WINDOWS {
            let result = new_window(&role(), &rules, &activation(start, end), at(made), &clock());
            match (result, *expected) {
                (Ok(()), "") => {}
                (Err(error), expected) if !expected.is_empty() => {
                    let message = error.to_string();
                    assert!(message.contains(expected), "{start}..{end}: {message}");
                }
                (other, expected) => panic!("{start}..{end}: got {other:?}, wanted {expected:?}"),
            }
        }
    }

    fn plan(created: &str, expires: &str) -> Plan {
        Plan {
            format_version: crate::plan::PLAN_FORMAT_VERSION.to_owned(),
            breakglass_version: String::new(),
            created_at: at(created),
            evaluated_at: at(created),
            expires_at: at(expires),
            policy_digest: String::new(),
            state: crate::plan::StateRef { lineage: String::new(), serial: 0 },
            live_digest: String::new(),
            targets: Vec::new(),
            resource_changes: Vec::new(),
            drift: Vec::new(),
            activations: Vec::new(),
            request: None,
            refresh: Default::default(),
            summary: Default::default(),
        }
    }

    /// A policy with only settings (request_lifetime 1h).
    fn settings_only() -> Policy {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("main.hcl"),
            "breakglass {\n  request_lifetime = \"1h\"\n}\n",
        )
        .unwrap();
        let loaded = crate::policy::load(
            dir.path(),
            &Default::default(),
            at(NOW),
            crate::policy::Strictness::Operate,
        );
        loaded.policy.expect("a policy of settings only loads")
    }

    #[test]
    fn a_request_is_judged_by_when_it_was_made_not_by_its_expiry() {
        let policy = settings_only();
        // Valid until 2099 by its own word, made two hours ago: expired an hour ago.
        let old = plan("2026-11-28T10:00:00Z", "2099-01-01T00:00:00Z");
        let message = request_times(&policy, &old, &clock()).unwrap_err().to_string();
        assert!(message.contains("expired at 2026-11-28T11:00:00Z"), "{message}");
        // A shorter expires_at still counts.
        let short = plan("2026-11-28T11:30:00Z", "2026-11-28T11:45:00Z");
        assert!(request_times(&policy, &short, &clock()).is_err());
        // Made in the future: the requester's clock is ahead, and the message says by how much.
        let ahead = plan("2026-11-28T12:03:12Z", "2026-11-28T13:03:12Z");
        let message = request_times(&policy, &ahead, &clock()).unwrap_err().to_string();
        assert!(message.contains("the requester's clock is 3m12s ahead"), "{message}");
        // Within the tolerance it is fine.
        assert!(
            request_times(&policy, &plan("2026-11-28T12:01:00Z", "2026-11-28T13:01:00Z"), &clock())
                .is_ok()
        );
    }

    fn token(issued: &str, expires: &str) -> SignedApproval {
        SignedApproval {
            number: 1,
            signer: "carol".to_owned(),
            approval: Approval {
                approver: "carol".to_owned(),
                decision: Decision::Approve,
                plan_digest: "sha256:d".to_owned(),
                activation: "act_x".to_owned(),
                issued_at: at(issued),
                expires_at: at(expires),
                nonce: "n".to_owned(),
                comment: None,
            },
            passkey: None,
        }
    }

    #[test]
    fn a_token_counts_only_within_the_policy_s_lifetime_and_age() {
        let rules = TokenRules {
            group: "approvers.leads".to_owned(),
            lifetime: Duration::from_mins(30),
            max_age: Some(Duration::from_mins(15)),
            allow_self_approval: false,
        };
        let activation = asked();
        let check = |signed: &SignedApproval| {
            check_approval(&rules, signed, "sha256:d", &activation, &clock())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(check(&token("2026-11-28T11:50:00Z", "2026-11-28T12:20:00Z")), "");
        let message = check(&token("2026-11-28T11:59:00Z", "2099-01-01T00:00:00Z"));
        assert!(message.contains("longer than approvers.leads allows"), "{message}");
        let message = check(&token("2026-11-28T13:00:00Z", "2026-11-28T13:30:00Z"));
        assert!(message.contains("carol's clock is 1h ahead"), "{message}");
        let message = check(&token("2026-11-28T11:40:00Z", "2026-11-28T12:10:00Z"));
        assert!(message.contains("more than 15m ago (max_token_age)"), "{message}");
        let message = check(&token("2026-11-28T11:20:00Z", "2026-11-28T11:50:00Z"));
        assert!(message.contains("expired at 2026-11-28T11:50:00Z"), "{message}");
        let mut other = token("2026-11-28T11:59:00Z", "2026-11-28T12:29:00Z");
        other.approval.activation = "act_y".to_owned();
        assert!(check(&other).contains("names activation act_y"));
        let mut named = token("2026-11-28T11:59:00Z", "2026-11-28T12:29:00Z");
        named.approval.approver = "dave".to_owned();
        assert!(check(&named).contains("names dave as approver but is signed by carol"));
    }

    #[test]
    fn limits_count_by_the_time_of_grant_and_the_whole_window() {
        let since = at("2026-11-27T12:00:00Z"); // a 1-day window ending now
        let with = |granted: &str, start: &str, end: &str, status: ActivationStatus| {
            let mut activation = activation(start, end);
            activation.created_at = at(granted);
            activation.activated_at = Some(at(granted));
            activation.status = status;
            activation
        };
        use ActivationStatus::{Active, Applying, Reverted};
        // Granted an hour ago, though it claims to have started three days ago.
        assert!(counts_since(
            &with("2026-11-28T11:00:00Z", "2026-11-25T12:00:00Z", "2026-11-28T13:00:00Z", Active),
            since
        ));
        // Granted before the window, but live in it.
        assert!(counts_since(
            &with("2026-11-27T06:00:00Z", "2026-11-27T06:00:00Z", "2026-11-27T14:00:00Z", Reverted),
            since
        ));
        // Starting in the future.
        assert!(counts_since(
            &with("2026-11-26T12:00:00Z", "2026-11-30T12:00:00Z", "2026-11-30T13:00:00Z", Active),
            since
        ));
        // Granted and ended before the window.
        assert!(!counts_since(
            &with("2026-11-25T12:00:00Z", "2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z", Reverted),
            since
        ));
        // An apply in flight that never granted anything.
        let mut in_flight = with("2026-11-28T11:00:00Z", NOW, "2026-11-28T13:00:00Z", Applying);
        in_flight.activated_at = None;
        assert!(!counts_since(&in_flight, since));
    }

    #[test]
    fn request_ids_are_act_and_a_ulid() {
        assert!(is_request_id("act_01M90TVNM2P2E8NBC9YCPWZ8JS"));
        for id in ["act_x", "grant_chg_1", "act_01M90TVNM2P2E8NBC9YCPWZ8JS\"]", ""] {
            assert!(!is_request_id(id), "{id}");
        }
    }
}
