//! Crash recovery: resolve every rotation the journal shows unfinished, then discard pending
//! values that no live rotation owns (found through the store's own rotation-id markers, so this
//! works even if the state database was lost).

use serde::Serialize;

use std::collections::HashMap;
use std::sync::Arc;

use super::lease::LeaseKeeper;
use super::{AuditAs, Driven, Engine, SecretBinding, Values};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, ErrorKind, Result};
use crate::machine::{RotationKind, RotationState, Step};
use crate::machine::{resume, supersede};
use crate::policy::RotationStatus;
use crate::secret::{RotationId, SecretId, VersionId};
use crate::state::StateStore;
use crate::store::VersionState;
use crate::verify::VerifyContext;

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
    /// A newer version had become current since the rotation started: it was closed without
    /// touching the store (its pending value discarded, the target given the current value).
    Superseded,
    /// The rotation had finished but its audit record was missing: recovery wrote it.
    Audited,
}

impl RecoveryAction {
    /// Whether something was resolved (a skip or a failed attempt is not a recovery).
    pub fn is_recovery(self) -> bool {
        !matches!(self, Self::Skipped | Self::Failed)
    }
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
        let state = self.state_for_recovery()?;
        let mut reports = self.recover_interrupted(bindings).await?;
        let mut ids: Vec<&SecretId> = bindings.keys().collect();
        ids.sort();
        for id in ids {
            reports.extend(self.discard_orphans(&state, &bindings[id]).await);
            self.reap_expired_lease(&state, id).await?;
        }
        Ok(reports)
    }

    /// Resolve the rotations the journal shows unfinished (one indexed query when there are
    /// none): what a long-running process calls every tick, so a rotation it skipped because a
    /// dead holder's lease was still live is finished once that lease expires.
    pub async fn recover_interrupted(
        &self,
        bindings: &HashMap<SecretId, SecretBinding>,
    ) -> Result<Vec<RecoveryReport>> {
        let state = self.state_for_recovery()?;
        let mut reports = Vec::new();
        for interrupted in state.unfinished().await? {
            reports.extend(self.recover_one(&state, bindings, interrupted).await);
        }
        Ok(reports)
    }

    /// Resolve the secret's interrupted rotations (of a process that died) under the lease
    /// this process now holds, before anything new starts on it: a new rotation, rollback or
    /// verification never runs over an unfinished one. Fails if one cannot be resolved.
    pub(super) async fn settle_interrupted(
        &self,
        binding: &SecretBinding,
        lease: &LeaseKeeper,
    ) -> Result<()> {
        let state = self.state_for_recovery()?;
        for interrupted in state.unfinished_of(&binding.id).await? {
            let rid = interrupted.rotation_id.clone();
            let report = self.resolve(binding, interrupted, lease).await;
            tracing::info!(secret = %binding.id, rotation_id = %rid, action = ?report.action, "interrupted rotation resolved before a new action");
            if report.action == RecoveryAction::Failed {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "interrupted rotation {rid} of {} could not be resolved first: {}",
                        binding.id,
                        report.detail.as_deref().unwrap_or("unknown reason")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn state_for_recovery(&self) -> Result<Arc<dyn StateStore>> {
        self.inner
            .state
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::NotSupported, "recovery needs a state store"))
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
        match self.acquire_lease(state, secret).await {
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
        let Some(_guard) = self.claim(&secret, rid.clone()).ok() else {
            return skipped("rotation in progress in this process".into());
        };
        let lease = match self.take_lease(state, &secret).await {
            Ok(lease) => lease,
            Err(why) => return skipped(why),
        };
        // The list was read before the lease: its owner may have finished since. Resume from
        // the record as it is now, under the lease.
        let report = match state.rotation(&rid).await {
            Ok(Some(fresh)) if !fresh.is_finished() => {
                Some(self.resolve(binding, fresh, &lease).await)
            }
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
        let report =
            |action: RecoveryAction, status: Option<RotationStatus>, detail: Option<String>| {
                RecoveryReport {
                    secret: binding.id.clone(),
                    rotation_id: Some(rid.clone()),
                    interrupted_at: Some(step),
                    action,
                    status,
                    detail,
                }
            };
        let failed = |why: String| report(RecoveryAction::Failed, None, Some(why));
        if interrupted.is_done() {
            // Finished, but the process died (or the audit log failed) before its terminal
            // record was durable.
            let mut done = interrupted;
            return match self.audit_terminal(binding, &done, AuditAs::Late).await {
                Ok(()) => {
                    self.close_audit(&mut done).await;
                    tracing::info!(secret = %binding.id, rotation_id = %rid, "missing audit record written");
                    report(
                        RecoveryAction::Audited,
                        Some(done.status()),
                        Some("the missing terminal audit record was written".into()),
                    )
                }
                Err(err) => failed(format!(
                    "the terminal audit record still cannot be written: {err}"
                )),
            };
        }
        let versions = match binding.store.list_versions(&binding.path).await {
            Ok(versions) => versions,
            Err(err) if err.kind() == ErrorKind::NotFound => Vec::new(),
            Err(err) => return failed(format!("cannot read the store: {err}")),
        };
        let current = versions
            .iter()
            .find(|v| v.state == VersionState::Current)
            .map(|v| v.version.clone());
        let landed = versions
            .into_iter()
            .find(|v| v.state == VersionState::Current && v.rotation_id.as_ref() == Some(&rid))
            .map(|v| v.version);
        // Never move backwards: if another rotation (or a write by hand) made a newer version
        // current after this one started, this record is stale.
        let forward = matches!(
            step,
            Step::ReadCurrent
                | Step::Stage
                | Step::WriteCurrent
                | Step::ApplyTarget
                | Step::Verify
                | Step::Promote
        );
        let newer = match (&current, &interrupted.old_version) {
            (Some(current), Some(old)) if forward && landed.is_none() && current != old => {
                Some(current.clone())
            }
            _ => None,
        };
        let superseded = newer.is_some() && interrupted.kind == RotationKind::Rotation;
        let resumed = match newer {
            Some(current) if superseded => supersede(interrupted, current),
            _ => resume(interrupted, landed),
        };
        // The values the target may hold now (the interrupted rotation's old and new), for a
        // single-user target's login; nothing else in recovery needs them.
        let mut values = Values::empty();
        if binding.target.is_some() {
            let versions: Vec<VersionId> = [&resumed.old_version, &resumed.new_version]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            values.related = self.credentials_of(binding, &versions).await;
        }
        let mut finished = match self
            .drive(binding, resumed, &mut values, Some(lease), false)
            .await
        {
            Driven::Done(state) => state,
            Driven::Abandoned(_, err) => return failed(format!("{err}; retried next time")),
        };
        let status = finished.status();
        if finished.kind == RotationKind::Rotation {
            self.count(status).await;
            if !superseded {
                let attempt = self.attempt_of(&binding.id).await;
                self.move_schedule(binding, status, finished.scheduled, attempt)
                    .await;
            }
        }
        let note = format!("interrupted at {step:?}, resolved by recovery");
        let audited = self
            .audit_terminal(binding, &finished, AuditAs::Recovered(&note))
            .await;
        let audit_error = match audited {
            Ok(()) => {
                self.close_audit(&mut finished).await;
                None
            }
            Err(err) => Some(format!(
                "; its audit record could not be written ({err}): retried next time"
            )),
        };
        tracing::info!(secret = %binding.id, rotation_id = %rid, interrupted_at = ?step, %status, "recovered");
        let action = match status {
            _ if audit_error.is_some() => RecoveryAction::Failed,
            _ if superseded => RecoveryAction::Superseded,
            RotationStatus::Success => RecoveryAction::Finished,
            RotationStatus::RolledBack => RecoveryAction::RolledBack,
            _ if finished.undo_failed => RecoveryAction::Failed,
            _ => RecoveryAction::Closed,
        };
        let detail = match (finished.error, audit_error) {
            (Some(e), Some(a)) => Some(format!("{e}{a}")),
            (None, Some(a)) => Some(a.trim_start_matches("; ").to_owned()),
            (e, None) => e,
        };
        report(action, Some(status), detail)
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
        let Some(_guard) = self.claim_any(&binding.id) else {
            return Vec::new();
        };
        let lease = match self.take_lease(state, &binding.id).await {
            Ok(lease) => lease,
            Err(why) => return vec![RecoveryReport::skipped(&binding.id, None, None, why)],
        };
        let mut reports = Vec::new();
        let mut orphans = Vec::new();
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
            // A pending value whose rotation the journal still has open is the journal's to
            // resolve (it may be applied to the target, or its audit may be missing).
            match state.rotation(&rid).await {
                Ok(Some(record)) if !record.is_finished() => continue,
                Ok(_) => orphans.push((version, rid)),
                Err(err) => reports.push(RecoveryReport::skipped(
                    &binding.id,
                    Some(&rid),
                    None,
                    format!("cannot read the journal: {err}"),
                )),
            }
        }
        // Holding the secret's lease means no rotation of it is running: every such pending
        // value is an orphan of a crashed one whose journal record is gone. The target may
        // already use it, so the target is first given the store's current value: discarding
        // must never leave the target with a credential no store holds.
        let synced = match (&binding.target, orphans.is_empty()) {
            (Some(target), false) => {
                // The orphans' values are what the target may hold now (a single-user target
                // logs in with one of them), so they are the related values.
                let versions: Vec<VersionId> = orphans.iter().map(|(v, _)| v.clone()).collect();
                let related = self.credentials_of(binding, &versions).await;
                match self.current_document(binding).await {
                    Ok((document, current)) => {
                        let ctx = VerifyContext::new(binding.id.clone(), None)
                            .with_related_values(
                                std::iter::once(current.clone()).chain(related),
                            )
                            .with_document(document);
                        target.apply(&ctx, &current).await
                    }
                    Err(err) => Err(err),
                }
                .map(|()| true)
                .map_err(|err| {
                    format!(
                        "the target could not be given the current value, so the pending value is kept: {err}"
                    )
                })
            }
            _ => Ok(false),
        };
        for (version, rid) in orphans {
            let outcome = match &synced {
                Ok(_) => binding
                    .store
                    .discard_pending(&binding.path, &rid)
                    .await
                    .map_err(|err| {
                        format!("could not discard orphaned pending version {version}: {err}")
                    }),
                Err(why) => Err(why.clone()),
            };
            let detail = match (&outcome, &synced) {
                (Ok(()), Ok(true)) => format!(
                    "orphaned pending version {version} discarded; target given the current value"
                ),
                (Ok(()), _) => format!("orphaned pending version {version} discarded"),
                (Err(why), _) => why.clone(),
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
