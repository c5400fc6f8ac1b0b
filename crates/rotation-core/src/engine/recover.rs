//! Crash recovery: resolve every rotation the journal shows unfinished, then discard pending
//! values that no live rotation owns (found through the store's own rotation-id markers, so this
//! works even if the state database was lost).

use serde::Serialize;

use super::*;
use crate::machine::resume;
use crate::state::StateStore;
use crate::store::VersionState;

/// What recovery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryAction {
    /// The rotation had been promoted; cleanup was finished.
    Finished,
    /// The rotation was rolled back.
    RolledBack,
    /// Nothing had changed yet; the rotation is closed as failed.
    Closed,
    /// Recovery tried and failed; it will try again next time.
    Failed,
    /// Left alone (its lease is held, or the secret is no longer configured).
    Skipped,
    /// A pending value without a live rotation was discarded.
    DiscardedOrphan,
}

/// One recovery decision.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    /// Secret.
    pub secret: SecretId,
    /// Rotation concerned.
    pub rotation_id: Option<RotationId>,
    /// The step the journal last recorded as intended.
    pub interrupted_at: Option<Step>,
    /// What was done.
    pub action: RecoveryAction,
    /// Final status of the rotation, when it was resolved.
    pub status: Option<RotationStatus>,
    /// Explanation (value-free).
    pub detail: Option<String>,
}

impl RecoveryReport {
    fn skipped(
        secret: &SecretId,
        rotation_id: Option<&RotationId>,
        step: Option<Step>,
        why: String,
    ) -> Self {
        Self {
            secret: secret.clone(),
            rotation_id: rotation_id.cloned(),
            interrupted_at: step,
            action: RecoveryAction::Skipped,
            status: None,
            detail: Some(why),
        }
    }
}

impl Engine {
    /// Resolve every unfinished rotation and discard orphaned pending values of `bindings`.
    /// Idempotent: a second run finds nothing to do. Every action is audited.
    pub async fn recover(
        &self,
        bindings: &HashMap<SecretId, SecretBinding>,
    ) -> Result<Vec<RecoveryReport>> {
        let state =
            self.inner.state.clone().ok_or_else(|| {
                Error::new(ErrorKind::NotSupported, "recovery needs a state store")
            })?;
        let mut reports = Vec::new();
        for interrupted in state.unfinished().await? {
            reports.extend(self.recover_one(&state, bindings, interrupted).await);
        }
        let mut ids: Vec<&SecretId> = bindings.keys().collect();
        ids.sort();
        for id in ids {
            reports.extend(self.discard_orphans(&state, &bindings[id]).await);
            self.reap_expired_lease(&state, id).await?;
        }
        Ok(reports)
    }

    /// A dead holder's expired lease blocks nobody, but leaving it would make `status` show a
    /// holder that is gone: take it over and release it.
    async fn reap_expired_lease(
        &self,
        state: &Arc<dyn StateStore>,
        secret: &SecretId,
    ) -> Result<()> {
        let expired = state
            .lease(secret)
            .await?
            .is_some_and(|l| l.expires_at <= self.inner.clock.now());
        if expired && let Ok(lease) = self.take_lease(state, secret).await {
            tracing::info!(%secret, "expired lease of a dead holder removed");
            lease.release().await;
        }
        Ok(())
    }

    async fn take_lease(
        &self,
        state: &Arc<dyn StateStore>,
        secret: &SecretId,
    ) -> std::result::Result<LeaseKeeper, String> {
        match LeaseKeeper::acquire(
            state.clone(),
            self.inner.clock.clone(),
            secret,
            &self.inner.holder,
            self.inner.lease_ttl,
        )
        .await
        {
            Ok(Ok(lease)) => Ok(lease),
            Ok(Err(held)) => Err(held.map_or_else(
                || "lease busy".to_owned(),
                |l| {
                    format!(
                        "lease held by {} until {}: the rotation may still be running",
                        l.holder,
                        l.expires_at.to_rfc3339()
                    )
                },
            )),
            Err(err) => Err(format!("cannot take the lease: {err}")),
        }
    }

    async fn recover_one(
        &self,
        state: &Arc<dyn StateStore>,
        bindings: &HashMap<SecretId, SecretBinding>,
        interrupted: RotationState,
    ) -> Option<RecoveryReport> {
        let (secret, rid, step) = (
            interrupted.secret.clone(),
            interrupted.rotation_id.clone(),
            interrupted.step,
        );
        let skipped = |why: String| {
            Some(RecoveryReport::skipped(
                &secret,
                Some(&rid),
                Some(step),
                why,
            ))
        };
        let Some(binding) = bindings.get(&secret) else {
            return skipped("secret is no longer configured".into());
        };
        let Some(_guard) = self.claim(&secret) else {
            return skipped("rotation in progress in this process".into());
        };
        let lease = match self.take_lease(state, &secret).await {
            Ok(lease) => lease,
            Err(why) => return skipped(why),
        };
        // The list was read before the lease: its owner may have finished since. Resume from
        // the record as it is now, under the lease.
        let report = match state.rotation(&rid).await {
            Ok(Some(fresh)) if !fresh.is_done() => Some(self.resolve(binding, fresh, &lease).await),
            Ok(_) => None,
            Err(err) => skipped(format!("cannot read the journal: {err}")),
        };
        lease.release().await;
        report
    }

    async fn resolve(
        &self,
        binding: &SecretBinding,
        interrupted: RotationState,
        lease: &LeaseKeeper,
    ) -> RecoveryReport {
        let (rid, step) = (interrupted.rotation_id.clone(), interrupted.step);
        let failed = |why: String| RecoveryReport {
            secret: binding.id.clone(),
            rotation_id: Some(rid.clone()),
            interrupted_at: Some(step),
            action: RecoveryAction::Failed,
            status: None,
            detail: Some(why),
        };
        let landed = match binding.store.list_versions(&binding.path).await {
            Ok(versions) => versions
                .into_iter()
                .find(|v| v.state == VersionState::Current && v.rotation_id.as_ref() == Some(&rid))
                .map(|v| v.version),
            Err(err) if err.kind() == ErrorKind::NotFound => None,
            Err(err) => return failed(format!("cannot read the store: {err}")),
        };
        let resumed = resume(interrupted, landed);
        let mut values = Values {
            new_credential: SecretValue::new(Vec::new()),
            new_document: None,
            old_credential: None,
        };
        let reverts_target =
            resumed.step == Step::RevertTarget || resumed.undo.contains(&Step::RevertTarget);
        if reverts_target && binding.target.is_some() {
            match self
                .old_credential(binding, resumed.old_version.as_ref())
                .await
            {
                Ok(old) => values.old_credential = Some(old),
                Err(err) => {
                    return failed(format!(
                        "cannot read the old value to revert the target: {err}"
                    ));
                }
            }
        }
        let finished = self.drive(binding, resumed, &mut values, Some(lease)).await;
        let status = finished.status();
        self.count(status).await;
        let action = match status {
            RotationStatus::Success => RecoveryAction::Finished,
            RotationStatus::RolledBack => RecoveryAction::RolledBack,
            _ if finished.undo_failed => RecoveryAction::Failed,
            _ => RecoveryAction::Closed,
        };
        let mut e = AuditEvent::new(self.inner.clock.now(), AuditAction::Recovered);
        e.secret = Some(binding.id.clone());
        e.rotation_id = Some(rid.clone());
        e.status = Some(status);
        e.strategy = Some(finished.plan.strategy);
        e.old_version = finished.old_version.clone();
        e.new_version = finished.new_version.clone();
        e.store = Some(binding.store.kind().to_owned());
        e.error = finished.error.clone();
        if let Err(err) = self.inner.audit.record(&e).await {
            tracing::error!(secret = %binding.id, error = %err, "audit record of a recovery failed");
        }
        tracing::info!(secret = %binding.id, rotation_id = %rid, interrupted_at = ?step, %status, "recovered");
        RecoveryReport {
            secret: binding.id.clone(),
            rotation_id: Some(rid),
            interrupted_at: Some(step),
            action,
            status: Some(status),
            detail: finished.error,
        }
    }

    async fn old_credential(
        &self,
        binding: &SecretBinding,
        old: Option<&VersionId>,
    ) -> Result<SecretValue> {
        let old = old.ok_or_else(|| Error::not_found("no old version was recorded"))?;
        let value = binding.store.read_version(&binding.path, old).await?.value;
        match &binding.field {
            Some(f) => field::extract(&value, f),
            None => Ok(value),
        }
    }

    async fn discard_orphans(
        &self,
        state: &Arc<dyn StateStore>,
        binding: &SecretBinding,
    ) -> Vec<RecoveryReport> {
        let pending: Vec<(VersionId, Option<RotationId>)> =
            match binding.store.list_versions(&binding.path).await {
                Ok(versions) => versions
                    .into_iter()
                    .filter(|v| v.state == VersionState::Pending)
                    .map(|v| (v.version, v.rotation_id))
                    .collect(),
                Err(_) => return Vec::new(),
            };
        if pending.is_empty() {
            return Vec::new();
        }
        let Some(_guard) = self.claim(&binding.id) else {
            return Vec::new();
        };
        let lease = match self.take_lease(state, &binding.id).await {
            Ok(lease) => lease,
            Err(why) => return vec![RecoveryReport::skipped(&binding.id, None, None, why)],
        };
        let mut reports = Vec::new();
        for (version, rid) in pending {
            let Some(rid) = rid else {
                reports.push(RecoveryReport::skipped(
                    &binding.id,
                    None,
                    None,
                    format!("pending version {version} carries no rotation id"),
                ));
                continue;
            };
            // Holding the secret's lease means no rotation of it is running: every pending value
            // is an orphan of a crashed one.
            let outcome = binding.store.discard_pending(&binding.path, &rid).await;
            let detail = match &outcome {
                Ok(()) => format!("orphaned pending version {version} discarded"),
                Err(err) => format!("could not discard orphaned pending version {version}: {err}"),
            };
            let mut e = AuditEvent::new(self.inner.clock.now(), AuditAction::Recovered);
            e.secret = Some(binding.id.clone());
            e.rotation_id = Some(rid.clone());
            e.new_version = Some(version);
            e.store = Some(binding.store.kind().to_owned());
            e.error = Some(detail.clone());
            if let Err(err) = self.inner.audit.record(&e).await {
                tracing::error!(secret = %binding.id, error = %err, "audit record of a recovery failed");
            }
            reports.push(RecoveryReport {
                secret: binding.id.clone(),
                rotation_id: Some(rid),
                interrupted_at: None,
                action: if outcome.is_ok() {
                    RecoveryAction::DiscardedOrphan
                } else {
                    RecoveryAction::Failed
                },
                status: None,
                detail: Some(detail),
            });
        }
        lease.release().await;
        reports
    }
}
