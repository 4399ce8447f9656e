//! The hash chain: each recorded line carries the sha256 of the line before it, so editing,
//! deleting, inserting or reordering any line breaks the chain at that line.
//!
//! [`Chain`] checks a log one line at a time, holding only the previous hash: a log of any size
//! verifies in constant memory, whether it is read from a file or from a database table.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Event;

/// The `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The sha256 (hex) of one line of the log, without its newline.
pub fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Chains `event` to `prev`: sets its `prev` and returns its line (one JSON object) and that
/// line's hash.
pub fn stamp(event: &mut Event, prev: &str) -> (String, String) {
    prev.clone_into(&mut event.prev);
    let line = serde_json::to_string(&event).unwrap_or_default();
    let hash = line_hash(&line);
    (line, hash)
}

/// Where and why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChainError {
    /// The first line that does not verify (1-based; one past the end for a missing anchor).
    pub line: u64,
    /// What is wrong with it.
    pub problem: String,
}

/// Verifies a log line by line.
#[derive(Debug, Clone)]
pub struct Chain {
    prev: String,
    lines: u64,
    anchor: Option<String>,
    anchor_line: Option<u64>,
    /// Parse every line as a whole event (`audit verify`), or only its `prev` (a reader that
    /// parses events itself).
    full: bool,
}

/// Only the link of a line, read without allocating the rest.
#[derive(Deserialize)]
struct Link<'a> {
    #[serde(borrow)]
    prev: std::borrow::Cow<'a, str>,
}

impl Chain {
    /// A chain starting at the genesis value. `anchor`, if given, is a head recorded earlier:
    /// it must be the hash of some line, so truncating the log before it is caught.
    pub fn new(anchor: Option<&str>) -> Self {
        Self {
            prev: GENESIS.to_owned(),
            lines: 0,
            anchor: anchor.map(str::to_owned),
            anchor_line: anchor.filter(|a| *a == GENESIS).map(|_| 0),
            full: true,
        }
    }

    /// Checks only each line's link, not that the rest is a well-formed event (for readers that
    /// parse every event anyway).
    pub fn links_only(mut self) -> Self {
        self.full = false;
        self
    }

    /// Checks the next line (without its newline); returns its hash.
    pub fn push(&mut self, line: &str) -> Result<&str, ChainError> {
        let number = self.lines + 1;
        let prev = if self.full {
            serde_json::from_str::<Event>(line)
                .map(|event| event.prev)
                .map_err(|error| broken(number, format!("not a JSON audit event ({error})")))?
        } else {
            serde_json::from_str::<Link<'_>>(line)
                .map(|link| link.prev.into_owned())
                .map_err(|error| broken(number, format!("not a JSON audit event ({error})")))?
        };
        if prev != self.prev {
            return Err(broken(
                number,
                format!(
                    "its prev is {}, but the line before it hashes to {}: a line was edited, \
                     deleted, inserted or moved here",
                    short(&prev),
                    short(&self.prev)
                ),
            ));
        }
        self.prev = line_hash(line);
        if self.anchor.as_deref() == Some(self.prev.as_str()) {
            self.anchor_line = Some(number);
        }
        self.lines = number;
        Ok(&self.prev)
    }

    /// Lines checked so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The hash of the last line checked (the genesis value before any).
    pub fn head(&self) -> &str {
        &self.prev
    }

    /// Ends the check: fails if an anchor was given and no line hashed to it. Returns the
    /// line the anchor names (0 for the genesis value), if one was given.
    pub fn finish(&self) -> Result<Option<u64>, ChainError> {
        match (&self.anchor, self.anchor_line) {
            (Some(anchor), None) => Err(broken(
                self.lines + 1,
                format!(
                    "the anchor {} is not the hash of any line: lines were removed from the end \
                     of the log (or it was rewritten, or the anchor is from another log)",
                    short(anchor)
                ),
            )),
            (_, line) => Ok(line),
        }
    }
}

fn broken(line: u64, problem: String) -> ChainError {
    ChainError { line, problem }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventResult;

    fn lines(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|k| {
                let mut event = Event::new("alice", format!("test.{k}"), EventResult::Ok);
                let (line, hash) = stamp(&mut event, &prev);
                prev = hash;
                line
            })
            .collect()
    }

    fn verify(lines: &[String], anchor: Option<&str>, full: bool) -> Result<u64, ChainError> {
        let mut chain = Chain::new(anchor);
        if !full {
            chain = chain.links_only();
        }
        for line in lines {
            chain.push(line)?;
        }
        chain.finish()?;
        Ok(chain.lines())
    }

    #[test]
    fn a_stamped_chain_verifies_and_each_kind_of_tampering_is_found_at_its_line() {
        let good = lines(5);
        for full in [true, false] {
            assert_eq!(verify(&good, None, full), Ok(5));
            let mut edited = good.clone();
            edited[1] = edited[1].replace("alice", "mallory");
            assert_eq!(verify(&edited, None, full).unwrap_err().line, 3);
            let mut deleted = good.clone();
            deleted.remove(2);
            assert_eq!(verify(&deleted, None, full).unwrap_err().line, 3);
            let mut swapped = good.clone();
            swapped.swap(1, 2);
            assert_eq!(verify(&swapped, None, full).unwrap_err().line, 2);
            let head = line_hash(&good[4]);
            assert_eq!(verify(&good[..3], Some(&head), full).unwrap_err().line, 4);
            assert_eq!(verify(&good, Some(&head), full), Ok(5));
            assert_eq!(verify(&good[..0], Some(GENESIS), full), Ok(0));
        }
        let mut garbage = good.clone();
        garbage[3] = "not json".to_owned();
        assert_eq!(verify(&garbage, None, true).unwrap_err().line, 4);
    }
}
