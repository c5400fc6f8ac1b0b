//! Reconciling the config's secrets into persisted schedules.

use chrono::{DateTime, Utc};
use rotation_core::{ScheduleChange, ScheduleRecord, StateStore};

use crate::Resolved;

/// Make the state store's schedules match the config: add new secrets and recompute the next
/// due time of secrets whose timing changed (keeping counters, pause and quarantine). Schedules
/// of secrets no longer configured are removed lazily, when `run` finds one due (a full scan here
/// would cost every command a pass over every schedule).
pub async fn reconcile(
    cfg: &Resolved,
    state: &dyn StateStore,
    now: DateTime<Utc>,
) -> rotation_core::Result<()> {
    // One query for all (a config can hold 100k secrets; one read each took seconds).
    let mut existing: std::collections::HashMap<_, _> = state
        .schedules()
        .await?
        .into_iter()
        .map(|r| (r.secret.clone(), r))
        .collect();
    for entry in &cfg.secrets {
        let fingerprint = format!(
            "policy={} {}",
            entry.policy.name(),
            entry.timing.fingerprint()
        );
        let next = entry.timing.next_after(&entry.id, now);
        match existing.remove(&entry.id) {
            None => {
                let record =
                    ScheduleRecord::new(entry.id.clone(), entry.policy.name(), &fingerprint, next);
                state.put_schedule(&record).await?;
            }
            Some(existing) if existing.spec == fingerprint => {}
            Some(existing) => {
                // One atomic change (counters, pause and quarantine kept even if an operator
                // changes them meanwhile).
                let from = existing.last_success.unwrap_or(now);
                let change = ScheduleChange::Respec {
                    policy: entry.policy.name().to_owned(),
                    spec: fingerprint,
                    next_rotation: entry.timing.next_after(&entry.id, from),
                };
                state.update_schedule(&entry.id, &change).await?;
            }
        }
    }
    Ok(())
}
