//! What one activation's work needs to read: its own record and objects, the records that hold
//! the same objects (overlapping grants), the baseline objects an override changes, and, for an
//! emergency apply, the rows its checks consult (token nonces, TOTP steps, what limits count).
//!
//! An emergency apply, a revoke, an extension and each revert `watch` makes read only these
//! rows ([`Scope`], answered with indexed lookups), plan against them and write back only what
//! changed: their cost follows the activation, not the size of the state.

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;

use super::compile::{CompileOptions, compile_with};
use super::error::EngineError;
use super::providers::Providers;
use crate::activation::{Activation, ActivationKind, ActivationStatus};
use crate::address::{Address, ResourceAddress};
use crate::policy::blocks::LimitScope;
use crate::policy::{Policy, ReferenceKind};
use crate::sign::{PasskeyToken, Presence, approval_of, read_token};
use crate::state::{Scope, Started, State};

/// The rows the work on `activations` (at time `at`) plans against: each one's record and
/// recorded objects, the objects its grants would hold and whoever holds them, and the
/// baseline objects an override changes (with every override not yet reverted, whose priors
/// it may inherit).
pub fn scope_of(
    policy: &Policy,
    providers: &Providers,
    activations: &[&Activation],
    at: Timestamp,
) -> Result<Scope, EngineError> {
    let mut scope = Scope { resources_of_activations: true, ..Scope::default() };
    for activation in activations {
        scope.activations.insert(activation.id.clone());
        match activation.kind {
            ActivationKind::Role => {
                // What it grants while live, compiled alone: the addresses and objects it
                // would hold, so records of the same objects under other addresses are found.
                let mut live = (*activation).clone();
                live.status = ActivationStatus::Active;
                live.revoked = None;
                live.start = live.start.min(at);
                live.end = live.end.max(at + SignedDuration::from_secs(1));
                let mut alone = State::new();
                alone.activations.insert(live.id.clone(), Arc::new(live));
                let desired = compile_with(
                    policy,
                    &alone,
                    providers,
                    at,
                    None,
                    CompileOptions { revert_interrupted: false, scoped: true },
                )?;
                for (address, resource) in &desired.resources {
                    scope.addresses.insert(address.clone());
                    if let Some(id) = &resource.natural_id {
                        scope.objects.insert((resource.resource_type.clone(), id.clone()));
                    }
                }
            }
            ActivationKind::Override => {
                scope.live_overrides = true;
                scope.addresses.extend(activation.priors.keys().cloned());
                let changes =
                    policy.overrides.get(&activation.name).into_iter().flat_map(|o| &o.changes);
                for change in changes {
                    if let ReferenceKind::Resource(resource_type) = &change.resource.kind {
                        scope.addresses.insert(Address::baseline(ResourceAddress::new(
                            resource_type.clone(),
                            change.resource.name.clone(),
                        )));
                    }
                }
            }
        }
    }
    Ok(scope)
}

/// Adds to `scope` the rows `apply --emergency`'s checks consult for `activation`: the nonces
/// of `tokens` (decoded, not verified: only to look them up), `person`'s TOTP steps around
/// `now`, and the activations the policy's limits count.
pub fn add_check_rows(
    scope: &mut Scope,
    policy: &Policy,
    activation: &Activation,
    tokens: &[String],
    now: Timestamp,
) {
    for token in tokens {
        if let Ok(passkey) = PasskeyToken::from_token(token) {
            // The approval it signs, and the counter of the passkey that signed it.
            scope.passkeys.extend(passkey.credential_id_b64());
            let nonce = passkey.payload_bytes().ok().and_then(|p| approval_of(&p).ok());
            scope.nonces.extend(nonce.map(|approval| approval.nonce));
            continue;
        }
        let nonce = read_token(token)
            .ok()
            .and_then(|envelope| envelope.payload_bytes().ok())
            .and_then(|payload| approval_of(&payload).ok())
            .map(|approval| approval.nonce);
        scope.nonces.extend(nonce);
    }
    // RFC 6238 steps of 30 seconds, accepted one step either side.
    let step = u64::try_from(now.as_second()).unwrap_or(0) / 30;
    scope.totp = Some((activation.requester.clone(), step.saturating_sub(2)));
    let risk_of = |name: &str| {
        policy
            .roles
            .get(name)
            .map(|r| r.rules.risk.value)
            .or_else(|| policy.overrides.get(name).map(|o| o.rules.risk.value))
    };
    for limit in policy.limits.values() {
        let since = now.checked_sub(limit.window.to_signed()).unwrap_or(Timestamp::MIN);
        scope.started.push(match limit.per {
            LimitScope::Person => {
                Started { since, requester: Some(activation.requester.clone()), names: None }
            }
            LimitScope::Everyone => {
                let mut names: BTreeSet<String> =
                    limit.roles.iter().map(|r| r.name.clone()).collect();
                if let Some(risk) = limit.risk {
                    let all = policy.roles.keys().chain(policy.overrides.keys());
                    names.extend(all.filter(|name| risk_of(name) == Some(risk)).cloned());
                }
                Started { since, requester: None, names: Some(names) }
            }
        });
    }
}

/// Adds the rows checking a requester's passkey proof of presence (`presence`, a passkey
/// token) reads: its nonce and the counter of the passkey that signed it.
pub fn add_presence_rows(scope: &mut Scope, presence: Option<&str>) {
    let Some(token) = presence.and_then(|p| PasskeyToken::from_token(p).ok()) else { return };
    scope.passkeys.extend(token.credential_id_b64());
    let presence =
        token.payload_bytes().ok().and_then(|p| serde_json::from_slice::<Presence>(&p).ok());
    scope.nonces.extend(presence.map(|presence| presence.nonce));
}
