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
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The envelope is malformed or its signature does not verify.
    #[error("plan file {path}: {source}")]
    Envelope {
        /// The file.
        path: String,
        /// What is wrong.
        source: EnvelopeError,
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

/// A plan file as read: the envelope and the plan it carries, not yet verified.
#[derive(Debug, Clone)]
pub struct SignedPlan {
    /// The envelope.
    pub envelope: Envelope,
    /// The plan (parsed from the payload; trust it only after verifying the envelope).
    pub plan: Plan,
    /// sha256 of the payload.
    pub digest: String,
}

/// Serialises `plan` and signs it with `key`.
pub fn sign_plan(plan: &Plan, key: &PrivateKey) -> Envelope {
    let payload = serde_json::to_vec(plan).unwrap_or_default();
    Envelope::sign(PLAN_PAYLOAD_TYPE, &payload, key)
}

/// Reads a plan file. The signature is checked by the caller, who knows whose keys to trust.
pub fn read_plan_file(path: &Path) -> Result<SignedPlan, PlanFileError> {
    let shown = path.display().to_string();
    let text = fs_err::read_to_string(path)?;
    let envelope = Envelope::from_json(&text)
        .map_err(|source| PlanFileError::Envelope { path: shown.clone(), source })?;
    if envelope.payload_type != PLAN_PAYLOAD_TYPE {
        return Err(PlanFileError::Envelope {
            path: shown,
            source: EnvelopeError::WrongType {
                expected: PLAN_PAYLOAD_TYPE.to_owned(),
                found: envelope.payload_type.clone(),
            },
        });
    }
    let payload = envelope
        .payload_bytes()
        .map_err(|source| PlanFileError::Envelope { path: shown.clone(), source })?;
    let plan: Plan = serde_json::from_slice(&payload)
        .map_err(|error| PlanFileError::NotAPlan { path: shown.clone(), reason: error.to_string() })?;
    let digest = envelope
        .digest()
        .map_err(|source| PlanFileError::Envelope { path: shown, source })?;
    Ok(SignedPlan { envelope, plan, digest })
}
