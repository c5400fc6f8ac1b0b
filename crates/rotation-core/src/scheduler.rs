//! The scheduler pass, one for every front end (`rotation run` and the server): read the due
//! schedules in batches, take a permit, claim the secret, rotate it if it is still due under its
//! lease, and let the engine move the schedule (retry with backoff, or quarantine). Schedules of
//! secrets no longer configured are removed when found due.
//!
//! A permit is taken *before* a secret is claimed, so no secret looks busy while it only waits,
//! and a pass stops starting work as soon as its hold says so (shutdown, emergencies first).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::engine::{Engine, RecoveryReport, SecretBinding};
use crate::error::{Error, Result};
use crate::result::RotationResult;
use crate::secret::{RotationId, SecretId};

/// The configured secrets, by id.
pub type Bindings = HashMap<SecretId, SecretBinding>;

/// Told about every rotation a pass started, when it ends (metrics, notifications).
#[async_trait]
pub trait PassObserver: Send + Sync {
    /// A scheduled rotation finished.
    async fn finished(&self, binding: &SecretBinding, result: &RotationResult);
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

#[async_trait]
impl PassObserver for NoObserver {
    async fn finished(&self, _: &SecretBinding, _: &RotationResult) {}
}

type Hold = dyn Fn() -> bool + Send + Sync;

/// Runs scheduler passes over a set of bindings. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    engine: Engine,
    bindings: Arc<Bindings>,
    permits: Arc<Semaphore>,
    batch: usize,
    observer: Arc<dyn PassObserver>,
    hold: Arc<Hold>,
    clock: Arc<dyn Clock>,
    remove_orphans: bool,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("secrets", &self.bindings.len())
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// Builder for [`Scheduler`].
pub struct SchedulerBuilder {
    engine: Engine,
    bindings: Arc<Bindings>,
    permits: Option<Arc<Semaphore>>,
    concurrency: usize,
    batch: usize,
    observer: Arc<dyn PassObserver>,
    hold: Arc<Hold>,
    clock: Arc<dyn Clock>,
    remove_orphans: bool,
}

impl std::fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerBuilder").finish_non_exhaustive()
    }
}

/// Most schedules read per due query (default).
pub const DEFAULT_BATCH: usize = 10_000;

impl SchedulerBuilder {
    /// Rotations at once (default 4); ignored when [`SchedulerBuilder::permits`] is set.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Share permits with other work (a server's API rotations take the same ones).
    pub fn permits(mut self, permits: Arc<Semaphore>) -> Self {
        self.permits = Some(permits);
        self
    }
    /// Most schedules read per due query.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }
    /// Told about each finished rotation.
    pub fn observer(mut self, observer: Arc<dyn PassObserver>) -> Self {
        self.observer = observer;
        self
    }
    /// Asked after each permit: `true` stops the pass from starting more work.
    pub fn hold_while(mut self, hold: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.hold = Arc::new(hold);
        self
    }
    /// The clock due times are compared with (default: the engine's, which checks them again
    /// under the lease).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Whether a due schedule without a binding is removed as no longer configured (default:
    /// true). Turn off when the bindings are only part of the config.
    pub fn remove_orphans(mut self, remove: bool) -> Self {
        self.remove_orphans = remove;
        self
    }
    /// Build.
    pub fn build(self) -> Scheduler {
        Scheduler {
            engine: self.engine,
            bindings: self.bindings,
            permits: self
                .permits
                .unwrap_or_else(|| Arc::new(Semaphore::new(self.concurrency))),
            batch: self.batch,
            observer: self.observer,
            hold: self.hold,
            clock: self.clock,
            remove_orphans: self.remove_orphans,
        }
    }
}

/// The rotations one pass started. Dropping it leaves them running (detached).
#[derive(Debug)]
pub struct Pass {
    handles: Vec<JoinHandle<Option<RotationResult>>>,
    secrets: Vec<SecretId>,
    /// Whether the due query returned a full batch (more may be due).
    pub full: bool,
}

impl Pass {
    /// Rotations started.
    pub fn started(&self) -> usize {
        self.handles.len()
    }

    /// Wait for every rotation (`each` sees each result as it ends); the results by secret.
    /// Every task is awaited even if one panicked (an abandoned task would be cut mid-step).
    pub async fn finish(
        self,
        mut each: impl FnMut(&RotationResult),
    ) -> Result<Vec<RotationResult>> {
        let mut results = Vec::with_capacity(self.handles.len());
        let mut panicked = None;
        for handle in self.handles {
            match handle.await {
                Ok(Some(result)) => {
                    each(&result);
                    results.push(result);
                }
                Ok(None) => {}
                Err(e) => panicked = Some(e),
            }
        }
        if let Some(e) = panicked {
            return Err(Error::internal(format!("a rotation task failed: {e}")));
        }
        results.sort_by(|a, b| a.secret.cmp(&b.secret));
        Ok(results)
    }
}

impl Scheduler {
    /// Start building a scheduler for `bindings` on `engine`.
    pub fn builder(engine: Engine, bindings: Arc<Bindings>) -> SchedulerBuilder {
        SchedulerBuilder {
            clock: engine.clock().clone(),
            engine,
            bindings,
            permits: None,
            concurrency: 4,
            batch: DEFAULT_BATCH,
            observer: Arc::new(NoObserver),
            hold: Arc::new(|| false),
            remove_orphans: true,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The bindings.
    pub fn bindings(&self) -> &Arc<Bindings> {
        &self.bindings
    }

    /// Resolve interrupted rotations before a pass: `full` at start-up (also looks for orphaned
    /// pending values in every store), otherwise only what the journal shows unfinished.
    pub async fn recover(&self, full: bool) -> Result<Vec<RecoveryReport>> {
        if full {
            self.engine.recover(&self.bindings).await
        } else {
            self.engine.recover_interrupted(&self.bindings).await
        }
    }

    /// Start every due rotation (at most one batch), each when a permit is free. Secrets busy
    /// in this process are left for the next pass; a due check under the lease skips secrets
    /// another process rotates.
    pub async fn pass(&self) -> Result<Pass> {
        self.pass_skipping(&HashSet::new()).await
    }

    async fn pass_skipping(&self, skip: &HashSet<SecretId>) -> Result<Pass> {
        let state = self.engine.state_store().ok_or_else(|| {
            Error::config("state", "the scheduler needs a state store for schedules")
        })?;
        let due = state.due_schedules(self.clock.now(), self.batch).await?;
        let full = due.len() >= self.batch;
        let mut handles = Vec::new();
        let mut secrets = Vec::new();
        for record in due {
            if skip.contains(&record.secret) {
                continue;
            }
            let Some(binding) = self.bindings.get(&record.secret) else {
                if !self.remove_orphans {
                    continue;
                }
                match state.delete_schedule(&record.secret).await {
                    Ok(_) => {
                        tracing::info!(secret = %record.secret, "schedule of a secret no longer configured removed")
                    }
                    Err(err) => {
                        tracing::warn!(secret = %record.secret, error = %err, "cannot remove an orphaned schedule")
                    }
                }
                continue;
            };
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                break; // permits closed: shutting down
            };
            if (self.hold)() {
                break;
            }
            let Ok(claim) = self.engine.claim(&binding.id, RotationId::generate()) else {
                continue; // running here already (an API or emergency rotation)
            };
            secrets.push(binding.id.clone());
            let (engine, binding, observer) =
                (self.engine.clone(), binding.clone(), self.observer.clone());
            handles.push(tokio::spawn(async move {
                let _permit = permit;
                let result = engine.rotate_if_due(claim, &binding).await?;
                observer.finished(&binding, &result).await;
                Some(result)
            }));
        }
        Ok(Pass {
            handles,
            secrets,
            full,
        })
    }

    /// Passes until nothing more is due (a full batch is followed by another pass once it
    /// finished); every result, by secret. Each secret is tried at most once per call: one
    /// that stays due (busy elsewhere, refused before it started) waits for the next call.
    pub async fn run_due(
        &self,
        mut each: impl FnMut(&RotationResult),
    ) -> Result<Vec<RotationResult>> {
        let mut all = Vec::new();
        let mut tried = HashSet::new();
        loop {
            let pass = self.pass_skipping(&tried).await?;
            let again = pass.full && pass.started() > 0;
            tried.extend(pass.secrets.iter().cloned());
            all.extend(pass.finish(&mut each).await?);
            if !again {
                break;
            }
        }
        all.sort_by(|a, b| a.secret.cmp(&b.secret));
        Ok(all)
    }
}
