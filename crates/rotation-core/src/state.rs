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

/// A persisted schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    /// The secret.
    pub secret: SecretId,
    /// Policy name.
    pub policy: String,
    /// Fingerprint of the schedule specification; reconciliation recomputes `next_rotation`
    /// when it changes.
    pub spec: String,
    /// `schedule disable` sets false: never rotated automatically.
    pub enabled: bool,
    /// `schedule pause` sets true: skipped until resumed.
    pub paused: bool,
    /// Set after `max_retries` consecutive failures; cleared by `resume` or a manual success.
    pub quarantined: bool,
    /// Next automatic attempt (`None`: manual only).
    pub next_rotation: Option<DateTime<Utc>>,
    /// Last attempt.
    pub last_rotation: Option<DateTime<Utc>>,
    /// Last attempt's status.
    pub last_status: Option<RotationStatus>,
    /// Last successful rotation.
    pub last_success: Option<DateTime<Utc>>,
    /// Successful rotations.
    pub rotation_count: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

impl ScheduleRecord {
    /// A fresh schedule.
    pub fn new(
        secret: SecretId,
        policy: &str,
        spec: &str,
        next_rotation: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            secret,
            policy: policy.to_owned(),
            spec: spec.to_owned(),
            enabled: true,
            paused: false,
            quarantined: false,
            next_rotation,
            last_rotation: None,
            last_status: None,
            last_success: None,
            rotation_count: 0,
            consecutive_failures: 0,
        }
    }

    /// Record a finished attempt.
    ///
    /// Success (scheduled or manual) clears failures and quarantine and moves the schedule to
    /// `next_after_success`. A failed scheduled attempt counts towards quarantine: after
    /// `max_retries` retries have failed too, the schedule is quarantined; otherwise it is retried
    /// at `retry_at`. A failed manual attempt is only noted.
    pub fn record_result(
        &mut self,
        status: RotationStatus,
        now: DateTime<Utc>,
        scheduled: bool,
        max_retries: u8,
        next_after_success: Option<DateTime<Utc>>,
        retry_at: DateTime<Utc>,
    ) {
        self.last_rotation = Some(now);
        self.last_status = Some(status);
        if status == RotationStatus::Success {
            self.rotation_count += 1;
            self.consecutive_failures = 0;
            self.quarantined = false;
            self.last_success = Some(now);
            self.next_rotation = next_after_success;
        } else if scheduled {
            self.consecutive_failures += 1;
            if self.consecutive_failures > u32::from(max_retries) {
                self.quarantined = true;
            } else {
                self.next_rotation = Some(retry_at);
            }
        }
    }

    /// One word for people: `disabled`, `quarantined`, `paused`, `manual` or `active`.
    pub fn state_word(&self) -> &'static str {
        if !self.enabled {
            "disabled"
        } else if self.quarantined {
            "quarantined"
        } else if self.paused {
            "paused"
        } else if self.next_rotation.is_none() {
            "manual"
        } else {
            "active"
        }
    }

    /// Whether the scheduler may start it at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.enabled
            && !self.paused
            && !self.quarantined
            && self.next_rotation.is_some_and(|t| t <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_then_quarantine_and_manual_success_clears_it() {
        let now = Utc::now();
        let mut s = ScheduleRecord::new("s".into(), "p", "every 1d", Some(now));
        let retry = now + chrono::Duration::minutes(1);
        for attempt in 1..=3 {
            s.record_result(RotationStatus::RolledBack, now, true, 2, None, retry);
            assert_eq!(s.consecutive_failures, attempt);
            assert_eq!(
                s.quarantined,
                attempt == 3,
                "quarantined after max_retries retries failed"
            );
        }
        assert!(!s.is_due(retry), "quarantined schedules are never due");
        s.record_result(RotationStatus::Failed, now, false, 2, None, retry);
        assert!(s.quarantined, "a failed manual rotation changes nothing");
        let next = now + chrono::Duration::days(1);
        s.record_result(RotationStatus::Success, now, false, 2, Some(next), retry);
        assert!(!s.quarantined && s.consecutive_failures == 0 && s.next_rotation == Some(next));
        assert_eq!(s.rotation_count, 1);
    }
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
/// - **Schedules**: `put_schedule` upserts by secret; `due_schedules` returns schedules that are
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

    /// Insert or replace a schedule.
    async fn put_schedule(&self, record: &ScheduleRecord) -> Result<()>;
    /// One schedule.
    async fn schedule(&self, secret: &SecretId) -> Result<Option<ScheduleRecord>>;
    /// All schedules, by secret id.
    async fn schedules(&self) -> Result<Vec<ScheduleRecord>>;
    /// Schedules due at `now`, earliest first.
    async fn due_schedules(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ScheduleRecord>>;
    /// Remove a schedule; whether it existed.
    async fn delete_schedule(&self, secret: &SecretId) -> Result<bool>;

    /// Count a finished rotation.
    async fn add_outcome(&self, status: RotationStatus) -> Result<()>;
    /// The counters.
    async fn counts(&self) -> Result<StoredCounts>;
    /// Zero the counters.
    async fn reset_counts(&self) -> Result<()>;
}
