//! In-memory schedules indexed by due time: finding due work is `O(log n + due)`, not a scan.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::secret::SecretId;

/// When a secret rotates next and what happened last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// The secret.
    pub secret: SecretId,
    /// Policy name.
    pub policy: String,
    /// Interval; zero means manual only (never due).
    pub interval: Duration,
    /// Next due time (`None` for manual-only or disabled schedules).
    pub next_rotation: Option<DateTime<Utc>>,
    /// Last rotation attempt.
    pub last_rotation: Option<DateTime<Utc>>,
    /// Successful rotations.
    pub rotation_count: u64,
    /// Whether the schedule is active.
    pub enabled: bool,
}

/// Schedules keyed by secret, with a due-time index.
#[derive(Debug, Default)]
pub struct Scheduler {
    entries: HashMap<SecretId, Schedule>,
    due_index: BTreeSet<(DateTime<Utc>, SecretId)>,
}

fn add(now: DateTime<Utc>, interval: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(interval)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Error::config("interval", "is too large"))
}

impl Scheduler {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn unindex(&mut self, id: &SecretId) {
        if let Some(next) = self.entries.get(id).and_then(|s| s.next_rotation) {
            self.due_index.remove(&(next, id.clone()));
        }
    }

    fn index(&mut self, id: &SecretId) {
        if let Some(s) = self.entries.get(id)
            && let (true, Some(next)) = (s.enabled, s.next_rotation)
        {
            self.due_index.insert((next, id.clone()));
        }
    }

    /// Add or replace the schedule of `secret`: first due `interval` after `now`.
    pub fn schedule(
        &mut self,
        secret: SecretId,
        policy: &str,
        interval: Duration,
        now: DateTime<Utc>,
    ) -> Result<Schedule> {
        self.unindex(&secret);
        let next_rotation = if interval.is_zero() {
            None
        } else {
            Some(add(now, interval)?)
        };
        let schedule = Schedule {
            secret: secret.clone(),
            policy: policy.to_owned(),
            interval,
            next_rotation,
            last_rotation: None,
            rotation_count: 0,
            enabled: true,
        };
        self.entries.insert(secret.clone(), schedule.clone());
        self.index(&secret);
        Ok(schedule)
    }

    /// Remove a schedule; returns whether it existed.
    pub fn unschedule(&mut self, secret: &SecretId) -> bool {
        self.unindex(secret);
        self.entries.remove(secret).is_some()
    }

    /// One schedule.
    pub fn get(&self, secret: &SecretId) -> Option<&Schedule> {
        self.entries.get(secret)
    }

    /// All schedules, ordered by secret id.
    pub fn list(&self) -> Vec<Schedule> {
        let mut all: Vec<Schedule> = self.entries.values().cloned().collect();
        all.sort_by(|a, b| a.secret.cmp(&b.secret));
        all
    }

    /// Enable or disable a schedule.
    pub fn set_enabled(&mut self, secret: &SecretId, enabled: bool) -> Result<()> {
        self.unindex(secret);
        let s = self
            .entries
            .get_mut(secret)
            .ok_or_else(|| Error::not_found(format!("no schedule for secret {secret}")))?;
        s.enabled = enabled;
        self.index(secret);
        Ok(())
    }

    /// Secrets due at `now`, earliest first.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<SecretId> {
        self.due_index
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The earliest due time, if any (what a scheduler loop sleeps until).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due_index.first().map(|(t, _)| *t)
    }

    /// Record a finished attempt and move the schedule one interval past `now`.
    pub fn record_run(
        &mut self,
        secret: &SecretId,
        success: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.unindex(secret);
        if let Some(s) = self.entries.get_mut(secret) {
            s.last_rotation = Some(now);
            if success {
                s.rotation_count += 1;
            }
            s.next_rotation = if s.interval.is_zero() {
                None
            } else {
                Some(add(now, s.interval)?)
            };
        }
        self.index(secret);
        Ok(())
    }

    /// `(enabled automatic schedules, all schedules)`.
    pub fn counts(&self) -> (u64, u64) {
        let active = self
            .entries
            .values()
            .filter(|s| s.enabled && !s.interval.is_zero())
            .count();
        (active as u64, self.entries.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn due_disabled_and_manual() {
        let now = Utc::now();
        let mut s = Scheduler::new();
        s.schedule("a".into(), "p", DAY, now).unwrap();
        s.schedule("b".into(), "p", Duration::ZERO, now).unwrap();
        s.schedule("c".into(), "p", DAY, now).unwrap();
        assert!(s.due(now).is_empty());
        let later = now + chrono::Duration::days(2);
        assert_eq!(s.due(later), vec![SecretId::from("a"), SecretId::from("c")]);
        s.set_enabled(&"c".into(), false).unwrap();
        assert_eq!(s.due(later), vec![SecretId::from("a")]);
        s.record_run(&"a".into(), true, later).unwrap();
        assert!(s.due(later).is_empty());
        assert_eq!(s.get(&"a".into()).unwrap().rotation_count, 1);
        assert_eq!(s.counts(), (1, 3));
    }
}
