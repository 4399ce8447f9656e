//! The JSON state document of earlier versions (`.breakglass/state.json`): read, typed, by
//! `state migrate --from json`, and recognised so a command finding one says what to do.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::error::StateError;
use super::model::{STATE_FORMAT_VERSION, State};

/// A state document in a JSON file.
#[derive(Debug, Clone)]
pub struct JsonState {
    path: PathBuf,
}

impl JsonState {
    /// The document at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is there.
    pub fn exists(&self) -> bool {
        self.path.symlink_metadata().is_ok()
    }

    /// Reads the document straight into the typed model (no intermediate tree); a missing file
    /// is an empty state. A document of a newer format is refused by name.
    pub fn read(&self) -> Result<State, StateError> {
        // Never through a link someone may have planted.
        let Some(text) = crate::files::read_private(&self.path)? else {
            return Ok(State::new());
        };
        let bytes = text.into_bytes();
        let corrupt = |error: serde_json::Error| StateError::Corrupt {
            path: self.path.clone(),
            reason: error.to_string(),
        };
        // The version first (a cheap pass that skips everything else), so a newer document is
        // refused for what it is rather than for a field this build does not know.
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            format_version: u64,
        }
        let version: Version = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if version.format_version > u64::from(STATE_FORMAT_VERSION) {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: u32::try_from(version.format_version).unwrap_or(u32::MAX),
                supported: STATE_FORMAT_VERSION,
            });
        }
        serde_json::from_slice(&bytes).map_err(corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_document_is_empty_and_a_corrupt_or_newer_one_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let json = JsonState::new(dir.path().join("state.json"));
        assert_eq!(json.read().unwrap(), State::new());
        fs_err::write(json.path(), "{not json").unwrap();
        let message = json.read().unwrap_err().to_string();
        assert!(message.contains("state.json is not a breakglass state file"), "{message}");
        fs_err::write(json.path(), r#"{"format_version": 99, "lineage": "x", "serial": 1}"#)
            .unwrap();
        let message = json.read().unwrap_err().to_string();
        assert!(message.contains("upgrade breakglass"), "{message}");
        fs_err::write(json.path(), r#"{"format_version": 1, "lineage": "x", "serial": 4}"#)
            .unwrap();
        let state = json.read().unwrap();
        assert_eq!((state.lineage.as_str(), state.serial), ("x", 4));
    }
}
