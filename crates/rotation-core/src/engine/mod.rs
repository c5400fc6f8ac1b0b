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
use crate::machine::{Outcome, Plan, RotationKind, RotationState, Step, advance};
use crate::policy::{RotationPolicy, RotationStatus, RotationStrategy};
use crate::result::RotationResult;
use crate::schedule::{Schedule, Scheduler};
use crate::secret::{RotationId, SecretId, SecretPath, SecretValue, VersionId};
use crate::state::StateStore;
use crate::stats::{Statistics, StatsCounter};
use crate::store::SecretStore;
use crate::timing::Timing;
use crate::verify::{Target, Verifier, VerifyContext};

use lease::LeaseKeeper;
pub use recover::{RecoveryAction, RecoveryReport};

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
    /// When it rotates (recovery moves the persisted schedule with it; `None`: not scheduled).
    pub timing: Option<Arc<Timing>>,
}

/// Options of one rotation.
#[derive(Debug, Default)]
pub struct RotateRequest {
    /// Use this value instead of generating one.
    pub value: Option<SecretValue>,
    /// Override the policy's strategy (emergency rotations use immediate).
    pub strategy: Option<RotationStrategy>,
    /// The secret's timing: with a state store, the persisted schedule is moved after the
    /// rotation (a manual success also clears quarantine).
    pub timing: Option<Arc<Timing>>,
    /// Use this rotation id instead of a new one (a server answers with it before the rotation
    /// ends). Must be fresh: it is the idempotency key of every step.
    pub rotation_id: Option<RotationId>,
    /// Revoke the old credential at the target once the new one is current and verified (a
    /// journaled step: a crash after the rotation still ends with the revocation done).
    pub revoke_old: bool,
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
    /// The journaled id of this rollback.
    pub rotation_id: RotationId,
}

/// Which terminal audit record to write for a finished journal record.
enum AuditAs<'a> {
    /// The live outcome (`succeeded`, `rolled_back`, `failed`, `manual_rollback`).
    Outcome,
    /// Recovery resolved it (`recovered`), with a note of how.
    Recovered(&'a str),
    /// The live outcome, written by recovery because the process died before it was durable.
    Late,
}

/// How driving a journaled record ended.
enum Driven {
    /// Ran to `Done`; the final record (audit pending) was journaled if the journal allowed.
    Done(RotationState),
    /// The lease was lost: nothing more was done, the record is left as journaled for
    /// recovery, which finishes it under a new lease (a target revert or discard here could
    /// undo the new holder's work or drop a value the target already uses).
    Abandoned(RotationState, Error),
}

struct Inner {
    audit: Arc<dyn AuditSink>,
    journal: Arc<dyn Journal>,
    state: Option<Arc<dyn StateStore>>,
    holder: String,
    lease_ttl: Duration,
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
    state: Option<Arc<dyn StateStore>>,
    holder: String,
    lease_ttl: Duration,
    clock: Arc<dyn Clock>,
    step_attempts: u32,
    retry_base: Duration,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            audit: Arc::new(NoAudit),
            journal: Arc::new(NoJournal),
            state: None,
            holder: default_holder(),
            lease_ttl: Duration::from_secs(60),
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
    /// Durable state: journal, leases (one rotation per secret across processes) and counts.
    /// Also sets the journal.
    pub fn state(mut self, state: Arc<dyn StateStore>) -> Self {
        self.journal = state.clone();
        self.state = Some(state);
        self
    }
    /// Lease holder name (default `host:pid:random`).
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }
    /// Lease time-to-live (default 60 s; renewed every third of it while a rotation runs).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
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
                state: self.state,
                holder: self.holder,
                lease_ttl: self.lease_ttl,
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
    /// The old credential, for revoking it at the target.
    old_credential: Option<SecretValue>,
}

impl Values {
    fn empty() -> Self {
        Self {
            new_credential: SecretValue::new(Vec::new()),
            new_document: None,
            old_credential: None,
        }
    }
}

/// `host:pid:random`, unique per process.
fn default_holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    let nonce: u32 = rand::random();
    format!("{host}:{}:{nonce:08x}", std::process::id())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Start building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Take the lease of `secret` with this engine's holder name and TTL; `Ok(Err(holder))`
    /// when someone else holds it.
    async fn acquire_lease(
        &self,
        state: &Arc<dyn StateStore>,
        secret: &SecretId,
    ) -> Result<std::result::Result<LeaseKeeper, Option<crate::state::Lease>>> {
        LeaseKeeper::acquire(
            state.clone(),
            self.inner.clock.clone(),
            secret,
            &self.inner.holder,
            self.inner.lease_ttl,
        )
        .await
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
        match self.run_rotation(binding, request, false).await {
            Some(result) => result,
            None => unreachable!("only scheduled runs are skipped"),
        }
    }

    /// Scheduler entry point: rotate `binding` only if its persisted schedule is still due once
    /// its lease is held (so two schedulers never rotate one secret twice in a due period), then
    /// move the schedule (retry with backoff, or quarantine). `None`: not due, or busy elsewhere.
    pub async fn rotate_if_due(
        &self,
        binding: &SecretBinding,
        timing: Arc<Timing>,
    ) -> Option<RotationResult> {
        let request = RotateRequest {
            timing: Some(timing),
            ..Default::default()
        };
        self.run_rotation(binding, request, true).await
    }

    async fn run_rotation(
        &self,
        binding: &SecretBinding,
        request: RotateRequest,
        scheduled: bool,
    ) -> Option<RotationResult> {
        let started_at = self.inner.clock.now();
        let start = Instant::now();
        let rotation_id = request
            .rotation_id
            .clone()
            .unwrap_or_else(RotationId::generate);
        let strategy = request.strategy.unwrap_or(binding.policy.strategy());
        let request_timing = request.timing.clone();
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
            revoked: false,
            revoke_error: None,
        };

        let Some(guard) = self.claim(&binding.id) else {
            if scheduled {
                return None;
            }
            let result = reject(ErrorKind::InProgress, "rotation already in progress".into());
            self.audit_result(binding, &result, AuditAction::Rejected)
                .await;
            return Some(result);
        };

        if let Err(err) = self.preflight(binding, strategy, request.value.as_ref()) {
            let result = reject(err.kind(), err.to_string());
            self.audit_result(binding, &result, AuditAction::Rejected)
                .await;
            return Some(result);
        }
        let new_credential = match request.value {
            Some(v) => v,
            None => match binding.generator.generate() {
                Ok(v) => v,
                Err(err) => {
                    let result = reject(err.kind(), err.to_string());
                    self.audit_result(binding, &result, AuditAction::Rejected)
                        .await;
                    return Some(result);
                }
            },
        };

        let lease = match &self.inner.state {
            None => None,
            Some(state) => match self.acquire_lease(state, &binding.id).await {
                Ok(Ok(keeper)) => Some(keeper),
                Ok(Err(_)) if scheduled => return None,
                Ok(Err(held)) => {
                    let by = held.map_or_else(String::new, |l| {
                        format!(
                            " (lease held by {} until {})",
                            l.holder,
                            l.expires_at.to_rfc3339()
                        )
                    });
                    let result = reject(
                        ErrorKind::InProgress,
                        format!("rotation already in progress{by}"),
                    );
                    self.audit_result(binding, &result, AuditAction::Rejected)
                        .await;
                    return Some(result);
                }
                Err(err) => {
                    let result = reject(err.kind(), format!("cannot take the lease: {err}"));
                    self.audit_result(binding, &result, AuditAction::Rejected)
                        .await;
                    return Some(result);
                }
            },
        };

        if let Some(held) = &lease
            && let Err(err) = self.settle_interrupted(binding, held).await
        {
            let result = reject(err.kind(), err.to_string());
            self.audit_result(binding, &result, AuditAction::Rejected)
                .await;
            if let Some(lease) = lease {
                lease.release().await;
            }
            return Some(result);
        }

        if scheduled && !self.still_due(&binding.id).await {
            if let Some(lease) = lease {
                lease.release().await;
            }
            return None;
        }

        let plan = Plan {
            strategy,
            has_target: binding.target.is_some(),
            verify: !binding.verifiers.is_empty(),
            auto_rollback: binding.policy.auto_rollback(),
            create_if_missing: binding.create_if_missing,
            revoke_old: request.revoke_old,
        };
        let mut state = RotationState::new(rotation_id.clone(), binding.id.clone(), plan);
        state.scheduled = scheduled;
        let mut started = AuditEvent::new(started_at, AuditAction::Started);
        started.secret = Some(binding.id.clone());
        started.rotation_id = Some(rotation_id.clone());
        started.status = Some(RotationStatus::Pending);
        started.strategy = Some(strategy);
        started.store = Some(binding.store.kind().to_owned());
        // Journaled before the `started` record: a crash between the two leaves a record that
        // recovery closes (with its terminal audit record), never a start without an end.
        if let Err(err) = self.inner.journal.record(&state).await {
            if let Some(lease) = lease {
                lease.release().await;
            }
            let result = reject(
                err.kind(),
                format!("journal unavailable, nothing changed: {err}"),
            );
            self.audit_result(binding, &result, AuditAction::Rejected)
                .await;
            return Some(result);
        }
        if let Err(err) = self.inner.audit.record(&started).await {
            // Fail closed: no unaudited rotation. The journal record is closed (nothing ran).
            state.step = Step::Done;
            state.outcome = Some(RotationStatus::Failed);
            if let Err(err) = self.inner.journal.record(&state).await {
                tracing::warn!(secret = %binding.id, error = %err, "journal: could not close a rotation that never started; recovery closes it");
            }
            if let Some(timing) = &request_timing
                && scheduled
            {
                // A scheduled attempt that could not start still counts as failed.
                self.move_schedule(binding, timing, RotationStatus::Failed, true)
                    .await;
            }
            if let Some(lease) = lease {
                lease.release().await;
            }
            return Some(reject(
                err.kind(),
                format!("audit log unavailable, nothing changed: {err}"),
            ));
        }
        tracing::info!(secret = %binding.id, rotation_id = %rotation_id, %strategy, store = binding.store.kind(), "rotation started");

        let mut values = Values {
            new_credential,
            new_document: None,
            old_credential: None,
        };
        let driven = self
            .drive(binding, state, &mut values, lease.as_ref(), true)
            .await;
        let mut state = match driven {
            Driven::Done(state) => state,
            Driven::Abandoned(state, err) => {
                if let Some(lease) = lease {
                    lease.release().await;
                }
                drop(guard);
                tracing::error!(secret = %binding.id, rotation_id = %rotation_id, error = %err, "rotation abandoned to recovery");
                return Some(RotationResult {
                    old_version: state.old_version,
                    new_version: state.new_version,
                    verification_passed: state.verification_passed,
                    ..reject(
                        err.kind(),
                        format!(
                            "{err}; the rotation is left unfinished in the journal and the next recovery (`rotation run`, `rotation recover` or the server) finishes or rolls it back"
                        ),
                    )
                });
            }
        };
        let status = state.status();
        self.count(status).await;
        // Move the schedule while the lease is still held: a second scheduler that takes the
        // lease next must already see the secret as not due.
        if let Some(timing) = &request_timing {
            self.move_schedule(binding, timing, status, scheduled).await;
        }
        let mut result = RotationResult {
            rotation_id,
            secret: binding.id.clone(),
            success: status == RotationStatus::Success,
            status,
            strategy,
            old_version: state.old_version.clone(),
            new_version: state.new_version.clone(),
            started_at,
            completed_at: self.inner.clock.now(),
            duration_ms: start.elapsed().as_secs_f64() * 1e3,
            verification_passed: state.verification_passed,
            rollback_performed: state.rollback_performed,
            attempts: 1,
            error: state.error.clone(),
            error_kind: state.error_kind,
            revoked: state.revoked,
            revoke_error: state.revoke_error.clone(),
        };
        // The outcome is reported only once its audit record is durable (the journal keeps the
        // record open until then, so recovery writes it if this process dies first).
        if let Err(err) = self.audit_terminal(binding, &state, AuditAs::Outcome).await {
            result.success = false;
            result.error_kind = Some(err.kind());
            result.error = Some(format!(
                "{}the audit record of the outcome could not be written ({err}); the journal keeps it open and the next recovery writes it",
                result
                    .error
                    .as_deref()
                    .map(|e| format!("{e}; "))
                    .unwrap_or_default()
            ));
        } else {
            self.close_audit(&mut state).await;
        }
        if let Some(lease) = lease {
            lease.release().await;
        }
        drop(guard);
        tracing::info!(
            secret = %result.secret, rotation_id = %result.rotation_id, status = %result.status,
            old_version = ?result.old_version.as_ref().map(VersionId::as_str),
            new_version = ?result.new_version.as_ref().map(VersionId::as_str),
            duration_ms = result.duration_ms, error = result.error.as_deref().unwrap_or(""),
            "rotation finished"
        );
        Some(result)
    }

    /// Run the state machine to `Done`: journal each intent, perform the step, advance; the
    /// final state is journaled with its audit record still pending. Forward steps stop (and
    /// undo begins) if the intent cannot be journaled; undo steps run regardless, since undoing
    /// is always safer than stopping half-way. A lost lease stops everything (see
    /// [`Driven::Abandoned`]).
    async fn drive(
        &self,
        binding: &SecretBinding,
        mut state: RotationState,
        values: &mut Values,
        lease: Option<&LeaseKeeper>,
        mut first_journaled: bool,
    ) -> Driven {
        let rotation_id = state.rotation_id.clone();
        let mut reported = state.status();
        tracing::info!(secret = %binding.id, rotation_id = %rotation_id, status = %reported, "status");
        let lost = |state: &RotationState, l: &LeaseKeeper| {
            Error::new(
                ErrorKind::Conflict,
                format!("lease (token {}) lost before {:?}", l.token(), state.step),
            )
        };
        while !state.is_done() {
            if let Some(l) = lease.filter(|l| l.is_lost()) {
                let err = lost(&state, l);
                return Driven::Abandoned(state, err);
            }
            let journaled = if std::mem::take(&mut first_journaled) {
                Ok(())
            } else {
                self.inner.journal.record(&state).await
            };
            // The journal may have taken long enough (a locked database) for the lease to lapse.
            if let Some(l) = lease.filter(|l| l.is_lost()) {
                let err = lost(&state, l);
                return Driven::Abandoned(state, err);
            }
            if !state.is_undoing() {
                if let Err(err) = &journaled {
                    let err = Error::new(
                        err.kind(),
                        format!("journal unavailable before {:?}: {err}", state.step),
                    );
                    state = advance(state, Outcome::NotAttempted(err));
                    continue;
                }
            } else if let Err(err) = &journaled {
                tracing::error!(secret = %binding.id, rotation_id = %rotation_id, step = ?state.step, error = %err, "journal unavailable during rollback; continuing");
            }
            if state.status() != reported {
                reported = state.status();
                tracing::info!(secret = %binding.id, rotation_id = %rotation_id, status = %reported, "status");
            }
            tracing::debug!(secret = %binding.id, rotation_id = %rotation_id, step = ?state.step, status = %state.status(), "step");
            let outcome = self.perform_with_retries(binding, &state, values).await;
            state = advance(state, outcome);
        }
        state.audit_pending = true;
        if let Err(err) = self.inner.journal.record(&state).await {
            tracing::error!(secret = %binding.id, rotation_id = %rotation_id, error = %err, "journal: final record failed");
        }
        Driven::Done(state)
    }

    /// The terminal audit record of a finished record: the rotation's outcome or a manual
    /// rollback; `recovered` with the status when recovery resolved it. Returns the sink's
    /// error.
    async fn audit_terminal(
        &self,
        binding: &SecretBinding,
        state: &RotationState,
        how: AuditAs<'_>,
    ) -> Result<()> {
        let status = state.status();
        let action = match (state.kind, &how) {
            (RotationKind::Rollback, _) => AuditAction::ManualRollback,
            (RotationKind::Rotation, AuditAs::Recovered(_)) => AuditAction::Recovered,
            (RotationKind::Rotation, _) => match status {
                RotationStatus::Success => AuditAction::Succeeded,
                RotationStatus::RolledBack => AuditAction::RolledBack,
                _ => AuditAction::Failed,
            },
        };
        let recovery_note = match how {
            AuditAs::Outcome => None,
            AuditAs::Recovered(note) => Some(note),
            AuditAs::Late => Some("record written late by recovery"),
        };
        let mut e = AuditEvent::new(self.inner.clock.now(), action);
        e.secret = Some(binding.id.clone());
        e.rotation_id = Some(state.rotation_id.clone());
        e.status = Some(status);
        e.store = Some(binding.store.kind().to_owned());
        match state.kind {
            RotationKind::Rotation => {
                e.strategy = Some(state.plan.strategy);
                e.old_version = state.old_version.clone();
                e.new_version = state.new_version.clone();
            }
            // From the version that was current to the one the restore made current.
            RotationKind::Rollback => {
                e.old_version = state.new_version.clone();
                e.new_version = state.restored_version.clone();
            }
        }
        if state.plan.revoke_old && status == RotationStatus::Success {
            e.revoked = Some(state.revoked);
        }
        let mut error = [
            state.error.clone(),
            state
                .revoke_error
                .clone()
                .map(|r| format!("revocation of the old credential failed: {r}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        if let Some(note) = recovery_note {
            error = if error.is_empty() {
                note.to_owned()
            } else {
                format!("{note}: {error}")
            };
        }
        e.error = (!error.is_empty()).then_some(error);
        self.inner.audit.record(&e).await
    }

    /// Mark a finished record's audit as durable. A failure here only means recovery writes
    /// the record a second time (at least once, never lost).
    async fn close_audit(&self, state: &mut RotationState) {
        state.audit_pending = false;
        if let Err(err) = self.inner.journal.record(state).await {
            tracing::warn!(rotation_id = %state.rotation_id, error = %err, "journal: could not close the audited record; recovery will audit it again");
        }
    }

    /// Whether the persisted schedule of `secret` is due now (read under its lease).
    async fn still_due(&self, secret: &SecretId) -> bool {
        let Some(state) = &self.inner.state else {
            return true;
        };
        match state.schedule(secret).await {
            Ok(Some(record)) => record.is_due(self.inner.clock.now()),
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(%secret, error = %err, "cannot read the schedule; not rotating");
                false
            }
        }
    }

    /// Move the persisted schedule after a rotation (see [`crate::ScheduleRecord::record_result`]).
    async fn move_schedule(
        &self,
        binding: &SecretBinding,
        timing: &Timing,
        status: RotationStatus,
        scheduled: bool,
    ) {
        let Some(state) = &self.inner.state else {
            return;
        };
        let now = self.inner.clock.now();
        let update = async {
            let Some(mut record) = state.schedule(&binding.id).await? else {
                return Ok(());
            };
            let failures = record.consecutive_failures + 1;
            record.record_result(
                status,
                now,
                scheduled,
                binding.policy.max_retries(),
                timing.next_after(&binding.id, now),
                timing.retry_at(&binding.id, failures, now),
            );
            state.put_schedule(&record).await
        };
        if let Err(err) = update.await {
            tracing::error!(secret = %binding.id, error = %err, "could not move the schedule");
        }
    }

    /// Count a finished rotation in memory and, if configured, in the state store.
    async fn count(&self, status: RotationStatus) {
        self.inner.stats.observe(status);
        if let Some(state) = &self.inner.state
            && let Err(err) = state.add_outcome(status).await
        {
            tracing::error!(error = %err, "could not persist statistics");
        }
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

mod lease;
mod manual;
mod recover;
mod schedules;
mod steps;
