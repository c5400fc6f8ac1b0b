//! Crash injection: abort a rotation at every journaled step (before and after the record is
//! written), let something else happen to the secret once the dead holder's lease has expired
//! (nothing, a new rotation, a manual rollback, a write by hand), run recovery, and check the
//! invariants: the store holds one whole value, the target holds the store's current value,
//! every rotation has a terminal audit record, nothing is left pending or leased. Runs against
//! any store; the rotation's future is dropped mid-flight, which is what a killed process looks
//! like to the store and the state store (the `rotation-e2e` tests add real `kill -9` of the
//! binary).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::machine::RotationState;
use rotation_core::{
    Engine, Journal, MemoryStateStore, RecoveryAction, Result, RotateRequest, RotationStatus,
    RotationStrategy, SecretStore, SecretValue, StateStore, VersionState,
};
use tokio::sync::Notify;

use crate::support::{
    ManualClock, MemoryAudit, RecordingTarget, ScriptedVerifier, binding, create, text, val,
};

/// What happens to the secret after the crash, once the dead holder's lease has expired and
/// before recovery runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Nothing: recovery finds the interrupted rotation as it was left.
    Nothing,
    /// Another process rotates the secret (to `newer`).
    Rotation,
    /// An operator runs `rotation rollback`.
    Rollback,
    /// Someone writes `foreign` to the store by hand (compare-and-swap on the current version).
    ForeignWrite,
}

impl Then {
    /// Every variant.
    pub const ALL: [Then; 4] = [
        Then::Nothing,
        Then::Rotation,
        Then::Rollback,
        Then::ForeignWrite,
    ];
}

/// Where the crash happens relative to the k-th journal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Before record k is written (step k-1 ran, its outcome is not journaled).
    BeforeRecord(usize),
    /// After record k is written (step k has not run).
    AfterRecord(usize),
}

/// A journal that hangs forever at the crash point, after signalling it.
#[derive(Debug)]
pub(crate) struct CrashingJournal {
    inner: Arc<MemoryStateStore>,
    point: CrashPoint,
    seen: AtomicUsize,
    crashed: Arc<Notify>,
}

#[async_trait]
impl Journal for CrashingJournal {
    async fn record(&self, state: &RotationState) -> Result<()> {
        let k = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.point == CrashPoint::BeforeRecord(k) {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.record(state).await?;
        if self.point == CrashPoint::AfterRecord(k) {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Journal records of one uninterrupted rotation with this setup (the number of kill points).
impl CrashingJournal {
    /// A journal over `inner` that hangs at `point` after notifying `crashed`.
    pub(crate) fn new(
        inner: Arc<MemoryStateStore>,
        point: CrashPoint,
        crashed: Arc<Notify>,
    ) -> Self {
        Self {
            inner,
            point,
            seen: AtomicUsize::new(0),
            crashed,
        }
    }
    /// Records written or attempted so far.
    pub(crate) fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

async fn records_of_clean_run(
    store: Arc<dyn SecretStore>,
    strategy: RotationStrategy,
    verifies: bool,
) -> usize {
    let (path, _) = create(&*store, "crash-count", "old").await;
    let state = Arc::new(MemoryStateStore::new());
    let journal = Arc::new(CrashingJournal {
        inner: state.clone(),
        point: CrashPoint::BeforeRecord(usize::MAX),
        seen: AtomicUsize::new(0),
        crashed: Arc::new(Notify::new()),
    });
    let mut b = binding(store, path, strategy, true, verifier(verifies));
    b.target = Some(RecordingTarget::new());
    let engine = Engine::builder()
        .state(state)
        .journal(journal.clone())
        .build();
    assert_eq!(
        engine.rotate(&b, RotateRequest::default()).await.success,
        verifies
    );
    journal.seen.load(Ordering::SeqCst)
}

fn verifier(passes: bool) -> Arc<ScriptedVerifier> {
    if passes {
        ScriptedVerifier::passing()
    } else {
        ScriptedVerifier::failing()
    }
}

/// Crash one rotation at `point`, recover, and check every invariant. With a failing verifier
/// the crash points fall into the rollback steps. Returns whether the crash point was reached
/// (points past the end of a run are not).
pub async fn crash_and_recover(
    store: Arc<dyn SecretStore>,
    strategy: RotationStrategy,
    verifies: bool,
    point: CrashPoint,
    then: Then,
) -> bool {
    let (path, _) = create(&*store, "crash", "old").await;
    let state = Arc::new(MemoryStateStore::new());
    let audit = MemoryAudit::new();
    let clock = ManualClock::new();
    let crashed = Arc::new(Notify::new());
    let journal = Arc::new(CrashingJournal {
        inner: state.clone(),
        point,
        seen: AtomicUsize::new(0),
        crashed: crashed.clone(),
    });
    let target = RecordingTarget::new();
    let mut b = binding(
        store.clone(),
        path.clone(),
        strategy,
        true,
        verifier(verifies),
    );
    b.target = Some(target.clone());
    let ttl = Duration::from_secs(30);
    let doomed = Engine::builder()
        .state(state.clone())
        .journal(journal)
        .audit(audit.clone())
        .clock(clock.clone())
        .lease_ttl(ttl)
        .holder("doomed")
        .build();
    let request = RotateRequest {
        value: Some(SecretValue::from("new")),
        ..Default::default()
    };
    let run = doomed.rotate(&b, request);
    tokio::select! {
        result = run => {
            // The run finished before reaching the crash point.
            assert_eq!(result.success, verifies, "{result:?}");
            return false;
        }
        _ = crashed.notified() => {}
    }
    drop(doomed); // the process is gone: no release, no cleanup

    // A new process starts: recovery must wait for the dead holder's lease to expire.
    let survivor = Engine::builder()
        .state(state.clone())
        .audit(audit.clone())
        .clock(clock.clone())
        .holder("survivor")
        .build();
    let bindings = [(b.id.clone(), b.clone())].into_iter().collect();
    let journaled = !state.unfinished().await.expect("unfinished").is_empty();
    let before = shape(store.list_versions(&path).await.expect("list"));
    let early = survivor.recover(&bindings).await.expect("recover");
    assert!(
        early.iter().all(|r| r.action == RecoveryAction::Skipped)
            && (!journaled || !early.is_empty()),
        "{point:?}: recovery must leave a rotation whose lease is live alone: {early:?}"
    );
    assert_eq!(
        shape(store.list_versions(&path).await.expect("list")),
        before,
        "{point:?}: store touched under a live lease"
    );
    clock.advance(chrono::Duration::from_std(ttl * 2).expect("ttl"));
    let label = format!("{point:?} then {then:?}");
    let mut applied_before = 0;
    match then {
        Then::Nothing => {}
        Then::Rotation => {
            let request = RotateRequest {
                value: Some(SecretValue::from("newer")),
                ..Default::default()
            };
            let r = survivor.rotate(&b, request).await;
            assert_eq!(r.success, verifies, "{label}: {r:?}");
        }
        Then::Rollback => {
            // May fail (nothing to roll back to once the crashed rotation was undone).
            let _ = survivor.rollback(&b).await;
        }
        Then::ForeignWrite => {
            applied_before = target.applied().len();
            let current = store.read_current(&path).await.expect("read");
            store
                .write_current(
                    &path,
                    &rotation_core::RotationId::generate(),
                    &val(&*store, "foreign"),
                    Some(&current.version),
                )
                .await
                .expect("write by hand");
        }
    }
    let reports = survivor.recover(&bindings).await.expect("recover");

    let current = store.read_current(&path).await.expect("read");
    let value = text(&*store, &current.value);
    let value = value.as_slice();
    let allowed: &[&[u8]] = match then {
        Then::Nothing | Then::Rollback => &[b"old", b"new"],
        Then::Rotation => &[b"old", b"new", b"newer"],
        Then::ForeignWrite => &[b"foreign"],
    };
    assert!(
        allowed.contains(&value),
        "{label}: current value is none of {allowed:?}"
    );
    let unfinished = state.unfinished().await.expect("unfinished");
    assert!(
        unfinished.is_empty(),
        "{label}: still unfinished: {unfinished:?}"
    );
    if value == b"new" && then == Then::Nothing {
        let rid = current_rotation(&*store, &path).await;
        let journaled = state
            .rotation(&rid)
            .await
            .expect("journal")
            .expect("journaled");
        assert_eq!(
            journaled.status(),
            RotationStatus::Success,
            "{label}: new value but journal says {journaled:?}"
        );
    }
    let applied = target.applied();
    if then == Then::ForeignWrite {
        // A write by hand changes the store, not the target: the engine is answerable only for
        // what it gives the target afterwards (the current value) and for never leaving it
        // with a value the store never made current.
        let after = &applied[applied_before.min(applied.len())..];
        assert!(
            after.iter().all(|v| v.as_slice() == b"foreign"),
            "{label}: recovery gave the target a value that is not current: {after:?}"
        );
        use rotation_core::machine::Step;
        for r in &reports {
            let stale = matches!(
                r.interrupted_at,
                Some(
                    Step::Stage
                        | Step::WriteCurrent
                        | Step::ApplyTarget
                        | Step::Verify
                        | Step::Promote
                )
            ) && r.action != RecoveryAction::Audited;
            if stale {
                assert_eq!(
                    r.action,
                    RecoveryAction::Superseded,
                    "{label}: a record older than the current version is closed as superseded: {r:?}"
                );
            }
        }
        if let Some(last) = applied.last().filter(|v| v.as_slice() == b"new") {
            let succeeded = state
                .rotation(&doomed_id(&audit))
                .await
                .expect("journal")
                .is_some_and(|r| r.status() == RotationStatus::Success);
            assert!(
                succeeded,
                "{label}: the target holds {:?}, which never became current",
                String::from_utf8_lossy(last)
            );
        }
    } else if let Some(last) = applied.last() {
        // The target agrees with the store: whatever it was last given is the current value.
        assert_eq!(
            last.as_slice(),
            value,
            "{label}: the target holds another value than the store's current one ({:?} vs {:?}); {reports:?}",
            String::from_utf8_lossy(last),
            String::from_utf8_lossy(value)
        );
    }
    audit.assert_every_rotation_has_an_outcome(&label);
    let versions = store.list_versions(&path).await.expect("list");
    assert!(
        versions.iter().all(|v| v.state != VersionState::Pending),
        "{label}: pending left: {versions:?}; {reports:?}"
    );
    assert!(
        state.lease(&b.id).await.expect("lease").is_none(),
        "{label}: lease left"
    );

    // Recovery again changes nothing.
    let again = survivor.recover(&bindings).await.expect("recover again");
    assert!(
        again.is_empty(),
        "{label}: second recovery acted: {again:?}"
    );
    assert_eq!(
        shape(store.list_versions(&path).await.expect("list")),
        shape(versions.clone())
    );
    let again_value = store.read_current(&path).await.expect("read").value;
    assert_eq!(text(&*store, &again_value), value);
    true
}

/// The id of the crashed rotation (the first one audited as started).
fn doomed_id(audit: &MemoryAudit) -> rotation_core::RotationId {
    audit
        .events()
        .into_iter()
        .find(|e| e.action == rotation_core::AuditAction::Started)
        .and_then(|e| e.rotation_id)
        .expect("the crashed rotation was audited as started")
}

/// Versions without their timestamps (moto reports a fresh CreatedDate on every listing).
fn shape(
    versions: Vec<rotation_core::VersionInfo>,
) -> Vec<(String, VersionState, Option<rotation_core::RotationId>)> {
    versions
        .into_iter()
        .map(|v| (v.version.to_string(), v.state, v.rotation_id))
        .collect()
}

async fn current_rotation(
    store: &dyn SecretStore,
    path: &rotation_core::SecretPath,
) -> rotation_core::RotationId {
    store
        .list_versions(path)
        .await
        .expect("list")
        .into_iter()
        .find(|v| v.state == VersionState::Current)
        .and_then(|v| v.rotation_id)
        .expect("current version has a rotation id")
}

/// Crash at every journaled step of `strategy`, on the success path and on the rollback path
/// (failing verifier), before and after each record; returns the number of kill points
/// exercised (never zero).
pub async fn crash_at_every_step(store: Arc<dyn SecretStore>, strategy: RotationStrategy) -> usize {
    let mut points = 0;
    for verifies in [true, false] {
        let records = records_of_clean_run(store.clone(), strategy, verifies).await;
        for k in 1..=records {
            for point in [CrashPoint::BeforeRecord(k), CrashPoint::AfterRecord(k)] {
                for then in Then::ALL {
                    if crash_and_recover(store.clone(), strategy, verifies, point, then).await {
                        points += 1;
                    }
                }
            }
        }
        let path = if verifies { "success" } else { "rollback" };
        println!(
            "{} {strategy} ({path} path): {records} journal records per rotation",
            store.kind()
        );
    }
    println!(
        "{} {strategy}: {points} kill points exercised (each followed by nothing, a rotation, a rollback or a write by hand, then recovery)",
        store.kind()
    );
    assert!(points > 0);
    points
}
