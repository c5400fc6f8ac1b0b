//! Crash injection: abort a rotation at every journaled step (before and after the record is
//! written), run recovery, and check the invariants. Runs against any store; the rotation's
//! future is dropped mid-flight, which is what a killed process looks like to the store and the
//! state store (the `rotation-e2e` tests add real `kill -9` of the binary for the file store).

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

use crate::support::{ManualClock, RecordingTarget, ScriptedVerifier, binding, create, text};

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
struct CrashingJournal {
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
) -> bool {
    let (path, _) = create(&*store, "crash", "old").await;
    let state = Arc::new(MemoryStateStore::new());
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
    let reports = survivor.recover(&bindings).await.expect("recover");

    let current = store.read_current(&path).await.expect("read");
    let value = text(&*store, &current.value);
    let value = value.as_slice();
    assert!(
        value == b"old" || value == b"new",
        "{point:?}: neither old nor new value"
    );
    let unfinished = state.unfinished().await.expect("unfinished");
    assert!(
        unfinished.is_empty(),
        "{point:?}: still unfinished: {unfinished:?}"
    );
    if value == b"new" {
        let rid = current_rotation(&*store, &path).await;
        let journaled = state
            .rotation(&rid)
            .await
            .expect("journal")
            .expect("journaled");
        assert_eq!(
            journaled.status(),
            RotationStatus::Success,
            "{point:?}: new value but journal says {journaled:?}"
        );
    } else if let Some(last) = target.applied().last() {
        assert_eq!(
            last, b"old",
            "{point:?}: target left with the new value after a rollback"
        );
    }
    let versions = store.list_versions(&path).await.expect("list");
    assert!(
        versions.iter().all(|v| v.state != VersionState::Pending),
        "{point:?}: pending left: {versions:?}; {reports:?}"
    );
    assert!(
        state.lease(&b.id).await.expect("lease").is_none(),
        "{point:?}: lease left"
    );

    // Recovery again changes nothing.
    let again = survivor.recover(&bindings).await.expect("recover again");
    assert!(
        again.is_empty(),
        "{point:?}: second recovery acted: {again:?}"
    );
    assert_eq!(
        shape(store.list_versions(&path).await.expect("list")),
        shape(versions.clone())
    );
    let again_value = store.read_current(&path).await.expect("read").value;
    assert_eq!(text(&*store, &again_value), value);
    true
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
                if crash_and_recover(store.clone(), strategy, verifies, point).await {
                    points += 1;
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
        "{} {strategy}: {points} kill points exercised",
        store.kind()
    );
    assert!(points > 0);
    points
}
