//! Test doubles for conformance scenarios: scripted verifiers and targets, a manual clock and
//! helpers to create uniquely named secrets. (Test doubles for the engine's collaborators, not
//! for stores: stores under test are always real.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotation_core::{
    AuditAction, AuditEvent, AuditSink, Clock, Error, ErrorKind, GeneratorSpec, Result, RotationId,
    RotationPolicy, RotationStrategy, SecretBinding, SecretId, SecretPath, SecretStore,
    SecretValue, Target, Verifier, VerifyContext, VersionId,
};
use tokio::sync::Notify;

/// 16 random hex digits, for unique names (paths, users, passwords).
pub fn random_suffix() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// A fresh path under a common prefix so cases never collide.
pub fn unique_path(case: &str) -> SecretPath {
    let n: u64 = rand::random();
    SecretPath::new(format!("conformance/{case}-{n:016x}"))
}

/// `text` as a value the store accepts: as is, or as `{"value": text}` for stores that hold
/// JSON objects (the cases then rotate the `value` field).
pub fn val(store: &dyn SecretStore, text: &str) -> SecretValue {
    if store.capabilities().json_objects {
        SecretValue::new(serde_json::to_vec(&serde_json::json!({ "value": text })).expect("json"))
    } else {
        SecretValue::from(text)
    }
}

/// The text inside a value written by [`val`] (or the raw bytes).
pub fn text(store: &dyn SecretStore, value: &SecretValue) -> Vec<u8> {
    if store.capabilities().json_objects {
        let doc: serde_json::Value = serde_json::from_slice(value.expose()).expect("json object");
        match doc.get("value").and_then(serde_json::Value::as_str) {
            Some(s) => s.as_bytes().to_vec(),
            None => value.expose().to_vec(),
        }
    } else {
        value.expose().to_vec()
    }
}

/// Create a secret with `value` (through [`val`]); returns its path and first version.
pub async fn create(store: &dyn SecretStore, case: &str, value: &str) -> (SecretPath, VersionId) {
    create_raw(store, case, val(store, value)).await
}

/// Create a secret with exactly `value`.
pub async fn create_raw(
    store: &dyn SecretStore,
    case: &str,
    value: SecretValue,
) -> (SecretPath, VersionId) {
    let path = unique_path(case);
    let version = store
        .write_current(&path, &RotationId::generate(), &value, None)
        .await
        .expect("create secret");
    (path, version)
}

/// A verifier that passes or fails as told, and can hold a rotation inside the verify step.
#[derive(Debug, Default)]
pub struct ScriptedVerifier {
    fail: AtomicBool,
    hold: Option<(Arc<Notify>, Arc<Notify>)>,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl ScriptedVerifier {
    /// Always passes.
    pub fn passing() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Always fails.
    pub fn failing() -> Arc<Self> {
        let v = Self::default();
        v.fail.store(true, Ordering::SeqCst);
        Arc::new(v)
    }
    /// Signals `entered` when verification starts, then waits for `release`.
    pub fn holding(entered: Arc<Notify>, release: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self {
            hold: Some((entered, release)),
            ..Self::default()
        })
    }
    /// Values it was asked to verify.
    pub fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Verifier for ScriptedVerifier {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn verify(&self, _ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.seen
            .lock()
            .expect("lock")
            .push(value.expose().to_vec());
        if let Some((entered, release)) = &self.hold {
            entered.notify_one();
            release.notified().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            Err(Error::new(ErrorKind::Verification, "scripted rejection"))
        } else {
            Ok(())
        }
    }
}

/// A target that records every value applied to it.
#[derive(Debug, Default)]
pub struct RecordingTarget {
    applied: Mutex<Vec<Vec<u8>>>,
}

impl RecordingTarget {
    /// New.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Values applied, in order.
    pub fn applied(&self) -> Vec<Vec<u8>> {
        self.applied.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Target for RecordingTarget {
    fn name(&self) -> &str {
        "recording"
    }
    async fn apply(&self, _ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.applied
            .lock()
            .expect("lock")
            .push(value.expose().to_vec());
        Ok(())
    }
}

/// An audit sink that keeps its records in memory, shared by the engines of one scenario.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAudit {
    /// New.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Records so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().expect("lock").clone()
    }
    /// Every rotation that was started has a terminal record (its outcome, or recovery's).
    pub fn assert_every_rotation_has_an_outcome(&self, label: &str) {
        let events = self.events();
        for started in events.iter().filter(|e| e.action == AuditAction::Started) {
            let ended = events.iter().any(|e| {
                e.rotation_id == started.rotation_id
                    && matches!(
                        e.action,
                        AuditAction::Succeeded
                            | AuditAction::Failed
                            | AuditAction::RolledBack
                            | AuditAction::Recovered
                    )
                    && e.status.is_some()
            });
            assert!(
                ended,
                "{label}: rotation {:?} has no terminal audit record: {events:?}",
                started.rotation_id
            );
        }
    }
}

#[async_trait]
impl AuditSink for MemoryAudit {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        self.events.lock().expect("lock").push(event.clone());
        Ok(())
    }
    async fn verify(&self) -> Result<Vec<AuditEvent>> {
        Ok(self.events.lock().expect("lock").clone())
    }
}

/// A clock moved by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// Starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now())))
    }
    /// Move forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().expect("lock");
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("lock")
    }
}

/// A binding for `path` with a policy of `strategy`, the given verifier and default generator.
pub fn binding(
    store: Arc<dyn SecretStore>,
    path: SecretPath,
    strategy: RotationStrategy,
    auto_rollback: bool,
    verifier: Arc<dyn Verifier>,
) -> SecretBinding {
    let policy = RotationPolicy::builder("conformance")
        .strategy(strategy)
        .auto_rollback(auto_rollback)
        .verifiers(["scripted"])
        .build()
        .expect("valid policy");
    let field = store
        .capabilities()
        .json_objects
        .then(|| "value".to_owned());
    SecretBinding {
        id: SecretId::new(path.as_str().replace('/', "-")),
        store,
        path,
        field,
        policy: Arc::new(policy),
        generator: GeneratorSpec::default_random()
            .build("default")
            .expect("generator"),
        verifiers: vec![verifier],
        target: None,
        create_if_missing: false,
        timing: None,
    }
}
