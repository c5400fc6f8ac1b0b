//! Shared state of the daemon ([`App`]) over the [`Runtime`], and what every rotation ends with
//! ([`AppInner::finished`]): metrics, the kept result, notifications, the quarantine gauge.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rotation_config::{ApiToken, ServerConfig};
use rotation_core::{
    AuditSink, Claim, Engine, PassObserver, RotateRequest, RotationId, RotationResult,
    ScheduleRecord, SecretBinding, SecretId, StateStore,
};
use rotation_runtime::Runtime;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use rotation_runtime::notify::{Event, EventKind, Notifier};

/// Results kept for `GET /v1/rotations/{id}` (older ones are answered from the journal).
const KEPT_RESULTS: usize = 10_000;

/// One configured secret.
pub(crate) struct Secret {
    /// Binding for the engine (with its timing).
    pub(crate) binding: SecretBinding,
    /// Configured store name.
    pub(crate) store: String,
}

/// The daemon's state, cheap to clone.
pub(crate) type App = Arc<AppInner>;

/// See [`App`]. Claims (which secret rotates here, under which id) are the engine's.
pub(crate) struct AppInner {
    runtime: Runtime,
    secrets: HashMap<SecretId, Secret>,
    order: Vec<SecretId>,
    settings: ServerConfig,
    metrics: Arc<Metrics>,
    notifier: Arc<Notifier>,
    results: Mutex<VecDeque<RotationResult>>,
    permits: Arc<Semaphore>,
    emergencies: AtomicUsize,
    quarantined: Mutex<HashSet<SecretId>>,
    stopping: AtomicBool,
}

/// Why a rotation was not started.
#[derive(Debug)]
pub(crate) enum NotStarted {
    /// Unknown secret id.
    Unknown,
    /// One is running already (its id).
    Running(RotationId),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppInner {
    /// Assemble the daemon's state over an opened runtime.
    pub(crate) fn new(runtime: Runtime, settings: ServerConfig, metrics: Arc<Metrics>) -> Self {
        let notifier = runtime.notifier().clone();
        let mut secrets = HashMap::new();
        let mut order = Vec::new();
        for entry in &runtime.config().secrets {
            if let Some(binding) = runtime.binding(&entry.id) {
                order.push(entry.id.clone());
                secrets.insert(
                    entry.id.clone(),
                    Secret {
                        binding: binding.clone(),
                        store: entry.store.clone(),
                    },
                );
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            runtime,
            secrets,
            order,
            settings,
            metrics,
            notifier,
            results: Mutex::default(),
            emergencies: AtomicUsize::new(0),
            quarantined: Mutex::default(),
            stopping: AtomicBool::new(false),
        }
    }

    /// The engine (claims, rotations, recovery).
    pub(crate) fn engine(&self) -> &Engine {
        self.runtime.engine()
    }
    /// The runtime.
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }
    /// The state store.
    pub(crate) fn state(&self) -> &Arc<dyn StateStore> {
        self.runtime.state()
    }
    /// The audit sink.
    pub(crate) fn audit(&self) -> &Arc<dyn AuditSink> {
        self.runtime.audit()
    }
    /// A configured secret.
    pub(crate) fn secret(&self, id: &SecretId) -> Option<&Secret> {
        self.secrets.get(id)
    }
    /// Whether `id` is configured.
    pub(crate) fn knows(&self, id: &SecretId) -> bool {
        self.secrets.contains_key(id)
    }
    /// Secret ids in config order.
    pub(crate) fn order(&self) -> &[SecretId] {
        &self.order
    }
    /// Server settings.
    pub(crate) fn settings(&self) -> &ServerConfig {
        &self.settings
    }
    /// Accepted tokens.
    pub(crate) fn tokens(&self) -> &[ApiToken] {
        &self.settings.tokens
    }
    /// Prometheus metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// Webhooks.
    pub(crate) fn notifier(&self) -> &Notifier {
        &self.notifier
    }
    /// Permits shared by scheduled, API and emergency rotations.
    pub(crate) fn permits(&self) -> &Arc<Semaphore> {
        &self.permits
    }
    /// Whether scheduled work must wait: emergencies pending, or shutdown begun.
    pub(crate) fn holds_scheduled_work(&self) -> bool {
        self.emergencies.load(Ordering::SeqCst) > 0 || self.is_stopping()
    }
    /// Whether shutdown began.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
    /// Begin shutdown: nothing new starts.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
    /// Count one pending emergency until the guard drops (scheduled work waits meanwhile).
    pub(crate) fn emergency_pending(self: &Arc<Self>) -> EmergencyPending {
        self.emergencies.fetch_add(1, Ordering::SeqCst);
        EmergencyPending(self.clone())
    }

    /// Claim `secret` for a rotation with id `rid` in the engine's registry (refused if one
    /// runs or waits in this process).
    pub(crate) fn claim(&self, secret: &SecretId, rid: &RotationId) -> Result<Claim, NotStarted> {
        if !self.knows(secret) {
            return Err(NotStarted::Unknown);
        }
        self.engine()
            .claim(secret, rid.clone())
            .map_err(NotStarted::Running)
    }

    /// The rotation running (or waiting for a permit) for `secret`, if any.
    pub(crate) fn running(&self, secret: &SecretId) -> Option<RotationId> {
        self.engine().running(secret)
    }

    /// Whether `rid` was accepted and has not finished yet.
    pub(crate) fn is_running(&self, rid: &RotationId) -> Option<SecretId> {
        self.engine().running_secret(rid)
    }

    /// A kept result.
    pub(crate) fn result(&self, rid: &RotationId) -> Option<RotationResult> {
        lock(&self.results)
            .iter()
            .rev()
            .find(|r| &r.rotation_id == rid)
            .cloned()
    }

    /// Run a claimed rotation (API or emergency) to its end: waits for a permit; nothing
    /// starts once shutdown began. The claim is released at the end, whatever happens.
    pub(crate) async fn run(&self, claim: Claim, request: RotateRequest) -> Option<RotationResult> {
        let entry = &self.secrets[claim.secret()];
        // The permit is held until the result is recorded and notified: shutdown's drain waits
        // for every permit, so nothing is lost between the claim's release and `finished`.
        let _permit = self.permits.clone().acquire_owned().await.ok()?;
        if self.is_stopping() {
            return None;
        }
        let result = self
            .engine()
            .rotate_claimed(claim, &entry.binding, request)
            .await;
        self.finished(&entry.binding, &result).await;
        Some(result)
    }

    /// Metrics, the kept result, notifications and the quarantine gauge of a finished rotation.
    pub(crate) async fn finished(&self, binding: &SecretBinding, r: &RotationResult) {
        self.metrics.record(r, binding.store.kind());
        {
            let mut results = lock(&self.results);
            results.push_back(r.clone());
            if results.len() > KEPT_RESULTS {
                results.pop_front();
            }
        }
        self.notifier.rotation_finished(&binding.policy, r);
        match self.state().schedule(&r.secret).await {
            Ok(Some(s)) => {
                let was = lock(&self.quarantined).contains(&s.secret);
                self.note_schedule(&s);
                // Entering quarantine always notifies: a secret stops rotating.
                if s.quarantined && !was {
                    let mut event = Event::from_result(r).unwrap_or_else(|| Event {
                        kind: EventKind::Quarantined,
                        secret: Some(r.secret.clone()),
                        rotation_id: Some(r.rotation_id.clone()),
                        status: Some(r.status),
                        error_kind: r.error_kind,
                        message: String::new(),
                        at: r.completed_at,
                    });
                    event.kind = EventKind::Quarantined;
                    event.message = format!(
                        "{} is quarantined after {} failed attempts; `POST /v1/secrets/{}/schedule/resume` clears it",
                        r.secret, s.consecutive_failures, r.secret
                    );
                    self.notifier.notify(event);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(secret = %r.secret, error = %e, "cannot read the schedule"),
        }
    }

    /// Keep the next-due and quarantined gauges in step with a schedule just read or written.
    pub(crate) fn note_schedule(&self, s: &ScheduleRecord) {
        self.metrics.set_next_due(&s.secret, s.next_rotation);
        let mut q = lock(&self.quarantined);
        if s.quarantined {
            q.insert(s.secret.clone());
        } else {
            q.remove(&s.secret);
        }
        self.metrics.set_quarantined(q.len() as i64);
    }

    /// Wait until no rotation is claimed and every permit is back (each rotation holds one
    /// until its result is recorded and notified), at most `within`; returns whether idle.
    pub(crate) async fn drain(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        if !self.engine().drain(within).await {
            return false;
        }
        let all = u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX);
        tokio::time::timeout_at(deadline, self.permits.acquire_many(all))
            .await
            .is_ok_and(|p| p.is_ok())
    }
}

/// Counts one pending emergency for as long as it lives.
pub(crate) struct EmergencyPending(App);

impl Drop for EmergencyPending {
    fn drop(&mut self) {
        self.0.emergencies.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Scheduled rotations end here too.
#[async_trait]
impl PassObserver for AppInner {
    async fn finished(&self, binding: &SecretBinding, result: &RotationResult) {
        tracing::info!(secret = %result.secret, rotation = %result.rotation_id, status = result.status.as_str(), "scheduled rotation finished");
        AppInner::finished(self, binding, result).await;
    }
}
