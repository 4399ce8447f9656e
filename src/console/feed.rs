//! The console's only reader of the audit log: "has the head moved?" and "the events after a
//! position". Everything live on the console (SSE, the recent-refusals list, an activation's
//! story) goes through here, so pointing the console at another audit storage is a change to
//! this file alone.
//!
//! Today's log is a JSON-lines file appended under a lock: the head is its length, checked with
//! one `stat` per poll (cheap enough to do every 100 ms from one task, whatever the number of
//! viewers), and new events are read from the last offset, never the whole file again.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::audit::{AuditLog, Event};
use crate::policy::Policy;

/// A place in the audit log: how much of it has been read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(u64);

/// Reads the policy's audit log incrementally.
#[derive(Debug, Clone)]
pub struct AuditFeed {
    path: PathBuf,
}

impl AuditFeed {
    /// The feed of the policy's audit log.
    pub fn of(policy: &Policy) -> Self {
        Self { path: policy.dir.join(&policy.settings.audit.path) }
    }

    /// The log to append to (the console records submissions and approvals there).
    pub fn log(&self) -> AuditLog {
        AuditLog::new(&self.path)
    }

    /// The head now: where the log ends.
    pub fn head(&self) -> Position {
        Position(fs_err::metadata(&self.path).map_or(0, |m| m.len()))
    }

    /// The events after `from` (whole lines only), and the position after them. Lines that do
    /// not parse are skipped here; `audit verify` is the place that reports them.
    pub fn events_after(&self, from: Position) -> std::io::Result<(Vec<Event>, Position)> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Position(0)));
            }
            Err(error) => return Err(error),
        };
        let length = file.metadata()?.len();
        // A shorter log than what was read means it was replaced: read it again whole.
        let start = if from.0 > length { 0 } else { from.0 };
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::with_capacity(usize::try_from(length - start).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let events = bytes[..complete]
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect();
        Ok((events, Position(start + complete as u64)))
    }

    /// Every event about activation `id`, oldest first (its story).
    pub fn story(&self, id: &str) -> std::io::Result<Vec<Event>> {
        let (events, _) = self.events_after(Position::default())?;
        Ok(events.into_iter().filter(|e| e.subject.activation.as_deref() == Some(id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::EventResult;

    #[test]
    fn reads_only_what_was_appended_since() {
        let dir = tempfile::tempdir().unwrap();
        let feed = AuditFeed { path: dir.path().join("audit.jsonl") };
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
        assert_eq!(feed.story("act_1").unwrap().len(), 1);
    }
}
