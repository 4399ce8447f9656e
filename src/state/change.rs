//! What a write changes, what a scoped read fetches, and how the audit log is read back: the
//! vocabulary shared by every backend.
//!
//! A write is a [`Change`]: the rows it touches (activations, resources, used nonces and TOTP
//! steps, passkey signature counters) and the audit events that describe it, committed in one
//! transaction. Nothing else is rewritten, so one grant costs one small write whatever the size
//! of the state.

use jiff::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::model::{ResourceState, State, UsedNonce, UsedTotp};
use crate::activation::Activation;
use crate::address::Address;
use crate::event::Event;

/// Rows to write, and the audit events that describe them, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Activation records written whole (inserted or replaced).
    pub activations: Vec<Arc<Activation>>,
    /// Resources written (`Some`) or forgotten (`None`), by address.
    pub resources: Vec<(Address, Option<ResourceState>)>,
    /// Approval-token nonces now used.
    pub used_nonces: Vec<(String, UsedNonce)>,
    /// TOTP steps now used.
    pub used_totp: Vec<UsedTotp>,
    /// Passkey signature counters now seen (credential id, base64url; counter).
    pub passkey_counters: Vec<(String, u32)>,
    /// Audit events, appended to the log in this order in the same transaction.
    pub events: Vec<Event>,
}

impl Change {
    /// A change that only appends `events`.
    pub fn events(events: Vec<Event>) -> Self {
        Self { events, ..Self::default() }
    }

    /// Whether it writes any state row (and so moves the serial).
    pub fn touches_state(&self) -> bool {
        !(self.activations.is_empty()
            && self.resources.is_empty()
            && self.used_nonces.is_empty()
            && self.used_totp.is_empty()
            && self.passkey_counters.is_empty())
    }

    /// Whether there is nothing to write at all.
    pub fn is_empty(&self) -> bool {
        !self.touches_state() && self.events.is_empty()
    }

    /// Applies the state rows to `state` (a whole or scoped copy held in memory), as the
    /// backend applies them to its tables.
    pub fn apply_to(&self, state: &mut State) {
        for activation in &self.activations {
            state.activations.insert(activation.id.clone(), activation.clone());
        }
        for (address, resource) in &self.resources {
            match resource {
                Some(resource) => {
                    state.resources.insert(address.clone(), resource.clone());
                }
                None => {
                    state.resources.remove(address);
                }
            }
        }
        for (nonce, used) in &self.used_nonces {
            state.used_nonces.insert(nonce.clone(), used.clone());
        }
        for used in &self.used_totp {
            if !state.used_totp.contains(used) {
                state.used_totp.push(used.clone());
            }
        }
        for (credential_id, counter) in &self.passkey_counters {
            state.passkey_counters.insert(credential_id.clone(), *counter);
        }
    }

    /// Everything `state` holds, as rows to write into an empty store (`state migrate`).
    pub fn everything(state: &State) -> Self {
        Self {
            activations: state.activations.values().cloned().collect(),
            resources: state
                .resources
                .iter()
                .map(|(address, resource)| (address.clone(), Some(resource.clone())))
                .collect(),
            used_nonces: state
                .used_nonces
                .iter()
                .map(|(nonce, used)| (nonce.clone(), used.clone()))
                .collect(),
            used_totp: state.used_totp.clone(),
            passkey_counters: state
                .passkey_counters
                .iter()
                .map(|(credential_id, counter)| (credential_id.clone(), *counter))
                .collect(),
            events: Vec::new(),
        }
    }
}

/// The rows one activation's work needs, read with indexed lookups instead of the whole state:
/// a [`State`] holding only these is what an emergency apply, a revoke or one revert plans
/// against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Activations by id.
    pub activations: BTreeSet<String>,
    /// Resources by address.
    pub addresses: BTreeSet<Address>,
    /// Resources holding these objects (`(resource type, provider id)`), whatever their
    /// address: overlapping grants of one object.
    pub objects: BTreeSet<(String, String)>,
    /// Resources the activations named in `activations` recorded.
    pub resources_of_activations: bool,
    /// Every override activation not yet reverted (overrides of one object inherit each
    /// other's priors).
    pub live_overrides: bool,
    /// These approval-token nonces, where used.
    pub nonces: BTreeSet<String>,
    /// Used TOTP steps of this person, from this step on.
    pub totp: Option<(String, u64)>,
    /// The signature counters of these passkeys (credential ids, base64url), where recorded.
    pub passkeys: BTreeSet<String>,
    /// Activations that started since a time (what limits count).
    pub started: Vec<Started>,
}

/// Activations that started at or after `since` or end after it (a superset of what a limit
/// counts in a window starting at `since`), of one requester or with one of some names (all of
/// them when neither is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The earliest start.
    pub since: Timestamp,
    /// Only this requester's.
    pub requester: Option<String>,
    /// Only activations of these roles or overrides.
    pub names: Option<BTreeSet<String>>,
}

/// Which activations to list (answered with the index on status and end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationFilter {
    /// Leave out reverted ones (history).
    pub not_reverted: bool,
    /// Only those that end by this time, or are already being reverted.
    pub ending_by: Option<Timestamp>,
    /// Only the one that ends first.
    pub first_to_end: bool,
}

/// Where the audit log ends: its last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Events in the log (the last one's sequence number; 0 for an empty log).
    pub events: u64,
    /// The last event's hash; the genesis value for an empty log.
    pub hash: String,
}

/// One event as stored: its place in the chain, its line (the JSON the hash is taken of) and
/// that hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// 1-based position in the chain.
    pub seq: u64,
    /// The event's JSON, exactly as hashed.
    pub line: String,
    /// sha256 (hex) of `line`, as recorded.
    pub hash: String,
}

/// Which events to read, and in what order. Filters are answered with the backend's indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events after this sequence number (a reader following the log).
    pub after: Option<u64>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Only events about this activation.
    pub activation: Option<String>,
    /// Only events with this action.
    pub action: Option<String>,
    /// Only events about no activation.
    pub unattached: bool,
    /// Only events about some activation, grouped by activation (then in chain order),
    /// instead of in chain order.
    pub by_activation: bool,
}

/// Nanoseconds since the Unix epoch, as stored in time columns (saturating).
pub(crate) fn nanos(time: Timestamp) -> i64 {
    i64::try_from(time.as_nanosecond()).unwrap_or(if time > Timestamp::UNIX_EPOCH {
        i64::MAX
    } else {
        i64::MIN
    })
}
