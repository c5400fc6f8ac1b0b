//! The [`Journal`] and [`StateStore`] implementations: each call clones its arguments into a
//! blocking task and runs one of the table modules there.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotation_core::machine::RotationState;
use rotation_core::{
    Journal, Lease, Result, RotationId, RotationStatus, ScheduleChange, ScheduleRecord, SecretId,
    StateStore, StoredCounts,
};

use crate::store::SqliteStateStore;
use crate::{counts, leases, rotations, schedules};

#[async_trait]
impl Journal for SqliteStateStore {
    async fn record(&self, state: &RotationState) -> Result<()> {
        let state = state.clone();
        self.run("record rotation", move |c| rotations::record(c, &state))
            .await
    }
}

#[async_trait]
impl StateStore for SqliteStateStore {
    async fn unfinished(&self) -> Result<Vec<RotationState>> {
        self.read("list unfinished rotations", rotations::unfinished)
            .await
    }

    async fn unfinished_of(&self, secret: &SecretId) -> Result<Vec<RotationState>> {
        let secret = secret.clone();
        self.read("list unfinished rotations of a secret", move |c| {
            rotations::unfinished_of(c, secret.as_str())
        })
        .await
    }

    async fn rotation(&self, id: &RotationId) -> Result<Option<RotationState>> {
        let id = id.clone();
        self.read("read rotation", move |c| rotations::get(c, id.as_str()))
            .await
    }

    async fn acquire_lease(
        &self,
        secret: &SecretId,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let (secret, holder) = (secret.clone(), holder.to_owned());
        self.run("acquire lease", move |c| {
            leases::acquire(c, &secret, &holder, ttl, now)
        })
        .await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease> {
        let lease = lease.clone();
        self.run("renew lease", move |c| leases::renew(c, &lease, ttl, now))
            .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let lease = lease.clone();
        self.run("release lease", move |c| leases::release(c, &lease))
            .await
    }

    async fn lease(&self, secret: &SecretId) -> Result<Option<Lease>> {
        let secret = secret.clone();
        self.read("read lease", move |c| leases::get(c, &secret))
            .await
    }

    async fn live_leases(&self, now: DateTime<Utc>) -> Result<Vec<Lease>> {
        self.read("list live leases", move |c| leases::live(c, now))
            .await
    }

    async fn update_schedule(
        &self,
        secret: &SecretId,
        change: &ScheduleChange,
    ) -> Result<Option<ScheduleRecord>> {
        let (secret, change) = (secret.clone(), change.clone());
        self.run("update schedule", move |c| {
            schedules::update(c, &secret, &change)
        })
        .await
    }

    async fn put_schedule(&self, record: &ScheduleRecord) -> Result<()> {
        let record = record.clone();
        self.run("write schedule", move |c| {
            schedules::put_many(c, std::slice::from_ref(&record))
        })
        .await
    }

    async fn schedule(&self, secret: &SecretId) -> Result<Option<ScheduleRecord>> {
        let secret = secret.clone();
        self.read("read schedule", move |c| schedules::get(c, &secret))
            .await
    }

    async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.read("list schedules", schedules::all).await
    }

    async fn due_schedules(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ScheduleRecord>> {
        self.read("list due schedules", move |c| schedules::due(c, now, limit))
            .await
    }

    async fn delete_schedule(&self, secret: &SecretId) -> Result<bool> {
        let secret = secret.clone();
        self.run("delete schedule", move |c| schedules::delete(c, &secret))
            .await
    }

    async fn add_outcome(&self, status: RotationStatus) -> Result<()> {
        self.run("count outcome", move |c| counts::add(c, status))
            .await
    }

    async fn counts(&self) -> Result<StoredCounts> {
        self.read("read counts", counts::get).await
    }

    async fn reset_counts(&self) -> Result<()> {
        self.run("reset counts", counts::reset).await
    }
}
