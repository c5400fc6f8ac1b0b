//! The journal: table `rotations`, one row per rotation with its last state as JSON.
//!
//! `record` upserts by `rotation_id` (`ON CONFLICT DO UPDATE` keeps the row's `rowid`, so
//! `rowid` order is first-record order); `done` is set once the rotation is done *and* its terminal audit record is durable
//! ([`RotationState::is_finished`]) and is indexed, so
//! listing unfinished rotations reads only those.

use chrono::Utc;
use rotation_core::machine::RotationState;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::codec::step_name;
use crate::error::{DbResult, Failure};

/// Upsert the last state of a rotation.
pub(crate) fn record(conn: &mut Connection, state: &RotationState) -> DbResult<()> {
    let json = serde_json::to_string(state)
        .map_err(|e| Failure::Internal(format!("encode rotation {}: {e}", state.rotation_id)))?;
    let step = step_name(state.step)?;
    let now = Utc::now().timestamp_millis();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(
        "INSERT INTO rotations (rotation_id, secret, step, done, state_json, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (rotation_id) DO UPDATE SET
             secret = excluded.secret, step = excluded.step, done = excluded.done,
             state_json = excluded.state_json, updated_at = excluded.updated_at",
    )?
    .execute(params![
        state.rotation_id.as_str(),
        state.secret.as_str(),
        step,
        state.is_finished(),
        json,
        now,
    ])?;
    tx.commit()?;
    Ok(())
}

/// Every rotation that is not finished, in first-record order.
pub(crate) fn unfinished(conn: &mut Connection) -> DbResult<Vec<RotationState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rotation_id, state_json FROM rotations WHERE done = 0 ORDER BY rowid",
    )?;
    decode_rows(stmt.query([])?)
}

/// The unfinished rotations of one secret, in first-record order (partial index
/// `rotations_open`).
pub(crate) fn unfinished_of(conn: &mut Connection, secret: &str) -> DbResult<Vec<RotationState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rotation_id, state_json FROM rotations WHERE done = 0 AND secret = ?1 ORDER BY rowid",
    )?;
    decode_rows(stmt.query([secret])?)
}

/// Decode `(rotation_id, state_json)` rows.
fn decode_rows(mut rows: rusqlite::Rows<'_>) -> DbResult<Vec<RotationState>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let (id, json): (String, String) = (row.get(0)?, row.get(1)?);
        out.push(decode(&id, &json)?);
    }
    Ok(out)
}

/// One rotation's last state.
pub(crate) fn get(conn: &mut Connection, id: &str) -> DbResult<Option<RotationState>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT state_json FROM rotations WHERE rotation_id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    json.map(|json| decode(id, &json)).transpose()
}

fn decode(id: &str, json: &str) -> DbResult<RotationState> {
    serde_json::from_str(json)
        .map_err(|e| Failure::Internal(format!("rotation {id} has an unreadable record: {e}")))
}
