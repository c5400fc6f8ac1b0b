//! What an [`AuditSink`] backend provides to run [`crate::audit_cases`]: sinks on one trail, and
//! the ability to change the stored trail behind their backs, which only the backend's test
//! knows how to do (lines of a file for JSONL, rows of a table for a database).

use std::sync::Arc;

use async_trait::async_trait;
use rotation_core::{AuditEvent, AuditSink};

/// A change to the stored trail, as an attacker (or a careless operator) would make it.
/// Records are numbered from 0 in append order.
#[derive(Debug, Clone)]
pub enum Tamper {
    /// Replace the stored event of `record` with `event` (which differs from it in one field),
    /// leaving the chain data (sequence number, hashes) as stored.
    Edit {
        /// Which record.
        record: usize,
        /// Its new content.
        event: AuditEvent,
    },
    /// Remove one record.
    Delete {
        /// Which record.
        record: usize,
    },
    /// Exchange the places of two records.
    Swap {
        /// One record.
        a: usize,
        /// The other.
        b: usize,
    },
    /// Remove the last `n` records, and nothing else (a sink's own bookkeeping stays).
    TruncateLast {
        /// How many.
        n: usize,
    },
}

/// Where an append is interrupted by a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Part of the record reached storage; `record` never returned.
    MidWrite,
    /// The whole record reached storage, the sink's bookkeeping after it (JSONL's head file)
    /// did not; `record` never returned.
    BeforeAck,
}

/// One audit trail under test, created empty for each case.
#[async_trait]
pub trait AuditHarness: Send + Sync {
    /// A sink on the trail.
    async fn open(&self) -> Arc<dyn AuditSink>;
    /// Another, independent sink on the same trail, as after a restart or in a second process.
    async fn reopen(&self) -> Arc<dyn AuditSink>;
    /// Change the stored trail (no sink call is running meanwhile).
    async fn tamper(&self, tamper: Tamper);
    /// Leave the trail as a crash while appending `event` would; `false` if this harness
    /// cannot simulate `crash` (the case is then skipped for it).
    async fn crash_appending(&self, event: &AuditEvent, crash: Crash) -> bool {
        let _ = (event, crash);
        false
    }
}
