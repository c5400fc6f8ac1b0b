//! Audit records, the [`AuditSink`] contract, and the hash chain that makes a JSON-lines audit
//! log tamper-evident.
//!
//! Each line is `{"seq":N,"prev":H(N-1),"hash":H(N),"event":{..}}` where
//! `H(N) = sha256(N "\n" H(N-1) "\n" event-json)`. Editing, removing or reordering a line breaks
//! the chain; cutting lines off the end is caught by comparing with the head the sink keeps
//! beside the log. Records carry ids, versions and statuses only: no value, no hash of a value.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::policy::{RotationStatus, RotationStrategy};
use crate::secret::{RotationId, SecretId, VersionId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A rotation started.
    Started,
    /// A rotation finished successfully.
    Succeeded,
    /// A rotation failed without rollback.
    Failed,
    /// A rotation failed and was rolled back.
    RolledBack,
    /// A rotation was refused before touching the store (already in progress, bad request).
    Rejected,
    /// An operator restored the previous version (`rotation rollback`).
    ManualRollback,
    /// Statistics were reset; counters start again after this record.
    StatsReset,
    /// Recovery resolved an interrupted rotation or discarded an orphaned pending value.
    Recovered,
    /// A compromise event was reported (`POST /v1/emergency`); `error` holds its summary.
    Emergency,
    /// An operator verified the current value (`rotation verify`); `status` says how it went.
    Verified,
}

/// One audit record. Contains no secret value and no hash of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: AuditAction,
    /// Which secret (absent for global events such as a stats reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretId>,
    /// Which rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_id: Option<RotationId>,
    /// Status at the time of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RotationStatus>,
    /// Strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RotationStrategy>,
    /// Version current at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_version: Option<VersionId>,
    /// Version written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_version: Option<VersionId>,
    /// Store kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Error text (value-free by the [`Error`] invariant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the old credential was revoked at the target (rotations asked to revoke it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
}

impl AuditEvent {
    /// A record with only time and action set.
    pub fn new(at: DateTime<Utc>, action: AuditAction) -> Self {
        Self {
            at,
            action,
            secret: None,
            rotation_id: None,
            status: None,
            strategy: None,
            old_version: None,
            new_version: None,
            store: None,
            error: None,
            revoked: None,
        }
    }
}

/// Receives audit records.
///
/// # Contract
/// - `record` returns only once the record is durable (for a file sink: written and synced).
/// - Records from concurrent callers, also in other processes, are totally ordered.
/// - An error is returned, never swallowed; the engine treats an audit failure before a step as
///   a reason not to take the step.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Persist one record.
    async fn record(&self, event: &AuditEvent) -> Result<()>;
    /// Read the whole trail back, checking its chain: every record in order, none edited,
    /// removed, reordered or truncated away. An empty trail is `Ok(vec![])`; a broken chain is
    /// [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) naming the first bad record.
    async fn verify(&self) -> Result<Vec<AuditEvent>>;
    /// [`verify`](Self::verify), also returning the head the verified chain ends at, for
    /// reports of what was checked (`rotation audit verify`). `None` for a sink that keeps no
    /// chain (the default).
    async fn verify_trail(&self) -> Result<VerifiedTrail> {
        Ok(VerifiedTrail {
            events: self.verify().await?,
            head: None,
        })
    }
}

/// A verified audit trail: its records in order and the head of its chain.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTrail {
    /// Every record, oldest first.
    pub events: Vec<AuditEvent>,
    /// The last record's sequence number and hash ([`ChainHead::genesis`] for an empty log);
    /// `None` when the sink keeps no chain.
    pub head: Option<ChainHead>,
}

/// A sink that drops everything (for tests and benchmarks that measure the engine alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAudit;

#[async_trait]
impl AuditSink for NoAudit {
    async fn record(&self, _event: &AuditEvent) -> Result<()> {
        Ok(())
    }
    async fn verify(&self) -> Result<Vec<AuditEvent>> {
        Ok(Vec::new())
    }
}

/// The hash that precedes the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Position of the last record of a chain: what a sink keeps to detect truncation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the last record (0 = empty log).
    pub seq: u64,
    /// Its hash ([`GENESIS`] for an empty log).
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty log.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

fn chain_hash(seq: u64, prev: &str, event_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(event_json.as_bytes());
    hex::encode(h.finalize())
}

/// Serialise `event` as the line following `head`; returns the line (no newline) and new head.
pub fn chain_line(head: &ChainHead, event: &AuditEvent) -> Result<(String, ChainHead)> {
    let event_json =
        serde_json::to_string(event).map_err(|e| Error::internal(format!("audit record: {e}")))?;
    let seq = head.seq + 1;
    let hash = chain_hash(seq, &head.hash, &event_json);
    let line = format!(
        r#"{{"seq":{seq},"prev":"{}","hash":"{hash}","event":{event_json}}}"#,
        head.hash
    );
    Ok((line, ChainHead { seq, hash }))
}

#[derive(Deserialize)]
struct RawLine<'a> {
    seq: u64,
    prev: String,
    hash: String,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// Verify a whole log. `expected_head`, when known, catches truncation of the last lines.
/// Returns the parsed events, or an error naming the first bad line (1-based).
pub fn verify_chain<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    expected_head: Option<&ChainHead>,
) -> Result<Vec<AuditEvent>> {
    verify_chain_head(lines, expected_head).map(|(events, _)| events)
}

/// [`verify_chain`], also returning the head the chain ends at.
pub fn verify_chain_head<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    expected_head: Option<&ChainHead>,
) -> Result<(Vec<AuditEvent>, ChainHead)> {
    let mut head = ChainHead::genesis();
    let mut events = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        let n = i + 1;
        let bad = |why: &str| Error::invalid_value(format!("audit line {n}: {why}"));
        if line.trim().is_empty() {
            return Err(bad("empty line"));
        }
        let raw: RawLine<'_> =
            serde_json::from_str(line).map_err(|_| bad("not a chained record"))?;
        if raw.seq != head.seq + 1 {
            return Err(bad(&format!(
                "sequence {} where {} was expected (line removed or reordered)",
                raw.seq,
                head.seq + 1
            )));
        }
        if raw.prev != head.hash {
            return Err(bad(
                "previous hash does not match (line removed, reordered or edited)",
            ));
        }
        if chain_hash(raw.seq, &raw.prev, raw.event.get()) != raw.hash {
            return Err(bad("hash does not match its content (line edited)"));
        }
        let event: AuditEvent =
            serde_json::from_str(raw.event.get()).map_err(|_| bad("event is malformed"))?;
        events.push(event);
        head = ChainHead {
            seq: raw.seq,
            hash: raw.hash,
        };
    }
    if let Some(expected) = expected_head
        && *expected != head
    {
        return Err(Error::invalid_value(format!(
            "audit log ends at record {} but the head file names record {} (lines removed from the end)",
            head.seq, expected.seq
        )));
    }
    Ok((events, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize) -> (Vec<String>, ChainHead) {
        let mut head = ChainHead::genesis();
        let mut lines = Vec::new();
        for i in 0..n {
            let mut e = AuditEvent::new(Utc::now(), AuditAction::Started);
            e.secret = Some(SecretId::new(format!("s{i}")));
            let (line, h) = chain_line(&head, &e).unwrap();
            lines.push(line);
            head = h;
        }
        (lines, head)
    }

    #[test]
    fn intact_chain_verifies() {
        let (lines, head) = log(5);
        let events = verify_chain(lines.iter().map(String::as_str), Some(&head)).unwrap();
        assert_eq!(events.len(), 5);
    }

    #[test]
    fn edit_remove_reorder_and_truncate_are_detected() {
        let (lines, head) = log(5);
        let check = |ls: Vec<String>| {
            verify_chain(ls.iter().map(String::as_str), Some(&head))
                .unwrap_err()
                .to_string()
        };

        let mut edited = lines.clone();
        edited[2] = edited[2].replace("\"s2\"", "\"sX\"");
        assert!(check(edited).contains("line 3"));

        let mut removed = lines.clone();
        removed.remove(1);
        assert!(check(removed).contains("line 2"));

        let mut reordered = lines.clone();
        reordered.swap(1, 2);
        assert!(check(reordered).contains("line 2"));

        let truncated = lines[..4].to_vec();
        assert!(check(truncated).contains("removed from the end"));
    }
}
