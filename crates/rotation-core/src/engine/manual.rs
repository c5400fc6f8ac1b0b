//! Operator actions outside a rotation: manual rollback and verification of the current value.

use super::*;

impl Engine {
    /// Make the previous version current again (CAS) and re-apply it to the target.
    pub async fn rollback(&self, binding: &SecretBinding) -> Result<RollbackOutcome> {
        let _guard = self
            .claim(&binding.id)
            .ok_or_else(|| Error::new(ErrorKind::InProgress, "rotation already in progress"))?;
        let store = &binding.store;
        let current = store.read_current(&binding.path).await?;
        let previous = store.read_previous(&binding.path).await?.ok_or_else(|| {
            Error::not_found(format!(
                "secret {} has no previous version to roll back to",
                binding.id
            ))
        })?;
        // Everything that can fail without side effects happens before the restore.
        let credential = match (&binding.target, &binding.field) {
            (None, _) => None,
            (Some(_), Some(f)) => Some(field::extract(&previous.value, f)?),
            (Some(_), None) => Some(previous.value.clone()),
        };
        let to = store
            .restore(&binding.path, &previous.version, &current.version)
            .await?;
        let mut target_reapplied = false;
        let mut failure = None;
        if let (Some(t), Some(credential)) = (&binding.target, credential) {
            let ctx = VerifyContext {
                secret: binding.id.clone(),
                rotation_id: None,
            };
            match t.apply(&ctx, &credential).await {
                Ok(()) => target_reapplied = true,
                Err(err) => failure = Some(err),
            }
        }
        let mut e = AuditEvent::new(self.inner.clock.now(), AuditAction::ManualRollback);
        e.secret = Some(binding.id.clone());
        e.old_version = Some(current.version.clone());
        e.new_version = Some(to.clone());
        e.store = Some(store.kind().to_owned());
        e.error = failure.as_ref().map(|f| format!("target: {f}"));
        if let Err(err) = self.inner.audit.record(&e).await {
            // The rollback happened: report it, and the missing record, rather than hide it.
            tracing::error!(secret = %binding.id, error = %err, "audit record of a rollback failed");
        }
        if let Some(err) = failure {
            return Err(Error::new(
                ErrorKind::Target,
                format!("store restored to version {to}, but re-applying the target failed: {err}"),
            ));
        }
        Ok(RollbackOutcome {
            secret: binding.id.clone(),
            from_version: current.version,
            to_version: to,
            target_reapplied,
        })
    }

    /// Run the verifiers against the current value. Fails closed when none is configured.
    pub async fn verify_current(&self, binding: &SecretBinding) -> Result<VersionId> {
        if binding.verifiers.is_empty() {
            return Err(Error::config(
                format!("secrets.{}.verifiers", binding.id),
                "no verifier configured",
            ));
        }
        let current = binding.store.read_current(&binding.path).await?;
        let credential = match &binding.field {
            Some(f) => field::extract(&current.value, f)?,
            None => current.value,
        };
        let ctx = VerifyContext {
            secret: binding.id.clone(),
            rotation_id: None,
        };
        for v in &binding.verifiers {
            v.verify(&ctx, &credential)
                .await
                .map_err(|e| Error::new(e.kind(), format!("verifier {}: {e}", v.name())))?;
        }
        Ok(current.version)
    }
}
