//! `person "NAME" { … }`: someone who requests, approves or signs.

use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::reader::{BlockReader, Presence};
use crate::policy::spanned::Spanned;

/// An Ed25519 public key, as a PEM `PUBLIC KEY` block (what `breakglass keygen` and
/// `openssl pkey -pubout` write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The PEM text.
    pub pem: String,
    /// The key.
    pub key: VerifyingKey,
}

impl PublicKey {
    /// Parses a PEM public key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(|key| Self { pem: pem.trim().to_owned(), key })
            .map_err(|error| error.to_string())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pem)
    }
}

impl JsonSchema for PublicKey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PublicKey".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----).",
        })
    }
}

/// A person.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Person {
    /// The block's name (`alice`): how the CLI (`--as alice`) and references name them.
    #[serde(skip)]
    pub name: String,
    /// Full name, for reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Email, for reports and notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Their Ed25519 public key, which verifies their requests and approvals.
    pub public_key: Spanned<PublicKey>,
    /// Their identity on each platform (`local = "alice"`, `aws = "arn:aws:iam::…:user/alice"`,
    /// `postgres = "alice"`), which role templates use as `requester.identities.aws`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub identities: BTreeMap<String, String>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl Person {
    /// Reads a `person` block.
    pub fn decode(reader: &mut BlockReader<'_>, name: &str) -> Option<Self> {
        let display_name = reader.string("display_name", Presence::Optional).map(|s| s.value);
        let email = reader.string("email", Presence::Optional).map(|s| s.value);
        let written = reader.attribute("identities", Presence::Optional).is_some();
        let identities = reader.string_map("identities");
        let key_text = reader.string("public_key", Presence::Required)?;
        let identities = match identities {
            Some(map) => map.value,
            // Reported already; a person half-read would make role templates fail for them too.
            None if written => return None,
            None => BTreeMap::new(),
        };
        let public_key = match PublicKey::from_pem(&key_text.value) {
            Ok(key) => key,
            Err(error) => {
                let why = if key_text.value.trim_start().starts_with("ssh-") {
                    "this is an OpenSSH key; convert it with `ssh-keygen -e -m PKCS8 -f KEY.pub`"
                        .to_owned()
                } else {
                    error
                };
                reader.push(
                    Diagnostic::error(
                        format!("person \"{name}\" has an invalid public key"),
                        format!(
                            "public_key must be an Ed25519 public key in PEM (-----BEGIN PUBLIC \
                             KEY-----), as `breakglass keygen` writes to NAME.pub; usually \
                             public_key = file(\"keys/{name}.pub\") ({why})"
                        ),
                    )
                    .at(key_text.range),
                );
                return None;
            }
        };
        Some(Self {
            name: name.to_owned(),
            display_name,
            email,
            public_key: Spanned::new(public_key, key_text.range),
            identities,
            range: reader.range().clone(),
        })
    }
}
