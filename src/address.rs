//! Addresses of managed resources, as plans, state and the CLI print them.
//!
//! A baseline resource is `TYPE.NAME` (`local_setting.chatbot_enabled`). A resource that an
//! activation of a role adds lives under the role and the activation's key:
//! `role.prod_admin["alice:act_01J…"].local_access.admin`. Addresses are values with a
//! `Display` and a parser, so the CLI (`--target`, `state show`) and JSON output agree.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// `TYPE.NAME`: a resource type and the name a block gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAddress {
    /// The resource type (`local_access`).
    pub resource_type: Name,
    /// The block's name (`oncall_admin`).
    pub name: Name,
}

/// A name in an address: held inline up to 24 bytes (resource types, block and role names), so
/// the 100,000s of addresses a large plan holds allocate little; longer ones (an activation key
/// with a ULID) are on the heap as a `String` would be.
pub type Name = compact_str::CompactString;

impl ResourceAddress {
    /// `resource_type.name`.
    pub fn new(resource_type: impl Into<Name>, name: impl Into<Name>) -> Self {
        Self { resource_type: resource_type.into(), name: name.into() }
    }

    /// The provider that offers this type: the part before the first underscore.
    pub fn provider(&self) -> &str {
        provider_of(&self.resource_type)
    }
}

/// The provider that offers `resource_type`: the part before the first underscore.
pub fn provider_of(resource_type: &str) -> &str {
    resource_type.split_once('_').map_or(resource_type, |(provider, _)| provider)
}

impl fmt::Display for ResourceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.resource_type, self.name)
    }
}

/// Where a resource lives, when not in the baseline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Added by an activation of a role: the role and the activation's key
    /// (`PERSON:ACTIVATION_ID`).
    Activation {
        /// The role's name.
        role: Name,
        /// `person:activation_id`.
        key: Name,
    },
    /// Found on a platform with nothing in the policy declaring or granting it (drift); named
    /// by the provider's id.
    Unmanaged {
        /// The provider's id.
        id: Name,
    },
}

/// The address of any resource breakglass plans for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// Where it lives; `None` for baseline resources.
    pub scope: Option<Scope>,
    /// The resource within its scope (for unmanaged objects, the name is empty).
    pub resource: ResourceAddress,
}

impl Address {
    /// A baseline resource's address.
    pub fn baseline(resource: ResourceAddress) -> Self {
        Self { scope: None, resource }
    }

    /// The address of a resource that activation `key` of `role` adds.
    pub fn in_activation(
        role: impl Into<Name>,
        key: impl Into<Name>,
        resource: ResourceAddress,
    ) -> Self {
        Self { scope: Some(Scope::Activation { role: role.into(), key: key.into() }), resource }
    }

    /// The address of an object of `resource_type` that nothing declares: `unmanaged.TYPE["ID"]`.
    pub fn unmanaged(resource_type: impl Into<Name>, id: impl Into<Name>) -> Self {
        Self {
            scope: Some(Scope::Unmanaged { id: id.into() }),
            resource: ResourceAddress::new(resource_type, ""),
        }
    }

    /// Whether an activation of a role added it.
    pub fn is_in_activation(&self) -> bool {
        matches!(self.scope, Some(Scope::Activation { .. }))
    }

    /// Whether it is a baseline resource.
    pub fn is_baseline(&self) -> bool {
        self.scope.is_none()
    }

    /// The resource type.
    pub fn resource_type(&self) -> &str {
        &self.resource.resource_type
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            None => write!(f, "{}", self.resource),
            Some(Scope::Activation { role, key }) => {
                write!(f, "role.{role}[{key:?}].{}", self.resource)
            }
            Some(Scope::Unmanaged { id }) => {
                write!(f, "unmanaged.{}[{id:?}]", self.resource.resource_type)
            }
        }
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a resource address; expected TYPE.NAME (local_access.oncall), \
     role.ROLE[\"KEY\"].TYPE.NAME or unmanaged.TYPE[\"ID\"]"
)]
pub struct ParseAddressError(String);

fn is_identifier(text: &str) -> bool {
    let mut characters = text.chars();
    characters.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_resource(text: &str) -> Option<ResourceAddress> {
    let (resource_type, name) = text.split_once('.')?;
    (is_identifier(resource_type) && is_identifier(name))
        .then(|| ResourceAddress::new(resource_type, name))
}

impl FromStr for Address {
    type Err = ParseAddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseAddressError(text.to_owned());
        if let Some(rest) = text.strip_prefix("role.") {
            let (role, rest) = rest.split_once("[\"").ok_or_else(error)?;
            let (key, rest) = rest.split_once("\"].").ok_or_else(error)?;
            if !is_identifier(role) || key.is_empty() {
                return Err(error());
            }
            let resource = parse_resource(rest).ok_or_else(error)?;
            return Ok(Self::in_activation(role, key, resource));
        }
        if let Some(rest) = text.strip_prefix("unmanaged.") {
            let (resource_type, rest) = rest.split_once("[\"").ok_or_else(error)?;
            let id = rest.strip_suffix("\"]").ok_or_else(error)?;
            if !is_identifier(resource_type) || id.is_empty() {
                return Err(error());
            }
            return Ok(Self::unmanaged(resource_type, id));
        }
        parse_resource(text).map(Self::baseline).ok_or_else(error)
    }
}

impl FromStr for ResourceAddress {
    type Err = ParseAddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_resource(text).ok_or_else(|| ParseAddressError(text.to_owned()))
    }
}

macro_rules! string_serde {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $type {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($type).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string" })
            }
        }
    };
}

string_serde!(Address);
string_serde!(ResourceAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_text() {
        let cases = [
            "local_access.oncall_admin",
            "role.prod_admin[\"alice:act_01JABC\"].local_access.admin",
            "unmanaged.local_access[\"mallory/prod-admin\"]",
        ];
        for text in cases {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for text in ["", "local_access", "role.x.local_access.y", "1x.y", "role.r[\"\"].a.b"] {
            let error = text.parse::<Address>().unwrap_err().to_string();
            assert!(error.contains("TYPE.NAME"), "{text}: {error}");
        }
    }

    #[test]
    fn the_provider_is_the_prefix_of_the_type() {
        assert_eq!(ResourceAddress::new("aws_iam_role", "x").provider(), "aws");
        assert_eq!(provider_of("local_setting"), "local");
    }
}
