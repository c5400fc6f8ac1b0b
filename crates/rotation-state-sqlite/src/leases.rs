//! Leases: tables `leases` (the current lease per secret) and `lease_tokens` (the last fencing
//! token per secret, kept after release so tokens strictly increase).
//!
//! Each operation is one `BEGIN IMMEDIATE` transaction, so a read-check-write is atomic across
//! every process sharing the file.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rotation_core::{Error, Lease, SecretId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::codec::{from_int, join, split};
use crate::error::{DbResult, Failure};

/// `now + ttl`, failing like the in-memory store when it overflows.
fn expiry(now: DateTime<Utc>, ttl: Duration) -> DbResult<DateTime<Utc>> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Failure::Core(Error::config("lease ttl", "is too large")))
}

fn lost(secret: &SecretId) -> Failure {
    Failure::Core(Error::conflict(format!("lease of {secret} was lost")))
}

/// The current lease row of `secret`.
fn current(conn: &Connection, secret: &SecretId) -> DbResult<Option<Lease>> {
    let row = conn
        .prepare_cached(
            "SELECT holder, token, expires_at, expires_at_ns FROM leases WHERE secret = ?1",
        )?
        .query_row([secret.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(holder, token, ms, ns)| {
        let what = format!("lease of {secret}");
        Ok(Lease {
            secret: secret.clone(),
            holder,
            token: from_int(token, &what)?,
            expires_at: join(ms, ns, &what)?,
        })
    })
    .transpose()
}

/// Take the lease unless an unexpired one exists.
pub(crate) fn acquire(
    conn: &mut Connection,
    secret: &SecretId,
    holder: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> DbResult<Option<Lease>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if current(&tx, secret)?.is_some_and(|l| l.expires_at > now) {
        return Ok(None);
    }
    let expires_at = expiry(now, ttl)?;
    let last: i64 = tx
        .prepare_cached("SELECT last_token FROM lease_tokens WHERE secret = ?1")?
        .query_row([secret.as_str()], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let token = last
        .checked_add(1)
        .ok_or_else(|| Failure::Internal(format!("lease tokens of {secret} are exhausted")))?;
    tx.prepare_cached(
        "INSERT INTO lease_tokens (secret, last_token) VALUES (?1, ?2)
         ON CONFLICT (secret) DO UPDATE SET last_token = excluded.last_token",
    )?
    .execute(params![secret.as_str(), token])?;
    let (ms, ns) = split(expires_at);
    tx.prepare_cached(
        "INSERT INTO leases (secret, holder, token, expires_at, expires_at_ns)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (secret) DO UPDATE SET holder = excluded.holder, token = excluded.token,
             expires_at = excluded.expires_at, expires_at_ns = excluded.expires_at_ns",
    )?
    .execute(params![secret.as_str(), holder, token, ms, ns])?;
    tx.commit()?;
    Ok(Some(Lease {
        secret: secret.clone(),
        holder: holder.to_owned(),
        token: from_int(token, "lease token")?,
        expires_at,
    }))
}

/// Extend `lease` if its token still holds it, else `Conflict`.
pub(crate) fn renew(
    conn: &mut Connection,
    lease: &Lease,
    ttl: Duration,
    now: DateTime<Utc>,
) -> DbResult<Lease> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut held = match current(&tx, &lease.secret)? {
        Some(held) if held.token == lease.token => held,
        _ => return Err(lost(&lease.secret)),
    };
    held.expires_at = expiry(now, ttl)?;
    let (ms, ns) = split(held.expires_at);
    tx.prepare_cached("UPDATE leases SET expires_at = ?2, expires_at_ns = ?3 WHERE secret = ?1")?
        .execute(params![lease.secret.as_str(), ms, ns])?;
    tx.commit()?;
    Ok(held)
}

/// Remove `lease` if its token still holds it.
pub(crate) fn release(conn: &mut Connection, lease: &Lease) -> DbResult<()> {
    let Ok(token) = i64::try_from(lease.token) else {
        return Ok(()); // never issued, so it holds nothing
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached("DELETE FROM leases WHERE secret = ?1 AND token = ?2")?
        .execute(params![lease.secret.as_str(), token])?;
    tx.commit()?;
    Ok(())
}

/// The current lease of `secret`, expired or not.
pub(crate) fn get(conn: &mut Connection, secret: &SecretId) -> DbResult<Option<Lease>> {
    current(conn, secret)
}

/// Every lease unexpired at `now`, by secret.
pub(crate) fn live(conn: &mut Connection, now: DateTime<Utc>) -> DbResult<Vec<Lease>> {
    let (ms, ns) = split(now);
    let mut stmt = conn.prepare_cached(
        "SELECT secret, holder, token, expires_at, expires_at_ns FROM leases
        WHERE expires_at > ?1 OR (expires_at = ?1 AND expires_at_ns > ?2) ORDER BY secret",
    )?;
    let rows = stmt
        .query_map(params![ms, ns], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(secret, holder, token, ms, ns)| {
            let what = format!("lease of {secret}");
            Ok(Lease {
                token: from_int(token, &what)?,
                expires_at: join(ms, ns, &what)?,
                secret: SecretId::new(secret),
                holder,
            })
        })
        .collect()
}
