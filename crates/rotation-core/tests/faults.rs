//! Fault injection: a real in-memory store wrapped so chosen operations fail before or after
//! they take effect, to drive the engine through its failure paths.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    AuditEvent, AuditSink, Capabilities, Engine, Error, ErrorKind, GeneratorSpec, MemoryStore,
    Result, RotateRequest, RotationId, RotationPolicy, RotationStatus, RotationStrategy,
    SecretBinding, SecretPath, SecretStore, SecretValue, Target, Verifier, VerifyContext,
    VersionId, VersionInfo, VersionState, VersionedSecret,
};

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Fail without doing anything.
    Before(ErrorKind),
    /// Do it, then report a failure (a lost reply, an fsync error after the rename).
    After(ErrorKind),
}

#[derive(Debug, Default)]
struct Faulty {
    inner: MemoryStore,
    faults: Mutex<HashMap<&'static str, VecDeque<Fault>>>,
}

impl Faulty {
    fn fail(&self, op: &'static str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .push_back(fault);
    }

    async fn run<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let fault = self
            .faults
            .lock()
            .unwrap()
            .get_mut(op)
            .and_then(VecDeque::pop_front);
        match fault {
            None => call.await,
            Some(Fault::Before(kind)) => Err(Error::new(kind, format!("injected before {op}"))),
            Some(Fault::After(kind)) => {
                call.await?;
                Err(Error::new(kind, format!("injected after {op}")))
            }
        }
    }
}

#[async_trait]
impl SecretStore for Faulty {
    fn kind(&self) -> &'static str {
        "faulty"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        self.run("read_current", self.inner.read_current(path))
            .await
    }
    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        self.run("read_previous", self.inner.read_previous(path))
            .await
    }
    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        self.run("read_version", self.inner.read_version(path, version))
            .await
    }
    async fn read_pending(
        &self,
        path: &SecretPath,
        id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        self.run("read_pending", self.inner.read_pending(path, id))
            .await
    }
    async fn stage(
        &self,
        path: &SecretPath,
        id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        self.run("stage", self.inner.stage(path, id, value)).await
    }
    async fn promote(
        &self,
        path: &SecretPath,
        id: &RotationId,
        expected: &VersionId,
    ) -> Result<VersionId> {
        self.run("promote", self.inner.promote(path, id, expected))
            .await
    }
    async fn discard_pending(&self, path: &SecretPath, id: &RotationId) -> Result<()> {
        self.run("discard_pending", self.inner.discard_pending(path, id))
            .await
    }
    async fn write_current(
        &self,
        path: &SecretPath,
        id: &RotationId,
        value: &SecretValue,
        expected: Option<&VersionId>,
    ) -> Result<VersionId> {
        self.run(
            "write_current",
            self.inner.write_current(path, id, value, expected),
        )
        .await
    }
    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected: &VersionId,
    ) -> Result<VersionId> {
        self.run("restore", self.inner.restore(path, version, expected))
            .await
    }
    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        self.run("list_versions", self.inner.list_versions(path))
            .await
    }
}

#[derive(Debug)]
struct Check(bool);

#[async_trait]
impl Verifier for Check {
    fn name(&self) -> &str {
        "check"
    }
    async fn verify(&self, _: &VerifyContext, _: &SecretValue) -> Result<()> {
        if self.0 {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Verification, "rejected"))
        }
    }
}

/// Records applied values; fails the first `fail_first` applies.
#[derive(Debug, Default)]
struct Recorder {
    applied: Mutex<Vec<Vec<u8>>>,
    fail_first: Mutex<usize>,
}

#[async_trait]
impl Target for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    async fn apply(&self, _: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.applied.lock().unwrap().push(value.expose().to_vec());
        let mut left = self.fail_first.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Err(Error::new(ErrorKind::Target, "target refused"));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct BrokenAudit;

#[async_trait]
impl AuditSink for BrokenAudit {
    async fn record(&self, _: &AuditEvent) -> Result<()> {
        Err(Error::new(ErrorKind::Io, "disk full"))
    }
    async fn verify(&self) -> Result<Vec<AuditEvent>> {
        Err(Error::new(ErrorKind::Io, "disk full"))
    }
}

const PATH: &str = "app/key";

async fn setup(
    strategy: RotationStrategy,
    verifies: bool,
) -> (Arc<Faulty>, SecretBinding, Arc<Recorder>) {
    let store = Arc::new(Faulty::default());
    let path = SecretPath::new(PATH);
    store
        .inner
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from("old"),
            None,
        )
        .await
        .unwrap();
    let target = Arc::new(Recorder::default());
    let policy = RotationPolicy::builder("p")
        .strategy(strategy)
        .verifiers(["check"])
        .build()
        .unwrap();
    let binding = SecretBinding {
        id: "s".into(),
        store: store.clone(),
        path,
        field: None,
        policy: Arc::new(policy),
        generator: GeneratorSpec::default_random().build("g").unwrap(),
        verifiers: vec![Arc::new(Check(verifies))],
        target: Some(target.clone()),
        create_if_missing: false,
        timing: None,
    };
    (store, binding, target)
}

fn engine() -> Engine {
    Engine::builder()
        .step_retries(3, Duration::from_millis(1))
        .build()
}

async fn rotate(binding: &SecretBinding) -> rotation_core::RotationResult {
    let req = RotateRequest {
        value: Some(SecretValue::from("new")),
        ..Default::default()
    };
    engine().rotate(binding, req).await
}

async fn current(store: &Faulty) -> Vec<u8> {
    store
        .inner
        .read_current(&SecretPath::new(PATH))
        .await
        .unwrap()
        .value
        .expose()
        .to_vec()
}

async fn committed_versions(store: &Faulty) -> usize {
    let all = store
        .inner
        .list_versions(&SecretPath::new(PATH))
        .await
        .unwrap();
    assert!(
        all.iter().all(|v| v.state != VersionState::Pending),
        "pending left: {all:?}"
    );
    all.len()
}

#[tokio::test]
async fn promote_that_fails_after_taking_effect_is_a_success_not_a_split() {
    let (store, binding, target) = setup(RotationStrategy::Staged, true).await;
    store.fail("promote", Fault::After(ErrorKind::Io));
    let r = rotate(&binding).await;
    assert_eq!(r.status, RotationStatus::Success, "{r:?}");
    assert_eq!(current(&store).await, b"new");
    assert_eq!(
        *target.applied.lock().unwrap(),
        vec![b"new".to_vec()],
        "target was not reverted"
    );
}

#[tokio::test]
async fn temporary_failure_after_an_immediate_write_is_retried_without_a_second_version() {
    let (store, binding, _) = setup(RotationStrategy::Immediate, true).await;
    store.fail("write_current", Fault::After(ErrorKind::Temporary));
    let r = rotate(&binding).await;
    assert!(r.success, "{r:?}");
    assert_eq!(committed_versions(&store).await, 2);
}

#[tokio::test]
async fn promote_failing_before_effect_rolls_back_store_and_target() {
    let (store, binding, target) = setup(RotationStrategy::Staged, true).await;
    store.fail("promote", Fault::Before(ErrorKind::Io));
    let r = rotate(&binding).await;
    assert_eq!(r.status, RotationStatus::RolledBack, "{r:?}");
    assert_eq!(current(&store).await, b"old");
    assert_eq!(
        *target.applied.lock().unwrap(),
        vec![b"new".to_vec(), b"old".to_vec()]
    );
    assert_eq!(committed_versions(&store).await, 1);
}

#[tokio::test]
async fn failed_restore_gives_the_target_the_current_value_and_reports_failed() {
    let (store, binding, target) = setup(RotationStrategy::Immediate, false).await;
    store.fail("restore", Fault::Before(ErrorKind::Conflict));
    let r = rotate(&binding).await;
    assert_eq!(r.status, RotationStatus::Failed, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().contains("rollback failed"),
        "{r:?}"
    );
    // The store still holds the new value, so the target is given it again: the target always
    // ends with the store's current value, never with one the store no longer serves.
    assert_eq!(current(&store).await, b"new");
    assert_eq!(
        *target.applied.lock().unwrap(),
        vec![b"new".to_vec(), b"new".to_vec()]
    );
}

#[tokio::test]
async fn restore_that_fails_after_taking_effect_counts_as_restored() {
    let (store, binding, _) = setup(RotationStrategy::Immediate, false).await;
    store.fail("restore", Fault::After(ErrorKind::Io));
    let r = rotate(&binding).await;
    assert_eq!(r.status, RotationStatus::RolledBack, "{r:?}");
    assert_eq!(current(&store).await, b"old");
}

#[tokio::test]
async fn target_failure_rolls_back_and_re_applies_the_old_value() {
    let (store, binding, target) = setup(RotationStrategy::Staged, true).await;
    *target.fail_first.lock().unwrap() = 1;
    let r = rotate(&binding).await;
    assert_eq!(r.status, RotationStatus::RolledBack, "{r:?}");
    assert_eq!(r.error_kind, Some(ErrorKind::Target));
    assert_eq!(
        *target.applied.lock().unwrap(),
        vec![b"new".to_vec(), b"old".to_vec()]
    );
    assert_eq!(current(&store).await, b"old");
    assert_eq!(committed_versions(&store).await, 1);
}

#[tokio::test]
async fn temporary_stage_failure_is_retried() {
    let (store, binding, _) = setup(RotationStrategy::Staged, true).await;
    store.fail("stage", Fault::Before(ErrorKind::Temporary));
    store.fail("stage", Fault::After(ErrorKind::Temporary));
    let r = rotate(&binding).await;
    assert!(r.success, "{r:?}");
    assert_eq!(committed_versions(&store).await, 2);
}

#[tokio::test]
async fn unavailable_audit_log_refuses_the_rotation_and_changes_nothing() {
    let (store, binding, target) = setup(RotationStrategy::Staged, true).await;
    let engine = Engine::builder().audit(Arc::new(BrokenAudit)).build();
    let r = engine.rotate(&binding, RotateRequest::default()).await;
    assert_eq!(r.status, RotationStatus::Failed);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("audit log unavailable"),
        "{r:?}"
    );
    assert_eq!(current(&store).await, b"old");
    assert!(target.applied.lock().unwrap().is_empty());
}

#[tokio::test]
async fn manual_rollback_after_an_undone_rotation_never_brings_back_the_rejected_value() {
    let (store, binding, _) = setup(RotationStrategy::Immediate, true).await;
    let first = rotate(&binding).await;
    assert!(first.success);
    // A second rotation is rejected and undone.
    let mut rejected = binding.clone();
    rejected.verifiers = vec![Arc::new(Check(false))];
    let req = RotateRequest {
        value: Some(SecretValue::from("rejected")),
        ..Default::default()
    };
    assert_eq!(
        engine().rotate(&rejected, req).await.status,
        RotationStatus::RolledBack
    );
    // Rolling back now returns to the value before "new", not to "rejected".
    engine().rollback(&binding).await.unwrap();
    assert_eq!(current(&store).await, b"old");
}

/// Records every journaled state; can be told to fail from the n-th record on.
#[derive(Debug, Default)]
struct RecordingJournal {
    states: Mutex<Vec<(rotation_core::machine::Step, RotationStatus)>>,
    fail_from: Mutex<Option<usize>>,
}

#[async_trait]
impl rotation_core::Journal for RecordingJournal {
    async fn record(&self, state: &rotation_core::machine::RotationState) -> Result<()> {
        let mut states = self.states.lock().unwrap();
        if self
            .fail_from
            .lock()
            .unwrap()
            .is_some_and(|n| states.len() >= n)
        {
            return Err(Error::new(ErrorKind::Io, "journal down"));
        }
        states.push((state.step, state.status()));
        Ok(())
    }
}

#[tokio::test]
async fn every_step_is_journaled_before_it_runs_and_a_journal_failure_stops_forward_progress() {
    use rotation_core::machine::Step;
    let (store, binding, _) = setup(RotationStrategy::Staged, true).await;
    let journal = Arc::new(RecordingJournal::default());
    let engine = Engine::builder().journal(journal.clone()).build();
    assert!(
        engine
            .rotate(&binding, RotateRequest::default())
            .await
            .success
    );
    let steps: Vec<Step> = journal.states.lock().unwrap().iter().map(|s| s.0).collect();
    assert_eq!(
        steps,
        [
            Step::ReadCurrent,
            Step::Stage,
            Step::ApplyTarget,
            Step::Verify,
            Step::Promote,
            Step::Cleanup,
            // Done with its audit record pending, then closed once the record is durable.
            Step::Done,
            Step::Done
        ]
    );
    let statuses: Vec<RotationStatus> =
        journal.states.lock().unwrap().iter().map(|s| s.1).collect();
    assert!(
        statuses.contains(&RotationStatus::Pending)
            && statuses.contains(&RotationStatus::Verifying)
    );

    // The journal goes down before the target step: nothing reaches the target, the pending
    // value is discarded and the old value stays current.
    let (store2, binding2, target2) = setup(RotationStrategy::Staged, true).await;
    let journal = Arc::new(RecordingJournal::default());
    *journal.fail_from.lock().unwrap() = Some(2);
    let engine = Engine::builder().journal(journal).build();
    let r = engine.rotate(&binding2, RotateRequest::default()).await;
    assert_eq!(r.status, RotationStatus::RolledBack, "{r:?}");
    assert!(r.error.as_deref().unwrap().contains("journal unavailable"));
    assert!(target2.applied.lock().unwrap().is_empty());
    assert_eq!(current(&store2).await, b"old");
    assert_eq!(committed_versions(&store2).await, 1);
    drop(store);
}
