//! `authentication "NAME" { … }`: what a requester must present beyond their signature.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::duration::Duration;
use crate::policy::reader::{BlockReader, Presence};

/// An authentication rule. Every request is signed with the requester's key; a rule adds
/// factors on top.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Authentication {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// What the rule is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The requester must give a current TOTP code (RFC 6238) at apply time, checked against
    /// the executor's secrets file.
    pub totp: bool,
    /// The requester must prove presence with one of their passkeys on the request (a WebAuthn
    /// assertion over the request's digest, user verification required), checked at apply time
    /// against the passkeys in their `person` block.
    pub passkey: bool,
    /// Platforms that can demand MFA themselves must (an AWS trust policy gets
    /// `aws:MultiFactorAuthPresent`).
    pub mfa: bool,
    /// With `mfa`, the oldest MFA sign-in a platform accepts (`aws:MultiFactorAuthAge`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mfa_age: Option<Duration>,
    /// Approval tokens older than this are refused even before their own expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_token_age: Option<Duration>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl Authentication {
    /// Reads an `authentication` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let methods = decode_methods(reader);
        Some(Self {
            name: name.to_owned(),
            description: reader.string("description", Presence::Optional).map(|s| s.value),
            totp: reader.bool("totp").is_some_and(|b| b.value) || methods.contains(&"totp"),
            passkey: methods.contains(&"passkey"),
            mfa: reader.bool("mfa").is_some_and(|b| b.value),
            max_mfa_age: reader.duration("max_mfa_age", Presence::Optional).map(|d| d.value),
            max_token_age: reader.duration("max_token_age", Presence::Optional).map(|d| d.value),
            range: reader.range().clone(),
        })
    }
}

/// `methods = ["totp", "passkey"]`: the factors a requester presents, each required. `totp = true`
/// is the older spelling of `methods = ["totp"]`.
fn decode_methods(reader: &mut BlockReader<'_>) -> Vec<&'static str> {
    const KNOWN: [&str; 2] = ["totp", "passkey"];
    let Some(value) = reader.value("methods", Presence::Optional) else {
        return Vec::new();
    };
    let items = value.value.as_array().map(|items| {
        items
            .iter()
            .map(|item| item.as_str().and_then(|s| KNOWN.iter().find(|k| **k == s)).ok_or(item))
            .collect::<Result<Vec<_>, _>>()
    });
    match items {
        Some(Ok(methods)) => methods.into_iter().copied().collect(),
        problem => {
            let found = match problem {
                Some(Err(item)) => format!(
                    "{} is not one of them",
                    item.as_str().map_or_else(
                        || crate::policy::reader::describe_value(item),
                        |s| format!("\"{s}\"")
                    )
                ),
                _ => format!("found {}", crate::policy::reader::describe_value(&value.value)),
            };
            reader.push(
                Diagnostic::error(
                    "invalid value for \"methods\" in authentication",
                    format!(
                        "expected a list of methods among \"totp\" and \"passkey\", as in \
                         methods = [\"passkey\"]; {found}"
                    ),
                )
                .at(value.range),
            );
            Vec::new()
        }
    }
}
