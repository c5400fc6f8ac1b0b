//! Audit records, the [`AuditSink`] contract, and the hash chain that makes a JSON-lines audit
//! log tamper-evident.
//!
//! Each line is `{"seq":N,"prev":H(N-1),"hash":H(N),"event":{..}}` where
//! `H(N) = sha256(N "\n" H(N-1) "\n" event-json)`. Editing, removing or reordering a line breaks
//! the chain; cutting lines off the end is caught by comparing with the head the sink keeps
//! beside the log. Records carry ids, versions and statuses only: no value, no hash of a value.

use std::collections::HashSet;
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
    /// An operator acknowledged breaks in the chain (`rotation audit repair`); `chain_breaks`
    /// names them, and the chain continues after this record.
    ChainRepaired,
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
    /// The breaks a `chain_repaired` record acknowledges (empty for every other action).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain_breaks: Vec<ChainBreak>,
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
            chain_breaks: Vec::new(),
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
    /// Check the whole trail and say what was checked: the records read, the repairs that
    /// acknowledged earlier breaks, and every break not yet acknowledged. Only a failure to
    /// read the trail is an error; a broken chain is a report with
    /// [`ChainReport::broken`] set.
    async fn inspect(&self) -> Result<ChainReport> {
        self.verify().await.map(ChainReport::intact)
    }
    /// Acknowledge every break [`AuditSink::inspect`] reports in one
    /// [`AuditAction::ChainRepaired`] record at `at`, naming each break (hashes and sequence
    /// numbers only), and continue the chain after it; `None` when nothing is broken.
    async fn repair(&self, at: DateTime<Utc>) -> Result<Option<Repair>> {
        let _ = at;
        Err(Error::new(
            crate::error::ErrorKind::NotSupported,
            "this audit sink cannot record a repair of its chain",
        ))
    }
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
    async fn repair(&self, _at: DateTime<Utc>) -> Result<Option<Repair>> {
        Ok(None)
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

/// How a record breaks the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The line is not a chained record at all.
    NotARecord,
    /// Its sequence number is not the next one (a line removed or reordered).
    Sequence,
    /// Its `prev` is not the previous record's hash (a line removed, reordered or edited).
    Link,
    /// Its hash does not match its content (the line was edited).
    Content,
    /// Its chain fields are intact but its event cannot be read.
    Malformed,
    /// The log does not end at the record the head file names (lines removed from the end).
    Truncated,
    /// The head file is missing, so lines removed from the end cannot be ruled out.
    HeadMissing,
}

/// One place where the chain is broken: where, and what was expected versus found. Sequence
/// numbers and hashes only, never the record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// 1-based line of the log (for `truncated` and `head_missing`: the line after the last).
    pub line: u64,
    /// What is wrong.
    pub kind: BreakKind,
    /// The sequence number the line should have (for `truncated`: the head file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<u64>,
    /// The hash the line should link to (the previous record's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_prev: Option<String>,
    /// The hash the line should carry: of its content (`content`), the head file's
    /// (`truncated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_hash: Option<String>,
    /// The sequence number found (for `truncated`: of the last record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_seq: Option<u64>,
    /// The `prev` found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_prev: Option<String>,
    /// The `hash` found (for `truncated`: of the last record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_hash: Option<String>,
    /// SHA-256 of the line as found: a repair acknowledges this line as it is, so a later
    /// change to it is a new break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_sha256: Option<String>,
}

impl ChainBreak {
    /// A break of the log as a whole (`truncated`, `head_missing`) after `lines` lines.
    pub fn of_log(
        kind: BreakKind,
        lines: usize,
        expected: Option<&ChainHead>,
        found: Option<&ChainHead>,
    ) -> Self {
        Self {
            line: lines as u64 + 1,
            kind,
            expected_seq: expected.map(|h| h.seq),
            expected_prev: None,
            expected_hash: expected.map(|h| h.hash.clone()),
            found_seq: found.map(|h| h.seq),
            found_prev: None,
            found_hash: found.map(|h| h.hash.clone()),
            line_sha256: None,
        }
    }

    /// What is wrong, in words (the text `verify` has always reported).
    pub fn describe(&self) -> String {
        let n = self.line;
        match self.kind {
            BreakKind::NotARecord => format!("audit line {n}: not a chained record"),
            BreakKind::Sequence => format!(
                "audit line {n}: sequence {} where {} was expected (line removed or reordered)",
                self.found_seq.unwrap_or_default(),
                self.expected_seq.unwrap_or_default()
            ),
            BreakKind::Link => format!(
                "audit line {n}: previous hash does not match (line removed, reordered or edited)"
            ),
            BreakKind::Content => {
                format!("audit line {n}: hash does not match its content (line edited)")
            }
            BreakKind::Malformed => format!("audit line {n}: event is malformed"),
            BreakKind::Truncated => format!(
                "audit log ends at record {} but the head file names record {} (lines removed from the end)",
                self.found_seq.unwrap_or_default(),
                self.expected_seq.unwrap_or_default()
            ),
            BreakKind::HeadMissing => "the head file is missing, so removed lines at the end \
                                       cannot be ruled out"
                .to_owned(),
        }
    }

    /// The break as the error `verify` returns.
    pub fn to_error(&self) -> Error {
        Error::invalid_value(self.describe())
    }

    fn acknowledged_by(&self, acks: &HashSet<(u64, String)>) -> bool {
        self.line_sha256
            .as_ref()
            .is_some_and(|sha| acks.contains(&(self.line, sha.clone())))
    }
}

/// A `chain_repaired` record: when, at which line, and the breaks it acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    /// When the repair was recorded.
    pub at: DateTime<Utc>,
    /// The line of the repair record.
    pub line: u64,
    /// The breaks it acknowledged.
    pub breaks: Vec<ChainBreak>,
}

/// What a check of the whole trail found.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainReport {
    /// Complete lines read.
    pub records: usize,
    /// The events of intact records, in order (an edited record's event is left out).
    pub events: Vec<AuditEvent>,
    /// Repairs recorded in the trail, with the breaks each acknowledged.
    pub repairs: Vec<Repair>,
    /// Breaks no repair acknowledges, in order; empty when the chain is intact.
    pub broken: Vec<ChainBreak>,
    /// Where the next record chains to (a report made by [`ChainReport::intact`] knows only
    /// the record count: its hash is empty).
    pub head: ChainHead,
}

impl ChainReport {
    /// The report of an intact trail of `events` (sinks that only implement `verify`).
    pub fn intact(events: Vec<AuditEvent>) -> Self {
        let repairs = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.action == AuditAction::ChainRepaired)
            .map(|(i, e)| Repair {
                at: e.at,
                line: i as u64 + 1,
                breaks: e.chain_breaks.clone(),
            })
            .collect();
        Self {
            records: events.len(),
            head: ChainHead {
                seq: events.len() as u64,
                hash: String::new(),
            },
            events,
            repairs,
            broken: Vec::new(),
        }
    }

    /// Whether every break (if any) is acknowledged.
    pub fn is_intact(&self) -> bool {
        self.broken.is_empty()
    }

    /// The events, or the first unacknowledged break as an error.
    pub fn into_result(self) -> Result<Vec<AuditEvent>> {
        match self.broken.first() {
            Some(b) => Err(b.to_error()),
            None => Ok(self.events),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The lines a repair acknowledged, as (line, SHA-256 of the line). Only lines that mention
/// the action are parsed, so a long trail without repairs costs one substring search a line.
fn acknowledgements(lines: &[&str]) -> (HashSet<(u64, String)>, Vec<Repair>) {
    let mut acks = HashSet::new();
    let mut repairs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("\"chain_repaired\"") {
            continue;
        }
        let Some(event) = serde_json::from_str::<RawLine<'_>>(line)
            .ok()
            .and_then(|raw| serde_json::from_str::<AuditEvent>(raw.event.get()).ok())
        else {
            continue;
        };
        if event.action != AuditAction::ChainRepaired {
            continue;
        }
        for b in &event.chain_breaks {
            if let Some(sha) = &b.line_sha256 {
                acks.insert((b.line, sha.clone()));
            }
        }
        repairs.push(Repair {
            at: event.at,
            line: i as u64 + 1,
            breaks: event.chain_breaks,
        });
    }
    (acks, repairs)
}

/// What one line contributes: its anchor for the next line (`None`: unreadable), its event if
/// the record is intact, and the break it makes, if any.
struct Checked {
    anchor: Option<ChainHead>,
    event: Option<AuditEvent>,
    fault: Option<ChainBreak>,
}

fn check_line(n: u64, line: &str, head: Option<&ChainHead>) -> Checked {
    let fault = |kind, raw: Option<&RawLine<'_>>, expected_hash: Option<String>| ChainBreak {
        line: n,
        kind,
        expected_seq: head.map(|h| h.seq + 1),
        expected_prev: head.map(|h| h.hash.clone()),
        expected_hash,
        found_seq: raw.map(|r| r.seq),
        found_prev: raw.map(|r| r.prev.clone()),
        found_hash: raw.map(|r| r.hash.clone()),
        line_sha256: Some(sha256_hex(line.as_bytes())),
    };
    let Ok(raw) = serde_json::from_str::<RawLine<'_>>(line) else {
        return Checked {
            anchor: None,
            event: None,
            fault: Some(fault(BreakKind::NotARecord, None, None)),
        };
    };
    let computed = chain_hash(raw.seq, &raw.prev, raw.event.get());
    let sound = computed == raw.hash;
    let event = sound
        .then(|| serde_json::from_str::<AuditEvent>(raw.event.get()).ok())
        .flatten();
    let kind = match head {
        Some(h) if raw.seq != h.seq + 1 => Some(BreakKind::Sequence),
        Some(h) if raw.prev != h.hash => Some(BreakKind::Link),
        // After an unreadable line the first sound record anchors the chain again: its link
        // cannot be checked, and the unreadable line is the break.
        _ if !sound => Some(BreakKind::Content),
        _ if event.is_none() => Some(BreakKind::Malformed),
        _ => None,
    };
    let expected_hash = (kind == Some(BreakKind::Content)).then(|| computed.clone());
    Checked {
        fault: kind.map(|k| fault(k, Some(&raw), expected_hash)),
        anchor: Some(ChainHead {
            seq: raw.seq,
            hash: raw.hash,
        }),
        event,
    }
}

/// Check a whole log: every line against the one before it, breaks that a later
/// `chain_repaired` record acknowledges skipped (the chain continues from the broken line as
/// it is), and, when `expected_head` is known, that the log ends there.
pub fn scan_chain(lines: &[&str], expected_head: Option<&ChainHead>) -> ChainReport {
    let (acks, repairs) = acknowledgements(lines);
    let mut head = Some(ChainHead::genesis());
    let mut seq_hint = 0;
    let mut tail_hash = GENESIS.to_owned();
    let mut events = Vec::new();
    let mut broken = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let checked = check_line(i as u64 + 1, line, head.as_ref());
        if let Some(fault) = checked.fault
            && !fault.acknowledged_by(&acks)
        {
            broken.push(fault);
        }
        events.extend(checked.event);
        seq_hint = checked.anchor.as_ref().map_or(seq_hint + 1, |a| a.seq);
        tail_hash = checked
            .anchor
            .as_ref()
            .map_or_else(|| sha256_hex(line.as_bytes()), |a| a.hash.clone());
        head = checked.anchor;
    }
    let head = head.unwrap_or(ChainHead {
        seq: seq_hint,
        hash: tail_hash,
    });
    if let Some(expected) = expected_head
        && *expected != head
    {
        broken.push(ChainBreak::of_log(
            BreakKind::Truncated,
            lines.len(),
            Some(expected),
            Some(&head),
        ));
    }
    ChainReport {
        records: lines.len(),
        events,
        repairs,
        broken,
        head,
    }
}

/// Verify a whole log. `expected_head`, when known, catches truncation of the last lines.
/// Returns the parsed events, or an error naming the first bad line (1-based) that no repair
/// acknowledged.
pub fn verify_chain<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    expected_head: Option<&ChainHead>,
) -> Result<Vec<AuditEvent>> {
    let lines: Vec<&str> = lines.into_iter().collect();
    scan_chain(&lines, expected_head).into_result()
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

    /// `lines` with a `chain_repaired` record appended that acknowledges what is broken.
    fn repaired(mut lines: Vec<String>) -> Vec<String> {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let report = scan_chain(&refs, None);
        assert!(!report.broken.is_empty());
        let mut e = AuditEvent::new(Utc::now(), AuditAction::ChainRepaired);
        e.chain_breaks = report.broken;
        let (line, _) = chain_line(&report.head, &e).unwrap();
        lines.push(line);
        lines
    }

    fn scan(lines: &[String]) -> ChainReport {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        scan_chain(&refs, None)
    }

    #[test]
    fn a_repair_acknowledges_exactly_the_lines_it_names() {
        let (lines, _) = log(5);
        let mut edited = lines.clone();
        edited[2] = edited[2].replace("\"s2\"", "\"sX\"");
        let fixed = repaired(edited.clone());
        let report = scan(&fixed);
        assert!(report.is_intact(), "{:?}", report.broken);
        assert_eq!(report.records, 6);
        assert_eq!(report.repairs.len(), 1);
        assert_eq!(report.repairs[0].line, 6);
        let b = &report.repairs[0].breaks[0];
        assert_eq!((b.line, b.kind), (3, BreakKind::Content));
        assert_ne!(b.expected_hash, b.found_hash);
        // The edited record's event is not trusted; the others are.
        assert_eq!(report.events.len(), 5);
        assert!(
            report
                .events
                .iter()
                .all(|e| e.secret != Some(SecretId::new("sX")))
        );

        // Editing the acknowledged line again, or another line, is a new break.
        let mut again = fixed.clone();
        again[2] = again[2].replace("\"sX\"", "\"sY\"");
        assert_eq!(scan(&again).broken[0].line, 3);
        let mut other = fixed;
        other[0] = other[0].replace("\"s0\"", "\"sZ\"");
        assert_eq!(scan(&other).broken[0].line, 1);
    }

    #[test]
    fn after_an_unreadable_line_the_next_sound_record_anchors_the_chain() {
        let (mut lines, _) = log(4);
        lines[1] = "garbage".to_owned();
        let report = scan(&lines);
        assert_eq!(report.broken.len(), 1, "{:?}", report.broken);
        assert_eq!(report.broken[0].kind, BreakKind::NotARecord);
        assert!(scan(&repaired(lines)).is_intact());

        let (mut lines, _) = log(3);
        lines[2] = "{not json".to_owned();
        let fixed = repaired(lines);
        let report = scan(&fixed);
        assert!(report.is_intact(), "{:?}", report.broken);
        assert_eq!(report.events.len(), 3);
    }
}
