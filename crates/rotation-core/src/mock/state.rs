//! [`MockStateStore`]: a mock of [`StateStore`] and its supertrait [`Journal`], declared with
//! `mock!` because `automock` cannot implement a supertrait.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::journal::Journal;
use crate::machine::RotationState;
use crate::policy::RotationStatus;
use crate::schedule::ScheduleChange;
use crate::secret::{RotationId, SecretId};
use crate::state::{Lease, ScheduleRecord, StateStore, StoredCounts};

// The one place that lists the `StateStore` methods for the mock: a method added to the trait
// (or to `Journal`) must be added here with the same signature, or the crate does not build
// with `--features mock`. Default methods are listed too, so tests can expect them.
mockall::mock! {
    /// A mock [`StateStore`] (and so [`Journal`]): the journal's `record` is
    /// `expect_record`.
    pub StateStore {}

    #[async_trait]
    impl Journal for StateStore {
        async fn record(&self, state: &RotationState) -> Result<()>;
    }

    #[async_trait]
    impl StateStore for StateStore {
        async fn unfinished(&self) -> Result<Vec<RotationState>>;
        async fn unfinished_of(&self, secret: &SecretId) -> Result<Vec<RotationState>>;
        async fn rotation(&self, id: &RotationId) -> Result<Option<RotationState>>;

        async fn acquire_lease(
            &self,
            secret: &SecretId,
            holder: &str,
            ttl: Duration,
            now: DateTime<Utc>,
        ) -> Result<Option<Lease>>;
        async fn renew_lease(
            &self,
            lease: &Lease,
            ttl: Duration,
            now: DateTime<Utc>,
        ) -> Result<Lease>;
        async fn release_lease(&self, lease: &Lease) -> Result<()>;
        async fn lease(&self, secret: &SecretId) -> Result<Option<Lease>>;
        async fn live_leases(&self, now: DateTime<Utc>) -> Result<Vec<Lease>>;

        async fn put_schedule(&self, record: &ScheduleRecord) -> Result<()>;
        async fn schedule(&self, secret: &SecretId) -> Result<Option<ScheduleRecord>>;
        async fn schedules(&self) -> Result<Vec<ScheduleRecord>>;
        async fn due_schedules(
            &self,
            now: DateTime<Utc>,
            limit: usize,
        ) -> Result<Vec<ScheduleRecord>>;
        async fn update_schedule(
            &self,
            secret: &SecretId,
            change: &ScheduleChange,
        ) -> Result<Option<ScheduleRecord>>;
        async fn delete_schedule(&self, secret: &SecretId) -> Result<bool>;

        async fn add_outcome(&self, status: RotationStatus) -> Result<()>;
        async fn counts(&self) -> Result<StoredCounts>;
        async fn reset_counts(&self) -> Result<()>;
    }
}

// The engine's traits require `Debug`; `mock!` does not derive it.
impl fmt::Debug for MockStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockStateStore").finish_non_exhaustive()
    }
}
