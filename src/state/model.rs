//! The state document.

use breakglass_provider::Attributes;
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::activation::Activation;
use crate::address::Address;

/// The state format this build reads and writes.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Everything breakglass remembers between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// The format of this document.
    pub format_version: u32,
    /// A random id given when the state is first written; a plan made against one state can
    /// never be applied to another. Empty until then.
    pub lineage: String,
    /// Incremented by every write; a plan records the serial it saw.
    pub serial: u64,
    /// Managed objects, by address.
    #[serde(default, deserialize_with = "dense_map")]
    pub resources: BTreeMap<Address, ResourceState>,
    /// Every activation ever applied, by id: live ones and the history.
    // Shared (`Arc`) so the desired state of a run holds them without a copy of each (60,000 at
    // scale); a change to one is `Arc::make_mut`.
    #[serde(default, deserialize_with = "dense_map")]
    pub activations: BTreeMap<String, Arc<Activation>>,
    /// Approval-token nonces already used, so no token is accepted twice.
    #[serde(default)]
    pub used_nonces: BTreeMap<String, UsedNonce>,
    /// TOTP codes already accepted (person and time step), so no code is accepted twice.
    #[serde(default)]
    pub used_totp: Vec<UsedTotp>,
    /// The highest signature counter seen from each passkey (by credential id, base64url), so
    /// a cloned authenticator shows itself by going backwards.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub passkey_counters: BTreeMap<String, u32>,
}

impl State {
    /// An empty state, as before anything was ever written: no lineage yet, serial 0.
    pub fn new() -> Self {
        Self {
            format_version: STATE_FORMAT_VERSION,
            lineage: String::new(),
            serial: 0,
            resources: BTreeMap::new(),
            activations: BTreeMap::new(),
            used_nonces: BTreeMap::new(),
            used_totp: Vec::new(),
            passkey_counters: BTreeMap::new(),
        }
    }
}

/// A map read whole and then built in one go, so its B-tree nodes are full. Inserting the keys
/// one at a time, in the sorted order the document has them, leaves every node half empty: at
/// 100,000 resources that was 22 MiB of the state's 110.
fn dense_map<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Ord + Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(std::marker::PhantomData<(K, V)>);

    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
        type Value = Vec<(K, V)>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }

    // `collect` sorts (keeping the last of equal keys, as inserting would) and fills each node.
    Ok(deserializer.deserialize_map(Entries(std::marker::PhantomData))?.into_iter().collect())
}

/// A fresh lineage id.
pub(crate) fn new_lineage() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// One managed object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceState {
    /// The provider that manages it.
    pub provider: String,
    /// Its resource type.
    pub resource_type: String,
    /// The provider's id for it.
    pub id: String,
    /// Its attributes as last written or read (sensitive values replaced by digests).
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub attributes: Attributes,
    /// The activation that created it, for resources a role grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// What it had to come after when created (deleted in reverse order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// For an object an activation found already there (alice was already a member; the grant
    /// raised her role): the attributes as they were before. The revert writes these back
    /// instead of deleting the object, so access that predates the grant survives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub restore: Option<Attributes>,
    /// When breakglass last wrote it.
    #[schemars(with = "String")]
    pub updated_at: Timestamp,
}

/// A used approval-token nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsedNonce {
    /// Who signed the token.
    pub approver: String,
    /// The activation it approved.
    pub activation: String,
    /// When it was used.
    #[schemars(with = "String")]
    pub used_at: Timestamp,
}

/// An accepted TOTP code: the person and the RFC 6238 time step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsedTotp {
    /// Whose code.
    pub person: String,
    /// The 30-second time step the code belonged to.
    pub step: u64,
}
