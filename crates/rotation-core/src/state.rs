//! The [`StateStore`] contract: the durable journal of rotations, leases that make one rotation
//! per secret hold across processes, persistent schedules and statistics.
//!
//! Implementations: [`MemoryStateStore`](crate::MemoryStateStore) (tests, single process) and the
//! SQLite crate (`rotation-state-sqlite`); a PostgreSQL one follows for several replicas. All
//! state is ids, versions, times and statuses: never a secret value.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::journal::Journal;
use crate::machine::RotationState;
use crate::policy::RotationStatus;
use crate::schedule::ScheduleChange;
pub use crate::schedule::ScheduleRecord;
use crate::secret::{RotationId, SecretId};

/// Exclusive right to rotate one secret until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The secret.
    pub secret: SecretId,
    /// Who holds it (`host:pid:random`).
    pub holder: String,
    /// Fencing token: strictly increasing per secret across acquisitions.
    pub token: u64,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// Persisted counters (the seed's statistics keys are derived from them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCounts {
    /// Successful rotations.
    pub successful: u64,
    /// Failed rotations (including rolled back).
    pub failed: u64,
    /// Rolled back rotations.
    pub rollbacks: u64,
}

impl StoredCounts {
    /// Count one finished rotation (rolled back counts as failed and as a rollback).
    pub fn add(&mut self, status: RotationStatus) {
        match status {
            RotationStatus::Success => self.successful += 1,
            RotationStatus::RolledBack => {
                self.failed += 1;
                self.rollbacks += 1;
            }
            _ => self.failed += 1,
        }
    }
}

/// Durable state of the engine.
///
/// # Contract
/// - **Journal** ([`Journal::record`]): upsert of the rotation's state by rotation id; durable
///   when it returns. [`StateStore::unfinished`] returns every rotation whose last record is not
///   finished ([`RotationState::is_finished`]: `Done` with its terminal audit record durable),
///   oldest first; [`StateStore::unfinished_of`] the same for one secret.
/// - **Leases**: `acquire_lease` succeeds only if no unexpired lease exists for the secret (an
///   expired one is taken over); each acquisition gets a token greater than any before for that
///   secret. `renew_lease` extends a lease only if `token` still holds it, else `Conflict`.
///   `release_lease` removes it only if `token` still holds it (idempotent otherwise). All three
///   are atomic across processes sharing the store.
/// - **Schedules**: `put_schedule` upserts by secret (reconciliation's inserts; never used to
///   change one field). `update_schedule` applies one [`ScheduleChange`] atomically: no other
///   write to the same schedule, from this or another process, may land between its read and
///   its write (a transaction, a row lock or a compare-and-swap loop), so a `pause` racing a
///   finishing rotation is never lost. `due_schedules` returns schedules that are
///   enabled, not paused, not quarantined and with `next_rotation <= now`, earliest first, at most
///   `limit`, using an index (it must not scan every schedule).
/// - **Counts**: `add_outcome` adds one finished rotation; `reset_counts` zeroes them.
#[async_trait]
pub trait StateStore: Journal {
    /// Every rotation that is not finished (not `Done`, or its audit record still pending).
    async fn unfinished(&self) -> Result<Vec<RotationState>>;
    /// The unfinished rotations of one secret, oldest first (every rotation takes this before
    /// its first step, so stores should answer it from an index).
    async fn unfinished_of(&self, secret: &SecretId) -> Result<Vec<RotationState>> {
        Ok(self
            .unfinished()
            .await?
            .into_iter()
            .filter(|s| &s.secret == secret)
            .collect())
    }
    /// One rotation's last recorded state.
    async fn rotation(&self, id: &RotationId) -> Result<Option<RotationState>>;

    /// Take the lease of `secret` for `ttl`, or `None` if someone else holds it.
    async fn acquire_lease(
        &self,
        secret: &SecretId,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>>;
    /// Extend a held lease.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease>;
    /// Give a lease back.
    async fn release_lease(&self, lease: &Lease) -> Result<()>;
    /// The current lease of `secret`, expired or not.
    async fn lease(&self, secret: &SecretId) -> Result<Option<Lease>>;
    /// Every lease unexpired at `now` (rotations running in any process).
    async fn live_leases(&self, now: DateTime<Utc>) -> Result<Vec<Lease>>;

    /// Insert or replace a schedule.
    async fn put_schedule(&self, record: &ScheduleRecord) -> Result<()>;
    /// One schedule.
    async fn schedule(&self, secret: &SecretId) -> Result<Option<ScheduleRecord>>;
    /// All schedules, by secret id.
    async fn schedules(&self) -> Result<Vec<ScheduleRecord>>;
    /// Schedules due at `now`, earliest first.
    async fn due_schedules(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ScheduleRecord>>;
    /// Apply `change` to the schedule of `secret` atomically; the record after it (`None`: no
    /// schedule, nothing changed).
    async fn update_schedule(
        &self,
        secret: &SecretId,
        change: &ScheduleChange,
    ) -> Result<Option<ScheduleRecord>>;
    /// Remove a schedule; whether it existed.
    async fn delete_schedule(&self, secret: &SecretId) -> Result<bool>;

    /// Count a finished rotation.
    async fn add_outcome(&self, status: RotationStatus) -> Result<()>;
    /// The counters.
    async fn counts(&self) -> Result<StoredCounts>;
    /// Zero the counters.
    async fn reset_counts(&self) -> Result<()>;
}
