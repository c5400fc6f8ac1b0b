//! The rotation state machine: a plain, synchronous transition function over persisted state.
//!
//! [`RotationState::step`] is the *intent*: the next external action. The driver
//! ([`crate::Engine`]) writes the state to the [`crate::Journal`] before it performs the step,
//! performs it, and feeds the [`Outcome`] to [`advance`]. Nothing here does I/O, so every path,
//! including each failure at each step, is unit-tested without a runtime.
//!
//! Forward paths (modelled on AWS's create -> set -> test -> finish):
//! - staged: `ReadCurrent -> Stage -> ApplyTarget? -> Verify? -> Promote -> Cleanup -> RevokeOld?
//!   -> Done`
//! - immediate (and creation of a missing secret): `ReadCurrent -> WriteCurrent -> ApplyTarget?
//!   -> Verify? -> RevokeOld? -> Done`
//! - a manual rollback ([`RotationState::rollback`]) is the undo path alone: `RestoreStore ->
//!   RevertTarget? -> Done`, journaled like a rotation so a crash in it is finished by recovery.
//!
//! `RevertTarget` gives the target the store's *current* value (read at that moment), not a value
//! remembered from the start: after a failed restore, a superseded rotation or a recovery long
//! after the crash, the store's current value is the one the target must hold.
//!
//! On a failure the machine plans the undo steps in a fixed order: `RestoreStore` (only if a
//! new value became current), `RevertTarget` (only if the target may hold the new value),
//! `DiscardPending` (only if something was staged). Pending values are always discarded (they are
//! invisible, and a leftover pending is what blocks the next rotation in AWS); restoring the store
//! and the target happens only with `auto_rollback`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::policy::{RotationStatus, RotationStrategy};
use crate::secret::{RotationId, SecretId, VersionId};

/// The next external action of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Read the current version (no mutation).
    ReadCurrent,
    /// Stage the new value as pending for the rotation id.
    Stage,
    /// Write the new value as current with CAS (immediate strategy or creation).
    WriteCurrent,
    /// Give the new value to the target.
    ApplyTarget,
    /// Run the verifiers against the new value.
    Verify,
    /// Promote the pending value with CAS.
    Promote,
    /// Remove staging leftovers after promotion.
    Cleanup,
    /// Undo: make the old version current again with CAS.
    RestoreStore,
    /// Undo: give the old value back to the target.
    RevertTarget,
    /// Undo: remove the pending value.
    DiscardPending,
    /// After success: revoke the old credential at the target (emergency rotations).
    RevokeOld,
    /// Finished.
    Done,
}

/// What a journaled record is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationKind {
    /// A rotation (possibly with revocation of the old credential).
    #[default]
    Rotation,
    /// A manual rollback to the previous version (`rotation rollback`).
    Rollback,
}

/// What the rotation will do, fixed when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Strategy.
    pub strategy: RotationStrategy,
    /// Whether a target is configured.
    pub has_target: bool,
    /// Whether verifiers run.
    pub verify: bool,
    /// Whether failures restore the old value in the store and target.
    pub auto_rollback: bool,
    /// Whether a missing secret may be created.
    pub create_if_missing: bool,
    /// Whether the old credential is revoked at the target once the new one is current.
    #[serde(default)]
    pub revoke_old: bool,
}

/// The persisted state of one rotation. Holds ids and versions, never a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationState {
    /// Rotation id (idempotency key of every step).
    pub rotation_id: RotationId,
    /// Secret id.
    pub secret: SecretId,
    /// What will be done.
    pub plan: Plan,
    /// Next action.
    pub step: Step,
    /// Version current at the start (`None` while unknown or when creating).
    pub old_version: Option<VersionId>,
    /// Version holding the new value.
    pub new_version: Option<VersionId>,
    /// Whether the secret is being created.
    pub creating: bool,
    /// Whether a pending value may exist.
    pub staged: bool,
    /// Whether the new value became current.
    pub current_changed: bool,
    /// Whether the target may hold the new value.
    pub target_changed: bool,
    /// Whether every verifier passed.
    pub verification_passed: bool,
    /// Whether an undo step ran.
    pub rollback_performed: bool,
    /// Undo steps still to run, in order.
    pub undo: Vec<Step>,
    /// Whether an undo step failed (the rotation ends `failed`, after the other undo steps).
    #[serde(default)]
    pub undo_failed: bool,
    /// Final status once `step == Done`.
    pub outcome: Option<RotationStatus>,
    /// Why the rotation failed.
    pub error: Option<String>,
    /// Kind of the first failure.
    pub error_kind: Option<ErrorKind>,
    /// Rotation or manual rollback.
    #[serde(default)]
    pub kind: RotationKind,
    /// Started by the scheduler (its failures count towards quarantine).
    #[serde(default)]
    pub scheduled: bool,
    /// Done, but its terminal audit record is not known to be durable yet: the record stays
    /// unfinished until it is, and recovery writes it if the process died first.
    #[serde(default)]
    pub audit_pending: bool,
    /// The version a restore made current.
    #[serde(default)]
    pub restored_version: Option<VersionId>,
    /// Set when recovery found a newer version current than the one this rotation started
    /// from: the rotation is closed without touching the store.
    #[serde(default)]
    pub superseded_by: Option<VersionId>,
    /// Whether the old credential was revoked at the target.
    #[serde(default)]
    pub revoked: bool,
    /// Why the revocation failed (the rotation itself stays successful).
    #[serde(default)]
    pub revoke_error: Option<String>,
}

/// The result of performing one step.
#[derive(Debug)]
pub enum Outcome {
    /// `ReadCurrent`: the current version, or `None` if the secret does not exist.
    Read(Option<VersionId>),
    /// `Stage`, `WriteCurrent`, `Promote`, `RestoreStore`: the version written or now current.
    Version(VersionId),
    /// Any other step completed.
    Done,
    /// The step failed (it may have taken effect partly).
    Failed(Error),
    /// The step was not attempted (e.g. its intent could not be journaled).
    NotAttempted(Error),
}

impl RotationState {
    /// A new rotation, before any step.
    pub fn new(rotation_id: RotationId, secret: SecretId, plan: Plan) -> Self {
        Self {
            rotation_id,
            secret,
            plan,
            step: Step::ReadCurrent,
            old_version: None,
            new_version: None,
            creating: false,
            staged: false,
            current_changed: false,
            target_changed: false,
            verification_passed: false,
            rollback_performed: false,
            undo: Vec::new(),
            undo_failed: false,
            outcome: None,
            error: None,
            error_kind: None,
            kind: RotationKind::Rotation,
            scheduled: false,
            audit_pending: false,
            restored_version: None,
            superseded_by: None,
            revoked: false,
            revoke_error: None,
        }
    }

    /// A manual rollback from `current` to `previous`: restore the store (compare-and-swap
    /// against `current`), then give the target the store's current value.
    pub fn rollback(
        rotation_id: RotationId,
        secret: SecretId,
        has_target: bool,
        current: VersionId,
        previous: VersionId,
    ) -> Self {
        let plan = Plan {
            strategy: RotationStrategy::Immediate,
            has_target,
            verify: false,
            auto_rollback: true,
            create_if_missing: false,
            revoke_old: false,
        };
        let mut state = Self::new(rotation_id, secret, plan);
        state.kind = RotationKind::Rollback;
        state.old_version = Some(previous);
        state.new_version = Some(current);
        state.current_changed = true;
        state.target_changed = has_target;
        state.step = Step::RestoreStore;
        if has_target {
            state.undo = vec![Step::RevertTarget];
        }
        state
    }

    /// Finished and audited: nothing is left for recovery.
    pub fn is_finished(&self) -> bool {
        self.is_done() && !self.audit_pending
    }

    /// The status a reader should see right now.
    pub fn status(&self) -> RotationStatus {
        match (self.step, self.outcome) {
            (Step::Done, Some(outcome)) => outcome,
            (Step::ReadCurrent, _) => RotationStatus::Pending,
            (Step::Verify, _) => RotationStatus::Verifying,
            _ => RotationStatus::InProgress,
        }
    }

    /// Whether the rotation is finished.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Whether the current step is an undo step.
    pub fn is_undoing(&self) -> bool {
        matches!(
            self.step,
            Step::RestoreStore | Step::RevertTarget | Step::DiscardPending
        )
    }
}

/// The forward step after `step`.
fn forward_after(state: &RotationState, step: Step) -> Step {
    let p = &state.plan;
    let staged_path = !state.creating && p.strategy == RotationStrategy::Staged;
    let chain: &[Step] = if staged_path {
        &[
            Step::Stage,
            Step::ApplyTarget,
            Step::Verify,
            Step::Promote,
            Step::Cleanup,
            Step::RevokeOld,
            Step::Done,
        ]
    } else {
        &[
            Step::WriteCurrent,
            Step::ApplyTarget,
            Step::Verify,
            Step::RevokeOld,
            Step::Done,
        ]
    };
    let start = chain.iter().position(|s| *s == step).map_or(0, |i| i + 1);
    chain[start..]
        .iter()
        .copied()
        .find(|s| match s {
            Step::ApplyTarget => p.has_target,
            Step::Verify => p.verify,
            Step::RevokeOld => p.revoke_old && p.has_target && !state.creating,
            _ => true,
        })
        .unwrap_or(Step::Done)
}

fn finish(mut state: RotationState, status: RotationStatus) -> RotationState {
    state.step = Step::Done;
    state.outcome = Some(status);
    state
}

fn begin_undo(mut state: RotationState, error: Error) -> RotationState {
    state.error_kind = Some(error.kind());
    state.error = Some(error.message().to_owned());
    let mut undo = Vec::new();
    if state.plan.auto_rollback && state.current_changed && !state.creating {
        undo.push(Step::RestoreStore);
    }
    if state.plan.auto_rollback && state.target_changed && !state.creating {
        undo.push(Step::RevertTarget);
    }
    if state.staged {
        undo.push(Step::DiscardPending);
    }
    state.undo = undo;
    next_undo(state)
}

fn next_undo(mut state: RotationState) -> RotationState {
    if state.undo.is_empty() {
        let status = if state.superseded_by.is_some() {
            RotationStatus::Failed
        } else if state.plan.auto_rollback && state.rollback_performed && !state.undo_failed {
            RotationStatus::RolledBack
        } else {
            RotationStatus::Failed
        };
        return finish(state, status);
    }
    state.step = state.undo.remove(0);
    state
}

/// Apply the outcome of the current step and choose the next one.
pub fn advance(mut state: RotationState, outcome: Outcome) -> RotationState {
    let step = state.step;
    if step == Step::Done {
        return state;
    }
    if state.is_undoing() {
        return match outcome {
            Outcome::Failed(err) | Outcome::NotAttempted(err) => {
                // Keep going: a failed restore must not leave the target with the rejected
                // credential, nor a failed target revert leave a pending value behind.
                let first = state.error.take().unwrap_or_default();
                state.error = Some(format!(
                    "{first}; rollback failed at {step:?}: {}",
                    err.message()
                ));
                state.undo_failed = true;
                next_undo(state)
            }
            Outcome::Read(_) | Outcome::Version(_) | Outcome::Done => {
                match step {
                    Step::RestoreStore => {
                        state.current_changed = false;
                        state.rollback_performed = true;
                        if let Outcome::Version(v) = outcome {
                            state.restored_version = Some(v);
                        }
                    }
                    Step::RevertTarget => {
                        state.target_changed = false;
                        state.rollback_performed = true;
                    }
                    Step::DiscardPending => {
                        state.staged = false;
                        // Discarding an invisible pending value counts as a rollback only when
                        // rollback was asked for; without it the result stays `failed`.
                        state.rollback_performed |= state.plan.auto_rollback;
                    }
                    _ => {}
                }
                next_undo(state)
            }
        };
    }
    match (step, outcome) {
        (Step::ReadCurrent, Outcome::Read(Some(version))) => {
            state.old_version = Some(version);
            forward(state)
        }
        (Step::ReadCurrent, Outcome::Read(None)) if state.plan.create_if_missing => {
            state.creating = true;
            state.step = Step::WriteCurrent;
            state
        }
        (Step::ReadCurrent, Outcome::Read(None)) => {
            state.error_kind = Some(ErrorKind::NotFound);
            state.error = Some(
                "secret does not exist in the store (set create_if_missing = true to create it)"
                    .to_owned(),
            );
            finish(state, RotationStatus::Failed)
        }
        (Step::ReadCurrent, Outcome::Failed(err) | Outcome::NotAttempted(err)) => {
            state.error_kind = Some(err.kind());
            state.error = Some(err.message().to_owned());
            finish(state, RotationStatus::Failed)
        }
        (Step::Cleanup, Outcome::Failed(err) | Outcome::NotAttempted(err)) => {
            // The new value is current and verified; a leftover is logged, not a failure.
            tracing::warn!(rotation_id = %state.rotation_id, error = %err, "cleanup after promotion failed");
            forward(state)
        }
        (Step::RevokeOld, Outcome::Failed(err) | Outcome::NotAttempted(err)) => {
            // The new credential is current and verified: a failed revocation is reported,
            // it does not undo the rotation.
            state.revoke_error = Some(err.message().to_owned());
            finish(state, RotationStatus::Success)
        }
        (_, Outcome::NotAttempted(err)) => begin_undo(state, err),
        (_, Outcome::Failed(err)) => {
            match step {
                // A stage that failed half-way may have left a pending value.
                Step::Stage => state.staged = true,
                // The target may have taken the value before failing.
                Step::ApplyTarget => state.target_changed = true,
                _ => {}
            }
            begin_undo(state, err)
        }
        (_, outcome) => {
            let written = match outcome {
                Outcome::Version(v) => Some(v),
                _ => None,
            };
            match step {
                Step::Stage => state.staged = true,
                Step::WriteCurrent => state.current_changed = true,
                Step::Promote => {
                    state.current_changed = true;
                    state.staged = false;
                }
                Step::ApplyTarget => state.target_changed = true,
                Step::Verify => state.verification_passed = true,
                Step::RevokeOld => state.revoked = true,
                _ => {}
            }
            if written.is_some() {
                state.new_version = written;
            }
            forward(state)
        }
    }
}

/// Turn the last journaled state of an interrupted rotation into one that recovery can drive to
/// an end. `landed` is the store's current version if this rotation wrote it (its promote or
/// write took effect before the crash), `None` otherwise.
///
/// - Undo in progress, or `Cleanup` (promotion done): continue where it stopped; every step is
///   idempotent, so repeating the interrupted one is safe.
/// - Staged and promoted (`landed`): the value was verified before promotion; finish cleanup.
/// - Anything else was never verified: roll back, whatever `auto_rollback` says (an interrupted,
///   unverified credential is never left in place by recovery).
pub fn resume(mut state: RotationState, landed: Option<VersionId>) -> RotationState {
    match state.step {
        Step::Done
        | Step::Cleanup
        | Step::RevokeOld
        | Step::RestoreStore
        | Step::RevertTarget
        | Step::DiscardPending => {
            return state;
        }
        _ => {}
    }
    let step = state.step;
    let staged_path = !state.creating && state.plan.strategy == RotationStrategy::Staged;
    let landed = match landed {
        Some(version) => {
            state.new_version = Some(version);
            true
        }
        None => false,
    };
    if landed && staged_path {
        state.current_changed = true;
        state.staged = false;
        state.step = Step::Cleanup;
        return state;
    }
    if landed {
        state.current_changed = true;
    }
    if step == Step::Stage {
        state.staged = true;
    }
    if step == Step::ApplyTarget {
        state.target_changed = true;
    }
    state.plan.auto_rollback = true;
    begin_undo(
        state,
        Error::new(
            ErrorKind::Internal,
            format!("interrupted before or during {step:?}; resolved by recovery"),
        ),
    )
}

/// Close an interrupted rotation whose start version is no longer current because a newer
/// rotation or write won (recovery found `current` in the store): the store is left alone, the
/// target is given the store's current value if this rotation may have touched it, and its own
/// pending value is discarded. Never moves the store backwards.
pub fn supersede(mut state: RotationState, current: VersionId) -> RotationState {
    let step = state.step;
    if step == Step::Stage {
        state.staged = true;
    }
    let touched_target = state.target_changed
        || matches!(step, Step::ApplyTarget | Step::RevertTarget)
        || state.undo.contains(&Step::RevertTarget);
    state.current_changed = false;
    state.error_kind = Some(ErrorKind::Conflict);
    state.error = Some(format!(
        "interrupted before or during {step:?}; superseded by version {current}, which became current since; closed by recovery"
    ));
    state.superseded_by = Some(current);
    let mut undo = Vec::new();
    if touched_target && state.plan.has_target {
        undo.push(Step::RevertTarget);
    }
    if state.staged || step == Step::DiscardPending {
        undo.push(Step::DiscardPending);
    }
    state.undo = undo;
    next_undo(state)
}

/// Move to the next forward step, finishing with success after the last one.
fn forward(mut state: RotationState) -> RotationState {
    state.step = forward_after(&state, state.step);
    if state.step == Step::Done {
        finish(state, RotationStatus::Success)
    } else {
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(strategy: RotationStrategy, has_target: bool, auto_rollback: bool) -> Plan {
        Plan {
            strategy,
            has_target,
            verify: true,
            auto_rollback,
            create_if_missing: false,
            revoke_old: false,
        }
    }

    fn run(
        mut s: RotationState,
        mut outcome: impl FnMut(Step) -> Outcome,
    ) -> (RotationState, Vec<Step>) {
        let mut steps = Vec::new();
        while !s.is_done() {
            steps.push(s.step);
            assert!(steps.len() < 20, "no progress: {steps:?}");
            let o = outcome(s.step);
            s = advance(s, o);
        }
        (s, steps)
    }

    fn ok(step: Step) -> Outcome {
        match step {
            Step::ReadCurrent => Outcome::Read(Some(VersionId::new("1"))),
            Step::Stage | Step::WriteCurrent | Step::Promote | Step::RestoreStore => {
                Outcome::Version(VersionId::new("2"))
            }
            _ => Outcome::Done,
        }
    }

    fn state(p: Plan) -> RotationState {
        RotationState::new(RotationId::generate(), SecretId::new("s"), p)
    }

    #[test]
    fn staged_success_path() {
        let (s, steps) = run(state(plan(RotationStrategy::Staged, true, true)), ok);
        use Step::*;
        assert_eq!(
            steps,
            [ReadCurrent, Stage, ApplyTarget, Verify, Promote, Cleanup]
        );
        assert_eq!(s.status(), RotationStatus::Success);
        assert!(s.verification_passed && !s.rollback_performed);
    }

    #[test]
    fn staged_verify_failure_reverts_target_and_discards() {
        let (s, steps) = run(state(plan(RotationStrategy::Staged, true, true)), |st| {
            if st == Step::Verify {
                Outcome::Failed(Error::new(ErrorKind::Verification, "bad"))
            } else {
                ok(st)
            }
        });
        use Step::*;
        assert_eq!(
            steps,
            [
                ReadCurrent,
                Stage,
                ApplyTarget,
                Verify,
                RevertTarget,
                DiscardPending
            ]
        );
        assert_eq!(s.status(), RotationStatus::RolledBack);
        assert!(s.rollback_performed && !s.verification_passed);
        assert_eq!(s.error.as_deref(), Some("bad"));
    }

    #[test]
    fn immediate_verify_failure_without_rollback_is_failed_not_success() {
        let (s, steps) = run(
            state(plan(RotationStrategy::Immediate, false, false)),
            |st| {
                if st == Step::Verify {
                    Outcome::Failed(Error::new(ErrorKind::Verification, "bad"))
                } else {
                    ok(st)
                }
            },
        );
        assert_eq!(steps, [Step::ReadCurrent, Step::WriteCurrent, Step::Verify]);
        assert_eq!(s.status(), RotationStatus::Failed);
        assert!(!s.rollback_performed);
    }

    #[test]
    fn immediate_verify_failure_restores_store_then_target() {
        let (s, steps) = run(state(plan(RotationStrategy::Immediate, true, true)), |st| {
            if st == Step::Verify {
                Outcome::Failed(Error::new(ErrorKind::Verification, "bad"))
            } else {
                ok(st)
            }
        });
        use Step::*;
        assert_eq!(
            steps,
            [
                ReadCurrent,
                WriteCurrent,
                ApplyTarget,
                Verify,
                RestoreStore,
                RevertTarget
            ]
        );
        assert_eq!(s.status(), RotationStatus::RolledBack);
    }

    #[test]
    fn promote_conflict_discards_even_without_auto_rollback() {
        let (s, steps) = run(state(plan(RotationStrategy::Staged, false, false)), |st| {
            if st == Step::Promote {
                Outcome::Failed(Error::conflict("lost"))
            } else {
                ok(st)
            }
        });
        assert_eq!(*steps.last().unwrap(), Step::DiscardPending);
        assert_eq!(s.status(), RotationStatus::Failed);
        assert_eq!(s.error_kind, Some(ErrorKind::Conflict));
    }

    #[test]
    fn failed_rollback_is_failed_with_both_reasons() {
        let (s, steps) = run(
            state(plan(RotationStrategy::Immediate, true, true)),
            |st| match st {
                Step::Verify => Outcome::Failed(Error::new(ErrorKind::Verification, "bad")),
                Step::RestoreStore => Outcome::Failed(Error::conflict("moved")),
                _ => ok(st),
            },
        );
        assert_eq!(s.status(), RotationStatus::Failed);
        assert_eq!(
            &steps[steps.len() - 2..],
            [Step::RestoreStore, Step::RevertTarget],
            "the target is reverted even though the store restore failed"
        );
        let e = s.error.unwrap();
        assert!(e.contains("bad") && e.contains("rollback failed"), "{e}");
    }

    #[test]
    fn nothing_after_promotion_undoes_a_verified_value() {
        for fail in [
            Outcome::Failed(Error::new(ErrorKind::Io, "x")),
            Outcome::NotAttempted(Error::new(ErrorKind::Io, "x")),
        ] {
            let mut fail = Some(fail);
            let (s, steps) = run(state(plan(RotationStrategy::Staged, true, true)), |st| {
                if st == Step::Cleanup {
                    fail.take().unwrap()
                } else {
                    ok(st)
                }
            });
            assert_eq!(s.status(), RotationStatus::Success);
            assert_eq!(*steps.last().unwrap(), Step::Cleanup);
        }
    }

    #[test]
    fn a_step_not_attempted_is_not_undone() {
        let (s, steps) = run(state(plan(RotationStrategy::Staged, true, true)), |st| {
            if st == Step::ApplyTarget {
                Outcome::NotAttempted(Error::new(ErrorKind::Io, "journal down"))
            } else {
                ok(st)
            }
        });
        assert_eq!(
            *steps.last().unwrap(),
            Step::DiscardPending,
            "no RevertTarget: {steps:?}"
        );
        assert_eq!(s.status(), RotationStatus::RolledBack);
    }

    #[test]
    fn resume_finishes_promoted_and_rolls_back_the_rest() {
        let p = plan(RotationStrategy::Staged, true, false);
        let mut s = state(p);
        for o in [
            ok(Step::ReadCurrent),
            ok(Step::Stage),
            ok(Step::ApplyTarget),
            ok(Step::Verify),
        ] {
            s = advance(s, o);
        }
        assert_eq!(s.step, Step::Promote);
        let finished = resume(s.clone(), Some(VersionId::new("2")));
        assert_eq!(finished.step, Step::Cleanup);
        let (done, _) = run(finished, ok);
        assert_eq!(done.status(), RotationStatus::Success);

        let rolled = resume(s, None);
        let (done, steps) = run(rolled, ok);
        assert_eq!(steps, [Step::RevertTarget, Step::DiscardPending]);
        assert_eq!(
            done.status(),
            RotationStatus::RolledBack,
            "recovery rolls back even without auto_rollback"
        );

        let mut imm = state(plan(RotationStrategy::Immediate, true, true));
        imm = advance(imm, ok(Step::ReadCurrent));
        assert_eq!(imm.step, Step::WriteCurrent);
        let (done, steps) = run(resume(imm.clone(), Some(VersionId::new("2"))), ok);
        assert_eq!(steps, [Step::RestoreStore], "written, target never applied");
        assert_eq!(done.status(), RotationStatus::RolledBack);
        let (done, steps) = run(resume(imm, None), ok);
        assert!(steps.is_empty());
        assert_eq!(done.status(), RotationStatus::Failed, "nothing to undo");
    }

    #[test]
    fn failed_target_revert_still_discards_pending() {
        let (s, steps) = run(
            state(plan(RotationStrategy::Staged, true, true)),
            |st| match st {
                Step::Verify => Outcome::Failed(Error::new(ErrorKind::Verification, "bad")),
                Step::RevertTarget => Outcome::Failed(Error::new(ErrorKind::Target, "down")),
                _ => ok(st),
            },
        );
        assert_eq!(*steps.last().unwrap(), Step::DiscardPending);
        assert_eq!(s.status(), RotationStatus::Failed);
    }

    #[test]
    fn missing_secret_fails_unless_creation_is_allowed() {
        let missing = |st| {
            if st == Step::ReadCurrent {
                Outcome::Read(None)
            } else {
                ok(st)
            }
        };
        let (s, _) = run(state(plan(RotationStrategy::Staged, false, true)), missing);
        assert_eq!(
            (s.status(), s.error_kind),
            (RotationStatus::Failed, Some(ErrorKind::NotFound))
        );
        let mut p = plan(RotationStrategy::Staged, false, true);
        p.create_if_missing = true;
        let (s, steps) = run(state(p), missing);
        assert_eq!(steps, [Step::ReadCurrent, Step::WriteCurrent, Step::Verify]);
        assert_eq!(s.status(), RotationStatus::Success);
    }

    #[test]
    fn statuses_pending_in_progress_verifying_are_reported() {
        let mut s = state(plan(RotationStrategy::Staged, false, true));
        assert_eq!(s.status(), RotationStatus::Pending);
        s = advance(s, ok(Step::ReadCurrent));
        assert_eq!(s.status(), RotationStatus::InProgress);
        s = advance(s, ok(Step::Stage));
        assert_eq!(s.status(), RotationStatus::Verifying);
    }
}
