//! DSSE envelopes (Dead Simple Signing Envelope, as used by in-toto and Sigstore): a payload,
//! its type, and signatures over the pre-authentication encoding of both, so a signature for
//! one kind of document can never be replayed as another.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{PrivateKey, key_id};

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not a DSSE envelope at all.
    #[error("not a signed breakglass document (expected a DSSE envelope): {0}")]
    Malformed(String),
    /// A different kind of document.
    #[error("this is a {found} document, not a {expected} one")]
    WrongType {
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// No signature verifies against any trusted key.
    #[error("no valid signature by a trusted key: {0}")]
    Untrusted(String),
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signing key's id (`SHA256:…`).
    pub keyid: String,
    /// The Ed25519 signature, base64.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is (`application/vnd.breakglass.plan+json`).
    pub payload_type: String,
    /// The payload, base64.
    pub payload: String,
    /// Signatures over the pre-authentication encoding of type and payload.
    pub signatures: Vec<EnvelopeSignature>,
}

/// DSSE's pre-authentication encoding: `DSSEv1 <len> <type> <len> <payload>`.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut encoded =
        format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    encoded.extend_from_slice(payload);
    encoded
}

impl Envelope {
    /// Signs `payload` as `payload_type` with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &PrivateKey) -> Self {
        let signature: Signature = key.signing_key().sign(&pae(payload_type, payload));
        Self {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(payload),
            signatures: vec![EnvelopeSignature {
                keyid: key_id(&key.public_key()),
                sig: STANDARD.encode(signature.to_bytes()),
            }],
        }
    }

    /// `payload` as `payload_type` with no signature: a document for review that no verifier
    /// accepts.
    pub fn unsigned(payload_type: &str, payload: &[u8]) -> Self {
        Self {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(payload),
            signatures: Vec::new(),
        }
    }

    /// The payload's bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        STANDARD
            .decode(&self.payload)
            .map_err(|error| EnvelopeError::Malformed(format!("payload is not base64: {error}")))
    }

    /// `sha256:HEX` of the payload: what approvals bind to.
    pub fn digest(&self) -> Result<String, EnvelopeError> {
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(self.payload_bytes()?))))
    }

    /// Checks the type, then returns the name of the first trusted key that signed it, and the
    /// payload. `trusted` pairs a name (a person) with their key.
    pub fn verify<'a>(
        &self,
        expected_type: &str,
        trusted: impl IntoIterator<Item = (&'a str, &'a VerifyingKey)>,
    ) -> Result<(&'a str, Vec<u8>), EnvelopeError> {
        if self.payload_type != expected_type {
            return Err(EnvelopeError::WrongType {
                expected: expected_type.to_owned(),
                found: self.payload_type.clone(),
            });
        }
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        let trusted: Vec<(&str, &VerifyingKey)> = trusted.into_iter().collect();
        for entry in &self.signatures {
            let Ok(bytes) = STANDARD.decode(&entry.sig) else { continue };
            let Ok(signature) = Signature::from_slice(&bytes) else { continue };
            for (name, key) in &trusted {
                if key.verify_strict(&message, &signature).is_ok() {
                    return Ok((name, payload));
                }
            }
        }
        let keyids: Vec<&str> = self.signatures.iter().map(|s| s.keyid.as_str()).collect();
        Err(EnvelopeError::Untrusted(if keyids.is_empty() {
            "it carries no signature".to_owned()
        } else {
            format!(
                "signed by {}, which is not a trusted key, or the document was altered after signing",
                keyids.join(", ")
            )
        }))
    }

    /// Reads an envelope from JSON text.
    pub fn from_json(text: &str) -> Result<Self, EnvelopeError> {
        serde_json::from_str(text).map_err(|error| EnvelopeError::Malformed(error.to_string()))
    }

    /// The envelope as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The envelope as one base64url string, to pass on a command line (approval tokens).
    pub fn to_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads an envelope from a base64url token.
    pub fn from_token(token: &str) -> Result<Self, EnvelopeError> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|error| {
            EnvelopeError::Malformed(format!("the token is not base64url: {error}"))
        })?;
        serde_json::from_slice(&bytes).map_err(|error| EnvelopeError::Malformed(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::generate_key_pair;

    fn key(dir: &std::path::Path, name: &str) -> PrivateKey {
        let path = dir.join(name);
        generate_key_pair(&path).unwrap();
        PrivateKey::load(&path).unwrap()
    }

    #[test]
    fn a_signed_envelope_verifies_only_for_its_type_signer_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let alice = key(dir.path(), "alice");
        let mallory = key(dir.path(), "mallory");
        let envelope = Envelope::sign("application/x-test", b"{\"a\":1}", &alice);
        let alice_public = alice.public_key();
        let mallory_public = mallory.public_key();

        let (signer, payload) =
            envelope.verify("application/x-test", [("alice", &alice_public)]).unwrap();
        assert_eq!((signer, payload.as_slice()), ("alice", b"{\"a\":1}".as_slice()));

        assert!(matches!(
            envelope.verify("application/x-other", [("alice", &alice_public)]),
            Err(EnvelopeError::WrongType { .. })
        ));
        assert!(matches!(
            envelope.verify("application/x-test", [("mallory", &mallory_public)]),
            Err(EnvelopeError::Untrusted(_))
        ));

        let mut tampered = envelope.clone();
        tampered.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(matches!(
            tampered.verify("application/x-test", [("alice", &alice_public)]),
            Err(EnvelopeError::Untrusted(_))
        ));

        // A signature for one type cannot be moved to another type.
        let mut retyped = envelope.clone();
        retyped.payload_type = "application/x-other".to_owned();
        assert!(retyped.verify("application/x-other", [("alice", &alice_public)]).is_err());
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let alice = key(dir.path(), "alice");
        let envelope = Envelope::sign("application/x-test", b"hello", &alice);
        let token = envelope.to_token();
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(Envelope::from_token(&token).unwrap(), envelope);
        assert!(matches!(Envelope::from_token("not a token!"), Err(EnvelopeError::Malformed(_))));
        assert!(Envelope::from_json("{}").is_err());
        assert_eq!(envelope.digest().unwrap().len(), "sha256:".len() + 64);
    }
}
