//! Keys and signatures: Ed25519 key files, DSSE envelopes for plans and approvals, and
//! passkey (WebAuthn) tokens verified offline against the credentials in the policy.
//!
//! Key files are PEM: PKCS#8 `PRIVATE KEY` (mode 0600) and SPKI `PUBLIC KEY`, the formats
//! `openssl genpkey -algorithm ed25519` writes, so keys can be made and inspected with standard
//! tools as well as `breakglass keygen`.

mod approval;
mod dsse;
mod keys;
pub mod passkey;
mod plan_file;

pub use approval::{APPROVAL_PAYLOAD_TYPE, Approval, Decision, approval_of, read_token};
pub use dsse::{Envelope, EnvelopeError, EnvelopeSignature};
pub use keys::{KeyError, PrivateKey, generate_key_pair, key_id, public_key_path};
pub use passkey::{
    Assertion, PASSKEY_APPROVAL_TYPE, PASSKEY_PRESENCE_TYPE, PasskeyError, PasskeyToken, Presence,
    RelyingParty, VerifiedPasskey,
};
pub use plan_file::{
    PLAN_PAYLOAD_TYPE, PlanFileError, SignedPlan, read_plan_file, sign_plan, unsigned_plan,
};
