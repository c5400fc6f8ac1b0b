//! The audit log of a config: opened for views, checked before every writer (a broken hash
//! chain refuses writing commands until `rotation audit repair` records the break), and the
//! report of a check ([`AuditCheck`]) that `rotation audit verify` and `GET /v1/audit/verify`
//! both give.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rotation_config::Resolved;
use rotation_core::{AuditSink, ChainBreak, ChainReport, Error, Repair, Result};
use rotation_file::JsonlAuditSink;
use serde::Serialize;

/// What a check of the audit chain found, in the field names of `audit verify -o json` and
/// `GET /v1/audit/verify`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditCheck {
    /// The log checked.
    pub path: String,
    /// Whether every break (if any) is acknowledged by a repair.
    pub valid: bool,
    /// Complete records read (a broken chain still says how many lines were checked); none
    /// when the log could not be read.
    pub records: Option<usize>,
    /// Sequence number of the first record (1), none for an empty log.
    pub first_seq: Option<u64>,
    /// Sequence number of the last record.
    pub last_seq: Option<u64>,
    /// Time of the first intact record.
    pub first_at: Option<DateTime<Utc>>,
    /// Time of the last intact record.
    pub last_at: Option<DateTime<Utc>>,
    /// Hash of the last record (the chain head), when valid and not empty.
    pub head_hash: Option<String>,
    /// The first unacknowledged break, or why the log could not be read.
    pub error: Option<String>,
    /// Every break not yet acknowledged.
    pub breaks: Vec<ChainBreak>,
    /// Earlier repairs and the breaks they acknowledged.
    pub repairs: Vec<Repair>,
}

impl AuditCheck {
    /// The report of checking the audit log of `cfg` (`report`: what the sink's
    /// [`AuditSink::inspect`] found, or why it could not).
    pub fn of(cfg: &Resolved, report: Result<ChainReport>) -> Self {
        let path = cfg.audit_path.display().to_string();
        match report {
            Ok(report) => {
                let intact = report.is_intact();
                AuditCheck {
                    valid: intact,
                    records: Some(report.records),
                    first_seq: (report.records > 0).then_some(1),
                    last_seq: (report.head.seq > 0).then_some(report.head.seq),
                    first_at: report.events.first().map(|e| e.at),
                    last_at: report.events.last().map(|e| e.at),
                    head_hash: (intact && !report.head.hash.is_empty())
                        .then(|| report.head.hash.clone()),
                    error: report
                        .broken
                        .first()
                        .map(|b| format!("audit log {path}: {}", b.describe())),
                    breaks: report.broken,
                    repairs: report.repairs,
                    path,
                }
            }
            Err(e) => AuditCheck {
                path,
                valid: false,
                records: None,
                first_seq: None,
                last_seq: None,
                first_at: None,
                last_at: None,
                head_hash: None,
                error: Some(e.to_string()),
                breaks: Vec::new(),
                repairs: Vec::new(),
            },
        }
    }
}

/// The audit sink of `cfg` (the log is created on first use).
pub fn open_audit(cfg: &Resolved) -> Result<Arc<dyn AuditSink>> {
    Ok(Arc::new(JsonlAuditSink::open(&cfg.audit_path).map_err(
        |e| e.context(format!("audit log {}", cfg.audit_path.display())),
    )?))
}

/// The audit sink of `cfg` for a command that writes (a rotation, a rollback, a schedule
/// change, a statistics reset): the whole chain is checked first, and a break no repair
/// acknowledged refuses the command, naming the log, the first broken record and the repair
/// command. Creates the log on first use.
pub async fn writable_audit(cfg: &Resolved) -> Result<Arc<dyn AuditSink>> {
    let audit = open_audit(cfg)?;
    let report = audit
        .inspect()
        .await
        .map_err(|e| e.context(format!("audit log {}", cfg.audit_path.display())))?;
    refuse_broken(cfg, &report)?;
    Ok(audit)
}

/// Refuse (like [`writable_audit`]) when the audit chain of `cfg` is broken, without creating
/// the log: for writers that do not append to it (schedule changes).
pub async fn ensure_audit_intact(cfg: &Resolved) -> Result<()> {
    refuse_broken(cfg, &audit_report(cfg).await?)
}

pub(crate) fn refuse_broken(cfg: &Resolved, report: &ChainReport) -> Result<()> {
    let Some(first) = report.broken.first() else {
        return Ok(());
    };
    let more = match report.broken.len() {
        1 => String::new(),
        n => format!(" (and {} more break(s))", n - 1),
    };
    Err(Error::invalid_value(format!(
        "audit log {}: the hash chain is broken: {}{more}; writing commands are refused until \
         the break is recorded: inspect the log (restore it from a backup if you have one), \
         then run `rotation audit repair`",
        cfg.audit_path.display(),
        first.describe()
    )))
}

/// The check of the audit chain of `cfg`, without creating the log (an empty report when it
/// does not exist yet).
pub async fn audit_report(cfg: &Resolved) -> Result<ChainReport> {
    if !cfg.audit_path.exists() {
        return Ok(ChainReport::intact(Vec::new()));
    }
    open_audit(cfg)?
        .inspect()
        .await
        .map_err(|e| e.context(format!("audit log {}", cfg.audit_path.display())))
}

/// Record every unacknowledged break of the audit chain of `cfg` (see
/// [`AuditSink::repair`]); `None` when nothing is broken or no log exists.
pub async fn repair_audit(cfg: &Resolved) -> Result<Option<Repair>> {
    if !cfg.audit_path.exists() {
        return Ok(None);
    }
    open_audit(cfg)?
        .repair(chrono::Utc::now())
        .await
        .map_err(|e| e.context(format!("audit log {}", cfg.audit_path.display())))
}

/// The audit trail of `cfg` for views, without creating it (empty when it does not exist yet):
/// the events of every intact record, and, when the chain has a break no repair acknowledged,
/// what is wrong (an edited record's event is left out; views still work on a broken chain,
/// writers do not).
pub async fn readable_audit(
    cfg: &Resolved,
) -> Result<(Vec<rotation_core::AuditEvent>, Option<String>)> {
    let report = audit_report(cfg).await?;
    let broken = report.broken.first().map(|b| {
        format!(
            "audit log {}: the hash chain is broken: {} (events of edited records are left out; \
             see `rotation audit verify`)",
            cfg.audit_path.display(),
            b.describe()
        )
    });
    Ok((report.events, broken))
}
