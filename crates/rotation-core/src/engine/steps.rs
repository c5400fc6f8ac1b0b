//! Performing one step against the store, target and verifiers, with retries and the
//! resolution of ambiguous write failures.

use super::{Engine, SecretBinding, Values};
use crate::error::{Error, ErrorKind, Result};
use crate::field;
use crate::machine::{Outcome, RotationState, Step};
use crate::secret::{SecretValue, VersionId};
use crate::verify::{Verifier, VerifyContext};

impl Engine {
    pub(super) async fn perform_with_retries(
        &self,
        binding: &SecretBinding,
        state: &RotationState,
        values: &mut Values,
    ) -> Outcome {
        let mut delay = self.inner.retry_base;
        for attempt in 1..=self.inner.step_attempts {
            match self.perform(binding, state, values).await {
                Err(err) if err.is_temporary() && attempt < self.inner.step_attempts => {
                    tracing::warn!(secret = %binding.id, step = ?state.step, attempt, error = %err, "temporary failure, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Ok(outcome) => return outcome,
                Err(err) => {
                    if let Some(version) = self.took_effect(binding, state, &err).await {
                        tracing::warn!(secret = %binding.id, step = ?state.step, error = %err,
                            "step reported a failure but its write is in place; continuing");
                        return Outcome::Version(version);
                    }
                    let message = format!("{} failed: {}", step_name(state.step), err);
                    return Outcome::Failed(Error::new(err.kind(), message));
                }
            }
        }
        Outcome::Failed(Error::internal("no attempt made"))
    }

    /// After a write step failed with an error that does not prove nothing happened (an I/O
    /// error after the rename, a lost reply), look at the store: if our write is in place, the
    /// step succeeded. Planning undo as if it had not would leave store and target disagreeing.
    async fn took_effect(
        &self,
        binding: &SecretBinding,
        state: &RotationState,
        err: &Error,
    ) -> Option<VersionId> {
        if matches!(err.kind(), ErrorKind::Conflict | ErrorKind::NotFound) {
            return None;
        }
        let store = &binding.store;
        match state.step {
            Step::WriteCurrent | Step::Promote => {
                let versions = store.list_versions(&binding.path).await.ok()?;
                versions
                    .into_iter()
                    .find(|v| v.state == crate::VersionState::Current)
                    .filter(|v| v.rotation_id.as_ref() == Some(&state.rotation_id))
                    .map(|v| v.version)
            }
            Step::RestoreStore => {
                let old = state.old_version.as_ref()?;
                let current = store.read_current(&binding.path).await.ok()?;
                let restored = store.read_version(&binding.path, old).await.ok()?;
                (current.value == restored.value).then_some(current.version)
            }
            _ => None,
        }
    }

    async fn perform(
        &self,
        binding: &SecretBinding,
        state: &RotationState,
        values: &mut Values,
    ) -> Result<Outcome> {
        let store = &binding.store;
        let path = &binding.path;
        let rid = &state.rotation_id;
        // Both credentials, so that output a target or verifier reports is scrubbed of either.
        let ctx = VerifyContext::new(binding.id.clone(), Some(rid.clone())).with_related_values(
            std::iter::once(values.new_credential.clone())
                .chain(values.old_credential.clone())
                .chain(values.related.iter().cloned()),
        );
        let need = |v: &Option<VersionId>, what: &str| {
            v.clone()
                .ok_or_else(|| Error::internal(format!("{what} version unknown at this step")))
        };
        Ok(match state.step {
            Step::ReadCurrent => match store.read_current(path).await {
                Ok(current) => {
                    if let Some(f) = &binding.field {
                        values.old_credential = Some(field::extract(&current.value, f)?);
                        values.new_document = Some(field::replace(
                            Some(&current.value),
                            f,
                            &values.new_credential,
                        )?);
                        values.old_document = Some(current.value);
                    } else {
                        values.old_credential = Some(current.value);
                    }
                    Outcome::Read(Some(current.version))
                }
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    if let Some(f) = &binding.field {
                        values.new_document =
                            Some(field::replace(None, f, &values.new_credential)?);
                    }
                    Outcome::Read(None)
                }
                Err(err) => return Err(err),
            },
            Step::Stage => {
                let doc = values
                    .new_document
                    .as_ref()
                    .unwrap_or(&values.new_credential);
                Outcome::Version(store.stage(path, rid, doc).await?)
            }
            Step::WriteCurrent => {
                let doc = values
                    .new_document
                    .as_ref()
                    .unwrap_or(&values.new_credential);
                Outcome::Version(
                    store
                        .write_current(path, rid, doc, state.old_version.as_ref())
                        .await?,
                )
            }
            Step::ApplyTarget => {
                if let Some(t) = &binding.target {
                    let ctx = ctx.with_document(values.new_document.clone());
                    t.apply(&ctx, &values.new_credential).await?;
                }
                Outcome::Done
            }
            Step::Verify => {
                let ctx = ctx.with_document(values.new_document.clone());
                for v in &binding.verifiers {
                    v.verify(&ctx, &values.new_credential)
                        .await
                        .map_err(|e| verifier_error(v.as_ref(), e))?;
                }
                Outcome::Done
            }
            Step::Promote => Outcome::Version(
                store
                    .promote(path, rid, &need(&state.old_version, "old")?)
                    .await?,
            ),
            Step::Cleanup | Step::DiscardPending => {
                store.discard_pending(path, rid).await?;
                Outcome::Done
            }
            Step::RestoreStore => {
                let old = need(&state.old_version, "old")?;
                Outcome::Version(
                    store
                        .restore(path, &old, &need(&state.new_version, "new")?)
                        .await?,
                )
            }
            Step::RevertTarget => {
                if let Some(t) = &binding.target {
                    // The store's value now, not the one read at the start (see `machine`).
                    let (document, current) = self.current_document(binding).await?;
                    t.apply(&ctx.with_document(document), &current).await?;
                }
                Outcome::Done
            }
            Step::RevokeOld => {
                if let Some(t) = &binding.target {
                    if values.old_credential.is_none() {
                        let old = need(&state.old_version, "old")?;
                        let (document, credential) = self.document_of(binding, &old).await?;
                        values.old_credential = Some(credential);
                        values.old_document = document;
                    }
                    if let Some(old) = &values.old_credential {
                        let ctx = ctx.with_document(values.old_document.clone());
                        t.revoke(&ctx, old).await?;
                    }
                }
                Outcome::Done
            }
            Step::Done => Outcome::Done,
        })
    }
}

impl Engine {
    /// The document the store holds now (structured secrets only) and its credential.
    pub(super) async fn current_document(
        &self,
        binding: &SecretBinding,
    ) -> Result<(Option<SecretValue>, SecretValue)> {
        let value = binding.store.read_current(&binding.path).await?.value;
        split(binding, value)
    }

    /// The credentials of `versions` (the values a target may hold during recovery: a
    /// single-user target logs in with one of them); versions that cannot be read are left out.
    pub(super) async fn credentials_of(
        &self,
        binding: &SecretBinding,
        versions: &[VersionId],
    ) -> Vec<SecretValue> {
        let mut out = Vec::new();
        for version in versions {
            if let Ok((_, credential)) = self.document_of(binding, version).await {
                out.push(credential);
            }
        }
        out
    }

    /// The document of one version (structured secrets only) and its credential.
    pub(super) async fn document_of(
        &self,
        binding: &SecretBinding,
        version: &VersionId,
    ) -> Result<(Option<SecretValue>, SecretValue)> {
        let value = binding
            .store
            .read_version(&binding.path, version)
            .await?
            .value;
        split(binding, value)
    }
}

/// A stored value as (document, credential): the field's value and its document for
/// structured secrets, the value itself otherwise.
pub(super) fn split(
    binding: &SecretBinding,
    value: SecretValue,
) -> Result<(Option<SecretValue>, SecretValue)> {
    match &binding.field {
        Some(f) => Ok((Some(value.clone()), field::extract(&value, f)?)),
        None => Ok((None, value)),
    }
}

/// A verifier's error, named by the verifier unless its message already starts that way (the
/// command verifier names itself as `verifier "<name>"`).
pub(super) fn verifier_error(v: &dyn Verifier, e: Error) -> Error {
    if e.message().starts_with(&format!("verifier {:?}", v.name())) {
        e
    } else {
        Error::new(e.kind(), format!("verifier {}: {e}", v.name()))
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::ReadCurrent => "read current",
        Step::Stage => "stage",
        Step::WriteCurrent => "write current",
        Step::ApplyTarget => "apply to target",
        Step::Verify => "verify",
        Step::Promote => "promote",
        Step::Cleanup => "cleanup",
        Step::RestoreStore => "restore",
        Step::RevertTarget => "revert target",
        Step::DiscardPending => "discard pending",
        Step::RevokeOld => "revoke the old credential",
        Step::Done => "done",
    }
}
