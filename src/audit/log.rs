//! A hash-chained log kept as a JSONL file: one JSON event a line. The state backends keep the
//! live log in their own tables (with the state); this file form is what earlier versions wrote
//! (`state migrate --from json` carries it into a backend) and what `audit verify --log FILE`
//! checks. Reading is streamed: a log of any size verifies in constant memory.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::event::{Chain, Event, Stamped, stamp};
pub use crate::event::{GENESIS, line_hash};

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
    /// The log kept with the state could not be read.
    #[error("{0}")]
    State(#[from] crate::state::StateError),
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

/// Verifies the chain of `text` (the whole log). `anchor`, if given, is a head recorded
/// earlier: it must be the hash of some line, so truncating the log before it is caught.
pub fn verify_lines(text: &str, anchor: Option<&str>) -> Result<Verified, (usize, String)> {
    let mut chain = Chain::new(anchor);
    for line in text.split_terminator('\n') {
        chain.push(line).map_err(|e| (to_usize(e.line), e.problem))?;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err((
            to_usize(chain.lines()),
            "the last line is incomplete (no newline): a write was cut short".to_owned(),
        ));
    }
    let anchor_line = chain.finish().map_err(|e| (to_usize(e.line), e.problem))?;
    Ok(Verified {
        lines: to_usize(chain.lines()),
        head: chain.head().to_owned(),
        anchor_line: anchor_line.map(to_usize),
    })
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
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
        let prev = last_line_hash(&mut file).map_err(|e| self.io(e))?;
        let (mut line, hash) = stamp(&mut event, &prev);
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        lock.unlock().map_err(|e| self.io(e))?;
        Ok(Stamped { event, hash })
    }

    /// Whether the file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Calls `each` with every line (without its newline) and its 1-based number, reading the
    /// file a line at a time. A missing file has no lines. Stops at the first error `each`
    /// returns. Returns whether the last line ended with a newline (or there was none).
    pub fn for_each_line<E: From<AuditError>>(
        &self,
        mut each: impl FnMut(usize, &str) -> Result<(), E>,
    ) -> Result<bool, E> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(error) => return Err(self.io(error).into()),
        };
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| E::from(self.io(e)))?;
            if read == 0 {
                return Ok(true);
            }
            number += 1;
            let complete = line.ends_with('\n');
            each(number, line.strip_suffix('\n').unwrap_or(&line))?;
            if !complete {
                return Ok(false);
            }
        }
    }

    /// Reads every event (without verifying).
    pub fn events(&self) -> Result<Vec<Event>, AuditError> {
        let mut events = Vec::new();
        self.for_each_line(|number, line| {
            let event = serde_json::from_str(line).map_err(|error| AuditError::Broken {
                path: self.path.clone(),
                line: number,
                problem: format!("not a JSON audit event ({error})"),
            })?;
            events.push(event);
            Ok::<_, AuditError>(())
        })?;
        Ok(events)
    }

    /// Every line that parses, with its hash and line number, and the numbers of lines that do
    /// not (a report still shows what it can of a damaged log; `verify` says where it broke).
    pub fn entries(&self) -> Result<Entries, AuditError> {
        let mut entries = Entries::default();
        self.for_each_line(|number, line| {
            match serde_json::from_str::<Event>(line) {
                Ok(event) => {
                    entries.events.push((number, Stamped { event, hash: line_hash(line) }));
                }
                Err(_) => entries.unreadable.push(number),
            }
            Ok::<_, AuditError>(())
        })?;
        Ok(entries)
    }

    /// The whole log as text ("" when there is none yet).
    pub fn read(&self) -> Result<String, AuditError> {
        crate::files::read_private(&self.path)
            .map(Option::unwrap_or_default)
            .map_err(|error| self.io(error))
    }

    /// Verifies the whole chain (and the anchor, if given), a line at a time.
    pub fn verify(&self, anchor: Option<&str>) -> Result<Verified, AuditError> {
        let mut chain = Chain::new(anchor);
        let broken = |line: u64, problem: String| AuditError::Broken {
            path: self.path.clone(),
            line: to_usize(line),
            problem,
        };
        let complete = self.for_each_line(|_, line| {
            chain.push(line).map(|_| ()).map_err(|e| broken(e.line, e.problem))
        })?;
        if !complete {
            return Err(broken(
                chain.lines(),
                "the last line is incomplete (no newline): a write was cut short".to_owned(),
            ));
        }
        let anchor_line = chain.finish().map_err(|e| broken(e.line, e.problem))?;
        Ok(Verified {
            lines: to_usize(chain.lines()),
            head: chain.head().to_owned(),
            anchor_line: anchor_line.map(to_usize),
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
