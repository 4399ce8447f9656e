//! `passkey "NAME" { … }` inside a `person` block: a WebAuthn credential enrolled with
//! `breakglass passkey enroll`, so that who can approve by passkey is reviewed in git and an
//! approval can be verified with no server.
//!
//! The public key is kept as the authenticator gave it, a COSE_Key (RFC 9052 §7), base64url;
//! it is decoded here with `coset` into a key the signature crates check with.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coset::{CborSerializable, CoseKey, KeyType, Label, iana};
use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::reader::{BlockReader, Presence};

/// A signature algorithm a passkey may use (COSE algorithm identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum PasskeyAlgorithm {
    /// ECDSA with P-256 and SHA-256 (COSE -7), what most authenticators make.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (COSE -8).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl PasskeyAlgorithm {
    /// The COSE algorithm identifier.
    pub fn cose(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::EdDsa => -8,
        }
    }

    /// The name written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of a COSE identifier.
    pub fn from_cose(id: i64) -> Option<Self> {
        match id {
            -7 => Some(Self::Es256),
            -8 => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// A decoded passkey public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasskeyKey {
    /// A P-256 key (ES256).
    P256(p256::ecdsa::VerifyingKey),
    /// An Ed25519 key (EdDSA).
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PasskeyKey {
    /// Decodes a COSE_Key for `algorithm`, saying what is wrong when it does not fit.
    pub fn from_cose(bytes: &[u8], algorithm: PasskeyAlgorithm) -> Result<Self, String> {
        let key = CoseKey::from_slice(bytes)
            .map_err(|error| format!("it is not a COSE_Key (CBOR): {error}"))?;
        let param = |label: i64| {
            key.params.iter().find(|(l, _)| *l == Label::Int(label)).and_then(|(_, v)| v.as_bytes())
        };
        let crv = key
            .params
            .iter()
            .find(|(l, _)| *l == Label::Int(iana::Ec2KeyParameter::Crv as i64))
            .and_then(|(_, v)| v.as_integer())
            .and_then(|v| i64::try_from(v).ok());
        match algorithm {
            PasskeyAlgorithm::Es256 => {
                if key.kty != KeyType::Assigned(iana::KeyType::EC2)
                    || crv != Some(iana::EllipticCurve::P_256 as i64)
                {
                    return Err("an ES256 key must be an EC2 key on curve P-256".to_owned());
                }
                let (Some(x), Some(y)) = (
                    param(iana::Ec2KeyParameter::X as i64),
                    param(iana::Ec2KeyParameter::Y as i64),
                ) else {
                    return Err("the EC2 key lacks its x or y coordinate".to_owned());
                };
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map(Self::P256)
                    .map_err(|_| "the EC2 key is not a point on P-256".to_owned())
            }
            PasskeyAlgorithm::EdDsa => {
                if key.kty != KeyType::Assigned(iana::KeyType::OKP)
                    || crv != Some(iana::EllipticCurve::Ed25519 as i64)
                {
                    return Err("an EdDSA key must be an OKP key on curve Ed25519".to_owned());
                }
                let x = param(iana::OkpKeyParameter::X as i64)
                    .ok_or_else(|| "the OKP key lacks its x coordinate".to_owned())?;
                let bytes: [u8; 32] =
                    x.as_slice().try_into().map_err(|_| "an Ed25519 key is 32 bytes".to_owned())?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map(Self::Ed25519)
                    .map_err(|_| "the Ed25519 key is invalid".to_owned())
            }
        }
    }
}

/// A passkey enrolled for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    /// The block's name (`laptop`), for messages.
    pub name: String,
    /// The credential id the authenticator gave, raw.
    pub credential_id: Vec<u8>,
    /// The COSE_Key, raw, as enrolled.
    pub public_key_cose: Vec<u8>,
    /// The algorithm.
    pub algorithm: PasskeyAlgorithm,
    /// The decoded key.
    pub key: PasskeyKey,
    /// The block header.
    pub range: SourceRange,
}

impl Passkey {
    /// The credential id, base64url as written in the policy.
    pub fn credential_id_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.credential_id)
    }

    /// Reads a `passkey` block inside a person.
    pub fn decode(reader: &mut BlockReader<'_>, person: &str, name: &str) -> Option<Self> {
        let id_text = reader.string("credential_id", Presence::Required);
        let key_text = reader.string("public_key", Presence::Required);
        let algorithm = reader.keyword(
            "algorithm",
            Presence::Required,
            &[("ES256", PasskeyAlgorithm::Es256), ("EdDSA", PasskeyAlgorithm::EdDsa)],
        );
        let (id_text, key_text, algorithm) = (id_text?, key_text?, algorithm?);
        let what = format!("passkey \"{name}\" of person \"{person}\"");
        let credential_id = match URL_SAFE_NO_PAD.decode(id_text.value.trim()) {
            Ok(id) if !id.is_empty() => id,
            _ => {
                reader.push(
                    Diagnostic::error(
                        format!("{what} has an invalid credential_id"),
                        "credential_id must be the credential's id in base64url without padding, \
                         as `breakglass passkey enroll` prints it",
                    )
                    .at(id_text.range),
                );
                return None;
            }
        };
        let Ok(public_key_cose) = URL_SAFE_NO_PAD.decode(key_text.value.trim()) else {
            reader.push(
                Diagnostic::error(
                    format!("{what} has an invalid public_key"),
                    "public_key must be the credential's COSE_Key in base64url without padding, \
                     as `breakglass passkey enroll` prints it",
                )
                .at(key_text.range),
            );
            return None;
        };
        let key = match PasskeyKey::from_cose(&public_key_cose, algorithm.value) {
            Ok(key) => key,
            Err(why) => {
                reader.push(
                    Diagnostic::error(
                        format!("{what} has a public_key that does not fit its algorithm"),
                        format!(
                            "{why}; algorithm = \"{}\" needs the key the authenticator made for \
                             it (enrol again with `breakglass passkey enroll {person}`)",
                            algorithm.value.as_str()
                        ),
                    )
                    .at(key_text.range),
                );
                return None;
            }
        };
        Some(Self {
            name: name.to_owned(),
            credential_id,
            public_key_cose,
            algorithm: algorithm.value,
            key,
            range: reader.range().clone(),
        })
    }
}

impl Serialize for Passkey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Passkey", 3)?;
        s.serialize_field("credential_id", &self.credential_id_b64())?;
        s.serialize_field("public_key", &URL_SAFE_NO_PAD.encode(&self.public_key_cose))?;
        s.serialize_field("algorithm", &self.algorithm)?;
        s.end()
    }
}

impl JsonSchema for Passkey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Passkey".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let algorithm = generator.subschema_for::<PasskeyAlgorithm>();
        schemars::json_schema!({
            "type": "object",
            "description": "A WebAuthn credential (passkey) enrolled with `breakglass passkey enroll`.",
            "properties": {
                "credential_id": {
                    "type": "string",
                    "description": "The credential id, base64url without padding."
                },
                "public_key": {
                    "type": "string",
                    "description": "The credential's public key as a COSE_Key, base64url without padding."
                },
                "algorithm": algorithm,
            },
            "required": ["credential_id", "public_key", "algorithm"],
            "additionalProperties": false,
        })
    }
}
