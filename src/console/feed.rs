//! The console's only reader of the audit log: "has the head moved?", "the events after a
//! position", "the story of one activation", and a wake-up when the log is written. Everything
//! live on the console (SSE, the recent-refusals list, an activation's story) goes through
//! here, so pointing the console at another audit storage is a change to this file alone.
//!
//! Today's log is a JSON-lines file appended under a lock: the head is its length (one `stat`),
//! new events are read from the last offset, never the whole file again, and the lines that
//! name an activation are indexed by byte range as they go by, so a story page reads only its
//! own lines. Writes are noticed through the operating system's file events (inotify, via the
//! `notify` crate) on the log's folder; [`FALLBACK_POLL`] covers file systems that send none.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::audit::{AuditLog, Event};
use crate::policy::Policy;

/// How often the head is checked when no file event arrives (a file system without inotify,
/// such as some network mounts). A check is one `stat`.
pub const FALLBACK_POLL: Duration = Duration::from_millis(200);

/// A place in the audit log: how much of it has been read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(u64);

/// Where each activation's events are in the log: byte ranges of their lines.
#[derive(Debug, Default)]
struct StoryIndex {
    /// How far the log was indexed.
    to: u64,
    lines: HashMap<String, Vec<(u64, u32)>>,
}

/// Reads the policy's audit log incrementally.
#[derive(Debug, Clone)]
pub struct AuditFeed {
    path: PathBuf,
    index: Arc<Mutex<StoryIndex>>,
}

/// Wakes the console when the audit log's folder changes. Dropping it stops the watching.
#[derive(Debug)]
pub struct Waker {
    /// Notified on every file event in the folder (a permit is kept if nobody waits).
    pub notify: Arc<tokio::sync::Notify>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl AuditFeed {
    /// The feed of the policy's audit log.
    pub fn of(policy: &Policy) -> Self {
        Self::at(policy.dir.join(&policy.settings.audit.path))
    }

    /// The feed of the log at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), index: Arc::default() }
    }

    /// The log to append to (the console records submissions and approvals there).
    pub fn log(&self) -> AuditLog {
        AuditLog::new(&self.path)
    }

    /// The head now: where the log ends.
    pub fn head(&self) -> Position {
        Position(fs_err::metadata(&self.path).map_or(0, |m| m.len()))
    }

    /// Starts watching the log's folder. Without file events (the folder cannot be watched),
    /// the waker never fires and the caller's [`FALLBACK_POLL`] does the work.
    pub fn waker(&self) -> Waker {
        let notify = Arc::new(tokio::sync::Notify::new());
        let folder = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let _ = fs_err::create_dir_all(&folder);
        let wake = notify.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                wake.notify_one();
            }
        })
        .and_then(|mut watcher| {
            use notify::Watcher as _;
            watcher.watch(&folder, notify::RecursiveMode::NonRecursive)?;
            Ok(watcher)
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                eprintln!(
                    "warning: cannot watch {} for changes ({error}); checking it every {} ms",
                    folder.display(),
                    FALLBACK_POLL.as_millis()
                );
                None
            }
        };
        Waker { notify, _watcher: watcher }
    }

    /// The events after `from` (whole lines only), and the position after them. Lines that do
    /// not parse are skipped here; `audit verify` is the place that reports them.
    pub fn events_after(&self, from: Position) -> std::io::Result<(Vec<Event>, Position)> {
        let (lines, start, end) = self.lines_after(from.0)?;
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if start < from.0 || end < index.to {
            // The log was replaced by a shorter one: index it again.
            *index = StoryIndex::default();
        }
        let mut events = Vec::with_capacity(lines.len());
        for (offset, line) in lines {
            let Ok(event) = serde_json::from_slice::<Event>(&line) else { continue };
            if offset >= index.to {
                index.add(&event, offset, line.len());
            }
            events.push(event);
        }
        index.to = index.to.max(end);
        Ok((events, Position(end)))
    }

    /// Every event about activation `id`, oldest first (its story): only its own lines are
    /// read, through the index (brought up to date first).
    pub fn story(&self, id: &str) -> std::io::Result<Vec<Event>> {
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        let length = fs_err::metadata(&self.path).map_or(0, |m| m.len());
        if length < index.to {
            *index = StoryIndex::default();
        }
        if length > index.to {
            let (lines, _, end) = self.lines_after(index.to)?;
            for (offset, line) in lines {
                if let Ok(event) = serde_json::from_slice::<Event>(&line) {
                    index.add(&event, offset, line.len());
                }
            }
            index.to = end;
        }
        let Some(ranges) = index.lines.get(id) else { return Ok(Vec::new()) };
        let mut file = std::fs::File::open(&self.path)?;
        let mut events = Vec::with_capacity(ranges.len());
        let mut line = Vec::new();
        for (offset, length) in ranges {
            file.seek(SeekFrom::Start(*offset))?;
            line.resize(*length as usize, 0);
            file.read_exact(&mut line)?;
            if let Ok(event) = serde_json::from_slice::<Event>(&line) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The complete lines after byte `from` with their offsets, where reading started and
    /// where the lines end. A log shorter than `from` was replaced: it is read from the start.
    #[allow(clippy::type_complexity)]
    fn lines_after(&self, from: u64) -> std::io::Result<(Vec<(u64, Vec<u8>)>, u64, u64)> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), 0, 0));
            }
            Err(error) => return Err(error),
        };
        let length = file.metadata()?.len();
        let start = if from > length { 0 } else { from };
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::with_capacity(usize::try_from(length - start).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut lines = Vec::new();
        let mut offset = start;
        for line in bytes[..complete].split_inclusive(|b| *b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if !text.is_empty() {
                lines.push((offset, text.to_vec()));
            }
            offset += line.len() as u64;
        }
        Ok((lines, start, start + complete as u64))
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl StoryIndex {
    fn add(&mut self, event: &Event, offset: u64, length: usize) {
        if let Some(id) = &event.subject.activation {
            let length = u32::try_from(length).unwrap_or(u32::MAX);
            self.lines.entry(id.clone()).or_default().push((offset, length));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::EventResult;

    #[test]
    fn reads_only_what_was_appended_since() {
        let dir = tempfile::tempdir().unwrap();
        let feed = AuditFeed::at(dir.path().join("audit.jsonl"));
        assert_eq!(feed.head(), Position(0));
        assert!(feed.events_after(Position(0)).unwrap().0.is_empty());
        feed.log()
            .append(Event::new("alice", "request", EventResult::Ok).activation("act_1"))
            .unwrap();
        let (first, at) = feed.events_after(Position(0)).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(at, feed.head());
        feed.log()
            .append(Event::new("carol", "approval", EventResult::Ok).activation("act_2"))
            .unwrap();
        let (second, _) = feed.events_after(at).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].actor, "carol");
    }

    #[test]
    fn a_story_reads_its_own_lines_through_the_index_kept_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let feed = AuditFeed::at(dir.path().join("audit.jsonl"));
        let log = feed.log();
        log.append(Event::new("alice", "request", EventResult::Ok).activation("act_1")).unwrap();
        log.append(Event::new("bob", "request", EventResult::Ok).activation("act_2")).unwrap();
        // Indexed while the live loop reads…
        let (_, at) = feed.events_after(Position(0)).unwrap();
        log.append(Event::new("carol", "approval", EventResult::Ok).activation("act_1")).unwrap();
        // …and caught up by the story itself when the loop has not read yet.
        let story = feed.story("act_1").unwrap();
        assert_eq!(story.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["alice", "carol"]);
        // The loop then reads the rest without indexing it twice.
        let (rest, _) = feed.events_after(at).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(feed.story("act_1").unwrap().len(), 2);
        assert_eq!(feed.story("act_2").unwrap().len(), 1);
        assert!(feed.story("act_3").unwrap().is_empty());
        // A log replaced by a shorter one is indexed again from its start.
        fs_err::write(feed.path(), "").unwrap();
        log.append(Event::new("dave", "request", EventResult::Ok).activation("act_9")).unwrap();
        assert!(feed.story("act_1").unwrap().is_empty());
        assert_eq!(feed.story("act_9").unwrap()[0].actor, "dave");
    }

    #[tokio::test]
    async fn the_waker_fires_when_the_log_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let feed = AuditFeed::at(dir.path().join("audit.jsonl"));
        let waker = feed.waker();
        feed.log().append(Event::new("alice", "request", EventResult::Ok)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), waker.notify.notified())
            .await
            .expect("a file event within 5 s");
    }
}
