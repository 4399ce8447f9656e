//! Exit codes, decided in one place.

use std::process::ExitCode;

/// How a command ended. The numbers are a documented contract (README, `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success; for `plan --detailed-exitcode`, no changes.
    Success,
    /// 1: an error: invalid policy, failed provider call, bad input.
    Failure,
    /// 2: `plan --detailed-exitcode` found changes to apply.
    Changes,
    /// 3: `fmt --check` found files that are not formatted.
    Unformatted,
    /// 4: `plan --detailed-exitcode` found drift that is only reported, nothing to apply.
    DriftOnly,
    /// 5: a check refused the operation (signature, approval, TOTP, staleness, limits).
    Refused,
    /// 6: the state is locked by another process and the lock timeout passed.
    Locked,
    /// 7: a revert could not be verified; access may still be live. Retry, investigate.
    RevertPending,
    /// 8: `reconcile` found a conflict: someone changed by hand what an activation held, and it
    /// was left as they set it. Nothing failed; a person should look.
    Conflict,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Unformatted => 3,
            ExitStatus::DriftOnly => 4,
            ExitStatus::Refused => 5,
            ExitStatus::Locked => 6,
            ExitStatus::RevertPending => 7,
            ExitStatus::Conflict => 8,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// The table of exit codes, as `--help` prints it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (plan --detailed-exitcode: no changes)
  1  error: invalid policy, failed provider call, bad input
  2  plan --detailed-exitcode: changes to apply
  3  fmt --check: files need formatting
  4  plan --detailed-exitcode: drift or conflicts reported, nothing to apply
  5  refused: a signature, approval, authentication, staleness or limit check failed
  6  the state is locked by another process
  7  a revert could not be verified; access may still be live
  8  reconcile: a conflict, something an activation held was changed by hand (left as is)";
