//! Appending to and verifying the hash-chained log.

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::event::{Event, Stamped};

/// The `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Problems with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be read or written.
    #[error("audit log {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed (said in the message, not repeated as a source).
        error: std::io::Error,
    },
    /// The chain is broken.
    #[error("audit log {path}: line {line}: {problem}")]
    Broken {
        /// The file.
        path: PathBuf,
        /// The first line that does not verify (1-based).
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// The audit log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked.
    pub lines: usize,
    /// sha256 of the last line (the head), or the genesis value for an empty log.
    pub head: String,
    /// The line whose hash is the anchor, when one was given (0 for the genesis value).
    pub anchor_line: Option<usize>,
}

/// The sha256 (hex) of one line of the log, without its newline.
pub fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Verifies the chain of `text` (the whole log). `anchor`, if given, is a head recorded
/// earlier: it must be the hash of some line, so truncating the log before it is caught.
pub fn verify_lines(text: &str, anchor: Option<&str>) -> Result<Verified, (usize, String)> {
    let mut prev = GENESIS.to_owned();
    let mut lines = 0;
    let mut anchor_line = anchor.filter(|a| *a == GENESIS).map(|_| 0);
    for (index, line) in text.split_terminator('\n').enumerate() {
        let number = index + 1;
        let event: Event = serde_json::from_str(line)
            .map_err(|error| (number, format!("not a JSON audit event ({error})")))?;
        if event.prev != prev {
            return Err((
                number,
                format!(
                    "its prev is {}, but the line before it hashes to {}: a line was edited, \
                     deleted, inserted or moved here",
                    short(&event.prev),
                    short(&prev)
                ),
            ));
        }
        prev = line_hash(line);
        if anchor == Some(prev.as_str()) {
            anchor_line = Some(number);
        }
        lines = number;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err((
            lines,
            "the last line is incomplete (no newline): a write was cut short".to_owned(),
        ));
    }
    if anchor.is_some() && anchor_line.is_none() {
        return Err((
            lines + 1,
            format!(
                "the anchor {} is not the hash of any line: lines were removed from the end of \
                 the log (or it was rewritten, or the anchor is from another log)",
                short(anchor.unwrap_or_default())
            ),
        ));
    }
    Ok(Verified { lines, head: prev, anchor_line })
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io { path: self.path.clone(), error: source }
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Appends `event`, chaining it to the last line. One `write` of the whole line to a file
    /// opened with `O_APPEND`, then fsync, all under an exclusive lock. Returns the event as
    /// recorded, with its hash.
    pub fn append(&self, mut event: Event) -> Result<Stamped, AuditError> {
        // Private (folder 0700, files 0600, whatever the umask) and never through a link.
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::create_private_dir(parent).map_err(|e| self.io(e))?;
        }
        let lock = crate::files::open_private(
            &self.lock_path(),
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let mut file = crate::files::open_private(
            &self.path,
            OpenOptions::new().create(true).append(true).read(true),
        )
        .map_err(|e| self.io(e))?;
        event.prev = last_line_hash(&mut file).map_err(|e| self.io(e))?;
        let mut line = serde_json::to_string(&event).unwrap_or_default();
        let hash = line_hash(&line);
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        lock.unlock().map_err(|e| self.io(e))?;
        Ok(Stamped { event, hash })
    }

    /// Reads every event (without verifying).
    pub fn events(&self) -> Result<Vec<Event>, AuditError> {
        let text = self.read()?;
        text.split_terminator('\n')
            .enumerate()
            .map(|(index, line)| {
                serde_json::from_str(line).map_err(|error| AuditError::Broken {
                    path: self.path.clone(),
                    line: index + 1,
                    problem: format!("not a JSON audit event ({error})"),
                })
            })
            .collect()
    }

    /// Every line that parses, with its hash and line number, and the numbers of lines that do
    /// not (a report still shows what it can of a damaged log; `verify` says where it broke).
    pub fn entries(&self) -> Result<Entries, AuditError> {
        let text = self.read()?;
        let mut entries = Entries::default();
        for (index, line) in text.split_terminator('\n').enumerate() {
            match serde_json::from_str::<Event>(line) {
                Ok(event) => {
                    entries.events.push((index + 1, Stamped { event, hash: line_hash(line) }))
                }
                Err(_) => entries.unreadable.push(index + 1),
            }
        }
        Ok(entries)
    }

    /// The whole log as text ("" when there is none yet).
    pub fn read(&self) -> Result<String, AuditError> {
        crate::files::read_private(&self.path)
            .map(Option::unwrap_or_default)
            .map_err(|error| self.io(error))
    }

    /// Verifies the whole chain (and the anchor, if given).
    pub fn verify(&self, anchor: Option<&str>) -> Result<Verified, AuditError> {
        let text = self.read()?;
        verify_lines(&text, anchor).map_err(|(line, problem)| AuditError::Broken {
            path: self.path.clone(),
            line,
            problem,
        })
    }
}

/// What [`AuditLog::entries`] read.
#[derive(Debug, Clone, Default)]
pub struct Entries {
    /// Each event that parsed, with its line number.
    pub events: Vec<(usize, Stamped)>,
    /// Line numbers of lines that are not events.
    pub unreadable: Vec<usize>,
}

/// The hash of the last line of `file`, or the genesis value when it is empty.
fn last_line_hash(file: &mut File) -> std::io::Result<String> {
    let length = file.seek(SeekFrom::End(0))?;
    if length == 0 {
        return Ok(GENESIS.to_owned());
    }
    // Read backwards in chunks until the start of the last line.
    let mut tail = Vec::new();
    let mut position = length;
    loop {
        let chunk = position.min(4096);
        position -= chunk;
        file.seek(SeekFrom::Start(position))?;
        let mut buffer = vec![0; chunk as usize];
        file.read_exact(&mut buffer)?;
        buffer.extend_from_slice(&tail);
        tail = buffer;
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        if body.contains(&b'\n') || position == 0 {
            let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            return Ok(hex::encode(Sha256::digest(&body[start..])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Event, EventResult};

    fn log_with(events: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join(".breakglass/audit.jsonl"));
        for n in 0..events {
            log.append(Event::new("alice", format!("test.{n}"), EventResult::Ok)).unwrap();
        }
        (dir, log)
    }

    #[test]
    fn an_untouched_chain_verifies_and_the_head_moves() {
        let (_dir, log) = log_with(3);
        let verified = log.verify(None).unwrap();
        assert_eq!(verified.lines, 3);
        let head = verified.head.clone();
        log.append(Event::new("bob", "test.more", EventResult::Ok)).unwrap();
        let again = log.verify(Some(&head)).unwrap();
        assert_eq!(again.lines, 4);
        assert_ne!(again.head, head);
    }

    #[test]
    fn tampering_is_found_at_the_right_line() {
        let (_dir, log) = log_with(5);
        let text = fs_err::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let head = log.verify(None).unwrap().head;
        let rewrite = |lines: Vec<String>| {
            let mut body = lines.join("\n");
            body.push('\n');
            fs_err::write(log.path(), body).unwrap();
        };
        let broken_at = |anchor: Option<&str>| match log.verify(anchor) {
            Err(AuditError::Broken { line, .. }) => line,
            other => panic!("expected a broken chain, got {other:?}"),
        };
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

        let mut edited = owned(&lines);
        edited[1] = edited[1].replace("alice", "mallory");
        rewrite(edited);
        assert_eq!(broken_at(None), 3, "an edited line breaks the next line's prev");

        let mut deleted = owned(&lines);
        deleted.remove(2);
        rewrite(deleted);
        assert_eq!(broken_at(None), 3);

        let mut inserted = owned(&lines);
        inserted.insert(2, lines[0].to_owned());
        rewrite(inserted);
        assert_eq!(broken_at(None), 3);

        let mut swapped = owned(&lines);
        swapped.swap(1, 2);
        rewrite(swapped);
        assert_eq!(broken_at(None), 2);

        rewrite(owned(&lines[..3]));
        assert!(log.verify(None).is_ok(), "truncation alone is invisible without an anchor");
        assert_eq!(broken_at(Some(&head)), 4, "with the anchor it is caught");

        let mut garbage = owned(&lines);
        garbage[3] = "not json".to_owned();
        rewrite(garbage);
        assert_eq!(broken_at(None), 4);
    }
}
