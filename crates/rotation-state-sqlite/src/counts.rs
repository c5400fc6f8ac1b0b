//! Counters: table `counts`, a single row (`id = 1`, created by migration 1) of successful,
//! failed and rolled-back rotations, updated in place.

use rotation_core::{RotationStatus, StoredCounts};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::codec::{from_int, to_int};
use crate::error::DbResult;

/// Add one finished rotation.
pub(crate) fn add(conn: &mut Connection, status: RotationStatus) -> DbResult<()> {
    let mut delta = StoredCounts::default();
    delta.add(status);
    write(
        conn,
        "UPDATE counts SET successful = successful + ?1, failed = failed + ?2,
             rollbacks = rollbacks + ?3 WHERE id = 1",
        delta,
    )
}

/// Zero the counters.
pub(crate) fn reset(conn: &mut Connection) -> DbResult<()> {
    write(
        conn,
        "UPDATE counts SET successful = ?1, failed = ?2, rollbacks = ?3 WHERE id = 1",
        StoredCounts::default(),
    )
}

fn write(conn: &mut Connection, sql: &str, c: StoredCounts) -> DbResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(sql)?.execute(params![
        to_int(c.successful, "count")?,
        to_int(c.failed, "count")?,
        to_int(c.rollbacks, "count")?,
    ])?;
    tx.commit()?;
    Ok(())
}

/// The counters.
pub(crate) fn get(conn: &mut Connection) -> DbResult<StoredCounts> {
    let (s, f, r): (i64, i64, i64) = conn
        .prepare_cached("SELECT successful, failed, rollbacks FROM counts WHERE id = 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    Ok(StoredCounts {
        successful: from_int(s, "successful count")?,
        failed: from_int(f, "failed count")?,
        rollbacks: from_int(r, "rollback count")?,
    })
}
