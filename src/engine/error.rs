//! Engine errors: each names the address, provider or file involved.

use breakglass_provider::ProviderError;

use super::missing::Missing;
use crate::address::Address;
use crate::sign::{EnvelopeError, PlanFileError};
use crate::state::StateError;

/// What stopped the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The policy has errors; run validate.
    #[error("the policy is invalid ({0} error(s)); run `breakglass validate` to see them")]
    InvalidPolicy(usize),
    /// A provider block could not be evaluated or the provider refused its configuration.
    #[error("provider \"{provider}\": {message}")]
    ProviderConfig {
        /// The provider.
        provider: String,
        /// What is wrong.
        message: String,
    },
    /// The policy uses a provider this build does not include.
    #[error("provider \"{0}\" is not built into this breakglass")]
    UnknownProvider(String),
    /// A provider call failed. (Its message names the provider's error, so that error is not
    /// also given as the source: a cause is printed once.)
    #[error("{context}: {error}")]
    Provider {
        /// What the call was about.
        context: String,
        /// The provider's error.
        error: ProviderError,
    },
    /// A role template could not be evaluated for an activation.
    #[error("{address}: {message}")]
    Template {
        /// The resource.
        address: Address,
        /// What is wrong.
        message: String,
    },
    /// State could not be read, written or locked.
    #[error(transparent)]
    State(#[from] StateError),
    /// A plan file could not be read.
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    /// A check refused the operation; nothing was changed.
    #[error("refused: {0}")]
    Refused(String),
    /// The plan no longer matches the state, the policy or the live objects.
    #[error("refused: the plan is stale: {0}; run plan again")]
    Stale(String),
    /// An emergency request lacks approvals or the TOTP code: everything missing, with the
    /// next steps. A refusal; nothing was changed.
    #[error("refused: {0}")]
    Incomplete(Box<Missing>),
    /// A signature did not verify. (Named in the message, not given as the source.)
    #[error("refused: {0}")]
    Signature(EnvelopeError),
    /// The platform refused planned writes in a dry run; nothing was changed.
    #[error("{}", dry_run_message(.0))]
    DryRun(Vec<super::dry_run::Refusal>),
    /// A dependency cycle among resources.
    #[error("dependency cycle: {0}")]
    Cycle(String),
}

impl From<EnvelopeError> for EngineError {
    fn from(error: EnvelopeError) -> Self {
        EngineError::Signature(error)
    }
}

impl EngineError {
    /// Whether the error is a refusal (a failed check) rather than a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            EngineError::Refused(_)
                | EngineError::Stale(_)
                | EngineError::Signature(_)
                | EngineError::Incomplete(_)
        )
    }

    /// What went wrong, without the leading "refused: " of a refusal (for sentences that say
    /// who would refuse).
    pub fn reason(&self) -> String {
        match self {
            EngineError::Refused(reason) => reason.clone(),
            EngineError::Stale(reason) => format!("it is stale: {reason}"),
            EngineError::Signature(error) => error.to_string(),
            EngineError::Incomplete(missing) => missing.to_string(),
            other => other.to_string(),
        }
    }
}

fn dry_run_message(refusals: &[super::dry_run::Refusal]) -> String {
    let mut message = format!(
        "the platform refused {} planned change(s) in a dry run; nothing was changed:",
        refusals.len()
    );
    for refusal in refusals {
        message.push_str(&format!("\n  {}: {}", refusal.address, refusal.error));
    }
    message
}
