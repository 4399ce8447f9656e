//! Approval tokens: an approver's signed decision about one plan, passed on the command line
//! as a single base64url string.

use jiff::Timestamp;
use rand::TryRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dsse::{Envelope, EnvelopeError};
use super::keys::PrivateKey;

/// The DSSE payload type of an approval.
pub const APPROVAL_PAYLOAD_TYPE: &str = "application/vnd.breakglass.approval+json";

/// Approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Approve the request.
    Approve,
    /// Deny it: apply refuses while a denial is presented.
    Deny,
}

/// What an approver signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    /// Who approves (a person in the policy).
    pub approver: String,
    /// Approve or deny.
    pub decision: Decision,
    /// The digest of the request plan's payload: the token is good for that plan only.
    pub plan_digest: String,
    /// The activation the plan requests.
    pub activation: String,
    /// When the token was issued.
    #[schemars(with = "String")]
    pub issued_at: Timestamp,
    /// After this, the token is refused.
    #[schemars(with = "String")]
    pub expires_at: Timestamp,
    /// Random; recorded in state when used, so the token is accepted once.
    pub nonce: String,
    /// What the approver said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Approval {
    /// A fresh random nonce (128 bits, hex).
    pub fn new_nonce() -> String {
        let mut bytes = [0u8; 16];
        // The OS random source failing is not something to recover from here.
        let _ = rand::rngs::SysRng.try_fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// Signs the approval with the approver's key and returns the token.
    pub fn sign(&self, key: &PrivateKey) -> String {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        Envelope::sign(APPROVAL_PAYLOAD_TYPE, &payload, key).to_token()
    }
}

/// Reads a token into its envelope, not yet verified.
pub fn read_token(token: &str) -> Result<Envelope, EnvelopeError> {
    let envelope = Envelope::from_token(token)?;
    if envelope.payload_type != APPROVAL_PAYLOAD_TYPE {
        return Err(EnvelopeError::WrongType {
            expected: APPROVAL_PAYLOAD_TYPE.to_owned(),
            found: envelope.payload_type.clone(),
        });
    }
    Ok(envelope)
}

/// The approval a verified envelope carries.
pub fn approval_of(payload: &[u8]) -> Result<Approval, EnvelopeError> {
    serde_json::from_slice(payload)
        .map_err(|error| EnvelopeError::Malformed(format!("not an approval: {error}")))
}
