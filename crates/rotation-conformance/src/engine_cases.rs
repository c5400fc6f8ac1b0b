//! Engine scenarios (the seed's behaviours) run against a real store.

use std::collections::HashMap;
use std::sync::Arc;

use rotation_core::{
    Clock, Engine, ErrorKind, MemoryStateStore, RotateRequest, RotationResult, RotationStatus,
    RotationStrategy, ScheduleChange, ScheduleRecord, Scheduler, SecretBinding, SecretPath,
    SecretStore, SecretValue, StateStore, TimingSpec,
};
use tokio::sync::Notify;

use crate::support::{
    ManualClock, RecordingTarget, ScriptedVerifier, binding, create, create_raw, text, unique_path,
    val,
};

async fn current(
    store: &dyn SecretStore,
    path: &rotation_core::SecretPath,
) -> (rotation_core::VersionId, Vec<u8>) {
    let c = store.read_current(path).await.expect("read current");
    (c.version, text(store, &c.value))
}

async fn no_pending_left(store: &dyn SecretStore, path: &rotation_core::SecretPath) {
    let versions = store.list_versions(path).await.expect("list");
    assert!(
        versions
            .iter()
            .all(|v| v.state != rotation_core::VersionState::Pending),
        "a pending version was left behind: {versions:?}"
    );
}

/// One rotation with a fresh engine and default options.
async fn rotate_once(binding: &rotation_core::SecretBinding) -> rotation_core::RotationResult {
    Engine::builder()
        .build()
        .rotate(binding, RotateRequest::default())
        .await
}

/// Staged: new value current, old one previous, verified.
pub async fn staged_success(store: Arc<dyn SecretStore>) {
    let (path, v1) = create(&*store, "staged-ok", "old").await;
    let verifier = ScriptedVerifier::passing();
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        verifier.clone(),
    );
    let r = rotate_once(&b).await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.status, RotationStatus::Success);
    assert!(r.verification_passed && !r.rollback_performed && r.error.is_none());
    assert_eq!(r.old_version.as_ref(), Some(&v1));
    let (now, value) = current(&*store, &path).await;
    assert_eq!(Some(now), r.new_version);
    assert_ne!(value, b"old");
    assert_eq!(verifier.seen(), vec![value]);
    let prev = store
        .read_previous(&path)
        .await
        .expect("previous")
        .expect("some");
    assert_eq!(text(&*store, &prev.value), b"old");
    no_pending_left(&*store, &path).await;
}

/// Immediate: same outcome through a CAS write.
pub async fn immediate_success(store: Arc<dyn SecretStore>) {
    let (path, v1) = create(&*store, "immediate-ok", "old").await;
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Immediate,
        true,
        ScriptedVerifier::passing(),
    );
    let r = rotate_once(&b).await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.strategy, RotationStrategy::Immediate);
    assert_ne!(r.new_version.as_ref(), Some(&v1));
    assert_ne!(current(&*store, &path).await.1, b"old");
}

/// A caller-supplied value is used as is.
pub async fn custom_value(store: Arc<dyn SecretStore>) {
    let (path, _) = create(&*store, "custom", "old").await;
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    let req = RotateRequest {
        value: Some(SecretValue::from("custom_secret_value_123")),
        ..Default::default()
    };
    let r = Engine::builder().build().rotate(&b, req).await;
    assert!(r.success, "{r:?}");
    assert_eq!(current(&*store, &path).await.1, b"custom_secret_value_123");
}

/// Failed verification with auto rollback: old value current, byte-identical; rolled_back.
pub async fn verification_failure_rolls_back(store: Arc<dyn SecretStore>) {
    for strategy in [RotationStrategy::Staged, RotationStrategy::Immediate] {
        let (path, _) = create(&*store, "verify-fail", "old-\u{1F511}").await;
        let b = binding(
            store.clone(),
            path.clone(),
            strategy,
            true,
            ScriptedVerifier::failing(),
        );
        let r = Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await;
        assert!(!r.success);
        assert_eq!(r.status, RotationStatus::RolledBack, "{strategy}: {r:?}");
        assert!(r.rollback_performed && !r.verification_passed);
        assert!(
            r.error
                .as_deref()
                .unwrap_or_default()
                .contains("scripted rejection"),
            "{r:?}"
        );
        assert_eq!(
            current(&*store, &path).await.1,
            "old-\u{1F511}".as_bytes(),
            "{strategy}"
        );
        no_pending_left(&*store, &path).await;
    }
}

/// Staged without auto rollback: failed, the current value never changed.
pub async fn staged_failure_without_auto_rollback_is_failed(store: Arc<dyn SecretStore>) {
    let (path, v1) = create(&*store, "staged-no-rb", "old").await;
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        false,
        ScriptedVerifier::failing(),
    );
    let r = rotate_once(&b).await;
    assert_eq!(r.status, RotationStatus::Failed);
    assert!(!r.success && !r.rollback_performed);
    assert_eq!(current(&*store, &path).await, (v1, b"old".to_vec()));
}

/// Immediate without auto rollback: failed (never success), and the unverified value stays.
pub async fn immediate_failure_without_auto_rollback_is_failed(store: Arc<dyn SecretStore>) {
    let (path, v1) = create(&*store, "imm-no-rb", "old").await;
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Immediate,
        false,
        ScriptedVerifier::failing(),
    );
    let r = rotate_once(&b).await;
    assert_eq!(r.status, RotationStatus::Failed);
    assert!(!r.success && !r.rollback_performed && !r.verification_passed);
    let (now, _) = current(&*store, &path).await;
    assert_ne!(now, v1);
    assert_eq!(Some(now), r.new_version);
}

/// A target gets the new value, then the old one back when verification fails.
pub async fn target_is_reverted_on_failure(store: Arc<dyn SecretStore>) {
    let (path, _) = create(&*store, "target", "old").await;
    let target = RecordingTarget::new();
    let mut b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::failing(),
    );
    b.target = Some(target.clone());
    let req = RotateRequest {
        value: Some(SecretValue::from("new")),
        ..Default::default()
    };
    let r = Engine::builder().build().rotate(&b, req).await;
    assert_eq!(r.status, RotationStatus::RolledBack);
    assert_eq!(target.applied(), vec![b"new".to_vec(), b"old".to_vec()]);
}

/// A second rotation of a secret already rotating in this engine fails without touching it.
pub async fn concurrent_rotation_is_rejected(store: Arc<dyn SecretStore>) {
    let (path, _) = create(&*store, "concurrent", "old").await;
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::holding(entered.clone(), release.clone()),
    );
    let engine = Engine::builder().build();
    let first = {
        let (engine, b) = (engine.clone(), b.clone());
        tokio::spawn(async move { engine.rotate(&b, RotateRequest::default()).await })
    };
    entered.notified().await;
    let shape = |v: Vec<rotation_core::VersionInfo>| -> Vec<_> {
        v.into_iter().map(|i| (i.version, i.state)).collect()
    };
    let versions_before = shape(store.list_versions(&path).await.expect("list"));
    assert_eq!(engine.statistics().active_rotations, 1);
    let second = engine.rotate(&b, RotateRequest::default()).await;
    assert_eq!(second.status, RotationStatus::Failed);
    assert_eq!(second.error_kind, Some(ErrorKind::InProgress));
    assert!(
        second
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("rotation already in progress")
    );
    assert_eq!(
        shape(store.list_versions(&path).await.expect("list")),
        versions_before
    );
    release.notify_one();
    assert!(first.await.expect("join").success);
}

/// Another writer changes the secret between our read and our promote: we lose cleanly.
pub async fn competing_writer_loses_nothing(store: Arc<dyn SecretStore>) {
    let (path, _) = create(&*store, "competing", "old").await;
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::holding(entered.clone(), release.clone()),
    );
    let task = tokio::spawn(async move {
        Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await
    });
    entered.notified().await;
    let (v, _) = current(&*store, &path).await;
    let theirs = store
        .write_current(
            &path,
            &rotation_core::RotationId::generate(),
            &val(&*store, "theirs"),
            Some(&v),
        )
        .await
        .expect("competing write");
    release.notify_one();
    let r = task.await.expect("join");
    assert!(!r.success);
    assert_eq!(r.error_kind, Some(ErrorKind::Conflict), "{r:?}");
    assert_eq!(current(&*store, &path).await, (theirs, b"theirs".to_vec()));
    no_pending_left(&*store, &path).await;
}

/// Only the configured field of a JSON secret changes.
pub async fn json_field_rotation(store: Arc<dyn SecretStore>) {
    let doc = r#"{"username":"app","password":"old","port":5432}"#;
    let (path, _) = create_raw(&*store, "json-field", SecretValue::from(doc)).await;
    let verifier = ScriptedVerifier::passing();
    let mut b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        verifier.clone(),
    );
    b.field = Some("password".into());
    let r = rotate_once(&b).await;
    assert!(r.success, "{r:?}");
    let (_, bytes) = current(&*store, &path).await;
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(v["username"], "app");
    assert_eq!(v["port"], 5432);
    let password = v["password"].as_str().expect("string");
    assert_ne!(password, "old");
    assert_eq!(
        verifier.seen(),
        vec![password.as_bytes().to_vec()],
        "verifiers see the field, not the document"
    );
}

/// Counters follow outcomes; reset zeroes them.
pub async fn statistics_are_counted(store: Arc<dyn SecretStore>) {
    let engine = Engine::builder().build();
    let (ok_path, _) = create(&*store, "stats-ok", "a").await;
    let (bad_path, _) = create(&*store, "stats-bad", "b").await;
    let ok = binding(
        store.clone(),
        ok_path,
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    let bad = binding(
        store.clone(),
        bad_path,
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::failing(),
    );
    engine.rotate(&ok, RotateRequest::default()).await;
    engine.rotate(&ok, RotateRequest::default()).await;
    engine.rotate(&bad, RotateRequest::default()).await;
    let s = engine.statistics();
    assert_eq!(
        (
            s.total_rotations,
            s.successful_rotations,
            s.failed_rotations,
            s.rollbacks
        ),
        (3, 2, 1, 1)
    );
    assert!((s.success_rate.expect("rotations ran") - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(s.active_rotations, 0);
    engine.reset_statistics();
    assert_eq!(engine.statistics().total_rotations, 0);
}

/// Durations come from a monotonic clock and timestamps are ordered.
pub async fn durations_are_measured(store: Arc<dyn SecretStore>) {
    let (path, _) = create(&*store, "duration", "a").await;
    let b = binding(
        store.clone(),
        path,
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    let r = rotate_once(&b).await;
    assert!(r.duration_ms > 0.0);
    assert!(r.completed_at >= r.started_at);
}

/// The core scheduler pass: nothing before the interval, the due secret after it (once: the
/// schedule moves one interval ahead), never a disabled one; statistics count active schedules.
pub async fn schedules_due_not_due_and_disabled(store: Arc<dyn SecretStore>) {
    let clock = ManualClock::new();
    let state = Arc::new(MemoryStateStore::new());
    let engine = Engine::builder()
        .clock(clock.clone())
        .state(state.clone())
        .build();
    let timing = Arc::new(
        TimingSpec {
            interval: Some("1d".into()),
            ..Default::default()
        }
        .build("conformance")
        .expect("timing"),
    );
    let (p1, _) = create(&*store, "sched-a", "a").await;
    let (p2, _) = create(&*store, "sched-b", "b").await;
    let scheduled = |path: SecretPath| SecretBinding {
        timing: Some(timing.clone()),
        ..binding(
            store.clone(),
            path,
            RotationStrategy::Staged,
            true,
            ScriptedVerifier::passing(),
        )
    };
    let (a, b) = (scheduled(p1.clone()), scheduled(p2.clone()));
    for x in [&a, &b] {
        let next = timing.next_after(&x.id, clock.now());
        let record = ScheduleRecord::new(x.id.clone(), "conformance", "every 1d", next);
        state.put_schedule(&record).await.expect("schedule");
    }
    let bindings: HashMap<_, _> = [(a.id.clone(), a.clone()), (b.id.clone(), b.clone())].into();
    let scheduler = Scheduler::builder(engine.clone(), Arc::new(bindings))
        .clock(clock.clone())
        .build();
    let none = |_: &RotationResult| {};
    assert!(
        scheduler.run_due(none).await.expect("pass").is_empty(),
        "nothing is due yet"
    );
    state
        .update_schedule(&b.id, &ScheduleChange::Disable)
        .await
        .expect("disable");
    clock.advance(chrono::Duration::days(2));
    let results = scheduler.run_due(none).await.expect("pass");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].secret, a.id);
    assert!(results[0].success);
    assert_eq!(results[0].attempts, 1);
    assert_eq!(
        current(&*store, &p2).await.1,
        b"b",
        "disabled schedule did not rotate"
    );
    let record = state
        .schedule(&a.id)
        .await
        .expect("read")
        .expect("schedule");
    assert_eq!(record.rotation_count, 1);
    assert!(
        scheduler.run_due(none).await.expect("pass").is_empty(),
        "rescheduled one interval ahead"
    );
    let configured = [a.id.clone(), b.id.clone()].into_iter().collect();
    let s = engine.stored_statistics(&configured).await.expect("stats");
    assert_eq!((s.active_schedules, s.total_schedules), (1, 2));
}

/// Rotating a secret that does not exist is a clear failure that creates nothing.
pub async fn missing_secret_fails_clearly(store: Arc<dyn SecretStore>) {
    let path = unique_path("missing-rotate");
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    let r = rotate_once(&b).await;
    assert_eq!(r.status, RotationStatus::Failed);
    assert_eq!(r.error_kind, Some(ErrorKind::NotFound));
    assert!(
        r.error
            .as_deref()
            .unwrap_or_default()
            .contains("does not exist")
    );
    assert_eq!(
        store.read_current(&path).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// With `create_if_missing`, the first rotation creates the secret.
pub async fn create_if_missing_creates(store: Arc<dyn SecretStore>) {
    let path = unique_path("create");
    let mut b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    b.create_if_missing = true;
    let r = rotate_once(&b).await;
    assert!(r.success, "{r:?}");
    assert!(r.old_version.is_none());
    assert_eq!(Some(current(&*store, &path).await.0), r.new_version);
}
