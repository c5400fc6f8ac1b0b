//! The async driver of the state machine: performs each step against the store, target and
//! verifiers, journals intents, audits attempts and counts statistics.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::{AuditAction, AuditEvent, AuditSink, NoAudit};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::generator::SecretGenerator;
use crate::journal::{Journal, NoJournal};
use crate::machine::{Outcome, Plan, RotationKind, RotationState, Step, advance};
use crate::policy::{RotationPolicy, RotationStatus, RotationStrategy};
use crate::result::RotationResult;
use crate::schedule::{AttemptOutcome, ScheduleChange};
use crate::secret::{RotationId, SecretId, SecretPath, SecretValue, VersionId};
use crate::state::StateStore;
use crate::stats::{Statistics, StatsCounter};
use crate::store::SecretStore;
use crate::verify::{Target, Verifier};

pub use claims::Claim;
use claims::Claims;
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
    pub timing: Option<Arc<crate::timing::Timing>>,
}

/// Options of one rotation.
#[derive(Debug, Default)]
pub struct RotateRequest {
    /// Use this value instead of generating one.
    pub value: Option<SecretValue>,
    /// Override the policy's strategy (emergency rotations use immediate).
    pub strategy: Option<RotationStrategy>,
    /// Use this rotation id instead of a new one ([`Engine::rotate`] only; a claim carries its
    /// own). Must be fresh: it is the idempotency key of every step.
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
    /// Version that was current (`old_version` in JSON, like every result: docs/output.md).
    #[serde(rename = "old_version")]
    pub from_version: VersionId,
    /// Version that is current now (`new_version` in JSON).
    #[serde(rename = "new_version")]
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
    claims: Arc<Claims>,
    stats: StatsCounter,
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
                claims: Arc::default(),
                stats: StatsCounter::default(),
                step_attempts: self.step_attempts,
                retry_base: self.retry_base,
            }),
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
    /// Its document (structured secrets).
    old_document: Option<SecretValue>,
    /// Other credentials the target may hold (recovery: the interrupted rotation's values).
    related: Vec<SecretValue>,
}

impl Values {
    fn empty() -> Self {
        Self {
            new_credential: SecretValue::new(Vec::new()),
            new_document: None,
            old_credential: None,
            old_document: None,
            related: Vec::new(),
        }
    }
}

/// `host:pid:random`, unique per process.
fn default_holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    let nonce: u32 = rand::random();
    format!("{host}:{}:{nonce:08x}", std::process::id())
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

    /// Claim `secret` in this process for a rotation with id `rotation_id` (fresh: it keys
    /// every step); `Err` carries the id of the rotation that holds it. The claim is released
    /// when it is dropped; pass it to [`Engine::rotate_claimed`] or [`Engine::rotate_if_due`].
    pub fn claim(
        &self,
        secret: &SecretId,
        rotation_id: RotationId,
    ) -> std::result::Result<Claim, RotationId> {
        self.inner.claims.claim(secret, rotation_id)
    }

    /// The state store, if the engine has one.
    pub fn state_store(&self) -> Option<&Arc<dyn StateStore>> {
        self.inner.state.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// A claim for recovery or a manual operation; `None` if the secret is busy here.
    fn claim_any(&self, secret: &SecretId) -> Option<Claim> {
        self.claim(secret, RotationId::generate()).ok()
    }

    /// The rotation claimed (running or waiting) for `secret` in this process.
    pub fn running(&self, secret: &SecretId) -> Option<RotationId> {
        self.inner.claims.running(secret)
    }

    /// The secret of a claimed rotation, if `rotation_id` is running or waiting here.
    pub fn running_secret(&self, rotation_id: &RotationId) -> Option<SecretId> {
        self.inner.claims.secret_of(rotation_id)
    }

    /// How many secrets are claimed in this process.
    pub fn running_count(&self) -> usize {
        self.inner.claims.count()
    }

    /// Wait until no rotation is claimed in this process, at most `within`; whether it got
    /// there (a rotation cut off later is finished or rolled back by recovery).
    pub async fn drain(&self, within: Duration) -> bool {
        self.inner.claims.drain(within).await
    }

    /// Rotate one secret. Never panics on a failure and never returns `success` unless the new
    /// value is current and verified (or verification was explicitly not required). A secret
    /// busy in this process is refused with [`ErrorKind::InProgress`].
    pub async fn rotate(&self, binding: &SecretBinding, request: RotateRequest) -> RotationResult {
        let rotation_id = request
            .rotation_id
            .clone()
            .unwrap_or_else(RotationId::generate);
        match self.claim(&binding.id, rotation_id.clone()) {
            Ok(claim) => self.rotate_claimed(claim, binding, request).await,
            Err(running) => {
                let strategy = request.strategy.unwrap_or(binding.policy.strategy());
                let now = self.inner.clock.now();
                let result = RotationResult::refused(
                    rotation_id,
                    binding.id.clone(),
                    strategy,
                    now,
                    Error::new(
                        ErrorKind::InProgress,
                        format!("rotation already in progress (rotation {running})"),
                    ),
                );
                self.audit_result(binding, &result, AuditAction::Rejected)
                    .await;
                result
            }
        }
    }

    /// Rotate a secret claimed with [`Engine::claim`], with the claim's rotation id.
    pub async fn rotate_claimed(
        &self,
        claim: Claim,
        binding: &SecretBinding,
        request: RotateRequest,
    ) -> RotationResult {
        match self.run_rotation(claim, binding, request, false).await {
            Some(result) => result,
            None => unreachable!("only scheduled runs are skipped"),
        }
    }

    /// Scheduler entry point: rotate `binding` only if its persisted schedule is still due once
    /// its lease is held (so two schedulers never rotate one secret twice in a due period), then
    /// move the schedule (retry with backoff, or quarantine). `None`: not due, or busy elsewhere.
    pub async fn rotate_if_due(
        &self,
        claim: Claim,
        binding: &SecretBinding,
    ) -> Option<RotationResult> {
        self.run_rotation(claim, binding, RotateRequest::default(), true)
            .await
    }

    async fn run_rotation(
        &self,
        claim: Claim,
        binding: &SecretBinding,
        request: RotateRequest,
        scheduled: bool,
    ) -> Option<RotationResult> {
        let started_at = self.inner.clock.now();
        let start = Instant::now();
        let rotation_id = claim.rotation_id().clone();
        let strategy = request.strategy.unwrap_or(binding.policy.strategy());
        // Which attempt this is in the schedule's current run of failures (1 unless scheduled
        // retries came before); set once the schedule was read under the lease.
        let mut attempts = 1;
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

        if claim.secret() != &binding.id {
            return Some(reject(
                ErrorKind::Internal,
                format!("the claim is for {}, not {}", claim.secret(), binding.id),
            ));
        }
        let guard = claim;

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

        if scheduled {
            match self.due_attempt(&binding.id).await {
                Some(attempt) => attempts = attempt,
                None => {
                    if let Some(lease) = lease {
                        lease.release().await;
                    }
                    return None;
                }
            }
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
            if scheduled {
                // A scheduled attempt that could not start still counts as failed.
                self.move_schedule(binding, RotationStatus::Failed, true, attempts)
                    .await;
            }
            if let Some(lease) = lease {
                lease.release().await;
            }
            return Some(RotationResult {
                attempts,
                ..reject(
                    err.kind(),
                    format!("audit log unavailable, nothing changed: {err}"),
                )
            });
        }
        tracing::info!(secret = %binding.id, rotation_id = %rotation_id, %strategy, store = binding.store.kind(), "rotation started");

        let mut values = Values {
            new_credential,
            new_document: None,
            old_credential: None,
            old_document: None,
            related: Vec::new(),
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
                    attempts,
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
        self.move_schedule(binding, status, scheduled, attempts)
            .await;
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
            attempts,
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
            // Values, not `Some("1")`: an absent version or error is left out of the line.
            old_version = result.old_version.as_ref().map(tracing::field::display),
            new_version = result.new_version.as_ref().map(tracing::field::display),
            duration_ms = result.duration_ms, error = result.error.as_deref(),
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

    /// If the persisted schedule of `secret` is due now (read under its lease), which attempt
    /// this is: 1, or one more than the scheduled failures since the last success.
    async fn due_attempt(&self, secret: &SecretId) -> Option<u32> {
        let Some(state) = &self.inner.state else {
            return Some(1);
        };
        match state.schedule(secret).await {
            Ok(Some(record)) if record.is_due(self.inner.clock.now()) => {
                Some(record.consecutive_failures.saturating_add(1))
            }
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(%secret, error = %err, "cannot read the schedule; not rotating");
                None
            }
        }
    }

    /// The attempt number a finished rotation of `secret` had, read back from its schedule (for
    /// recovery, which did not start it; under the lease, so only an operator's resume can race
    /// it, and that only shortens the backoff).
    async fn attempt_of(&self, secret: &SecretId) -> u32 {
        let Some(state) = &self.inner.state else {
            return 1;
        };
        match state.schedule(secret).await {
            Ok(Some(record)) => record.consecutive_failures.saturating_add(1),
            _ => 1,
        }
    }

    /// Move the persisted schedule after a rotation of a secret with a timing (see
    /// [`crate::ScheduleRecord::record_result`]), in one atomic update: an operator's pause or
    /// resume racing it is kept. The retry time follows from `attempt` (read under the lease
    /// when the rotation started), so nothing is read back here.
    async fn move_schedule(
        &self,
        binding: &SecretBinding,
        status: RotationStatus,
        scheduled: bool,
        attempt: u32,
    ) {
        let (Some(state), Some(timing)) = (&self.inner.state, &binding.timing) else {
            return;
        };
        let now = self.inner.clock.now();
        let change = ScheduleChange::Finished(AttemptOutcome {
            status,
            at: now,
            scheduled,
            max_retries: binding.policy.max_retries(),
            next_after_success: timing.next_after(&binding.id, now),
            retry_at: timing.retry_at(&binding.id, attempt, now),
        });
        if let Err(err) = state.update_schedule(&binding.id, &change).await {
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

    /// This process's counters, with the rotations claimed here (no schedule counts: see
    /// [`Engine::stored_statistics`]).
    pub fn statistics(&self) -> Statistics {
        self.inner
            .stats
            .snapshot(0, 0, self.inner.claims.count() as u64)
    }

    /// Statistics from the state store, over the `configured` secrets: persisted counts, active
    /// schedules ([`crate::ScheduleRecord::is_active`]) and rotations running in any process
    /// (live leases). Without a state store, this process's counters.
    pub async fn stored_statistics(&self, configured: &HashSet<SecretId>) -> Result<Statistics> {
        let Some(state) = &self.inner.state else {
            return Ok(self.statistics());
        };
        let counts = state.counts().await?;
        let active = state
            .schedules()
            .await?
            .iter()
            .filter(|s| configured.contains(&s.secret) && s.is_active())
            .count();
        let running = state
            .live_leases(self.inner.clock.now())
            .await?
            .iter()
            .filter(|l| configured.contains(&l.secret))
            .count();
        Ok(
            Statistics::new(counts.successful, counts.failed, counts.rollbacks).with_schedules(
                active as u64,
                configured.len() as u64,
                running as u64,
            ),
        )
    }

    /// Zero the rotation counters.
    pub fn reset_statistics(&self) {
        self.inner.stats.reset();
    }
}

mod claims;
mod lease;
mod manual;
mod recover;
mod steps;
