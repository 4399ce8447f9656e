//! The request inbox: emergency requests submitted to the console, and the approvals,
//! rejections and proofs of presence made for them, kept beside the state
//! (`.breakglass/requests/ACTIVATION_ID.json` next to the state file).
//!
//! Nothing here is trusted by whoever applies: a stored request is the requester's signed plan
//! and each stored approval is a token, so `apply --emergency --request ID` verifies them all
//! again exactly as if they were passed on the command line. One small file per request, written
//! atomically (a temporary file renamed over it) under a lock file, so a submission or an
//! approval costs one small write whatever the number of requests. The format is plain JSON so
//! other commands (a `requests` listing) can read it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::policy::Policy;
use crate::policy::blocks::StateBackend;
use crate::sign::{PlanFileError, SignedPlan};

/// Why the inbox could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// A file could not be read or written.
    #[error("request inbox {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No such request.
    #[error("there is no request {0} in the console's inbox; `breakglass serve` lists them")]
    NotFound(String),
    /// A stored file is not a request.
    #[error("request inbox {path} is damaged: {problem}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The id is not an activation id.
    #[error("{0:?} is not a request id (act_ followed by letters and digits)")]
    BadId(String),
    /// The stored request is not a signed plan.
    #[error(transparent)]
    Plan(#[from] PlanFileError),
}

/// One decision made in the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApproval {
    /// Who (as the verified token says).
    pub approver: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// The token, as `apply --emergency --approval` takes it.
    pub token: String,
    /// When the console received it.
    pub at: Timestamp,
}

/// A requester's proof of presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPresence {
    /// The passkey token.
    pub token: String,
    /// When the console received it.
    pub at: Timestamp,
}

/// A submitted request and what was done with it in the console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// The activation id.
    pub id: String,
    /// The role or override.
    pub name: String,
    /// Who asks.
    pub requester: String,
    /// Why.
    pub justification: String,
    /// The request plan's digest.
    pub plan_digest: String,
    /// When the request expires.
    pub expires_at: Timestamp,
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// The signed request, as `request --out` writes it.
    pub envelope: serde_json::Value,
    /// Approvals and rejections, in the order received.
    #[serde(default)]
    pub approvals: Vec<StoredApproval>,
    /// The requester's passkey presence, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<StoredPresence>,
}

impl StoredRequest {
    /// The signed request.
    pub fn signed(&self) -> Result<SignedPlan, InboxError> {
        Ok(SignedPlan::from_json(
            &self.envelope.to_string(),
            &format!("request {} in the inbox", self.id),
        )?)
    }

    /// The tokens to pass to `apply --emergency`: every decision, rejections included (apply
    /// refuses while a denial is presented).
    pub fn approval_tokens(&self) -> Vec<String> {
        self.approvals.iter().map(|a| a.token.clone()).collect()
    }

    /// Whether someone rejected it.
    pub fn rejected_by(&self) -> Option<&str> {
        self.approvals.iter().find(|a| a.decision == "deny").map(|a| a.approver.as_str())
    }
}

/// The inbox folder.
#[derive(Debug, Clone)]
pub struct Inbox {
    dir: PathBuf,
}

impl Inbox {
    /// The inbox in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The inbox beside the policy's state: `requests/` in the state file's folder, or
    /// `.breakglass/requests` in the policy directory for the PostgreSQL backend.
    pub fn beside_state(policy: &Policy) -> Result<Self, InboxError> {
        let base = match policy.settings.state.backend {
            StateBackend::Local => policy
                .dir
                .join(&policy.settings.state.path)
                .parent()
                .map_or_else(|| policy.dir.clone(), Path::to_path_buf),
            StateBackend::Postgres => policy.dir.join(".breakglass"),
        };
        Ok(Self::new(base.join("requests")))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path, source: std::io::Error) -> InboxError {
        InboxError::Io { path: path.to_path_buf(), source }
    }

    fn path_of(&self, id: &str) -> Result<PathBuf, InboxError> {
        let valid = id.starts_with("act_")
            && id.len() <= 64
            && id[4..].chars().all(|c| c.is_ascii_alphanumeric());
        if !valid {
            return Err(InboxError::BadId(id.to_owned()));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// The request `id`.
    pub fn get(&self, id: &str) -> Result<StoredRequest, InboxError> {
        let path = self.path_of(id)?;
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(InboxError::NotFound(id.to_owned()));
            }
            Err(error) => return Err(self.io(&path, error)),
        };
        serde_json::from_str(&text)
            .map_err(|error| InboxError::Damaged { path, problem: error.to_string() })
    }

    /// Every request, newest first.
    pub fn list(&self) -> Result<Vec<StoredRequest>, InboxError> {
        let entries = match fs_err::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(self.io(&self.dir, error)),
        };
        let mut requests = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json").filter(|n| n.starts_with("act_")) {
                requests.push(self.get(id)?);
            }
        }
        requests.sort_by_key(|r| std::cmp::Reverse(r.submitted_at));
        Ok(requests)
    }

    /// Stores a new request; an existing one with the same id and digest is kept as it is.
    pub fn submit(&self, request: StoredRequest) -> Result<StoredRequest, InboxError> {
        self.update(&request.id.clone(), |existing| match existing {
            Some(existing) => Ok(existing),
            None => Ok(request),
        })
    }

    /// Changes request `id` under the lock: `change` gets what is stored (if anything) and
    /// returns what to store.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(Option<StoredRequest>) -> Result<StoredRequest, InboxError>,
    ) -> Result<StoredRequest, InboxError> {
        let path = self.path_of(id)?;
        fs_err::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let lock_path = self.dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io(&lock_path, e))?;
        lock.lock().map_err(|e| self.io(&lock_path, e))?;
        let existing = match self.get(id) {
            Ok(request) => Some(request),
            Err(InboxError::NotFound(_)) => None,
            Err(error) => return Err(error),
        };
        let next = change(existing)?;
        let temporary = self.dir.join(format!(".{id}.json.tmp"));
        let text = serde_json::to_string_pretty(&next).unwrap_or_default() + "\n";
        fs_err::write(&temporary, text).map_err(|e| self.io(&temporary, e))?;
        fs_err::rename(&temporary, &path).map_err(|e| self.io(&path, e))?;
        lock.unlock().map_err(|e| self.io(&lock_path, e))?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> StoredRequest {
        StoredRequest {
            id: id.to_owned(),
            name: "prod_admin".to_owned(),
            requester: "alice".to_owned(),
            justification: "INC-1".to_owned(),
            plan_digest: "sha256:00".to_owned(),
            expires_at: Timestamp::UNIX_EPOCH,
            submitted_at: Timestamp::UNIX_EPOCH,
            envelope: serde_json::json!({}),
            approvals: Vec::new(),
            presence: None,
        }
    }

    #[test]
    fn requests_round_trip_and_submitting_twice_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::new(dir.path().join("requests"));
        assert!(inbox.list().unwrap().is_empty());
        inbox.submit(request("act_01A")).unwrap();
        inbox
            .update("act_01A", |r| {
                let mut r = r.unwrap();
                r.approvals.push(StoredApproval {
                    approver: "carol".to_owned(),
                    decision: "approve".to_owned(),
                    token: "T".to_owned(),
                    at: Timestamp::UNIX_EPOCH,
                });
                Ok(r)
            })
            .unwrap();
        let again = inbox.submit(request("act_01A")).unwrap();
        assert_eq!(again.approval_tokens(), vec!["T".to_owned()]);
        assert_eq!(inbox.list().unwrap().len(), 1);
        assert!(matches!(inbox.get("act_02B"), Err(InboxError::NotFound(_))));
        assert!(matches!(inbox.get("../state"), Err(InboxError::BadId(_))));
    }
}
