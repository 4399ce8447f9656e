//! The hash chain: each recorded line carries the sha256 of the line before it, so editing,
//! deleting, inserting or reordering any line breaks the chain at that line.
//!
//! [`Chain`] checks a log one line at a time, holding only the previous hash: a log of any size
//! verifies in constant memory, whether it is read from a file or from a database table.

use rand::TryRng;
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

/// The `prev` of a line that may not be a whole event: what [`Chain::links_only`] reads.
pub fn prev_of(line: &str) -> Option<String> {
    serde_json::from_str::<Link<'_>>(line).ok().map(|link| link.prev.into_owned())
}

/// Checks a log whose lines arrive in any order (a report reads them grouped by activation),
/// holding a few numbers whatever its length. Each line is checked against its recorded hash
/// as it comes; the links between lines are checked all at once at the end, by comparing two
/// multiset hashes: one of every (position, `prev`) pair the log holds, one of every (position,
/// hash of the line before) pair a whole chain would hold. They are equal only if the lines are
/// numbered 1 to N with no gap or repeat, the first links to the genesis value and every
/// other line to the one before it, except with probability about 2⁻²⁵⁶: each pair is hashed
/// with a key drawn at random for this check, so nobody who wrote the log could have aimed at
/// a collision (Clarke et al., "Incremental Multiset Hash Functions", MSet-Add-Hash).
///
/// It says only whether the whole log verifies; where it breaks, [`Chain`] finds (reading the
/// log in order once more).
#[derive(Debug, Clone)]
pub struct UnorderedChain {
    key: [u8; 32],
    /// Sum of F(n, prev of line n) over the lines.
    links: [u64; 4],
    /// Sum of F(n + 1, hash of line n) over the lines.
    hashes: [u64; 4],
    lines: u64,
    first: u64,
    last: Option<(u64, String)>,
    sound: bool,
}

impl Default for UnorderedChain {
    fn default() -> Self {
        Self::new()
    }
}

impl UnorderedChain {
    /// Nothing checked yet, with a fresh random key.
    pub fn new() -> Self {
        let mut key = [0_u8; 32];
        // Without the system's randomness the key is still unknown to whoever wrote the log
        // beforehand: the time of the check.
        if rand::rngs::SysRng.try_fill_bytes(&mut key).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            key = Sha256::digest(now.to_le_bytes()).into();
        }
        Self {
            key,
            links: [0; 4],
            hashes: [0; 4],
            lines: 0,
            first: u64::MAX,
            last: None,
            sound: true,
        }
    }

    /// Checks line number `seq` (as recorded) against its recorded `hash`, and notes its `prev`
    /// (`None` if the line has none: it does not verify).
    pub fn push(&mut self, seq: u64, line: &str, hash: &str, prev: Option<&str>) {
        let mut computed = [0_u8; 64];
        // Encoding 32 bytes into 64 cannot fail.
        let _ = hex::encode_to_slice(Sha256::digest(line.as_bytes()), &mut computed);
        let Some(prev) = prev.filter(|_| computed == hash.as_bytes()) else {
            self.sound = false;
            return;
        };
        let (link, next) = (self.pair(seq, prev), self.pair(seq.wrapping_add(1), hash));
        add(&mut self.links, &link);
        add(&mut self.hashes, &next);
        self.lines += 1;
        self.first = self.first.min(seq);
        if self.last.as_ref().is_none_or(|(last, _)| seq > *last) {
            self.last = Some((seq, hash.to_owned()));
        }
    }

    /// Whether every line pushed so far, taken together, is a whole chain: its length and head
    /// if so.
    pub fn finish(&self) -> Option<(u64, String)> {
        if !self.sound {
            return None;
        }
        let Some((last, head)) = &self.last else {
            return Some((0, GENESIS.to_owned()));
        };
        if self.first != 1 || *last != self.lines {
            return None;
        }
        let mut links = self.links;
        add(&mut links, &self.pair(last + 1, head));
        let mut hashes = self.hashes;
        add(&mut hashes, &self.pair(1, GENESIS));
        (links == hashes).then(|| (self.lines, head.clone()))
    }

    /// F(position, value): the keyed hash of one pair, as a 256-bit number.
    fn pair(&self, position: u64, value: &str) -> [u64; 4] {
        let digest = Sha256::new()
            .chain_update(self.key)
            .chain_update(position.to_le_bytes())
            .chain_update(value.as_bytes())
            .finalize();
        std::array::from_fn(|k| {
            u64::from_le_bytes(digest[k * 8..k * 8 + 8].try_into().unwrap_or_default())
        })
    }
}

/// `sum += term`, modulo 2²⁵⁶.
fn add(sum: &mut [u64; 4], term: &[u64; 4]) {
    let mut carry = false;
    for (limb, addend) in sum.iter_mut().zip(term) {
        let (partial, first) = limb.overflowing_add(*addend);
        let (total, second) = partial.overflowing_add(u64::from(carry));
        *limb = total;
        carry = first || second;
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

    /// A row as a store holds it: (seq, line, recorded hash).
    type Row = (u64, String, String);

    /// Rows as a store holds them.
    fn rows(lines: &[String]) -> Vec<Row> {
        (1..).zip(lines).map(|(seq, line)| (seq, line.clone(), line_hash(line))).collect()
    }

    /// What the unordered check says of `rows` pushed last first.
    fn unordered(rows: &[Row]) -> Option<(u64, String)> {
        let mut chain = UnorderedChain::new();
        for (seq, line, hash) in rows.iter().rev() {
            chain.push(*seq, line, hash, prev_of(line).as_deref());
        }
        chain.finish()
    }

    #[test]
    fn a_chain_read_in_any_order_verifies_only_when_whole() {
        let good = rows(&lines(6));
        let head = good[5].2.clone();
        assert_eq!(unordered(&good), Some((6, head)));
        assert_eq!(unordered(&[]), Some((0, GENESIS.to_owned())));
        // Cut from the end: still a whole chain, as in order (only an anchor catches it).
        assert_eq!(unordered(&good[..4]), Some((4, good[3].2.clone())));

        let mut tampered: Vec<(&str, Vec<Row>)> = Vec::new();
        let mut edited = good.clone();
        edited[2].1 = edited[2].1.replace("alice", "mallory");
        tampered.push(("a line edited, its recorded hash kept", edited.clone()));
        edited[2].2 = line_hash(&edited[2].1);
        tampered.push(("a line edited and its hash recomputed", edited));
        let mut removed = good.clone();
        removed.remove(3);
        tampered.push(("a line removed", removed.clone()));
        for (seq, row) in (1..).zip(removed.iter_mut()) {
            row.0 = seq;
        }
        tampered.push(("a line removed and the rest renumbered", removed));
        let mut swapped = good.clone();
        let (first, second) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = (2, second.1, second.2);
        swapped[2] = (3, first.1, first.2);
        tampered.push(("two lines swapped, numbers kept", swapped));
        let mut repeated = good.clone();
        repeated[3] = (4, good[2].1.clone(), good[2].2.clone());
        tampered.push(("a line repeated in place of another", repeated));
        let mut doubled = good.clone();
        doubled.insert(2, good[2].clone());
        tampered.push(("a line recorded twice under the same number", doubled));
        let mut off_by_one = good.clone();
        for row in &mut off_by_one {
            row.0 += 1;
        }
        tampered.push(("every line numbered one too high", off_by_one));
        let mut not_json = good.clone();
        not_json[4].1 = "not json".to_owned();
        not_json[4].2 = line_hash("not json");
        tampered.push(("a line that is not an event", not_json));
        for (what, rows) in tampered {
            assert_eq!(unordered(&rows), None, "{what}");
            let lines: Vec<String> = rows.iter().map(|(_, line, _)| line.clone()).collect();
            assert!(
                verify(&lines, None, false).is_err()
                    || rows.iter().any(|r| r.2 != line_hash(&r.1))
                    || (1..).zip(&rows).any(|(n, r)| r.0 != n),
                "{what}: the ordered check agrees"
            );
        }
    }
}
