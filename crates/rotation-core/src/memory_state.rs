//! [`MemoryStateStore`]: a [`StateStore`] in a mutex, for tests and single-process use.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::machine::RotationState;
use crate::policy::RotationStatus;
use crate::schedule::ScheduleChange;
use crate::secret::{RotationId, SecretId};
use crate::state::{Lease, ScheduleRecord, StateStore, StoredCounts};

#[derive(Debug, Default)]
struct Inner {
    rotations: HashMap<RotationId, (u64, RotationState)>,
    order: u64,
    leases: HashMap<SecretId, Lease>,
    tokens: HashMap<SecretId, u64>,
    schedules: BTreeMap<SecretId, ScheduleRecord>,
    due: BTreeSet<(DateTime<Utc>, SecretId)>,
    counts: StoredCounts,
}

impl Inner {
    fn unindex(&mut self, secret: &SecretId) {
        if let Some(t) = self.schedules.get(secret).and_then(|s| s.next_rotation) {
            self.due.remove(&(t, secret.clone()));
        }
    }

    fn put(&mut self, record: ScheduleRecord) {
        self.unindex(&record.secret);
        if let Some(t) = record.next_rotation {
            self.due.insert((t, record.secret.clone()));
        }
        self.schedules.insert(record.secret.clone(), record);
    }
}

/// State in memory; lost with the process.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    inner: Mutex<Inner>,
}

impl MemoryStateStore {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn expiry(now: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Error::config("lease ttl", "is too large"))
}

#[async_trait]
impl Journal for MemoryStateStore {
    async fn record(&self, state: &RotationState) -> Result<()> {
        let mut inner = self.lock();
        inner.order += 1;
        let order = inner
            .rotations
            .get(&state.rotation_id)
            .map_or(inner.order, |(o, _)| *o);
        inner
            .rotations
            .insert(state.rotation_id.clone(), (order, state.clone()));
        Ok(())
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn unfinished(&self) -> Result<Vec<RotationState>> {
        let inner = self.lock();
        let mut open: Vec<&(u64, RotationState)> = inner
            .rotations
            .values()
            .filter(|(_, s)| !s.is_finished())
            .collect();
        open.sort_by_key(|(o, _)| *o);
        Ok(open.into_iter().map(|(_, s)| s.clone()).collect())
    }

    async fn rotation(&self, id: &RotationId) -> Result<Option<RotationState>> {
        Ok(self.lock().rotations.get(id).map(|(_, s)| s.clone()))
    }

    async fn acquire_lease(
        &self,
        secret: &SecretId,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let mut inner = self.lock();
        if inner.leases.get(secret).is_some_and(|l| l.expires_at > now) {
            return Ok(None);
        }
        let token = inner.tokens.get(secret).copied().unwrap_or(0) + 1;
        inner.tokens.insert(secret.clone(), token);
        let lease = Lease {
            secret: secret.clone(),
            holder: holder.to_owned(),
            token,
            expires_at: expiry(now, ttl)?,
        };
        inner.leases.insert(secret.clone(), lease.clone());
        Ok(Some(lease))
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease> {
        let mut inner = self.lock();
        match inner.leases.get_mut(&lease.secret) {
            Some(held) if held.token == lease.token => {
                held.expires_at = expiry(now, ttl)?;
                Ok(held.clone())
            }
            _ => Err(Error::conflict(format!(
                "lease of {} was lost",
                lease.secret
            ))),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut inner = self.lock();
        if inner
            .leases
            .get(&lease.secret)
            .is_some_and(|l| l.token == lease.token)
        {
            inner.leases.remove(&lease.secret);
        }
        Ok(())
    }

    async fn lease(&self, secret: &SecretId) -> Result<Option<Lease>> {
        Ok(self.lock().leases.get(secret).cloned())
    }

    async fn live_leases(&self, now: DateTime<Utc>) -> Result<Vec<Lease>> {
        let mut live: Vec<Lease> = (self.lock().leases.values())
            .filter(|l| l.expires_at > now)
            .cloned()
            .collect();
        live.sort_by(|a, b| a.secret.cmp(&b.secret));
        Ok(live)
    }

    async fn put_schedule(&self, record: &ScheduleRecord) -> Result<()> {
        self.lock().put(record.clone());
        Ok(())
    }

    async fn update_schedule(
        &self,
        secret: &SecretId,
        change: &ScheduleChange,
    ) -> Result<Option<ScheduleRecord>> {
        // One lock for the read and the write: atomic.
        let mut inner = self.lock();
        let Some(mut record) = inner.schedules.get(secret).cloned() else {
            return Ok(None);
        };
        change.apply(&mut record);
        inner.put(record.clone());
        Ok(Some(record))
    }

    async fn schedule(&self, secret: &SecretId) -> Result<Option<ScheduleRecord>> {
        Ok(self.lock().schedules.get(secret).cloned())
    }

    async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        Ok(self.lock().schedules.values().cloned().collect())
    }

    async fn due_schedules(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ScheduleRecord>> {
        let inner = self.lock();
        Ok(inner
            .due
            .iter()
            .take_while(|(t, _)| *t <= now)
            .filter_map(|(_, id)| inner.schedules.get(id))
            .filter(|s| s.is_due(now))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn delete_schedule(&self, secret: &SecretId) -> Result<bool> {
        let mut inner = self.lock();
        inner.unindex(secret);
        Ok(inner.schedules.remove(secret).is_some())
    }

    async fn add_outcome(&self, status: RotationStatus) -> Result<()> {
        self.lock().counts.add(status);
        Ok(())
    }

    async fn counts(&self) -> Result<StoredCounts> {
        Ok(self.lock().counts)
    }

    async fn reset_counts(&self) -> Result<()> {
        self.lock().counts = StoredCounts::default();
        Ok(())
    }
}
