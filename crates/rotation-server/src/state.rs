//! Shared state of the daemon ([`App`]): the [`Generation`] a config gives (runtime bindings,
//! secrets, tokens, webhooks; a reload swaps it whole), what lives as long as the process
//! (permits, metrics, kept results), and what every rotation ends with
//! ([`AppInner::finished`]): metrics, the kept result, notifications, the quarantine gauge.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use rotation_config::{ApiToken, ServerConfig};
use rotation_core::engine::RollbackOutcome;
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

/// What one config gives the daemon, swapped as a whole by a reload ([`AppInner::reload`]):
/// the runtime's bindings, the secrets served, the tokens, the webhooks. Handlers take one
/// ([`AppInner::current`]) and use it to the end of the request.
pub(crate) struct Generation {
    runtime: Runtime,
    secrets: HashMap<SecretId, Secret>,
    order: Vec<SecretId>,
    settings: ServerConfig,
    notifier: Arc<Notifier>,
}

impl Generation {
    /// The secrets bound in `runtime`, in config order.
    pub(crate) fn new(runtime: Runtime, settings: ServerConfig) -> Self {
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
            runtime,
            secrets,
            order,
            settings,
            notifier,
        }
    }
    /// The runtime (its engine is the process's, whatever the generation).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
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
    /// Webhooks.
    pub(crate) fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }
}

/// The daemon's state, cheap to clone.
pub(crate) type App = Arc<AppInner>;

/// See [`App`]. Claims (which secret rotates here, under which id) are the engine's, and the
/// engine is the same in every generation: a reload cannot start a second rotation of a secret
/// that rotates under the previous config.
pub(crate) struct AppInner {
    current: RwLock<Arc<Generation>>,
    /// Where the config is read from on a reload.
    config_path: PathBuf,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Fixed at start (`server.concurrency` is restart-only).
    concurrency: usize,
    metrics: Arc<Metrics>,
    results: Mutex<VecDeque<RotationResult>>,
    permits: Arc<Semaphore>,
    emergencies: AtomicUsize,
    quarantined: Mutex<HashSet<SecretId>>,
    stopping: AtomicBool,
    /// Why writers are refused: the audit chain's first unacknowledged break, as of the last
    /// check ([`AppInner::note_audit`]).
    audit_broken: RwLock<Option<String>>,
    /// Notifiers of replaced generations with deliveries still queued (flushed at shutdown).
    retired: Mutex<Vec<Arc<Notifier>>>,
}

/// Why a rotation was not started.
#[derive(Debug)]
pub(crate) enum NotStarted {
    /// Unknown secret id.
    Unknown,
    /// One is running already (its id).
    Running(RotationId),
}

/// A claimed secret with the binding it was claimed under (a reload meanwhile changes neither).
pub(crate) struct Claimed {
    claim: Claim,
    binding: SecretBinding,
}

impl Claimed {
    /// The binding of the claimed secret.
    pub(crate) fn binding(&self) -> &SecretBinding {
        &self.binding
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppInner {
    /// Assemble the daemon's state over its first generation.
    pub(crate) fn new(first: Generation, config_path: PathBuf, metrics: Arc<Metrics>) -> Self {
        let concurrency = first.settings.concurrency;
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            current: RwLock::new(Arc::new(first)),
            config_path,
            reloading: tokio::sync::Mutex::new(()),
            metrics,
            results: Mutex::default(),
            emergencies: AtomicUsize::new(0),
            quarantined: Mutex::default(),
            stopping: AtomicBool::new(false),
            audit_broken: RwLock::new(None),
            retired: Mutex::default(),
        }
    }

    /// The generation serving now.
    pub(crate) fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Serve `next` from now on; returns the generation it replaces. Its webhooks still
    /// queued are delivered (and waited for at shutdown).
    pub(crate) fn swap(&self, next: Generation) -> Arc<Generation> {
        let old = {
            let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *current, Arc::new(next))
        };
        let mut retired = lock(&self.retired);
        retired.retain(|n| n.pending() > 0);
        if old.notifier.pending() > 0 {
            retired.push(old.notifier.clone());
        }
        old
    }
    /// Wait for the webhook deliveries of this and every replaced generation, at most
    /// `within`.
    pub(crate) async fn flush_notifications(&self, within: std::time::Duration) {
        let mut all = lock(&self.retired).clone();
        all.push(self.current().notifier.clone());
        let deadline = tokio::time::Instant::now() + within;
        for notifier in all {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            notifier.flush(left).await;
        }
    }
    /// The config file.
    pub(crate) fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }
    /// Held while a reload runs.
    pub(crate) fn reloading(&self) -> &tokio::sync::Mutex<()> {
        &self.reloading
    }
    /// The engine (claims, rotations, recovery): the same in every generation.
    pub(crate) fn engine(&self) -> Engine {
        self.current().runtime.engine().clone()
    }
    /// The state store.
    pub(crate) fn state(&self) -> Arc<dyn StateStore> {
        self.current().runtime.state().clone()
    }
    /// The audit sink.
    pub(crate) fn audit(&self) -> Arc<dyn AuditSink> {
        self.current().runtime.audit().clone()
    }
    /// Prometheus metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// Permits shared by scheduled, API and emergency rotations.
    pub(crate) fn permits(&self) -> &Arc<Semaphore> {
        &self.permits
    }
    /// Whether scheduled work must wait: emergencies pending, shutdown begun, or the audit
    /// chain broken.
    pub(crate) fn holds_scheduled_work(&self) -> bool {
        self.emergencies.load(Ordering::SeqCst) > 0
            || self.is_stopping()
            || self.audit_refusal().is_some()
    }
    /// Check the audit chain again (the log may be edited, or repaired, while the server runs).
    pub(crate) async fn check_audit(&self) {
        let check = self.current().runtime().audit_check().await;
        self.note_audit(&check);
    }
    /// Hold or release writers by what a check of the audit chain found.
    pub(crate) fn note_audit(&self, check: &rotation_runtime::AuditCheck) {
        let refusal = (!check.valid).then(|| {
            format!(
                "{}; writing requests and scheduled rotations are held until the break is \
                 recorded: inspect the log, then run `rotation audit repair` (the server \
                 notices within a minute, or at `POST /v1/reload`)",
                check
                    .error
                    .as_deref()
                    .unwrap_or("the audit log cannot be checked")
            )
        });
        let mut broken = self.audit_broken.write().unwrap_or_else(|p| p.into_inner());
        match (&*broken, &refusal) {
            (None, Some(why)) => tracing::error!("audit chain broken: {why}"),
            (Some(_), None) => tracing::info!("audit chain intact again: writers released"),
            _ => {}
        }
        self.metrics.set_audit_broken(refusal.is_some());
        *broken = refusal;
    }
    /// Why a writing request is refused now (the audit chain is broken), if it is.
    pub(crate) fn audit_refusal(&self) -> Option<String> {
        self.audit_broken
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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

    /// Claim `secret` of the generation serving now for a rotation with id `rid` in the
    /// engine's registry (refused if one runs or waits in this process, under any generation).
    pub(crate) fn claim(&self, secret: &SecretId, rid: &RotationId) -> Result<Claimed, NotStarted> {
        let current = self.current();
        let Some(entry) = current.secret(secret) else {
            return Err(NotStarted::Unknown);
        };
        let claim = current
            .runtime
            .engine()
            .claim(secret, rid.clone())
            .map_err(NotStarted::Running)?;
        Ok(Claimed {
            claim,
            binding: entry.binding.clone(),
        })
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
    pub(crate) async fn run(
        &self,
        claimed: Claimed,
        request: RotateRequest,
    ) -> Option<RotationResult> {
        let Claimed { claim, binding } = claimed;
        // The permit is held until the result is recorded and notified: shutdown's drain waits
        // for every permit, so nothing is lost between the claim's release and `finished`.
        let _permit = self.permits.clone().acquire_owned().await.ok()?;
        if self.is_stopping() {
            return None;
        }
        let result = self.engine().rotate_claimed(claim, &binding, request).await;
        self.finished(&binding, &result).await;
        Some(result)
    }

    /// Roll `binding` back (the engine claims and journals it) with a permit, like a rotation:
    /// nothing starts once shutdown began (`None`).
    pub(crate) async fn rollback(
        &self,
        binding: &SecretBinding,
    ) -> Option<rotation_core::Result<RollbackOutcome>> {
        let _permit = self.permits.clone().acquire_owned().await.ok()?;
        if self.is_stopping() {
            return None;
        }
        let outcome = self.engine().rollback(binding).await;
        match self.state().schedule(&binding.id).await {
            Ok(Some(s)) => self.note_schedule(&s),
            Ok(None) => {}
            Err(e) => tracing::warn!(secret = %binding.id, error = %e, "cannot read the schedule"),
        }
        Some(outcome)
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
        let notifier = self.current().notifier.clone();
        notifier.rotation_finished(&binding.policy, r);
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
                    notifier.notify(event);
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

    /// Drop the gauges of a secret no longer configured (a reload removed it).
    pub(crate) fn forget(&self, secret: &SecretId) {
        self.metrics.set_next_due(secret, None);
        let mut q = lock(&self.quarantined);
        q.remove(secret);
        self.metrics.set_quarantined(q.len() as i64);
    }

    /// Wait until no rotation is claimed and every permit is back (each rotation holds one
    /// until its result is recorded and notified), at most `within`; returns whether idle.
    pub(crate) async fn drain(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        if !self.engine().drain(within).await {
            return false;
        }
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
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
