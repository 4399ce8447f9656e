//! `person "NAME" { … }`: someone who requests, approves or signs.

use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

use super::passkey::Passkey;
use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::reader::{BlockReader, Presence, header_range};
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
    /// Their passkeys (WebAuthn credentials), by name: they approve, prove presence and sign in
    /// to the console with them.
    #[serde(rename = "passkey", skip_serializing_if = "BTreeMap::is_empty")]
    pub passkeys: BTreeMap<String, Passkey>,
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
        let passkeys = decode_passkeys(reader, name);
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
            passkeys,
            range: reader.range().clone(),
        })
    }

    /// The passkey whose credential id is `id`, if the person has it.
    pub fn passkey(&self, id: &[u8]) -> Option<&Passkey> {
        self.passkeys.values().find(|p| p.credential_id == id)
    }
}

fn decode_passkeys(reader: &mut BlockReader<'_>, person: &str) -> BTreeMap<String, Passkey> {
    let mut passkeys = BTreeMap::new();
    for block in reader.blocks("passkey") {
        let range = header_range(reader.file(), block);
        let [label] = block.labels.as_slice() else {
            reader.push(
                Diagnostic::error(
                    "a passkey block needs one label, its name",
                    "write passkey \"NAME\" { … }, as in passkey \"laptop\" { credential_id = \"…\", \
                     public_key = \"…\", algorithm = \"ES256\" }",
                )
                .at(range),
            );
            continue;
        };
        let name = label.as_str().to_owned();
        let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
        let passkey = Passkey::decode(&mut inner, person, &name);
        for diagnostic in inner.finish() {
            reader.push(diagnostic);
        }
        let Some(passkey) = passkey else { continue };
        if passkeys.contains_key(&name) {
            reader.push(
                Diagnostic::error(
                    format!("person \"{person}\" has two passkeys called \"{name}\""),
                    "give each passkey a distinct name",
                )
                .at(range),
            );
            continue;
        }
        passkeys.insert(name, passkey);
    }
    passkeys
}
