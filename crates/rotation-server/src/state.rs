//! Shared state of the daemon ([`App`]) and the one path every rotation takes ([`AppInner::run`]):
//! marks the secret running, rotates, records metrics, keeps the result, notifies.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rotation_config::{ApiToken, ServerConfig};
use rotation_core::{
    Engine, RotateRequest, RotationId, RotationResult, RotationStatus, ScheduleRecord,
    SecretBinding, SecretId, StateStore, Timing,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;
use crate::notify::{Event, EventKind, Notifier};

/// Results kept for `GET /v1/rotations/{id}` (older ones are answered from the journal).
const KEPT_RESULTS: usize = 10_000;

/// One configured secret.
pub struct Secret {
    /// Binding for the engine.
    pub binding: SecretBinding,
    /// Its timing.
    pub timing: Arc<Timing>,
    /// Configured store name.
    pub store: String,
}

/// The daemon's state, cheap to clone.
pub type App = Arc<AppInner>;

/// See [`App`].
pub struct AppInner {
    /// The engine (audit, journal, leases).
    pub engine: Engine,
    /// The audit sink the engine writes to (for events of the server's own).
    pub audit: Arc<dyn rotation_core::AuditSink>,
    /// The state database.
    pub state: Arc<dyn StateStore>,
    /// Configured secrets by id.
    pub secrets: HashMap<SecretId, Secret>,
    /// The same secrets' bindings, as recovery takes them.
    pub bindings: HashMap<SecretId, rotation_core::SecretBinding>,
    /// Secret ids in config order.
    pub order: Vec<SecretId>,
    /// The audit log.
    pub audit_path: PathBuf,
    /// Accepted tokens.
    pub tokens: Vec<ApiToken>,
    /// Server settings.
    pub settings: ServerConfig,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Webhooks.
    pub notifier: Arc<Notifier>,
    /// Rotations running in this process, by secret.
    pub running: Mutex<HashMap<SecretId, RotationId>>,
    /// Finished results, newest last.
    pub results: Mutex<VecDeque<RotationResult>>,
    /// Bounds rotations at once (scheduled and API-started).
    pub permits: Arc<Semaphore>,
    /// Emergency rotations waiting or running: scheduled work does not start meanwhile.
    pub emergencies: AtomicUsize,
    /// Quarantined secrets (kept here: recounting 100k schedules per rotation is too slow).
    pub quarantined: Mutex<HashSet<SecretId>>,
    /// Set when shutdown begins: nothing new starts.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Rotations in flight, for graceful shutdown.
    pub in_flight: AtomicUsize,
    /// Signalled when `in_flight` drops.
    pub idle: Notify,
}

/// Why a rotation was not started.
#[derive(Debug)]
pub enum NotStarted {
    /// Unknown secret id.
    Unknown,
    /// One is running already (its id).
    Running(RotationId),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A secret claimed for one rotation in this process. Dropping it (also when a rotation task
/// panics) releases the claim and wakes a waiting shutdown.
pub struct Claim {
    app: App,
    secret: SecretId,
}

impl Claim {
    /// The claimed secret.
    pub fn secret(&self) -> &SecretId {
        &self.secret
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        {
            let mut running = lock(&self.app.running);
            running.remove(&self.secret);
            self.app.metrics.set_in_progress(running.len() as i64);
        }
        if self.app.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.app.idle.notify_waiters();
        }
    }
}

impl AppInner {
    /// Claim `secret` for a rotation with id `rid` (refused if one runs or waits in this
    /// process).
    pub fn claim(
        self: &Arc<Self>,
        secret: &SecretId,
        rid: &RotationId,
    ) -> Result<Claim, NotStarted> {
        if !self.secrets.contains_key(secret) {
            return Err(NotStarted::Unknown);
        }
        let mut running = lock(&self.running);
        if let Some(other) = running.get(secret) {
            return Err(NotStarted::Running(other.clone()));
        }
        running.insert(secret.clone(), rid.clone());
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.metrics.set_in_progress(running.len() as i64);
        Ok(Claim {
            app: self.clone(),
            secret: secret.clone(),
        })
    }

    /// The rotation running (or waiting for a permit) for `secret`, if any.
    pub fn running(&self, secret: &SecretId) -> Option<RotationId> {
        lock(&self.running).get(secret).cloned()
    }

    /// Whether `rid` was accepted and has not finished yet.
    pub fn is_running(&self, rid: &RotationId) -> Option<SecretId> {
        lock(&self.running)
            .iter()
            .find(|(_, r)| *r == rid)
            .map(|(s, _)| s.clone())
    }

    /// A kept result.
    pub fn result(&self, rid: &RotationId) -> Option<RotationResult> {
        lock(&self.results)
            .iter()
            .rev()
            .find(|r| &r.rotation_id == rid)
            .cloned()
    }

    /// Run a claimed rotation to its end (`scheduled`: only if still due, see
    /// `Engine::rotate_if_due`). `permit`: one already taken (the scheduler takes it before it
    /// claims, so nothing waits while holding a claim); otherwise one is waited for. Nothing
    /// starts once shutdown began. The claim is released at the end, whatever happens.
    pub async fn run(
        &self,
        claim: Claim,
        request: RotateRequest,
        scheduled: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Option<RotationResult> {
        let entry = &self.secrets[claim.secret()];
        let result = {
            let _permit = match permit {
                Some(p) => p,
                None => self.permits.clone().acquire_owned().await.ok()?,
            };
            if self.stopping.load(Ordering::SeqCst) {
                return None;
            }
            if scheduled {
                self.engine
                    .rotate_if_due(&entry.binding, entry.timing.clone())
                    .await
            } else {
                Some(self.engine.rotate(&entry.binding, request).await)
            }
        };
        drop(claim);
        if let Some(r) = &result {
            self.finished(entry, r).await;
        }
        result
    }

    async fn finished(&self, entry: &Secret, r: &RotationResult) {
        self.metrics.record(r, entry.binding.store.kind());
        {
            let mut results = lock(&self.results);
            results.push_back(r.clone());
            if results.len() > KEPT_RESULTS {
                results.pop_front();
            }
        }
        let flags = entry.binding.policy.notify();
        let wanted = match r.status {
            RotationStatus::Success => flags.on_success,
            RotationStatus::RolledBack => flags.on_rollback,
            _ => flags.on_failure,
        };
        if wanted && let Some(event) = Event::from_result(r) {
            self.notifier.notify(event);
        }
        match self.state.schedule(&r.secret).await {
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
    pub fn note_schedule(&self, s: &ScheduleRecord) {
        self.metrics.set_next_due(&s.secret, s.next_rotation);
        let mut q = lock(&self.quarantined);
        if s.quarantined {
            q.insert(s.secret.clone());
        } else {
            q.remove(&s.secret);
        }
        self.metrics.set_quarantined(q.len() as i64);
    }

    /// Wait until no rotation is in flight, at most `within`; returns whether idle.
    pub async fn drain(&self, within: std::time::Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }
}
