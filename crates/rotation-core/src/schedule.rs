//! Persisted schedules and the rules that change them, in one place for every front end:
//! [`ScheduleRecord`] (what a state store keeps per secret) and [`ScheduleChange`] (what an
//! operator or a finished rotation does to it). A [`StateStore`](crate::StateStore) applies a
//! change atomically ([`StateStore::update_schedule`](crate::StateStore::update_schedule)), so
//! a `pause` racing a finishing rotation is never lost.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::RotationStatus;
use crate::secret::SecretId;

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
    /// The `next_rotation` a reminder was last sent for ([`ScheduleChange::Reminded`]): one
    /// reminder per due time, however often the sweep runs.
    #[serde(default)]
    pub reminded_for: Option<DateTime<Utc>>,
    /// Whether the reminder sent for `reminded_for` said overdue: a due-soon reminder does not
    /// stand in for the overdue one that follows it at the same due time.
    #[serde(default)]
    pub reminded_overdue: bool,
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
            reminded_for: None,
            reminded_overdue: false,
        }
    }

    /// Record a finished attempt.
    ///
    /// Success (scheduled or manual) clears failures and quarantine and moves the schedule to
    /// `next_after_success`. A failed scheduled attempt counts towards quarantine: after
    /// `max_retries` retries have failed too, the schedule is quarantined; otherwise it is retried
    /// at `retry_at`. A failed manual attempt is only noted. `enabled` and `paused` are never
    /// touched: an operator's pause racing a finishing rotation survives it.
    pub fn record_result(&mut self, o: &AttemptOutcome) {
        self.last_rotation = Some(o.at);
        self.last_status = Some(o.status);
        if o.status == RotationStatus::Success {
            self.rotation_count += 1;
            self.consecutive_failures = 0;
            self.quarantined = false;
            self.last_success = Some(o.at);
            self.next_rotation = o.next_after_success;
        } else if o.scheduled {
            self.consecutive_failures += 1;
            if self.consecutive_failures > u32::from(o.max_retries) {
                self.quarantined = true;
            } else {
                self.next_rotation = Some(o.retry_at);
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

    /// Whether it rotates on its own: enabled, not paused, not quarantined, with a next time
    /// (what `stats` counts as an active schedule).
    pub fn is_active(&self) -> bool {
        self.enabled && !self.paused && !self.quarantined && self.next_rotation.is_some()
    }

    /// Whether the secret is overdue or its next rotation falls within `remind_before` of
    /// `now`. Paused and quarantined schedules count (they are what an operator forgets);
    /// disabled and manual ones have no due time and never do.
    pub fn reminder(
        &self,
        now: DateTime<Utc>,
        remind_before: Option<Duration>,
    ) -> Option<Reminder> {
        let due = self.next_rotation.filter(|_| self.enabled)?;
        if due <= now {
            return Some(Reminder::Overdue { due });
        }
        let window = chrono::Duration::from_std(remind_before?).ok()?;
        (due - now <= window).then_some(Reminder::DueSoon { due })
    }

    /// Whether a reminder for the current due time is still to be sent: none was sent for it,
    /// or only the due-soon one and it is overdue now.
    pub fn reminder_pending(
        &self,
        now: DateTime<Utc>,
        remind_before: Option<Duration>,
    ) -> Option<Reminder> {
        self.reminder(now, remind_before).filter(|r| {
            self.reminded_for != Some(r.due())
                || (matches!(r, Reminder::Overdue { .. }) && !self.reminded_overdue)
        })
    }

    /// Whether the scheduler may start it at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.enabled
            && !self.paused
            && !self.quarantined
            && self.next_rotation.is_some_and(|t| t <= now)
    }
}

/// Why a secret needs attention before (or after) its due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Reminder {
    /// The next rotation was due at `due` and has not happened.
    Overdue {
        /// When it was due.
        due: DateTime<Utc>,
    },
    /// The next rotation is due at `due`, within the policy's `remind_before`.
    DueSoon {
        /// When it is due.
        due: DateTime<Utc>,
    },
}

impl Reminder {
    /// The due time the reminder is about.
    pub fn due(&self) -> DateTime<Utc> {
        match self {
            Self::Overdue { due } | Self::DueSoon { due } => *due,
        }
    }

    /// `overdue` or `due_soon`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Overdue { .. } => "overdue",
            Self::DueSoon { .. } => "due_soon",
        }
    }
}

/// How one attempt ended, as the schedule records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// Its status.
    pub status: RotationStatus,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Whether the scheduler started it (only scheduled failures count towards quarantine).
    pub scheduled: bool,
    /// The policy's retries before quarantine.
    pub max_retries: u8,
    /// The next regular time, after a success.
    pub next_after_success: Option<DateTime<Utc>>,
    /// The retry time (with backoff), after a scheduled failure.
    pub retry_at: DateTime<Utc>,
}

/// One change to a persisted schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleChange {
    /// Rotate on schedule again (`schedule enable`).
    Enable,
    /// Never rotate on schedule (`schedule disable`).
    Disable,
    /// Skip scheduled rotations until resumed (`schedule pause`).
    Pause,
    /// End a pause and a quarantine; failures count from zero again (`schedule resume`).
    Resume,
    /// The config's timing changed: new policy and fingerprint, next time recomputed.
    Respec {
        /// Policy name.
        policy: String,
        /// Fingerprint of the timing.
        spec: String,
        /// The recomputed next time.
        next_rotation: Option<DateTime<Utc>>,
    },
    /// A rotation of the secret finished.
    Finished(AttemptOutcome),
    /// This reminder was sent (see [`ScheduleRecord::reminder_pending`]).
    Reminded(Reminder),
}

impl ScheduleChange {
    /// The operator change named `word` (`enable`, `disable`, `pause`, `resume`).
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "enable" => Self::Enable,
            "disable" => Self::Disable,
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            _ => return None,
        })
    }

    /// Its name (the operator word, `respec` or `finished`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Respec { .. } => "respec",
            Self::Finished(_) => "finished",
            Self::Reminded(_) => "reminded",
        }
    }

    /// Apply the rule to `record`. Each change writes only the fields it owns, so changes
    /// commute where they should (a pause and a finished rotation, in either order, leave the
    /// schedule paused with the rotation counted).
    pub fn apply(&self, record: &mut ScheduleRecord) {
        match self {
            Self::Enable => record.enabled = true,
            Self::Disable => record.enabled = false,
            Self::Pause => record.paused = true,
            Self::Resume => {
                record.paused = false;
                record.quarantined = false;
                record.consecutive_failures = 0;
            }
            Self::Respec {
                policy,
                spec,
                next_rotation,
            } => {
                record.policy.clone_from(policy);
                record.spec.clone_from(spec);
                record.next_rotation = *next_rotation;
            }
            Self::Finished(outcome) => record.record_result(outcome),
            Self::Reminded(reminder) => {
                record.reminded_for = Some(reminder.due());
                record.reminded_overdue = matches!(reminder, Reminder::Overdue { .. });
            }
        }
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
        let outcome = |status, scheduled, next_after_success| AttemptOutcome {
            status,
            at: now,
            scheduled,
            max_retries: 2,
            next_after_success,
            retry_at: retry,
        };
        for attempt in 1..=3 {
            s.record_result(&outcome(RotationStatus::RolledBack, true, None));
            assert_eq!(s.consecutive_failures, attempt);
            assert_eq!(
                s.quarantined,
                attempt == 3,
                "quarantined after max_retries retries failed"
            );
        }
        assert!(!s.is_due(retry), "quarantined schedules are never due");
        s.record_result(&outcome(RotationStatus::Failed, false, None));
        assert!(s.quarantined, "a failed manual rotation changes nothing");
        let next = now + chrono::Duration::days(1);
        s.record_result(&outcome(RotationStatus::Success, false, Some(next)));
        assert!(!s.quarantined && s.consecutive_failures == 0 && s.next_rotation == Some(next));
        assert_eq!(s.rotation_count, 1);
    }

    #[test]
    fn changes_follow_the_operator_rules() {
        let now = Utc::now();
        let mut s = ScheduleRecord::new("s".into(), "p", "every 1d", Some(now));
        ScheduleChange::Pause.apply(&mut s);
        assert!(s.paused && !s.is_due(now) && s.state_word() == "paused");
        s.quarantined = true;
        s.consecutive_failures = 4;
        ScheduleChange::Resume.apply(&mut s);
        assert!(!s.paused && !s.quarantined && s.consecutive_failures == 0 && s.is_due(now));
        ScheduleChange::Disable.apply(&mut s);
        assert!(!s.is_active() && s.state_word() == "disabled");
        ScheduleChange::Enable.apply(&mut s);
        assert!(s.is_active());
        for word in ["enable", "disable", "pause", "resume"] {
            assert_eq!(ScheduleChange::parse(word).unwrap().as_str(), word);
        }
        assert!(ScheduleChange::parse("finish").is_none());
    }

    #[test]
    fn a_finished_rotation_keeps_a_pause() {
        let now = Utc::now();
        let mut s = ScheduleRecord::new("s".into(), "p", "every 1d", Some(now));
        ScheduleChange::Pause.apply(&mut s);
        ScheduleChange::Finished(AttemptOutcome {
            status: RotationStatus::Success,
            at: now,
            scheduled: true,
            max_retries: 3,
            next_after_success: Some(now),
            retry_at: now,
        })
        .apply(&mut s);
        assert!(s.paused && s.rotation_count == 1);
    }

    #[test]
    fn reminders_once_per_due_time() {
        let now = Utc::now();
        let week = Duration::from_secs(7 * 86_400);
        let soon = now + chrono::Duration::days(2);
        let mut s = ScheduleRecord::new("s".into(), "p", "every 30d", Some(soon));
        assert_eq!(
            s.reminder(now, None),
            None,
            "no window: only overdue counts"
        );
        assert_eq!(
            s.reminder(now, Some(week)),
            Some(Reminder::DueSoon { due: soon })
        );
        assert_eq!(
            s.reminder(now + chrono::Duration::days(3), None),
            Some(Reminder::Overdue { due: soon })
        );
        ScheduleChange::Reminded(Reminder::DueSoon { due: soon }).apply(&mut s);
        assert_eq!(s.reminder_pending(now, Some(week)), None, "sent once");
        let later = now + chrono::Duration::days(3);
        assert_eq!(
            s.reminder_pending(later, Some(week)),
            Some(Reminder::Overdue { due: soon }),
            "due soon does not stand in for overdue"
        );
        ScheduleChange::Reminded(Reminder::Overdue { due: soon }).apply(&mut s);
        assert_eq!(
            s.reminder_pending(later, Some(week)),
            None,
            "overdue sent once"
        );
        s.paused = true;
        assert!(
            s.reminder(now, Some(week)).is_some(),
            "paused secrets still come due"
        );
        s.next_rotation = Some(now + chrono::Duration::days(32));
        assert_eq!(
            s.reminder_pending(now, Some(week)),
            None,
            "not yet in the window"
        );
        s.next_rotation = Some(now - chrono::Duration::hours(1));
        assert!(
            s.reminder_pending(now, Some(week)).is_some(),
            "a new due time reminds again"
        );
        s.enabled = false;
        assert_eq!(s.reminder(now, Some(week)), None, "disabled: never due");
    }
}
