//! In-memory schedules driven by the engine (the durable scheduler lives in the state store).

use super::*;

impl Engine {
    /// Add (or replace) the schedule of `binding` from its policy's interval.
    pub fn schedule(&self, binding: &SecretBinding) -> Result<Schedule> {
        let now = self.inner.clock.now();
        lock(&self.inner.scheduler).schedule(
            binding.id.clone(),
            binding.policy.name(),
            binding.policy.interval(),
            now,
        )
    }

    /// Remove a schedule.
    pub fn unschedule(&self, secret: &SecretId) -> bool {
        lock(&self.inner.scheduler).unschedule(secret)
    }

    /// Enable or disable a schedule.
    pub fn set_schedule_enabled(&self, secret: &SecretId, enabled: bool) -> Result<()> {
        lock(&self.inner.scheduler).set_enabled(secret, enabled)
    }

    /// One schedule.
    pub fn get_schedule(&self, secret: &SecretId) -> Option<Schedule> {
        lock(&self.inner.scheduler).get(secret).cloned()
    }

    /// All schedules.
    pub fn list_schedules(&self) -> Vec<Schedule> {
        lock(&self.inner.scheduler).list()
    }

    /// Rotate every secret due now, one after the other, and move their schedules forward.
    /// Secrets without a binding are skipped with a warning.
    pub async fn process_due(
        &self,
        bindings: &HashMap<SecretId, SecretBinding>,
    ) -> Vec<RotationResult> {
        let now: DateTime<Utc> = self.inner.clock.now();
        let due = lock(&self.inner.scheduler).due(now);
        let mut results = Vec::with_capacity(due.len());
        for id in due {
            let Some(binding) = bindings.get(&id) else {
                tracing::warn!(secret = %id, "scheduled secret has no binding; skipped");
                continue;
            };
            let result = self.rotate(binding, RotateRequest::default()).await;
            let finished = self.inner.clock.now();
            if let Err(err) = lock(&self.inner.scheduler).record_run(&id, result.success, finished)
            {
                tracing::error!(secret = %id, error = %err, "could not reschedule");
            }
            results.push(result);
        }
        results
    }
}
