//! [`SqliteStateStore`]: the engine's [`StateStore`](rotation_core::StateStore) in one SQLite
//! file that several processes on one host share.
//!
//! # Durability and concurrency
//! The database runs in WAL mode with `synchronous=FULL`, so a write is on disk when its call
//! returns (it survives `kill -9` and power loss). Every write is one `BEGIN IMMEDIATE`
//! transaction: the write lock is taken up front, so a read-then-write (lease acquisition) is
//! atomic across processes. A busy database is waited on for up to 10 s, then reported as
//! [`ErrorKind::Temporary`](rotation_core::ErrorKind::Temporary).
//!
//! # Schema (migrations 1 to 4, tracked with `PRAGMA user_version`)
//! Every time is stored as unix milliseconds plus a `*_ns` column holding the nanoseconds
//! within that millisecond, so values round-trip exactly and compare as the in-memory store
//! compares them.
//! - `rotations(rotation_id PK, secret, step, done, state_json, created_at, updated_at)`: the
//!   journal, one row per rotation holding its last state as JSON; `done` = finished (done and
//!   audited); index `rotations_done` on `done` and partial index `rotations_open` on `secret`
//!   of unfinished rows (migration 2). Insertion order (`rowid`, kept by upserts) is the "oldest first" order.
//! - `lease_tokens(secret PK, last_token)`: the last fencing token handed out per secret; it
//!   survives releases, so tokens strictly increase.
//! - `leases(secret PK -> lease_tokens, holder, token, expires_at, expires_at_ns)`: the current
//!   lease per secret, expired or not.
//! - `schedules(secret PK, policy, spec, enabled, paused, quarantined, active, next_rotation,
//!   next_rotation_ns, last_rotation, last_rotation_ns, last_status, last_success,
//!   last_success_ns, rotation_count, consecutive_failures, reminded_for, reminded_for_ns,
//!   reminded_overdue)`
//!   (`reminded_for*` added by migration 3, `reminded_overdue` by migration 4) where
//!   `active = enabled AND NOT paused AND NOT quarantined` (checked); the partial index
//!   `schedules_due(next_rotation, next_rotation_ns, secret) WHERE active = 1 AND next_rotation
//!   IS NOT NULL` serves due checks without scanning every schedule.
//! - `counts(id = 1, successful, failed, rollbacks)`: one row of counters.
//!
//! Nothing stored is a secret value: ids, versions, times and statuses only.
#![forbid(unsafe_code)]

mod codec;
mod counts;
mod error;
mod fsutil;
mod leases;
mod rotations;
mod schedules;
mod schema;
mod state_impl;
mod store;

pub use store::SqliteStateStore;

#[cfg(test)]
mod tests;
