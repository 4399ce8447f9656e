//! The tamper-evident audit log: one JSON event a line, each carrying the sha256 of the line
//! before it, so editing, deleting, inserting or reordering any line breaks the chain at that
//! line. Appends take an exclusive lock on the log (beside the state lock), so concurrent
//! writers never fork the chain.

mod event;
mod log;

pub use event::{Event, EventResult, Subject};
pub use log::{AuditError, AuditLog, GENESIS, Verified, verify_lines};
