//! `rotation audit verify`: check the audit log's hash chain and say what was checked.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::app::Context;
use crate::exit::{CliError, FAILED, OK};
use crate::output::{Report, emit, line, opt, when_opt};

/// What `audit verify` checked.
#[derive(Debug, Serialize)]
struct AuditCheck {
    path: String,
    valid: bool,
    /// Records verified (none when the chain is broken: nothing in it can be vouched for).
    records: Option<usize>,
    /// Sequence number of the first record (1), none for an empty or broken log.
    first_seq: Option<u64>,
    /// Sequence number of the last record.
    last_seq: Option<u64>,
    /// Time of the first record.
    first_at: Option<DateTime<Utc>>,
    /// Time of the last record.
    last_at: Option<DateTime<Utc>>,
    /// Hash of the last record (the chain head; all zeros for an empty log).
    head_hash: Option<String>,
    error: Option<String>,
}

impl Report for AuditCheck {
    fn text(&self, out: &mut String) {
        let Some(records) = self.records.filter(|_| self.valid) else {
            return line(
                out,
                format!("FAILED {}", self.error.as_deref().unwrap_or("-")),
            );
        };
        line(
            out,
            format!("ok     {}: {records} records, hash chain intact", self.path),
        );
        if records > 0 {
            line(
                out,
                format!(
                    "       records {}..{}, {} .. {}",
                    opt(self.first_seq),
                    opt(self.last_seq),
                    when_opt(self.first_at, Tz::UTC),
                    when_opt(self.last_at, Tz::UTC)
                ),
            );
        }
        line(out, format!("       head {}", opt(self.head_hash.as_ref())));
    }
    /// The log checked.
    fn names(&self) -> Vec<String> {
        vec![self.path.clone()]
    }
    fn failures(&self) -> Vec<String> {
        self.error.iter().cloned().collect()
    }
}

/// Run `audit verify`.
pub async fn verify(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let path = cfg.audit_path.display().to_string();
    let check = match rotation_runtime::verified_trail(&cfg).await {
        Ok(trail) => {
            let records = trail.events.len();
            let head = trail.head;
            AuditCheck {
                path,
                valid: true,
                records: Some(records),
                first_seq: (records > 0).then_some(1),
                last_seq: head.as_ref().map(|h| h.seq).filter(|s| *s > 0),
                first_at: trail.events.first().map(|e| e.at),
                last_at: trail.events.last().map(|e| e.at),
                head_hash: head.map(|h| h.hash),
                error: None,
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
        },
    };
    emit(ctx, &check);
    Ok(if check.valid { OK } else { FAILED })
}
