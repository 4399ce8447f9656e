//! The local backend: a JSON file, rewritten atomically, beside a lock file.

use async_trait::async_trait;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::StateError;
use super::model::{STATE_FORMAT_VERSION, State, new_lineage};
use super::store::{
    Leadership, LockInfo, StateGuard, StateStore, host_name, lock_backoff, new_lock_id,
    process_alive,
};

/// State in a local file (`.breakglass/state.json` by default).
///
/// The lock is an OS file lock (`flock`) on `state.json.lock`, which the kernel releases when
/// the holder exits however it exits, so a crashed run never leaves the state locked. The lock
/// file also holds a JSON record of the holder for messages.
#[derive(Debug, Clone)]
pub struct LocalStore {
    path: PathBuf,
}

impl LocalStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    fn read_sync(&self) -> Result<State, StateError> {
        let Some(text) = crate::files::read_private(&self.path)? else {
            return Ok(State::new());
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|error| {
            StateError::Corrupt { path: self.path.clone(), reason: error.to_string() }
        })?;
        let found = value.get("format_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if found > u64::from(STATE_FORMAT_VERSION) {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: STATE_FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|error| StateError::Corrupt {
            path: self.path.clone(),
            reason: error.to_string(),
        })
    }

    fn open_lock_file(&self) -> Result<File, StateError> {
        if let Some(parent) = self.lock_path().parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        Ok(crate::files::open_private(
            &self.lock_path(),
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false),
        )?)
    }

    /// Writes `state` as it is (lineage and serial kept) where no state exists yet: the end
    /// of `state migrate --to local`. Refused if a state file is already there.
    pub async fn import(&self, state: &State, operation: &str) -> Result<(), StateError> {
        let guard = self.lock(operation, Duration::from_secs(30)).await?;
        let existing = guard.state();
        if existing.serial != 0 || !existing.lineage.is_empty() {
            return Err(StateError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} already holds a state (lineage {}, serial {}); migrate only into a \
                     policy with no local state",
                    self.path.display(),
                    existing.lineage,
                    existing.serial
                ),
            )));
        }
        let mut text = serde_json::to_string_pretty(state)
            .map_err(|e| StateError::Corrupt { path: self.path.clone(), reason: e.to_string() })?;
        text.push('\n');
        write_atomically(&self.path, text.as_bytes())?;
        drop(guard);
        Ok(())
    }

    fn holder(file: &mut File) -> Option<LockInfo> {
        // The holder writes its record just after taking the lock: give it a moment.
        for _ in 0..10 {
            let mut text = String::new();
            file.rewind().ok()?;
            file.read_to_string(&mut text).ok()?;
            if let Ok(info) = serde_json::from_str(&text) {
                return Some(info);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

fn create_private_dir(path: &Path) -> Result<(), StateError> {
    Ok(crate::files::create_private_dir(path)?)
}

/// Writes `bytes` to `path` atomically and privately (mode 0600): a temporary file with a
/// unique name in the same directory, fsync, rename over the target, fsync the directory. A
/// symbolic link at `path` is refused, never followed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    Ok(crate::files::replace_private(path, bytes)?)
}

#[async_trait]
impl StateStore for LocalStore {
    async fn read(&self) -> Result<State, StateError> {
        self.read_sync()
    }

    async fn lock(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<Box<dyn StateGuard>, StateError> {
        let mut file = self.open_lock_file()?;
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() >= timeout {
                        let info = Self::holder(&mut file).unwrap_or_else(|| LockInfo {
                            id: "unknown".to_owned(),
                            operation: "unknown operation".to_owned(),
                            host: "unknown host".to_owned(),
                            pid: 0,
                            created_at: jiff::Timestamp::UNIX_EPOCH,
                        });
                        return Err(StateError::Locked {
                            info,
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                    tokio::time::sleep(lock_backoff(attempt)).await;
                    attempt += 1;
                }
                Err(TryLockError::Error(error)) => return Err(error.into()),
            }
        }
        let info = LockInfo {
            id: new_lock_id(),
            operation: operation.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            created_at: crate::clock::now(),
        };
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(serde_json::to_string(&info).unwrap_or_default().as_bytes())?;
        file.sync_all()?;
        let state = self.read_sync()?;
        Ok(Box::new(LocalGuard { store: self.clone(), file, info, state }))
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let mut file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => {
                file.unlock()?;
                Ok(None)
            }
            Err(TryLockError::WouldBlock) => Ok(Self::holder(&mut file)),
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    async fn try_lead(&self, name: &str) -> Result<Option<Box<dyn Leadership>>, StateError> {
        let mut file_name = self.path.file_name().unwrap_or_default().to_os_string();
        file_name.push(format!(".{name}.leader"));
        let path = self.path.with_file_name(file_name);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let file = crate::files::open_private(
            &path,
            std::fs::OpenOptions::new().create(true).truncate(false).write(true),
        )?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(LocalLeader { _file: file }))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let mut file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => {
                // Nobody holds it: the operating system already released the lock of a process
                // that died. Clear the stale record so it is not shown again.
                let stale = Self::holder(&mut file);
                file.set_len(0)?;
                file.unlock()?;
                match stale {
                    Some(info) if info.id == id => Ok(info),
                    _ => Err(StateError::NotLocked),
                }
            }
            Err(TryLockError::WouldBlock) => {
                let Some(info) = Self::holder(&mut file) else {
                    return Err(StateError::NotLocked);
                };
                if info.id != id {
                    return Err(StateError::WrongLockId { given: id.to_owned(), current: info });
                }
                if info.host == host_name() && process_alive(info.pid) {
                    return Err(StateError::HolderAlive(info));
                }
                // Held by a process on another host (a shared filesystem) that is known gone:
                // removing the file lets new lockers take a fresh one.
                fs_err::remove_file(self.lock_path())?;
                Ok(info)
            }
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }
}

/// Leadership among processes sharing a local state: an OS lock on a leader file, released by
/// the kernel when the leader exits however it exits.
#[derive(Debug)]
struct LocalLeader {
    _file: File,
}

#[async_trait]
impl Leadership for LocalLeader {
    async fn still_leading(&self) -> bool {
        true
    }
}

/// The held lock of a [`LocalStore`].
#[derive(Debug)]
struct LocalGuard {
    store: LocalStore,
    file: File,
    info: LockInfo,
    state: State,
}

#[async_trait]
impl StateGuard for LocalGuard {
    fn state(&self) -> &State {
        &self.state
    }

    async fn write(&mut self, mut state: State) -> Result<(), StateError> {
        if state.lineage.is_empty() {
            state.lineage = new_lineage();
        }
        state.serial = self.state.serial + 1;
        state.format_version = STATE_FORMAT_VERSION;
        let mut text = serde_json::to_string_pretty(&state).map_err(|e| StateError::Corrupt {
            path: self.store.path.clone(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        write_atomically(&self.store.path, text.as_bytes())?;
        self.state = state;
        Ok(())
    }

    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        // Clear the holder record, then release; the kernel would release it anyway.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> LocalStore {
        LocalStore::new(dir.join(".breakglass/state.json"))
    }

    #[tokio::test]
    async fn a_missing_state_is_empty_and_the_first_write_gives_a_lineage() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let empty = store.read().await.unwrap();
        assert_eq!((empty.lineage.as_str(), empty.serial), ("", 0));
        let mut guard = store.lock("test", Duration::from_secs(1)).await.unwrap();
        guard.write(State::new()).await.unwrap();
        let written = store.read().await.unwrap();
        assert!(!written.lineage.is_empty());
        assert_eq!(written.serial, 1);
        let lineage = written.lineage.clone();
        guard.write(written).await.unwrap();
        let again = store.read().await.unwrap();
        assert_eq!((again.lineage, again.serial), (lineage, 2));
    }

    #[tokio::test]
    async fn a_second_locker_waits_then_reports_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let guard = store.lock("apply", Duration::from_secs(1)).await.unwrap();
        let info = store.lock_info().await.unwrap().expect("locked");
        assert_eq!(info.operation, "apply");
        assert_eq!(info.pid, std::process::id());
        let error = store.lock("reconcile", Duration::from_millis(200)).await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("locked by apply"), "{message}");
        assert!(message.contains(&format!("state unlock {}", info.id)), "{message}");
        assert!(
            matches!(store.force_unlock(&info.id).await, Err(StateError::HolderAlive(_))),
            "a live holder is not unlocked"
        );
        drop(guard);
        assert!(store.lock_info().await.unwrap().is_none());
        store.lock("reconcile", Duration::from_millis(200)).await.unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_or_newer_state_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        fs_err::create_dir_all(dir.path().join(".breakglass")).unwrap();
        fs_err::write(store.path(), "{not json").unwrap();
        let message = store.read().await.unwrap_err().to_string();
        assert!(message.contains("state.json is not a breakglass state file"), "{message}");
        fs_err::write(store.path(), r#"{"format_version": 99, "lineage": "x", "serial": 1}"#)
            .unwrap();
        let message = store.read().await.unwrap_err().to_string();
        assert!(message.contains("upgrade breakglass"), "{message}");
    }

    #[tokio::test]
    async fn writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut guard = store.lock("test", Duration::from_secs(1)).await.unwrap();
        for _ in 0..3 {
            let state = guard.state().clone();
            guard.write(state).await.unwrap();
        }
        let names: Vec<String> = fs_err::read_dir(dir.path().join(".breakglass"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    }
}
