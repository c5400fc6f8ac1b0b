//! Schedules: table `schedules`, one row per secret with every [`ScheduleRecord`] field plus
//! `active = enabled AND NOT paused AND NOT quarantined`.
//!
//! Due checks read the partial index `schedules_due(next_rotation, next_rotation_ns, secret)
//! WHERE active = 1 AND next_rotation IS NOT NULL`: a range scan up to `now` that also yields
//! the order (earliest first, then by secret id, as the in-memory store orders), so the cost
//! grows with the number of due schedules, not with the number of schedules.

use chrono::{DateTime, Utc};
use rotation_core::{ScheduleChange, ScheduleRecord, SecretId};
use rusqlite::{CachedStatement, Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::codec::{from_int, join_opt, parse_status, split, split_opt, to_int};
use crate::error::DbResult;

/// The columns every query reads, in [`Raw`] order.
macro_rules! columns {
    () => {
        "secret, policy, spec, enabled, paused, quarantined, next_rotation, next_rotation_ns, \
         last_rotation, last_rotation_ns, last_status, last_success, last_success_ns, \
         rotation_count, consecutive_failures, reminded_for, reminded_for_ns, reminded_overdue"
    };
}

const UPSERT: &str = "INSERT INTO schedules (secret, policy, spec, enabled, paused, quarantined,
        active, next_rotation, next_rotation_ns, last_rotation, last_rotation_ns, last_status,
        last_success, last_success_ns, rotation_count, consecutive_failures, reminded_for,
        reminded_for_ns, reminded_overdue)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
    ON CONFLICT (secret) DO UPDATE SET policy = excluded.policy, spec = excluded.spec,
        enabled = excluded.enabled, paused = excluded.paused,
        quarantined = excluded.quarantined, active = excluded.active,
        next_rotation = excluded.next_rotation, next_rotation_ns = excluded.next_rotation_ns,
        last_rotation = excluded.last_rotation, last_rotation_ns = excluded.last_rotation_ns,
        last_status = excluded.last_status, last_success = excluded.last_success,
        last_success_ns = excluded.last_success_ns, rotation_count = excluded.rotation_count,
        consecutive_failures = excluded.consecutive_failures,
        reminded_for = excluded.reminded_for, reminded_for_ns = excluded.reminded_for_ns,
        reminded_overdue = excluded.reminded_overdue";

/// The due-check query; it must use `schedules_due` (asserted by a test).
pub(crate) const DUE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM schedules
    WHERE active = 1 AND next_rotation IS NOT NULL AND next_rotation <= ?1
        AND (next_rotation < ?1 OR next_rotation_ns <= ?2)
    ORDER BY next_rotation, next_rotation_ns, secret
    LIMIT ?3"
);

/// A row as stored, before validation.
struct Raw {
    secret: String,
    policy: String,
    spec: String,
    enabled: bool,
    paused: bool,
    quarantined: bool,
    next: (Option<i64>, Option<i64>),
    last: (Option<i64>, Option<i64>),
    last_status: Option<String>,
    success: (Option<i64>, Option<i64>),
    rotation_count: i64,
    consecutive_failures: i64,
    reminded: (Option<i64>, Option<i64>),
    reminded_overdue: bool,
}

impl Raw {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            secret: row.get(0)?,
            policy: row.get(1)?,
            spec: row.get(2)?,
            enabled: row.get(3)?,
            paused: row.get(4)?,
            quarantined: row.get(5)?,
            next: (row.get(6)?, row.get(7)?),
            last: (row.get(8)?, row.get(9)?),
            last_status: row.get(10)?,
            success: (row.get(11)?, row.get(12)?),
            rotation_count: row.get(13)?,
            consecutive_failures: row.get(14)?,
            reminded: (row.get(15)?, row.get(16)?),
            reminded_overdue: row.get(17)?,
        })
    }

    fn decode(self) -> DbResult<ScheduleRecord> {
        let what = format!("schedule of {}", self.secret);
        Ok(ScheduleRecord {
            next_rotation: join_opt(self.next.0, self.next.1, &what)?,
            last_rotation: join_opt(self.last.0, self.last.1, &what)?,
            last_status: self
                .last_status
                .map(|s| parse_status(&s, &what))
                .transpose()?,
            last_success: join_opt(self.success.0, self.success.1, &what)?,
            rotation_count: from_int(self.rotation_count, &what)?,
            consecutive_failures: from_int(self.consecutive_failures, &what)?,
            reminded_for: join_opt(self.reminded.0, self.reminded.1, &what)?,
            reminded_overdue: self.reminded_overdue,
            secret: SecretId::new(self.secret),
            policy: self.policy,
            spec: self.spec,
            enabled: self.enabled,
            paused: self.paused,
            quarantined: self.quarantined,
        })
    }
}

fn collect(
    stmt: &mut CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> DbResult<Vec<ScheduleRecord>> {
    let raws = stmt
        .query_map(params, Raw::read)?
        .collect::<rusqlite::Result<Vec<Raw>>>()?;
    raws.into_iter().map(Raw::decode).collect()
}

fn bind(stmt: &mut CachedStatement<'_>, r: &ScheduleRecord) -> DbResult<()> {
    let (next, next_ns) = split_opt(r.next_rotation);
    let (last, last_ns) = split_opt(r.last_rotation);
    let (success, success_ns) = split_opt(r.last_success);
    let (reminded, reminded_ns) = split_opt(r.reminded_for);
    let active = r.enabled && !r.paused && !r.quarantined;
    stmt.execute(params![
        r.secret.as_str(),
        r.policy,
        r.spec,
        r.enabled,
        r.paused,
        r.quarantined,
        active,
        next,
        next_ns,
        last,
        last_ns,
        r.last_status.map(|s| s.as_str()),
        success,
        success_ns,
        to_int(r.rotation_count, "rotation count")?,
        r.consecutive_failures,
        reminded,
        reminded_ns,
        r.reminded_overdue,
    ])?;
    Ok(())
}

/// Upsert `records` in one transaction.
pub(crate) fn put_many(conn: &mut Connection, records: &[ScheduleRecord]) -> DbResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(UPSERT)?;
        for record in records {
            bind(&mut stmt, record)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Apply `change` to the schedule of `secret` in one `BEGIN IMMEDIATE` transaction: the read
/// and the write hold SQLite's write lock together, so no other writer (in any process) lands
/// between them.
pub(crate) fn update(
    conn: &mut Connection,
    secret: &SecretId,
    change: &ScheduleChange,
) -> DbResult<Option<ScheduleRecord>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let raw = tx
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE secret = ?1"
        ))?
        .query_row([secret.as_str()], Raw::read)
        .optional()?;
    let Some(mut record) = raw.map(Raw::decode).transpose()? else {
        return Ok(None);
    };
    change.apply(&mut record);
    bind(&mut tx.prepare_cached(UPSERT)?, &record)?;
    tx.commit()?;
    Ok(Some(record))
}

/// One schedule.
pub(crate) fn get(conn: &mut Connection, secret: &SecretId) -> DbResult<Option<ScheduleRecord>> {
    let raw = conn
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE secret = ?1"
        ))?
        .query_row([secret.as_str()], Raw::read)
        .optional()?;
    raw.map(Raw::decode).transpose()
}

/// Every schedule, by secret id.
pub(crate) fn all(conn: &mut Connection) -> DbResult<Vec<ScheduleRecord>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM schedules ORDER BY secret"
    ))?;
    collect(&mut stmt, [])
}

/// Active schedules with `next_rotation <= now`, earliest first, at most `limit`.
pub(crate) fn due(
    conn: &mut Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> DbResult<Vec<ScheduleRecord>> {
    let (ms, ns) = split(now);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(DUE)?;
    collect(&mut stmt, params![ms, ns, limit])
}

/// Remove a schedule; whether it existed.
pub(crate) fn delete(conn: &mut Connection, secret: &SecretId) -> DbResult<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let removed = tx
        .prepare_cached("DELETE FROM schedules WHERE secret = ?1")?
        .execute([secret.as_str()])?;
    tx.commit()?;
    Ok(removed > 0)
}
