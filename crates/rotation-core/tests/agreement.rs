//! The engine keeps the store, the target and the audit log in agreement on the paths a crash
//! suite does not reach by killing at journal records: a failing audit log, a lost lease, a lost
//! state database, a rollback racing a rotation, and revocation interrupted by a crash.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotation_core::{
    AuditAction, AuditEvent, AuditSink, Clock, Engine, Error, ErrorKind, GeneratorSpec,
    MemoryStateStore, MemoryStore, RecoveryAction, Result, RotateRequest, RotationId,
    RotationPolicy, RotationStatus, RotationStrategy, SecretBinding, SecretPath, SecretStore,
    SecretValue, StateStore, Target, Verifier, VerifyContext, VersionState,
};
use tokio::sync::Notify;

const PATH: &str = "app/key";

#[derive(Debug, Default)]
struct Audit {
    events: Mutex<Vec<AuditEvent>>,
    /// Refuse every record but `started`.
    refuse_outcomes: AtomicBool,
}

impl Audit {
    fn actions(&self) -> Vec<AuditAction> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.action)
            .collect()
    }
}

#[async_trait]
impl AuditSink for Audit {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        if event.action != AuditAction::Started && self.refuse_outcomes.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Io, "audit disk full"));
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
    async fn verify(&self) -> Result<Vec<AuditEvent>> {
        Ok(self.events.lock().unwrap().clone())
    }
}

/// Records applied and revoked values; `revoke` can be held (to crash inside it) and counts.
#[derive(Debug, Default)]
struct App {
    applied: Mutex<Vec<Vec<u8>>>,
    revoked: Mutex<Vec<Vec<u8>>>,
    hold_revoke: Option<Arc<Notify>>,
    revokes: AtomicUsize,
}

impl App {
    fn holds(&self) -> Option<Vec<u8>> {
        self.applied.lock().unwrap().last().cloned()
    }
}

#[async_trait]
impl Target for App {
    fn name(&self) -> &str {
        "app"
    }
    async fn apply(&self, _: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.applied.lock().unwrap().push(value.expose().to_vec());
        Ok(())
    }
    fn can_revoke(&self) -> bool {
        true
    }
    async fn revoke(&self, _: &VerifyContext, old: &SecretValue) -> Result<()> {
        let n = self.revokes.fetch_add(1, Ordering::SeqCst);
        if let (Some(hold), 0) = (&self.hold_revoke, n) {
            hold.notify_one();
            std::future::pending::<()>().await;
        }
        self.revoked.lock().unwrap().push(old.expose().to_vec());
        Ok(())
    }
}

/// Passes; optionally waits for `release` after signalling `entered`.
#[derive(Debug, Default)]
struct Check {
    hold: Option<(Arc<Notify>, Arc<Notify>)>,
}

#[async_trait]
impl Verifier for Check {
    fn name(&self) -> &str {
        "check"
    }
    async fn verify(&self, _: &VerifyContext, _: &SecretValue) -> Result<()> {
        if let Some((entered, release)) = &self.hold {
            entered.notify_one();
            release.notified().await;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += chrono::Duration::from_std(by).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct World {
    store: Arc<MemoryStore>,
    state: Arc<MemoryStateStore>,
    audit: Arc<Audit>,
    clock: Arc<ManualClock>,
    app: Arc<App>,
}

impl World {
    async fn new(app: App) -> Self {
        let store = Arc::new(MemoryStore::new());
        store
            .write_current(
                &SecretPath::new(PATH),
                &RotationId::generate(),
                &SecretValue::from("old"),
                None,
            )
            .await
            .unwrap();
        Self {
            store,
            state: Arc::new(MemoryStateStore::new()),
            audit: Arc::new(Audit::default()),
            clock: Arc::new(ManualClock(Mutex::new(Utc::now()))),
            app: Arc::new(app),
        }
    }

    fn engine(&self, holder: &str, ttl: Duration) -> Engine {
        Engine::builder()
            .state(self.state.clone())
            .audit(self.audit.clone())
            .clock(self.clock.clone())
            .holder(holder)
            .lease_ttl(ttl)
            .step_retries(1, Duration::from_millis(1))
            .build()
    }

    fn binding(&self, strategy: RotationStrategy, verifier: Check) -> SecretBinding {
        let policy = RotationPolicy::builder("p")
            .strategy(strategy)
            .verifiers(["check"])
            .build()
            .unwrap();
        SecretBinding {
            id: "s".into(),
            store: self.store.clone(),
            path: SecretPath::new(PATH),
            field: None,
            policy: Arc::new(policy),
            generator: GeneratorSpec::default_random().build("g").unwrap(),
            verifiers: vec![Arc::new(verifier)],
            target: Some(self.app.clone()),
            create_if_missing: false,
            timing: None,
        }
    }

    async fn current(&self) -> Vec<u8> {
        let c = self
            .store
            .read_current(&SecretPath::new(PATH))
            .await
            .unwrap();
        c.value.expose().to_vec()
    }

    async fn pending(&self) -> usize {
        let versions = self
            .store
            .list_versions(&SecretPath::new(PATH))
            .await
            .unwrap();
        versions
            .iter()
            .filter(|v| v.state == VersionState::Pending)
            .count()
    }
}

fn value(v: &str) -> RotateRequest {
    RotateRequest {
        value: Some(SecretValue::from(v)),
        ..Default::default()
    }
}

fn bindings(
    b: &SecretBinding,
) -> std::collections::HashMap<rotation_core::SecretId, SecretBinding> {
    [(b.id.clone(), b.clone())].into_iter().collect()
}

#[tokio::test]
async fn an_outcome_is_not_reported_until_its_audit_record_is_durable() {
    let w = World::new(App::default()).await;
    let b = w.binding(RotationStrategy::Staged, Check::default());
    let engine = w.engine("one", Duration::from_secs(30));
    w.audit.refuse_outcomes.store(true, Ordering::SeqCst);
    let r = engine.rotate(&b, value("new")).await;
    assert!(!r.success, "{r:?}");
    assert_eq!(r.status, RotationStatus::Success, "the store did change");
    assert!(
        r.error.as_deref().unwrap().contains("audit record"),
        "{r:?}"
    );
    assert_eq!(w.current().await, b"new");
    assert_eq!(w.app.holds().as_deref(), Some(&b"new"[..]));
    let open = w.state.unfinished().await.unwrap();
    assert_eq!(open.len(), 1, "the journal keeps the record open");
    assert!(open[0].audit_pending);

    // Recovery while the audit log still fails changes nothing and says so.
    let reports = engine.recover(&bindings(&b)).await.unwrap();
    assert_eq!(reports[0].action, RecoveryAction::Failed, "{reports:?}");
    w.audit.refuse_outcomes.store(false, Ordering::SeqCst);
    let reports = engine.recover(&bindings(&b)).await.unwrap();
    assert_eq!(reports[0].action, RecoveryAction::Audited, "{reports:?}");
    assert_eq!(
        w.audit.actions(),
        [AuditAction::Started, AuditAction::Succeeded]
    );
    assert!(w.state.unfinished().await.unwrap().is_empty());
    assert!(engine.recover(&bindings(&b)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_lease_leaves_the_rotation_to_recovery_and_keeps_the_applied_value() {
    let w = World::new(App::default()).await;
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b = w.binding(
        RotationStrategy::Staged,
        Check {
            hold: Some((entered.clone(), release.clone())),
        },
    );
    let ttl = Duration::from_millis(150);
    let doomed = w.engine("doomed", ttl);
    let run = tokio::spawn({
        let (doomed, b) = (doomed.clone(), b.clone());
        async move { doomed.rotate(&b, value("new")).await }
    });
    entered.notified().await;
    // The lease lapses (the clock jumps past it) and another holder takes it: the doomed
    // rotation's next renewal finds it gone.
    w.clock.advance(ttl * 4);
    let thief = w
        .state
        .acquire_lease(&b.id, "thief", ttl, w.clock.now())
        .await
        .unwrap()
        .expect("the expired lease is taken over");
    tokio::time::sleep(ttl).await;
    release.notify_one();
    let r = run.await.unwrap();
    assert!(!r.success, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().contains("left unfinished"),
        "{r:?}"
    );
    // Nothing was undone without the lease: the value the target holds is still in the store.
    assert_eq!(w.app.holds().as_deref(), Some(&b"new"[..]));
    assert_eq!(w.pending().await, 1, "the applied value is kept as pending");
    assert_eq!(w.state.unfinished().await.unwrap().len(), 1);

    w.state.release_lease(&thief).await.unwrap();
    let survivor = w.engine("survivor", ttl);
    let reports = survivor.recover(&bindings(&b)).await.unwrap();
    assert_eq!(reports[0].action, RecoveryAction::RolledBack, "{reports:?}");
    assert_eq!(w.current().await, b"old");
    assert_eq!(w.app.holds().as_deref(), Some(&b"old"[..]));
    assert_eq!(w.pending().await, 0);
}

#[tokio::test]
async fn an_orphan_is_discarded_only_after_the_target_has_the_current_value() {
    // The state database is gone; the store still has a pending value the target uses.
    let w = World::new(App::default()).await;
    let b = w.binding(RotationStrategy::Staged, Check::default());
    let rid = RotationId::generate();
    w.store
        .stage(&SecretPath::new(PATH), &rid, &SecretValue::from("new"))
        .await
        .unwrap();
    let ctx = VerifyContext::new(b.id.clone(), Some(rid));
    w.app.apply(&ctx, &SecretValue::from("new")).await.unwrap();
    let reports = w
        .engine("e", Duration::from_secs(30))
        .recover(&bindings(&b))
        .await
        .unwrap();
    assert_eq!(
        reports[0].action,
        RecoveryAction::DiscardedOrphan,
        "{reports:?}"
    );
    assert!(
        reports[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("target given"),
        "{reports:?}"
    );
    assert_eq!(w.app.holds().as_deref(), Some(&b"old"[..]));
    assert_eq!(w.pending().await, 0);
}

#[tokio::test]
async fn a_rollback_racing_a_rotation_is_refused_and_the_target_follows_the_store() {
    let w = World::new(App::default()).await;
    let engine = w.engine("one", Duration::from_secs(30));
    let plain = w.binding(RotationStrategy::Staged, Check::default());
    assert!(engine.rotate(&plain, value("v2")).await.success);
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let held = w.binding(
        RotationStrategy::Staged,
        Check {
            hold: Some((entered.clone(), release.clone())),
        },
    );
    let run = tokio::spawn({
        let (engine, held) = (w.engine("rotator", Duration::from_secs(30)), held.clone());
        async move { engine.rotate(&held, value("v3")).await }
    });
    entered.notified().await;
    let err = w
        .engine("operator", Duration::from_secs(30))
        .rollback(&plain)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InProgress, "{err}");
    release.notify_one();
    assert!(run.await.unwrap().success);
    assert_eq!(w.current().await, b"v3");
    assert_eq!(w.app.holds().as_deref(), Some(&b"v3"[..]));
    let back = engine.rollback(&plain).await.unwrap();
    assert_eq!(w.current().await, b"v2");
    assert_eq!(w.app.holds().as_deref(), Some(&b"v2"[..]));
    assert!(back.target_reapplied);
    assert_eq!(w.audit.actions().last(), Some(&AuditAction::ManualRollback));
}

#[tokio::test]
async fn a_revocation_cut_off_by_a_crash_is_completed_once_by_recovery() {
    let hold = Arc::new(Notify::new());
    let w = World::new(App {
        hold_revoke: Some(hold.clone()),
        ..App::default()
    })
    .await;
    let b = w.binding(RotationStrategy::Immediate, Check::default());
    let ttl = Duration::from_secs(30);
    let doomed = w.engine("doomed", ttl);
    let request = RotateRequest {
        revoke_old: true,
        ..value("new")
    };
    tokio::select! {
        r = doomed.rotate(&b, request) => panic!("the revocation was to hang: {r:?}"),
        _ = hold.notified() => {}
    }
    drop(doomed); // killed inside the revocation
    assert!(w.app.revoked.lock().unwrap().is_empty());
    w.clock.advance(ttl * 2);
    let reports = w
        .engine("survivor", ttl)
        .recover(&bindings(&b))
        .await
        .unwrap();
    assert_eq!(reports[0].action, RecoveryAction::Finished, "{reports:?}");
    assert_eq!(*w.app.revoked.lock().unwrap(), vec![b"old".to_vec()]);
    assert_eq!(w.current().await, b"new");
    let terminal: Vec<AuditEvent> = w
        .audit
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.action != AuditAction::Started)
        .cloned()
        .collect();
    assert_eq!(terminal.len(), 1, "{terminal:?}");
    assert_eq!(terminal[0].status, Some(RotationStatus::Success));
    assert_eq!(terminal[0].revoked, Some(true));
    assert!(
        w.engine("again", ttl)
            .recover(&bindings(&b))
            .await
            .unwrap()
            .is_empty()
    );
}
