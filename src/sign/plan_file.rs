//! Saved plans: a plan, as JSON, in a DSSE envelope signed by whoever made it.

use std::path::Path;

use super::dsse::{Envelope, EnvelopeError};
use super::keys::PrivateKey;
use crate::plan::Plan;

/// The DSSE payload type of a plan.
pub const PLAN_PAYLOAD_TYPE: &str = "application/vnd.breakglass.plan+json";

/// Problems with a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The envelope is malformed or its signature does not verify. (Named in the message,
    /// not given as the source.)
    #[error("plan file {path}: {error}")]
    Envelope {
        /// The file.
        path: String,
        /// What is wrong.
        error: EnvelopeError,
    },
    /// The payload is not a plan this build understands.
    #[error("plan file {path}: the signed payload is not a breakglass plan: {reason}")]
    NotAPlan {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
}

/// A plan file as read: the envelope, not yet verified.
#[derive(Debug, Clone)]
pub struct SignedPlan {
    /// Where it was read from.
    pub path: String,
    /// The envelope.
    pub envelope: Envelope,
    /// sha256 of the payload.
    pub digest: String,
}

impl SignedPlan {
    /// The plan the envelope carries. Call after verifying the signature: an altered payload
    /// must be refused as altered, not parsed.
    pub fn plan(&self) -> Result<Plan, PlanFileError> {
        let payload = self
            .envelope
            .payload_bytes()
            .map_err(|error| PlanFileError::Envelope { path: self.path.clone(), error })?;
        serde_json::from_slice(&payload).map_err(|error| PlanFileError::NotAPlan {
            path: self.path.clone(),
            reason: error.to_string(),
        })
    }
}

/// Serialises `plan` and signs it with `key`.
pub fn sign_plan(plan: &Plan, key: &PrivateKey) -> Envelope {
    let payload = serde_json::to_vec(plan).unwrap_or_default();
    Envelope::sign(PLAN_PAYLOAD_TYPE, &payload, key)
}

/// `plan` in an envelope with no signature, saved for review (`plan --out --no-sign`): `show`
/// renders it, `apply` refuses it.
pub fn unsigned_plan(plan: &Plan) -> Envelope {
    let payload = serde_json::to_vec(plan).unwrap_or_default();
    Envelope::unsigned(PLAN_PAYLOAD_TYPE, &payload)
}

/// Reads a plan file. The signature is checked by the caller, who knows whose keys to trust,
/// before it reads the plan with [`SignedPlan::plan`].
pub fn read_plan_file(path: &Path) -> Result<SignedPlan, PlanFileError> {
    let text = fs_err::read_to_string(path)?;
    SignedPlan::from_json(&text, &path.display().to_string())
}

impl SignedPlan {
    /// Reads a plan envelope's JSON text, which came from `shown` (for messages). The signature
    /// is checked by the caller.
    pub fn from_json(text: &str, shown: &str) -> Result<Self, PlanFileError> {
        Self::parse(text, shown.to_owned())
    }

    fn parse(text: &str, shown: String) -> Result<Self, PlanFileError> {
        let envelope = Envelope::from_json(text)
            .map_err(|error| PlanFileError::Envelope { path: shown.clone(), error })?;
        if envelope.payload_type != PLAN_PAYLOAD_TYPE {
            return Err(PlanFileError::Envelope {
                path: shown,
                error: EnvelopeError::WrongType {
                    expected: PLAN_PAYLOAD_TYPE.to_owned(),
                    found: envelope.payload_type.clone(),
                },
            });
        }
        let digest = envelope
            .digest()
            .map_err(|error| PlanFileError::Envelope { path: shown.clone(), error })?;
        Ok(SignedPlan { path: shown, envelope, digest })
    }
}
