//! The JSON document the `local` provider manages, and its atomic, locked rewrite: never
//! through a symbolic link, always through a temporary file with a unique name.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{Read, Write};
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
    /// Reads the document; a missing file is an empty document. A symbolic link is refused,
    /// never followed.
    pub fn load(path: &Path) -> Result<Self, DocumentError> {
        let mut options = OpenOptions::new();
        options.read(true);
        match open_no_follow(path, &mut options) {
            Ok(mut file) => {
                let mut text = String::new();
                file.read_to_string(&mut text).map_err(|e| io_error(path, e))?;
                if text.trim().is_empty() {
                    return Ok(Self::default());
                }
                serde_json::from_str(&text)
                    .map_err(|error| DocumentError::Parse(path.to_path_buf(), error))
            }
            Err(DocumentError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self::default())
            }
            Err(error) => Err(error),
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
        let lock = open_no_follow(
            &lock_path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )?;
        lock.lock().map_err(|e| io_error(&lock_path, e))?;
        let mut document = Self::load(path)?;
        let before = document.clone();
        let result = change(&mut document);
        if document != before {
            document.write_atomically(path)?;
        }
        lock.unlock().map_err(|e| io_error(&lock_path, e))?;
        Ok(result)
    }

    /// Replaces the document atomically: a new file under a unique random name in the same
    /// folder (created exclusively, so a planted link cannot redirect it), synced, renamed over
    /// the document (a rename replaces a link rather than following it), and the folder synced.
    /// The document keeps its permissions; a new one is private to the executor (0600).
    fn write_atomically(&self, path: &Path) -> Result<(), DocumentError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|error| DocumentError::Parse(path.to_path_buf(), error))?;
        text.push('\n');
        let folder =
            path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let existing = match std::fs::symlink_metadata(path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(io_error(path, std::io::Error::from_raw_os_error(libc::ELOOP)));
            }
            Ok(metadata) => Some(metadata.permissions()),
            Err(_) => None,
        };
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(path.file_name().unwrap_or_default());
        prefix.push(".");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(existing.unwrap_or_else(|| Permissions::from_mode(0o600)));
        }
        let mut temporary = builder.tempfile_in(folder).map_err(|e| io_error(folder, e))?;
        temporary.write_all(text.as_bytes()).map_err(|e| io_error(temporary.path(), e))?;
        temporary.as_file().sync_all().map_err(|e| io_error(temporary.path(), e))?;
        temporary.persist(path).map_err(|e| io_error(path, e.error))?;
        // fsync the directory so the rename itself survives a power cut.
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Opens `path` without following a symbolic link (`O_NOFOLLOW`).
fn open_no_follow(path: &Path, options: &mut OpenOptions) -> Result<File, DocumentError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|error| io_error(path, error))
}

/// An I/O error that names the file; a symbolic link gets its own words.
fn io_error(path: &Path, error: std::io::Error) -> DocumentError {
    if error.raw_os_error() == Some(libc::ELOOP) {
        return DocumentError::Io(std::io::Error::other(format!(
            "{} is a symbolic link; the local provider does not follow links (someone may have \
             planted it to redirect a write): remove it, or set path to the real file",
            path.display()
        )));
    }
    DocumentError::Io(std::io::Error::new(error.kind(), format!("{}: {error}", path.display())))
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

    #[cfg(unix)]
    #[test]
    fn links_are_refused_and_a_planted_temporary_name_redirects_nothing() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.json");
        let precious = dir.path().join("precious");
        fs_err::write(&precious, "precious").unwrap();
        // The fixed temporary name earlier versions used: now nothing writes there.
        symlink(&precious, dir.path().join("access.json.tmp")).unwrap();
        Document::update(&path, |doc| {
            doc.settings.insert("k".into(), "v".into());
        })
        .unwrap();
        assert_eq!(fs_err::read_to_string(&precious).unwrap(), "precious");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new document is private");
        // An existing document keeps the permissions it was given.
        fs_err::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        Document::update(&path, |doc| {
            doc.settings.insert("k".into(), "w".into());
        })
        .unwrap();
        assert_eq!(fs_err::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        let leftovers: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp") && name != "access.json.tmp")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // A link where the document should be: refused for reading and writing.
        fs_err::remove_file(&path).unwrap();
        symlink(&precious, &path).unwrap();
        let error = Document::load(&path).unwrap_err().to_string();
        assert!(error.contains("access.json is a symbolic link"), "{error}");
        let error = Document::update(&path, |doc| {
            doc.settings.insert("k".into(), "x".into());
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("is a symbolic link"), "{error}");
        assert_eq!(fs_err::read_to_string(&precious).unwrap(), "precious");
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
