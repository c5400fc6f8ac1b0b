//! Connection settings and schema migrations.
//!
//! Settings, per connection: `busy_timeout` 10 s, `journal_mode=WAL` (file databases),
//! `synchronous=FULL`, `foreign_keys=ON`. Migrations are SQL batches applied in order inside one
//! `BEGIN IMMEDIATE` transaction; `PRAGMA user_version` holds how many have run, so processes
//! opening the same file at once migrate it exactly once. Migration 1 creates every table (see
//! the crate docs for the schema); migration 2 adds the partial index `rotations_open`;
//! migrations 3 and 4 add the reminder columns.

use std::time::Duration;

use rotation_core::{Error, ErrorKind};
use rusqlite::{Connection, TransactionBehavior};

use crate::error::{DbResult, Failure};

/// How long a statement waits for another process's lock before failing with BUSY.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations; migration `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4];

/// Whether the reminder sent for `reminded_for` was the overdue one.
const MIGRATION_4: &str =
    "ALTER TABLE schedules ADD COLUMN reminded_overdue INTEGER NOT NULL DEFAULT 0;";

/// The due time the last near-expiry reminder was sent for (one reminder per due time).
const MIGRATION_3: &str = "ALTER TABLE schedules ADD COLUMN reminded_for INTEGER;
ALTER TABLE schedules ADD COLUMN reminded_for_ns INTEGER;";

/// The unfinished rotations of one secret, read before every rotation.
const MIGRATION_2: &str = "CREATE INDEX rotations_open ON rotations(secret) WHERE done = 0;";

const MIGRATION_1: &str = "
CREATE TABLE rotations (
    rotation_id TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    step TEXT NOT NULL,
    done INTEGER NOT NULL CHECK (done IN (0, 1)),
    state_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX rotations_done ON rotations(done);

CREATE TABLE lease_tokens (
    secret TEXT PRIMARY KEY NOT NULL,
    last_token INTEGER NOT NULL CHECK (last_token > 0)
);
CREATE TABLE leases (
    secret TEXT PRIMARY KEY NOT NULL REFERENCES lease_tokens(secret),
    holder TEXT NOT NULL,
    token INTEGER NOT NULL CHECK (token > 0),
    expires_at INTEGER NOT NULL,
    expires_at_ns INTEGER NOT NULL
);

CREATE TABLE schedules (
    secret TEXT PRIMARY KEY NOT NULL,
    policy TEXT NOT NULL,
    spec TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    paused INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    active INTEGER NOT NULL CHECK (active = (enabled AND NOT paused AND NOT quarantined)),
    next_rotation INTEGER,
    next_rotation_ns INTEGER,
    last_rotation INTEGER,
    last_rotation_ns INTEGER,
    last_status TEXT,
    last_success INTEGER,
    last_success_ns INTEGER,
    rotation_count INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules(next_rotation, next_rotation_ns, secret)
    WHERE active = 1 AND next_rotation IS NOT NULL;

CREATE TABLE counts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    successful INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    rollbacks INTEGER NOT NULL
);
INSERT INTO counts (id, successful, failed, rollbacks) VALUES (1, 0, 0, 0);
";

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Apply the connection settings; `file` tells whether WAL applies.
pub(crate) fn configure(conn: &Connection, file: bool) -> DbResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if file {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Failure::Internal(format!(
                "journal mode is {mode}, WAL could not be enabled"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Bring the schema up to date.
pub(crate) fn migrate(conn: &mut Connection) -> DbResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let latest = latest_version();
    if version > latest {
        return Err(Failure::Core(Error::new(
            ErrorKind::NotSupported,
            format!(
                "state database schema version {version} is newer than this build supports \
                 ({latest})"
            ),
        )));
    }
    if version == latest {
        return Ok(());
    }
    let pending = MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(0));
    for migration in pending {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", latest)?;
    tx.commit()?;
    Ok(())
}
