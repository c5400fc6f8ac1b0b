//! Rotation statistics with the seed's keys, counted live or folded from audit records.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent};
use crate::policy::RotationStatus;

/// A snapshot of the statistics (the seed's keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Statistics {
    /// Finished rotations.
    pub total_rotations: u64,
    /// Rotations that succeeded.
    pub successful_rotations: u64,
    /// Rotations that failed (including rolled back ones).
    pub failed_rotations: u64,
    /// Rotations that were rolled back.
    pub rollbacks: u64,
    /// `successful / total`; `None` (JSON `null`) when nothing ran, so that "no data" is not
    /// read as "everything failed".
    pub success_rate: Option<f64>,
    /// Enabled schedules that rotate automatically.
    pub active_schedules: u64,
    /// All schedules.
    pub total_schedules: u64,
    /// Rotations running now.
    pub active_rotations: u64,
}

/// Lock-free counters of finished rotations.
#[derive(Debug, Default)]
pub struct StatsCounter {
    successful: AtomicU64,
    failed: AtomicU64,
    rollbacks: AtomicU64,
}

impl StatsCounter {
    /// Count one finished rotation.
    pub fn observe(&self, status: RotationStatus) {
        match status {
            RotationStatus::Success => self.successful.fetch_add(1, Ordering::Relaxed),
            RotationStatus::RolledBack => {
                self.rollbacks.fetch_add(1, Ordering::Relaxed);
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
            _ => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Zero every counter.
    pub fn reset(&self) {
        self.successful.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        self.rollbacks.store(0, Ordering::Relaxed);
    }

    /// A snapshot, completed with schedule and in-flight counts.
    pub fn snapshot(
        &self,
        active_schedules: u64,
        total_schedules: u64,
        active_rotations: u64,
    ) -> Statistics {
        Statistics::new(
            self.successful.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.rollbacks.load(Ordering::Relaxed),
        )
        .with_schedules(active_schedules, total_schedules, active_rotations)
    }
}

impl Statistics {
    /// From counts of finished rotations.
    pub fn new(successful: u64, failed: u64, rollbacks: u64) -> Self {
        let total = successful + failed;
        Self {
            total_rotations: total,
            successful_rotations: successful,
            failed_rotations: failed,
            rollbacks,
            success_rate: (total > 0).then(|| successful as f64 / total as f64),
            ..Self::default()
        }
    }

    /// Set the schedule and in-flight counts.
    pub fn with_schedules(mut self, active: u64, total: u64, running: u64) -> Self {
        self.active_schedules = active;
        self.total_schedules = total;
        self.active_rotations = running;
        self
    }

    /// Fold audit records: counts terminal records after the last `stats_reset`.
    pub fn from_audit<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> Self {
        let counter = StatsCounter::default();
        for e in events {
            match e.action {
                AuditAction::Succeeded => counter.observe(RotationStatus::Success),
                AuditAction::Failed => counter.observe(RotationStatus::Failed),
                AuditAction::RolledBack => counter.observe(RotationStatus::RolledBack),
                AuditAction::StatsReset => counter.reset(),
                _ => {}
            }
        }
        counter.snapshot(0, 0, 0)
    }
}
