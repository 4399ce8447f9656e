//! One object's change, and drift found while reading.

use breakglass_provider::Attributes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::action::Action;
use super::reason::Reason;
use crate::activation::ActivationKind;
use crate::address::Address;

/// A change to one object. `before` and `after` have sensitive attributes replaced by digest
/// markers, so a plan can be printed, stored and signed without leaking a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceChange {
    /// The object's address.
    pub address: Address,
    /// The provider that manages it.
    pub provider: String,
    /// Its resource type.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The provider's id for it.
    pub id: String,
    /// What happens.
    pub action: Action,
    /// The JSON `actions` list (`["delete", "create"]` for a replacement), for CI tools that
    /// read Terraform plans.
    pub actions: Vec<String>,
    /// The live attributes as read (absent for a create).
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub before: Option<Attributes>,
    /// The attributes it will have (absent for a delete).
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub after: Option<Attributes>,
    /// The attributes that change, for updates and replacements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_attributes: Vec<String>,
    /// Why.
    pub reason: Reason,
    /// What it must come after (and, when deleting, before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// A digest of the live object as read at plan time; apply re-reads and compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_digest: Option<String>,
    /// What a reviewer should know beyond the attributes ("the platform ends this access by
    /// itself at …").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ResourceChange {
    /// A change with the `actions` list filled from `action`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        address: Address,
        provider: impl Into<String>,
        resource_type: impl Into<String>,
        id: impl Into<String>,
        action: Action,
        before: Option<Attributes>,
        after: Option<Attributes>,
        reason: Reason,
    ) -> Self {
        let changed_attributes = match (&before, &after) {
            (Some(before), Some(after)) => after
                .iter()
                .filter(|(name, value)| {
                    before.get(*name).unwrap_or(&serde_json::Value::Null) != *value
                })
                .map(|(name, _)| name.to_string())
                .collect(),
            _ => Vec::new(),
        };
        Self {
            address,
            provider: provider.into(),
            resource_type: resource_type.into(),
            id: id.into(),
            action,
            actions: action.json_actions().iter().map(|a| (*a).to_owned()).collect(),
            before,
            after,
            changed_attributes,
            reason,
            depends_on: Vec::new(),
            live_digest: None,
            notes: Vec::new(),
        }
    }
}

/// How an object drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A managed object's attributes differ from what breakglass last wrote.
    Changed,
    /// A managed object was deleted outside breakglass.
    Deleted,
    /// An object nobody declared exists where breakglass manages access (reported, not
    /// touched, unless the policy asks for it to be reverted).
    Unmanaged,
    /// An object was changed by hand while an activation held it (`held_by`), and is left as
    /// it is: an ended override's value is not overwritten by its revert, a live grant lowered or
    /// removed is not granted again (`recorded`: what breakglass set; `live`: what is there now,
    /// absent when removed). Never also reported as `changed`.
    Conflict,
}

/// The activation that held an object a person changed (a conflict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeldBy {
    /// The activation's id.
    pub activation: String,
    /// `role` (a grant) or `override`.
    pub kind: ActivationKind,
}

/// Something that changed outside breakglass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Drift {
    /// The managed object's address; absent for unmanaged objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The provider.
    pub provider: String,
    /// The resource type.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The provider's id.
    pub id: String,
    /// What happened.
    pub kind: DriftKind,
    /// What breakglass last wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub recorded: Option<Attributes>,
    /// What is there now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub live: Option<Attributes>,
    /// It grants privileged access (by the provider's configuration): drift that widens access.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// For a conflict: the activation that held the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HeldBy>,
}
