//! Passkey tokens: a WebAuthn assertion that signs a breakglass payload (an approval, or a
//! requester's proof of presence), verified offline against the credentials in the policy.
//!
//! The browser's challenge is the SHA-256 of the payload's DSSE pre-authentication encoding, so
//! the assertion signs exactly one payload of one type; the payload names the request's plan
//! digest. A token is the payload together with the assertion, one base64url string, carried
//! like an Ed25519 approval token. Checking it repeats what a WebAuthn relying party checks
//! (W3C WebAuthn Level 3, §7.2 "Verifying an Authentication Assertion"): the client data's type,
//! challenge and origin, the relying-party id hash, the user-present and user-verified flags,
//! and the signature over `authenticatorData || SHA-256(clientDataJSON)` with the enrolled key.
//! The signature counter is returned for the caller to compare with the one state recorded.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dsse::pae;
use crate::policy::blocks::{Passkey, PasskeyKey, Person};

/// The payload type of an approval signed with a passkey (the payload is an
/// [`Approval`](super::Approval)).
pub const PASSKEY_APPROVAL_TYPE: &str = "application/vnd.breakglass.approval+json";
/// The payload type of a requester's proof of presence (the payload is a [`Presence`]).
pub const PASSKEY_PRESENCE_TYPE: &str = "application/vnd.breakglass.presence+json";

const FLAG_USER_PRESENT: u8 = 0x01;
const FLAG_USER_VERIFIED: u8 = 0x04;

/// Why a passkey token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasskeyError {
    /// Not a passkey token.
    #[error("not a passkey token: {0}")]
    Malformed(String),
    /// The credential is none of the expected persons'.
    #[error("its credential is not a passkey enrolled for {0}")]
    UnknownCredential(String),
    /// The client data is wrong.
    #[error("the browser's client data {0}")]
    ClientData(String),
    /// The authenticator data is wrong.
    #[error("the authenticator data {0}")]
    AuthenticatorData(String),
    /// The signature does not verify.
    #[error("the signature does not verify with {person}'s passkey \"{passkey}\"")]
    Signature {
        /// Whose credential.
        person: String,
        /// Which passkey.
        passkey: String,
    },
}

/// Where passkeys are used: the console's origin and relying-party id, from the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// `https://breakglass.example.com`.
    pub origin: String,
    /// `breakglass.example.com`.
    pub rp_id: String,
}

/// A requester's proof of presence on their request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Presence {
    /// Who (the requester).
    pub person: String,
    /// The request plan's digest.
    pub plan_digest: String,
    /// The activation the request asks for.
    pub activation: String,
    /// When the assertion was made (the console's claim; checked against the executor's
    /// clock by the request's own lifetime).
    #[schemars(with = "String")]
    pub issued_at: jiff::Timestamp,
    /// Random; recorded in state when used.
    pub nonce: String,
}

/// A WebAuthn assertion as the browser returns it (`PublicKeyCredential.response`), every
/// field base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assertion {
    /// The credential's id.
    pub credential_id: String,
    /// `authenticatorData`.
    pub authenticator_data: String,
    /// `clientDataJSON`.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `signature` (DER for ES256, raw for EdDSA).
    pub signature: String,
}

/// A payload and the assertion that signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyToken {
    /// What the payload is.
    pub payload_type: String,
    /// The payload, base64.
    pub payload: String,
    /// The assertion over it.
    pub webauthn: Assertion,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPasskey {
    /// The person whose passkey signed.
    pub person: String,
    /// The payload's bytes.
    pub payload: Vec<u8>,
    /// The credential id, base64url (the key of state's counters).
    pub credential_id: String,
    /// The authenticator's signature counter.
    pub counter: u32,
}

/// The challenge a browser must sign for `payload` of `payload_type`: raw bytes.
pub fn challenge(payload_type: &str, payload: &[u8]) -> [u8; 32] {
    Sha256::digest(pae(payload_type, payload)).into()
}

/// Whether a command-line token is a passkey token (rather than a DSSE envelope).
pub fn is_passkey_token(token: &str) -> bool {
    PasskeyToken::from_token(token).is_ok()
}

impl PasskeyToken {
    /// A token for `payload` signed by `assertion`.
    pub fn new(payload_type: &str, payload: &[u8], webauthn: Assertion) -> Self {
        Self { payload_type: payload_type.to_owned(), payload: STANDARD.encode(payload), webauthn }
    }

    /// The token as one base64url string.
    pub fn to_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a token string.
    pub fn from_token(token: &str) -> Result<Self, PasskeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|error| PasskeyError::Malformed(format!("not base64url: {error}")))?;
        serde_json::from_slice(&bytes).map_err(|error| PasskeyError::Malformed(error.to_string()))
    }

    /// The credential id the assertion names, base64url as state keys its counter; not
    /// verified (for finding the rows a check reads).
    pub fn credential_id_b64(&self) -> Option<String> {
        URL_SAFE_NO_PAD
            .decode(&self.webauthn.credential_id)
            .ok()
            .map(|id| URL_SAFE_NO_PAD.encode(id))
    }

    /// The payload, not yet verified.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, PasskeyError> {
        STANDARD
            .decode(&self.payload)
            .map_err(|error| PasskeyError::Malformed(format!("payload is not base64: {error}")))
    }

    /// Verifies the token as `expected_type`, signed by a passkey of one of `persons`, for
    /// `rp`. Returns who signed, the payload and the counter.
    pub fn verify<'a>(
        &self,
        expected_type: &str,
        persons: impl IntoIterator<Item = &'a Person>,
        rp: &RelyingParty,
    ) -> Result<VerifiedPasskey, PasskeyError> {
        if self.payload_type != expected_type {
            return Err(PasskeyError::Malformed(format!(
                "it signs a {}, expected a {expected_type}",
                self.payload_type
            )));
        }
        let payload = self.payload_bytes()?;
        let field = |name: &str, text: &str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| PasskeyError::Malformed(format!("{name} is not base64url")))
        };
        let credential_id = field("credentialId", &self.webauthn.credential_id)?;
        let authenticator_data = field("authenticatorData", &self.webauthn.authenticator_data)?;
        let client_data_json = field("clientDataJSON", &self.webauthn.client_data_json)?;
        let signature = field("signature", &self.webauthn.signature)?;
        let persons: Vec<&Person> = persons.into_iter().collect();
        let (person, passkey) = persons
            .iter()
            .find_map(|person| person.passkey(&credential_id).map(|p| (*person, p)))
            .ok_or_else(|| {
                PasskeyError::UnknownCredential(
                    persons.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
                )
            })?;
        check_client_data(&client_data_json, &challenge(expected_type, &payload), rp)?;
        let counter = check_authenticator_data(&authenticator_data, rp)?;
        let mut signed = authenticator_data;
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        if !signature_verifies(passkey, &signed, &signature) {
            return Err(PasskeyError::Signature {
                person: person.name.clone(),
                passkey: passkey.name.clone(),
            });
        }
        Ok(VerifiedPasskey {
            person: person.name.clone(),
            payload,
            credential_id: passkey.credential_id_b64(),
            counter,
        })
    }
}

#[derive(Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default, rename = "crossOrigin")]
    cross_origin: bool,
}

fn check_client_data(
    json: &[u8],
    expected_challenge: &[u8],
    rp: &RelyingParty,
) -> Result<(), PasskeyError> {
    let data: ClientData = serde_json::from_slice(json)
        .map_err(|error| PasskeyError::ClientData(format!("is not valid: {error}")))?;
    if data.kind != "webauthn.get" {
        return Err(PasskeyError::ClientData(format!(
            "is of type {:?}, not an assertion (webauthn.get)",
            data.kind
        )));
    }
    let challenge = URL_SAFE_NO_PAD.decode(&data.challenge).unwrap_or_default();
    if challenge != expected_challenge {
        return Err(PasskeyError::ClientData(
            "signs another challenge: the assertion was made for another payload or request"
                .to_owned(),
        ));
    }
    if data.origin != rp.origin {
        return Err(PasskeyError::ClientData(format!(
            "comes from origin {}, not the console's {}",
            data.origin, rp.origin
        )));
    }
    if data.cross_origin {
        return Err(PasskeyError::ClientData("was made in a cross-origin frame".to_owned()));
    }
    Ok(())
}

fn check_authenticator_data(data: &[u8], rp: &RelyingParty) -> Result<u32, PasskeyError> {
    if data.len() < 37 {
        return Err(PasskeyError::AuthenticatorData(format!(
            "is {} bytes, shorter than the 37 every assertion has",
            data.len()
        )));
    }
    let rp_hash: [u8; 32] = Sha256::digest(rp.rp_id.as_bytes()).into();
    if data[..32] != rp_hash {
        return Err(PasskeyError::AuthenticatorData(format!(
            "is for another relying party than {}",
            rp.rp_id
        )));
    }
    let flags = data[32];
    if flags & FLAG_USER_PRESENT == 0 {
        return Err(PasskeyError::AuthenticatorData(
            "does not show the user present (UP flag)".to_owned(),
        ));
    }
    if flags & FLAG_USER_VERIFIED == 0 {
        return Err(PasskeyError::AuthenticatorData(
            "does not show the user verified (UV flag: PIN or biometric)".to_owned(),
        ));
    }
    Ok(u32::from_be_bytes([data[33], data[34], data[35], data[36]]))
}

fn signature_verifies(passkey: &Passkey, signed: &[u8], signature: &[u8]) -> bool {
    match &passkey.key {
        PasskeyKey::P256(key) => {
            use p256::ecdsa::signature::Verifier;
            p256::ecdsa::DerSignature::try_from(signature)
                .is_ok_and(|signature| key.verify(signed, &signature).is_ok())
        }
        PasskeyKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|signature| key.verify_strict(signed, &signature).is_ok()),
    }
}

/// Whether `counter` may follow `previous` (WebAuthn §6.1.1): authenticators that keep no
/// counter always say 0; any other must go up.
pub fn counter_advances(previous: Option<u32>, counter: u32) -> bool {
    match previous {
        None => true,
        Some(0) if counter == 0 => true,
        Some(previous) => counter > previous,
    }
}

/// A software authenticator for tests and benchmarks: makes credentials and assertions the way
/// a browser's authenticator does.
#[cfg(any(test, feature = "test-clock"))]
pub mod software {
    use super::{Assertion, FLAG_USER_PRESENT, FLAG_USER_VERIFIED, RelyingParty, challenge};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use coset::{CborSerializable, CoseKeyBuilder, iana};
    use p256::ecdsa::signature::Signer;
    use sha2::{Digest, Sha256};

    /// An ES256 authenticator with one credential.
    #[derive(Debug, Clone)]
    pub struct Authenticator {
        key: p256::ecdsa::SigningKey,
        /// The credential id.
        pub credential_id: Vec<u8>,
        /// The signature counter.
        pub counter: u32,
    }

    impl Authenticator {
        /// A credential from a 32-byte seed (deterministic for tests).
        pub fn new(seed: u8) -> Self {
            let mut secret = [7u8; 32];
            secret[0] = seed.max(1);
            let key = p256::ecdsa::SigningKey::from_slice(&secret).expect("a valid scalar");
            Self { key, credential_id: vec![seed; 16], counter: 0 }
        }

        /// The COSE_Key, base64url, as the policy holds it.
        pub fn public_key_b64(&self) -> String {
            let point = self.key.verifying_key().to_sec1_point(false);
            let bytes = point.as_bytes();
            let key = CoseKeyBuilder::new_ec2_pub_key(
                iana::EllipticCurve::P_256,
                bytes[1..33].to_vec(),
                bytes[33..65].to_vec(),
            )
            .algorithm(iana::Algorithm::ES256)
            .build();
            URL_SAFE_NO_PAD.encode(key.to_vec().expect("a COSE key encodes"))
        }

        /// The policy's `passkey` block for this credential.
        pub fn hcl(&self, name: &str) -> String {
            format!(
                "passkey \"{name}\" {{\n    credential_id = \"{}\"\n    public_key    = \"{}\"\n    algorithm     = \"ES256\"\n  }}",
                URL_SAFE_NO_PAD.encode(&self.credential_id),
                self.public_key_b64()
            )
        }

        /// An assertion over `payload` of `payload_type` for `rp`, with `flags`.
        pub fn assert_with(
            &mut self,
            payload_type: &str,
            payload: &[u8],
            rp: &RelyingParty,
            flags: u8,
        ) -> Assertion {
            self.sign_challenge(&challenge(payload_type, payload), rp, flags)
        }

        /// An assertion over the challenge a server sent (raw bytes), the user present and
        /// verified: what a browser does with `navigator.credentials.get`.
        pub fn answer(&mut self, challenge: &[u8], rp: &RelyingParty) -> Assertion {
            self.sign_challenge(challenge, rp, FLAG_USER_PRESENT | FLAG_USER_VERIFIED)
        }

        fn sign_challenge(&mut self, challenge: &[u8], rp: &RelyingParty, flags: u8) -> Assertion {
            self.counter += 1;
            let client_data = serde_json::json!({
                "type": "webauthn.get",
                "challenge": URL_SAFE_NO_PAD.encode(challenge),
                "origin": rp.origin,
                "crossOrigin": false,
            })
            .to_string();
            let mut data = Sha256::digest(rp.rp_id.as_bytes()).to_vec();
            data.push(flags);
            data.extend_from_slice(&self.counter.to_be_bytes());
            let mut signed = data.clone();
            signed.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
            let signature: p256::ecdsa::DerSignature = self.key.sign(&signed);
            Assertion {
                credential_id: URL_SAFE_NO_PAD.encode(&self.credential_id),
                authenticator_data: URL_SAFE_NO_PAD.encode(&data),
                client_data_json: URL_SAFE_NO_PAD.encode(client_data.as_bytes()),
                signature: URL_SAFE_NO_PAD.encode(signature.as_bytes()),
            }
        }

        /// An assertion with the user present and verified.
        pub fn assert(
            &mut self,
            payload_type: &str,
            payload: &[u8],
            rp: &RelyingParty,
        ) -> Assertion {
            self.assert_with(payload_type, payload, rp, FLAG_USER_PRESENT | FLAG_USER_VERIFIED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::software::Authenticator;
    use super::*;

    fn rp() -> RelyingParty {
        RelyingParty { origin: "http://localhost:8080".to_owned(), rp_id: "localhost".to_owned() }
    }

    /// A policy with carol, whose passkey is `authenticator`'s, read from HCL as users write it.
    fn policy(authenticator: &Authenticator) -> (tempfile::TempDir, crate::policy::Policy) {
        let dir = tempfile::tempdir().unwrap();
        crate::sign::generate_key_pair(&dir.path().join("carol.key")).unwrap();
        let text = format!(
            "breakglass {{\n  console {{\n    url = \"http://localhost:8080\"\n  }}\n}}\nperson \"carol\" {{\n  public_key = file(\"carol.pub\")\n  {}\n}}\n",
            authenticator.hcl("laptop")
        );
        fs_err::write(dir.path().join("main.hcl"), text).unwrap();
        let loaded = crate::policy::load(
            dir.path(),
            &Default::default(),
            jiff::Timestamp::UNIX_EPOCH,
            crate::policy::Strictness::Operate,
        );
        assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
        (dir, loaded.policy.unwrap())
    }

    fn token(authenticator: &mut Authenticator, payload: &[u8]) -> PasskeyToken {
        let assertion = authenticator.assert(PASSKEY_PRESENCE_TYPE, payload, &rp());
        PasskeyToken::new(PASSKEY_PRESENCE_TYPE, payload, assertion)
    }

    #[test]
    fn a_good_assertion_verifies_and_reports_its_counter() {
        let mut carol = Authenticator::new(3);
        let (_dir, policy) = policy(&carol);
        let persons = [&policy.persons["carol"]];
        let token = PasskeyToken::from_token(&token(&mut carol, b"payload").to_token()).unwrap();
        let verified = token.verify(PASSKEY_PRESENCE_TYPE, persons, &rp()).unwrap();
        assert_eq!(verified.person, "carol");
        assert_eq!(verified.payload, b"payload");
        assert_eq!(verified.counter, 1);
    }

    #[test]
    fn every_tampering_is_refused() {
        let mut carol = Authenticator::new(3);
        let (_dir, policy) = policy(&carol);
        let persons = [&policy.persons["carol"]];
        let good = token(&mut carol, b"payload");
        let refused = |token: &PasskeyToken, rp: &RelyingParty| {
            token.verify(PASSKEY_PRESENCE_TYPE, persons, rp).unwrap_err()
        };
        // Another payload: the challenge no longer matches.
        let mut other = good.clone();
        other.payload = STANDARD.encode(b"another");
        assert!(matches!(refused(&other, &rp()), PasskeyError::ClientData(_)));
        // Another origin or relying party.
        let evil = RelyingParty {
            origin: "https://evil.example".to_owned(),
            rp_id: "localhost".to_owned(),
        };
        assert!(matches!(refused(&good, &evil), PasskeyError::ClientData(_)));
        let elsewhere = RelyingParty { origin: rp().origin, rp_id: "example.com".to_owned() };
        assert!(matches!(refused(&good, &elsewhere), PasskeyError::AuthenticatorData(_)));
        // A flipped bit in the authenticator data (the counter).
        let mut data = URL_SAFE_NO_PAD.decode(&good.webauthn.authenticator_data).unwrap();
        data[36] ^= 1;
        let mut flipped = good.clone();
        flipped.webauthn.authenticator_data = URL_SAFE_NO_PAD.encode(&data);
        assert!(matches!(refused(&flipped, &rp()), PasskeyError::Signature { .. }));
        // Without user verification or presence.
        for flags in [FLAG_USER_PRESENT, FLAG_USER_VERIFIED] {
            let assertion = carol.assert_with(PASSKEY_PRESENCE_TYPE, b"payload", &rp(), flags);
            let weak = PasskeyToken::new(PASSKEY_PRESENCE_TYPE, b"payload", assertion);
            assert!(matches!(refused(&weak, &rp()), PasskeyError::AuthenticatorData(_)));
        }
        // Someone else's passkey.
        let mut mallory = Authenticator::new(9);
        assert!(matches!(
            refused(&token(&mut mallory, b"payload"), &rp()),
            PasskeyError::UnknownCredential(_)
        ));
        // The right credential id, signed by another key.
        let mut forged = token(&mut mallory, b"payload");
        forged.webauthn.credential_id = good.webauthn.credential_id.clone();
        assert!(matches!(refused(&forged, &rp()), PasskeyError::Signature { .. }));
        // Another payload type.
        assert!(matches!(
            good.verify(PASSKEY_APPROVAL_TYPE, persons, &rp()).unwrap_err(),
            PasskeyError::Malformed(_)
        ));
    }

    #[test]
    fn counters_must_go_up_unless_always_zero() {
        assert!(counter_advances(None, 0));
        assert!(counter_advances(Some(0), 0));
        assert!(counter_advances(Some(4), 5));
        assert!(!counter_advances(Some(5), 5));
        assert!(!counter_advances(Some(5), 2));
        assert!(!counter_advances(Some(5), 0));
    }
}
