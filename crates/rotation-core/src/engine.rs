//! The async driver of the state machine: performs each step against the store, target and
//! verifiers, journals intents, audits attempts and counts statistics.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditEvent, AuditSink, NoAudit};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::field;
use crate::generator::SecretGenerator;
use crate::journal::{Journal, NoJournal};
use crate::machine::{Outcome, Plan, RotationState, Step, advance};
use crate::policy::{RotationPolicy, RotationStatus, RotationStrategy};
use crate::result::RotationResult;
use crate::schedule::{Schedule, Scheduler};
use crate::secret::{RotationId, SecretId, SecretPath, SecretValue, VersionId};
use crate::stats::{Statistics, StatsCounter};
use crate::store::SecretStore;
use crate::verify::{Target, Verifier, VerifyContext};

/// Everything the engine needs to rotate one configured secret.
#[derive(Debug, Clone)]
pub struct SecretBinding {
    /// Configured id.
    pub id: SecretId,
    /// Store holding it.
    pub store: Arc<dyn SecretStore>,
    /// Path inside the store.
    pub path: SecretPath,
    /// JSON field holding the credential, if the secret is a JSON object.
    pub field: Option<String>,
    /// Policy.
    pub policy: Arc<RotationPolicy>,
    /// Generator of new values.
    pub generator: Arc<dyn SecretGenerator>,
    /// Verifiers, in order (resolved from the policy and the secret).
    pub verifiers: Vec<Arc<dyn Verifier>>,
    /// System that must accept the new credential.
    pub target: Option<Arc<dyn Target>>,
    /// Whether a missing secret may be created.
    pub create_if_missing: bool,
}

/// Options of one rotation.
#[derive(Debug, Default)]
pub struct RotateRequest {
    /// Use this value instead of generating one.
    pub value: Option<SecretValue>,
    /// Override the policy's strategy (emergency rotations use immediate).
    pub strategy: Option<RotationStrategy>,
}

/// Result of a manual rollback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RollbackOutcome {
    /// Secret.
    pub secret: SecretId,
    /// Version that was current.
    pub from_version: VersionId,
    /// Version that is current now.
    pub to_version: VersionId,
    /// Whether the target was re-applied.
    pub target_reapplied: bool,
}

struct Inner {
    audit: Arc<dyn AuditSink>,
    journal: Arc<dyn Journal>,
    clock: Arc<dyn Clock>,
    in_progress: Mutex<HashSet<SecretId>>,
    stats: StatsCounter,
    scheduler: Mutex<Scheduler>,
    step_attempts: u32,
    retry_base: Duration,
}

/// The rotation engine. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Builder for [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    audit: Arc<dyn AuditSink>,
    journal: Arc<dyn Journal>,
    clock: Arc<dyn Clock>,
    step_attempts: u32,
    retry_base: Duration,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            audit: Arc::new(NoAudit),
            journal: Arc::new(NoJournal),
            clock: Arc::new(SystemClock),
            step_attempts: 3,
            retry_base: Duration::from_millis(200),
        }
    }
}

impl EngineBuilder {
    /// Audit sink (default: none).
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }
    /// Journal (default: none).
    pub fn journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = journal;
        self
    }
    /// Clock (default: system).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Attempts per step for temporary errors (default 3) and the first backoff delay.
    pub fn step_retries(mut self, attempts: u32, base_delay: Duration) -> Self {
        self.step_attempts = attempts.max(1);
        self.retry_base = base_delay;
        self
    }
    /// Build.
    pub fn build(self) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                audit: self.audit,
                journal: self.journal,
                clock: self.clock,
                in_progress: Mutex::default(),
                stats: StatsCounter::default(),
                scheduler: Mutex::default(),
                step_attempts: self.step_attempts,
                retry_base: self.retry_base,
            }),
        }
    }
}

/// Removes the secret from the in-progress set when the rotation ends, however it ends.
struct InProgressGuard<'a> {
    set: &'a Mutex<HashSet<SecretId>>,
    id: SecretId,
}

impl Drop for InProgressGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.id);
        }
    }
}

/// Values of one rotation, kept in memory only (never journaled).
struct Values {
    /// The new credential (the field's value for structured secrets).
    new_credential: SecretValue,
    /// What is written to the store (the whole document for structured secrets).
    new_document: Option<SecretValue>,
    /// The old credential, for reverting the target.
    old_credential: Option<SecretValue>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Start building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Mark `id` as rotating in this process; `None` if it already is.
    fn claim(&self, id: &SecretId) -> Option<InProgressGuard<'_>> {
        let inserted = lock(&self.inner.in_progress).insert(id.clone());
        inserted.then(|| InProgressGuard {
            set: &self.inner.in_progress,
            id: id.clone(),
        })
    }

    /// Rotate one secret. Never panics on a failure and never returns `success` unless the new
    /// value is current and verified (or verification was explicitly not required).
    pub async fn rotate(&self, binding: &SecretBinding, request: RotateRequest) -> RotationResult {
        let started_at = self.inner.clock.now();
        let start = Instant::now();
        let rotation_id = RotationId::generate();
        let strategy = request.strategy.unwrap_or(binding.policy.strategy());
        let reject = |kind: ErrorKind, message: String| RotationResult {
            rotation_id: rotation_id.clone(),
            secret: binding.id.clone(),
            success: false,
            status: RotationStatus::Failed,
            strategy,
            old_version: None,
            new_version: None,
            started_at,
            completed_at: self.inner.clock.now(),
            duration_ms: start.elapsed().as_secs_f64() * 1e3,
            verification_passed: false,
            rollback_performed: false,
            attempts: 1,
            error: Some(message),
            error_kind: Some(kind),
        };

        let Some(guard) = self.claim(&binding.id) else {
            let result = reject(ErrorKind::InProgress, "rotation already in progress".into());
            self.audit_result(binding, &result, AuditAction::Rejected)
                .await;
            return result;
        };

        if let Err(err) = self.preflight(binding, strategy, request.value.as_ref()) {
            let result = reject(err.kind(), err.to_string());
            self.audit_result(binding, &result, AuditAction::Rejected)
                .await;
            return result;
        }
        let new_credential = match request.value {
            Some(v) => v,
            None => match binding.generator.generate() {
                Ok(v) => v,
                Err(err) => {
                    let result = reject(err.kind(), err.to_string());
                    self.audit_result(binding, &result, AuditAction::Rejected)
                        .await;
                    return result;
                }
            },
        };

        let plan = Plan {
            strategy,
            has_target: binding.target.is_some(),
            verify: !binding.verifiers.is_empty(),
            auto_rollback: binding.policy.auto_rollback(),
            create_if_missing: binding.create_if_missing,
        };
        let mut state = RotationState::new(rotation_id.clone(), binding.id.clone(), plan);
        let mut started = AuditEvent::new(started_at, AuditAction::Started);
        started.secret = Some(binding.id.clone());
        started.rotation_id = Some(rotation_id.clone());
        started.status = Some(RotationStatus::Pending);
        started.strategy = Some(strategy);
        started.store = Some(binding.store.kind().to_owned());
        if let Err(err) = self.inner.audit.record(&started).await {
            // Fail closed: no unaudited rotation.
            return reject(
                err.kind(),
                format!("audit log unavailable, nothing changed: {err}"),
            );
        }
        tracing::info!(secret = %binding.id, rotation_id = %rotation_id, %strategy, store = binding.store.kind(), "rotation started");

        let mut values = Values {
            new_credential,
            new_document: None,
            old_credential: None,
        };
        let mut reported = state.status();
        tracing::info!(secret = %binding.id, rotation_id = %rotation_id, status = %reported, "status");
        while !state.is_done() {
            if let Err(err) = self.inner.journal.record(&state).await {
                if state.is_undoing() {
                    // Undoing is always safer than stopping half-way; the store's own markers
                    // (rotation ids on versions) still describe what happened.
                    tracing::error!(secret = %binding.id, rotation_id = %rotation_id, step = ?state.step, error = %err, "journal unavailable during rollback; continuing");
                } else {
                    let err = Error::new(
                        err.kind(),
                        format!("journal unavailable before {:?}: {err}", state.step),
                    );
                    state = advance(state, Outcome::NotAttempted(err));
                    continue;
                }
            }
            if state.status() != reported {
                reported = state.status();
                tracing::info!(secret = %binding.id, rotation_id = %rotation_id, status = %reported, "status");
            }
            tracing::debug!(secret = %binding.id, rotation_id = %rotation_id, step = ?state.step, status = %state.status(), "step");
            let outcome = self
                .perform_with_retries(binding, &state, &mut values)
                .await;
            state = advance(state, outcome);
        }
        if let Err(err) = self.inner.journal.record(&state).await {
            tracing::error!(secret = %binding.id, rotation_id = %rotation_id, error = %err, "journal: final record failed");
        }
        drop(guard);

        let status = state.status();
        self.inner.stats.observe(status);
        let result = RotationResult {
            rotation_id,
            secret: binding.id.clone(),
            success: status == RotationStatus::Success,
            status,
            strategy,
            old_version: state.old_version,
            new_version: state.new_version,
            started_at,
            completed_at: self.inner.clock.now(),
            duration_ms: start.elapsed().as_secs_f64() * 1e3,
            verification_passed: state.verification_passed,
            rollback_performed: state.rollback_performed,
            attempts: 1,
            error: state.error,
            error_kind: state.error_kind,
        };
        let action = match status {
            RotationStatus::Success => AuditAction::Succeeded,
            RotationStatus::RolledBack => AuditAction::RolledBack,
            _ => AuditAction::Failed,
        };
        self.audit_result(binding, &result, action).await;
        tracing::info!(
            secret = %result.secret, rotation_id = %result.rotation_id, status = %result.status,
            old_version = ?result.old_version.as_ref().map(VersionId::as_str),
            new_version = ?result.new_version.as_ref().map(VersionId::as_str),
            duration_ms = result.duration_ms, error = result.error.as_deref().unwrap_or(""),
            "rotation finished"
        );
        result
    }

    /// Checks that need no I/O: strategy support, fail-closed verification, value shape.
    fn preflight(
        &self,
        binding: &SecretBinding,
        strategy: RotationStrategy,
        value: Option<&SecretValue>,
    ) -> Result<()> {
        if !strategy.is_supported() {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("strategy {strategy} is not available yet"),
            ));
        }
        if binding.policy.require_verification() && binding.verifiers.is_empty() {
            return Err(Error::config(
                format!("secrets.{}.verifiers", binding.id),
                "policy requires verification but no verifier is configured",
            ));
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err(Error::invalid_value("the supplied value is empty"));
            }
            let max = binding.store.capabilities().max_value_bytes;
            if v.len() > max {
                return Err(Error::invalid_value(format!(
                    "the supplied value is {} bytes, the store accepts at most {max}",
                    v.len()
                )));
            }
            if binding.field.is_some() {
                v.expose_str()?;
            }
        }
        Ok(())
    }

    async fn perform_with_retries(
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
        let ctx = VerifyContext {
            secret: binding.id.clone(),
            rotation_id: Some(rid.clone()),
        };
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
                    t.apply(&ctx, &values.new_credential).await?;
                }
                Outcome::Done
            }
            Step::Verify => {
                for v in &binding.verifiers {
                    v.verify(&ctx, &values.new_credential)
                        .await
                        .map_err(|e| Error::new(e.kind(), format!("verifier {}: {e}", v.name())))?;
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
                if let (Some(t), Some(old)) = (&binding.target, &values.old_credential) {
                    t.apply(&ctx, old).await?;
                }
                Outcome::Done
            }
            Step::Done => Outcome::Done,
        })
    }

    async fn audit_result(
        &self,
        binding: &SecretBinding,
        result: &RotationResult,
        action: AuditAction,
    ) {
        let mut e = AuditEvent::new(result.completed_at, action);
        e.secret = Some(result.secret.clone());
        e.rotation_id = Some(result.rotation_id.clone());
        e.status = Some(result.status);
        e.strategy = Some(result.strategy);
        e.old_version = result.old_version.clone();
        e.new_version = result.new_version.clone();
        e.store = Some(binding.store.kind().to_owned());
        e.error = result.error.clone();
        if let Err(err) = self.inner.audit.record(&e).await {
            tracing::error!(secret = %result.secret, rotation_id = %result.rotation_id, error = %err, "audit record failed");
        }
    }

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

    /// Current statistics.
    pub fn statistics(&self) -> Statistics {
        let (active, total) = lock(&self.inner.scheduler).counts();
        let running = lock(&self.inner.in_progress).len() as u64;
        self.inner.stats.snapshot(active, total, running)
    }

    /// Zero the rotation counters.
    pub fn reset_statistics(&self) {
        self.inner.stats.reset();
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
        Step::Done => "done",
    }
}
