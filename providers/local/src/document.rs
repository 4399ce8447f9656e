//! The JSON document the `local` provider manages, and its atomic, locked rewrite.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The whole document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Who holds which role, until when.
    #[serde(default)]
    pub access: Vec<AccessEntry>,
    /// Settings by key.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// One access entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessEntry {
    /// Who holds the access.
    pub principal: String,
    /// Which role.
    pub role: String,
    /// When the application stops honouring it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl AccessEntry {
    /// The entry's id: `principal/role`.
    pub fn id(&self) -> String {
        access_id(&self.principal, &self.role)
    }
}

/// The id of the access entry for `principal` and `role`.
pub fn access_id(principal: &str, role: &str) -> String {
    format!("{principal}/{role}")
}

/// Errors reading or writing the document.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(std::io::Error),
    /// The file is not a document of this shape.
    #[error(
        "{path} is not a local access document ({error}); expected {{\"access\": [...], \"settings\": {{...}}}}",
        path = .0.display(),
        error = .1
    )]
    Parse(PathBuf, serde_json::Error),
}

impl Document {
    /// Reads the document; a missing file is an empty document.
    pub fn load(path: &Path) -> Result<Self, DocumentError> {
        match fs_err::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::default()),
            Ok(text) => serde_json::from_str(&text)
                .map_err(|error| DocumentError::Parse(path.to_path_buf(), error)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(DocumentError::Io(error)),
        }
    }

    /// Loads the document under an exclusive lock, lets `change` modify it, and writes it back
    /// atomically if it changed. Returns what `change` returned.
    pub fn update<T>(
        path: &Path,
        change: impl FnOnce(&mut Document) -> T,
    ) -> Result<T, DocumentError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            fs_err::create_dir_all(parent).map_err(DocumentError::Io)?;
        }
        let lock_path = lock_path(path);
        let lock = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(DocumentError::Io)?;
        lock.file().lock().map_err(DocumentError::Io)?;
        let mut document = Self::load(path)?;
        let before = document.clone();
        let result = change(&mut document);
        if document != before {
            document.write_atomically(path)?;
        }
        lock.file().unlock().map_err(DocumentError::Io)?;
        Ok(result)
    }

    fn write_atomically(&self, path: &Path) -> Result<(), DocumentError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|error| DocumentError::Parse(path.to_path_buf(), error))?;
        text.push('\n');
        let temporary = path.with_extension("json.tmp");
        let mut file = fs_err::File::create(&temporary).map_err(DocumentError::Io)?;
        file.write_all(text.as_bytes()).map_err(DocumentError::Io)?;
        file.sync_all().map_err(DocumentError::Io)?;
        drop(file);
        fs_err::rename(&temporary, path).map_err(DocumentError::Io)?;
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            // fsync the directory so the rename itself survives a power cut.
            if let Ok(dir) = std::fs::File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_empty_and_update_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/app.json");
        assert_eq!(Document::load(&path).unwrap(), Document::default());
        Document::update(&path, |doc| {
            doc.settings.insert("k".into(), "v".into());
        })
        .unwrap();
        assert_eq!(Document::load(&path).unwrap().settings["k"], "v");
    }

    #[test]
    fn a_garbled_document_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.json");
        fs_err::write(&path, "{\"access\": 7}").unwrap();
        let error = Document::load(&path).unwrap_err().to_string();
        assert!(error.contains("app.json"), "{error}");
        assert!(error.contains("expected"), "{error}");
    }

    #[test]
    fn concurrent_updates_from_threads_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.json");
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for m in 0..10 {
                        Document::update(&path, |doc| {
                            doc.settings.insert(format!("{n}-{m}"), "x".into());
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(Document::load(&path).unwrap().settings.len(), 80);
    }
}
