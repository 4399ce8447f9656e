//! The tamper-evident audit log and everything built on it.
//!
//! - The log itself lives with the state (`crate::state`): one event per row, holding its JSON
//!   line exactly as hashed, each line carrying the sha256 of the line before it
//!   ([`crate::event`]), appended in the same transaction as the state write it describes, so
//!   editing, deleting, inserting or reordering any event breaks the chain there, and a head
//!   recorded elsewhere (a CI log, a ticket) catches truncation.
//! - [`read`]: verifying, reporting on and exporting that log, streamed, with the store's
//!   indexes answering `--since`, `--until` and `--activation`.
//! - [`log`](AuditLog): the same chain as a JSONL file, as earlier versions kept it (`state
//!   migrate --from json` carries it over; `audit verify --log FILE` checks such a file).
//! - [`sink`]: real-time delivery of each event as it is recorded, to standard output or error
//!   and to webhooks, in the background with retries. The log on disk is the record; sinks are
//!   notifications, so a failing sink is reported and never holds up the command (least of all a
//!   revert).
//! - [`report`]: the post-event audit of each activation, built from the log (the timeline) and
//!   the state's activation records (approvals, authentication, how it ended), with the
//!   anomalies a reviewer should look at.
//! - [`ocsf`]: the events mapped to the Open Cybersecurity Schema Framework for SIEMs.
//!
//! Nothing here prints: commands in `cli` render and report.

mod log;
pub mod ocsf;
pub mod read;
pub mod report;
pub mod sink;
mod summary;

pub use crate::event::{Chain, ChainError, Event, EventResult, Stamped, Subject, action};
pub use log::{AuditError, AuditLog, Entries, GENESIS, Verified, line_hash, verify_lines};
pub use summary::summarize;
