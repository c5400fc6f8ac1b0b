//! Near-expiry reminders: secrets whose next rotation is overdue, or due within their policy's
//! `remind_before`. [`current`] lists them (for `status` and the server's gauge); [`send`]
//! notifies the `reminder` webhooks once per due time and marks the schedule
//! ([`ScheduleChange::Reminded`]), so a cron-driven `rotation run` does not repeat itself.

use chrono::{DateTime, Utc};
use rotation_config::Resolved;
use rotation_core::{Reminder, Result, ScheduleChange, ScheduleRecord, SecretId};

use crate::Runtime;
use crate::notify::{Event, EventKind};

/// The reminders due at `now` for the configured secrets among `schedules`, sent or not.
pub fn current(
    cfg: &Resolved,
    schedules: &[ScheduleRecord],
    now: DateTime<Utc>,
) -> Vec<(SecretId, Reminder)> {
    schedules
        .iter()
        .filter_map(|s| {
            let entry = cfg.secret(s.secret.as_str())?;
            let reminder = s.reminder(now, entry.policy.remind_before())?;
            Some((s.secret.clone(), reminder))
        })
        .collect()
}

/// What one [`send`] saw and did.
#[derive(Debug, Clone, Default)]
pub struct Sweep {
    /// Every reminder due at the time of the sweep, sent now or before.
    pub current: Vec<(SecretId, Reminder)>,
    /// How many were sent by this sweep.
    pub sent: usize,
}

impl Sweep {
    /// How many of [`Sweep::current`] are overdue.
    pub fn overdue(&self) -> usize {
        self.current
            .iter()
            .filter(|(_, r)| matches!(r, Reminder::Overdue { .. }))
            .count()
    }
}

/// Send the reminders not sent yet for their due time. Without a webhook subscribed to
/// `reminder` nothing is marked (a webhook configured later still reminds); each reminder is
/// logged at warn either way. A secret rotating in this process right now is skipped: its
/// schedule moves when the rotation ends.
pub async fn send(rt: &Runtime, now: DateTime<Utc>) -> Result<Sweep> {
    let schedules = rt.state().schedules().await?;
    let mut sent = 0;
    for s in &schedules {
        let Some(entry) = rt.config().secret(s.secret.as_str()) else {
            continue;
        };
        let Some(reminder) = s.reminder_pending(now, entry.policy.remind_before()) else {
            continue;
        };
        if rt.engine().running(&s.secret).is_some() {
            continue;
        }
        let message = describe(&s.secret, reminder, now);
        tracing::warn!(secret = %s.secret, state = reminder.as_str(), due = %reminder.due(), "{message}");
        if !rt.notifier().wants(EventKind::Reminder) {
            continue;
        }
        // Marked first: a crash between the two loses one reminder rather than repeating it
        // at every run.
        rt.state()
            .update_schedule(&s.secret, &ScheduleChange::Reminded(reminder))
            .await?;
        rt.notifier().notify(Event {
            kind: EventKind::Reminder,
            secret: Some(s.secret.clone()),
            rotation_id: None,
            status: None,
            error_kind: None,
            message,
            at: now,
        });
        sent += 1;
    }
    Ok(Sweep {
        current: current(rt.config(), &schedules, now),
        sent,
    })
}

/// `db is overdue: its rotation was due at ... (3d ago)` / `db is due for rotation at ... (in 2d)`.
pub fn describe(secret: &SecretId, reminder: Reminder, now: DateTime<Utc>) -> String {
    let due = reminder.due();
    let at = due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let apart = humanize((due - now).abs());
    match reminder {
        Reminder::Overdue { .. } => {
            format!("{secret} is overdue: its rotation was due at {at} ({apart} ago)")
        }
        Reminder::DueSoon { .. } => format!("{secret} is due for rotation at {at} (in {apart})"),
    }
}

/// The largest whole unit of `d`: `3d`, `5h`, `12m`, `40s`.
fn humanize(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_say_when() {
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        let id = SecretId::new("db");
        let due = now - chrono::Duration::days(3);
        assert_eq!(
            describe(&id, Reminder::Overdue { due }, now),
            "db is overdue: its rotation was due at 2026-11-30T12:00:00Z (3d ago)"
        );
        let due = now + chrono::Duration::hours(5);
        assert_eq!(
            describe(&id, Reminder::DueSoon { due }, now),
            "db is due for rotation at 2026-12-03T17:00:00Z (in 5h)"
        );
    }
}
