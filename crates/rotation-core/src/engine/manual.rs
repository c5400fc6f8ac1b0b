//! Operator actions outside a rotation: manual rollback and verification of the current value.
//! Both hold the secret's lease like a rotation (a rollback racing a rotation is refused), and
//! both are audited; the rollback is journaled too, so a crash in it is finished by recovery.

use super::lease::LeaseKeeper;
use super::{AuditAs, Driven, Engine, RollbackOutcome, SecretBinding, Values};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, ErrorKind, Result};
use crate::field;
use crate::machine::RotationState;
use crate::policy::RotationStatus;
use crate::secret::{RotationId, VersionId};
use crate::verify::VerifyContext;

impl Engine {
    /// Take the secret's lease for an operator action; a held lease refuses the action.
    async fn lease_for(&self, binding: &SecretBinding, what: &str) -> Result<Option<LeaseKeeper>> {
        let Some(state) = &self.inner.state else {
            return Ok(None);
        };
        match self.acquire_lease(state, &binding.id).await {
            Ok(Ok(lease)) => Ok(Some(lease)),
            Ok(Err(held)) => Err(Error::new(
                ErrorKind::InProgress,
                format!(
                    "cannot {what} {}: a rotation is in progress{}",
                    binding.id,
                    held.map_or_else(String::new, |l| format!(
                        " (lease held by {} until {})",
                        l.holder,
                        l.expires_at.to_rfc3339()
                    ))
                ),
            )),
            Err(err) => Err(Error::new(
                err.kind(),
                format!("cannot take the lease: {err}"),
            )),
        }
    }

    /// Make the previous version current again (CAS) and give the target the store's current
    /// value. Holds the lease, journals every step and is reported only once its audit record
    /// is durable.
    pub async fn rollback(&self, binding: &SecretBinding) -> Result<RollbackOutcome> {
        // The claim carries the id the rollback is journaled under (shown by a 409 elsewhere).
        let rotation_id = RotationId::generate();
        let _guard = self
            .claim(&binding.id, rotation_id.clone())
            .map_err(|running| {
                Error::new(
                    ErrorKind::InProgress,
                    format!("rotation already in progress (rotation {running})"),
                )
            })?;
        let lease = self.lease_for(binding, "roll back").await?;
        let outcome = match &lease {
            Some(held) => match self.settle_interrupted(binding, held).await {
                Ok(()) => {
                    self.rollback_held(binding, rotation_id, lease.as_ref())
                        .await
                }
                Err(err) => Err(err),
            },
            None => self.rollback_held(binding, rotation_id, None).await,
        };
        if let Some(lease) = lease {
            lease.release().await;
        }
        outcome
    }

    async fn rollback_held(
        &self,
        binding: &SecretBinding,
        rotation_id: RotationId,
        lease: Option<&LeaseKeeper>,
    ) -> Result<RollbackOutcome> {
        let store = &binding.store;
        let current = store.read_current(&binding.path).await?;
        let previous = store.read_previous(&binding.path).await?.ok_or_else(|| {
            Error::not_found(format!(
                "secret {} has no previous version to roll back to",
                binding.id
            ))
        })?;
        // Everything that can fail without side effects happens before the restore.
        let mut values = Values::empty();
        if binding.target.is_some() {
            if let Some(f) = &binding.field {
                field::extract(&previous.value, f)?;
            }
            // What the target holds now: a single-user target logs in with it.
            values.old_credential = Some(super::steps::split(binding, current.value.clone())?.1);
        }
        let state = RotationState::rollback(
            rotation_id,
            binding.id.clone(),
            binding.target.is_some(),
            current.version.clone(),
            previous.version.clone(),
        );
        let rotation_id = state.rotation_id.clone();
        let mut state = match self.drive(binding, state, &mut values, lease, false).await {
            Driven::Done(state) => state,
            Driven::Abandoned(_, err) => {
                return Err(Error::new(
                    err.kind(),
                    format!("{err}; the rollback is left to recovery, which finishes it"),
                ));
            }
        };
        self.audit_terminal(binding, &state, AuditAs::Outcome)
            .await
            .map_err(|err| {
                Error::new(
                    err.kind(),
                    format!(
                        "rollback of {} finished but its audit record could not be written ({err}); the next recovery writes it",
                        binding.id
                    ),
                )
            })?;
        self.close_audit(&mut state).await;
        let to = state.restored_version.clone();
        match (state.status(), to) {
            (RotationStatus::RolledBack, Some(to)) => Ok(RollbackOutcome {
                secret: binding.id.clone(),
                from_version: current.version,
                to_version: to,
                target_reapplied: binding.target.is_some(),
                rotation_id,
            }),
            (_, to) => {
                let why = state.error.unwrap_or_else(|| "rollback failed".into());
                Err(Error::new(
                    state.error_kind.unwrap_or(ErrorKind::Internal),
                    match to {
                        Some(to) => format!(
                            "store restored to version {to}, but the target could not be given it: {why}"
                        ),
                        None => why,
                    },
                ))
            }
        }
    }

    /// Run the verifiers against the current value, under the secret's lease (so the value
    /// checked is not replaced half-way), and audit the result. Fails closed when none is
    /// configured.
    pub async fn verify_current(&self, binding: &SecretBinding) -> Result<VersionId> {
        if binding.verifiers.is_empty() {
            return Err(Error::config(
                format!("secrets.{}.verifiers", binding.id),
                "no verifier configured",
            ));
        }
        let lease = self.lease_for(binding, "verify").await?;
        let checked = match &lease {
            Some(held) => match self.settle_interrupted(binding, held).await {
                Ok(()) => self.verify_held(binding).await,
                Err(err) => Err(err),
            },
            None => self.verify_held(binding).await,
        };
        let mut e = AuditEvent::new(self.inner.clock.now(), AuditAction::Verified);
        e.secret = Some(binding.id.clone());
        e.store = Some(binding.store.kind().to_owned());
        match &checked {
            Ok(version) => {
                e.status = Some(RotationStatus::Success);
                e.new_version = Some(version.clone());
            }
            Err(err) => {
                e.status = Some(RotationStatus::Failed);
                e.error = Some(err.to_string());
            }
        }
        let audited = self.inner.audit.record(&e).await;
        if let Some(lease) = lease {
            lease.release().await;
        }
        let version = checked?;
        audited.map_err(|err| {
            Error::new(
                err.kind(),
                format!("verified, but the audit record could not be written: {err}"),
            )
        })?;
        Ok(version)
    }

    async fn verify_held(&self, binding: &SecretBinding) -> Result<VersionId> {
        let current = binding.store.read_current(&binding.path).await?;
        let (document, credential) = super::steps::split(binding, current.value)?;
        let ctx = VerifyContext::new(binding.id.clone(), None).with_document(document);
        for v in &binding.verifiers {
            v.verify(&ctx, &credential)
                .await
                .map_err(|e| super::steps::verifier_error(v.as_ref(), e))?;
        }
        Ok(current.version)
    }
}
