//! One assembly of the rotation engine, for every front end.
//!
//! [`Runtime::builder`] opens, from a resolved config, the state store (schedules reconciled
//! with the config), the audit sink, the engine and the bindings of the secrets a command needs;
//! [`Runtime::scheduler`] gives the one scheduler pass ([`rotation_core::Scheduler`]). The CLI
//! and the server start through it and nothing else, and reach the state and the audit trail
//! only through the [`StateStore`] and [`AuditSink`] traits, so another backend (PostgreSQL for
//! several replicas) replaces SQLite and the JSONL file here without touching either.
#![forbid(unsafe_code)]

pub mod audit;
pub mod logging;
pub mod notify;
pub mod reminders;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rotation_config::{Access, Resolved, SecretEntry};
use rotation_core::{
    AuditSink, Bindings, Engine, Error, Journal, Result, SchedulerBuilder, SecretBinding, SecretId,
    StateStore, Statistics,
};
use rotation_state_sqlite::SqliteStateStore;

pub use crate::audit::{
    AuditCheck, audit_report, ensure_audit_intact, open_audit, readable_audit, repair_audit,
    writable_audit,
};
use crate::notify::Notifier;

/// Which secrets get bindings (opening a store can cost a network round trip or a credential
/// lookup: a command about one secret opens one store).
#[derive(Debug, Clone, Default)]
pub enum Bind {
    /// Every configured secret, read-write.
    #[default]
    All,
    /// These secrets only.
    Only(Vec<SecretId>, Access),
    /// None (views of the state and the audit trail).
    None,
}

type WrapJournal = Box<dyn FnOnce(Arc<dyn StateStore>) -> Arc<dyn Journal> + Send>;

/// Builder for [`Runtime`].
pub struct RuntimeBuilder {
    config: Resolved,
    bind: Bind,
    holder: Option<String>,
    wrap_journal: Option<WrapJournal>,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("bind", &self.bind)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// Which bindings to open (default: all).
    pub fn bind(mut self, bind: Bind) -> Self {
        self.bind = bind;
        self
    }
    /// Lease holder name (default `host:pid:random`).
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = Some(holder.into());
        self
    }
    /// Wrap the journal the engine writes to (crash-injection tests abort at a chosen record).
    pub fn wrap_journal(
        mut self,
        wrap: impl FnOnce(Arc<dyn StateStore>) -> Arc<dyn Journal> + Send + 'static,
    ) -> Self {
        self.wrap_journal = Some(Box::new(wrap));
        self
    }

    /// Open the bindings, then the state (schedules reconciled), the audit sink and the
    /// engine. Stores are opened first: a config they refuse (an unsafe file store directory,
    /// missing credentials) fails before the state database or the audit log is created.
    pub async fn open(self) -> Result<Runtime> {
        let bindings = match &self.bind {
            Bind::All => self.config.bind()?,
            Bind::Only(ids, access) => {
                let mut out = Bindings::new();
                for id in ids {
                    let entry = entry(&self.config, id)?;
                    out.insert(id.clone(), self.config.bind_one(entry, *access)?);
                }
                out
            }
            Bind::None => Bindings::new(),
        };
        let notifier = Notifier::from_config(&self.config.webhooks)
            .map_err(|e| Error::config("webhooks", e))?;
        // A broken chain stops every writer before it changes anything (not even the state
        // database): appending to it would bury the break under new records.
        let audit = writable_audit(&self.config).await?;
        let state = open_state(&self.config).await?;
        let mut engine = Engine::builder()
            .audit(audit.clone())
            .state(state.clone())
            .lease_ttl(self.config.lease_ttl);
        if let Some(holder) = self.holder {
            engine = engine.holder(holder);
        }
        if let Some(wrap) = self.wrap_journal {
            engine = engine.journal(wrap(state.clone()));
        }
        Ok(Runtime {
            engine: engine.build(),
            state,
            audit,
            bindings: Arc::new(bindings),
            config: Arc::new(self.config),
            notifier: Arc::new(notifier),
        })
    }
}

fn entry<'a>(cfg: &'a Resolved, id: &SecretId) -> Result<&'a SecretEntry> {
    cfg.secret(id.as_str())
        .ok_or_else(|| Error::config(format!("secrets.{id}"), "is not configured"))
}

/// The state store of `cfg`, created on first use, with its schedules reconciled from the
/// config (for views that need no audit trail and no store).
pub async fn open_state(cfg: &Resolved) -> Result<Arc<dyn StateStore>> {
    let state: Arc<dyn StateStore> = Arc::new(
        SqliteStateStore::open(&cfg.state_path)
            .map_err(|e| e.context(format!("state database {}", cfg.state_path.display())))?,
    );
    rotation_config::schedules::reconcile(cfg, &*state, chrono::Utc::now())
        .await
        .map_err(|e| e.context("reconciling schedules"))?;
    Ok(state)
}

/// The engine and what it works on, opened from one config. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    engine: Engine,
    state: Arc<dyn StateStore>,
    audit: Arc<dyn AuditSink>,
    bindings: Arc<Bindings>,
    config: Arc<Resolved>,
    notifier: Arc<Notifier>,
}

impl Runtime {
    /// Start assembling from a resolved config.
    pub fn builder(config: Resolved) -> RuntimeBuilder {
        RuntimeBuilder {
            config,
            bind: Bind::All,
            holder: None,
            wrap_journal: None,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    /// The state store.
    pub fn state(&self) -> &Arc<dyn StateStore> {
        &self.state
    }
    /// The audit sink.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }
    /// The opened bindings.
    pub fn bindings(&self) -> &Arc<Bindings> {
        &self.bindings
    }
    /// One opened binding.
    pub fn binding(&self, id: &SecretId) -> Option<&SecretBinding> {
        self.bindings.get(id)
    }
    /// The config.
    pub fn config(&self) -> &Arc<Resolved> {
        &self.config
    }
    /// The webhooks of the config.
    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }
    /// The scheduler over the opened bindings; the caller sets concurrency, permits, hooks.
    /// Due schedules without a binding are removed as no longer configured only when every
    /// configured secret is bound (a runtime for a few secrets leaves the others alone).
    pub fn scheduler(&self) -> SchedulerBuilder {
        let all_bound = self
            .config
            .secrets
            .iter()
            .all(|e| self.bindings.contains_key(&e.id));
        rotation_core::Scheduler::builder(self.engine.clone(), self.bindings.clone())
            .remove_orphans(all_bound)
    }
    /// Statistics over the configured secrets (persisted counts, active schedules, rotations
    /// running in any process).
    pub async fn statistics(&self) -> Result<Statistics> {
        self.engine
            .stored_statistics(&configured(&self.config))
            .await
    }
    /// Notify the end of each rotation in `results` by its policy's `notify` flags (results of
    /// secrets without a binding here are skipped).
    pub fn notify_results(&self, results: &[rotation_core::RotationResult]) {
        if self.notifier.is_empty() {
            return;
        }
        for r in results {
            if let Some(binding) = self.bindings.get(&r.secret) {
                self.notifier.rotation_finished(&binding.policy, r);
            }
        }
    }
    /// Wait for queued webhook deliveries (a command is about to exit), at most `within`.
    pub async fn flush_notifications(&self, within: Duration) {
        self.notifier.flush(within).await;
    }
    /// Refused (naming the log, the first break and `rotation audit repair`) while the audit
    /// chain has a break no repair acknowledged: a long-running process checks it again before
    /// writing (the log may be edited while it runs).
    pub async fn audit_intact(&self) -> Result<()> {
        audit::refuse_broken(&self.config, &self.audit_check_report().await?)
    }
    /// The check of the whole audit chain (`audit verify`).
    pub async fn audit_check(&self) -> AuditCheck {
        AuditCheck::of(&self.config, self.audit_check_report().await)
    }
    async fn audit_check_report(&self) -> Result<rotation_core::ChainReport> {
        self.audit
            .inspect()
            .await
            .map_err(|e| e.context(format!("audit log {}", self.config.audit_path.display())))
    }
    /// Wait for rotations in flight in this process, at most `within`.
    pub async fn drain(&self, within: Duration) -> bool {
        self.engine.drain(within).await
    }

    /// The same engine (its claim registry, lease holder and counters), state store and audit
    /// sink, with every secret of `config` bound and the schedules reconciled with it: what a
    /// server reload swaps in. A rotation still running under the old bindings keeps its claim,
    /// so a second rotation of that secret is refused under the new ones as before. Refused,
    /// naming the field, when `config` changes what belongs to the process (the state
    /// database, the audit log, the lease ttl): a restart changes those. The stores are opened
    /// before anything is reconciled, so a config they refuse changes nothing.
    pub async fn rebind(&self, config: Resolved) -> Result<Runtime> {
        let fixed = [
            ("state.path", config.state_path == self.config.state_path),
            ("audit.path", config.audit_path == self.config.audit_path),
            ("state.lease_ttl", config.lease_ttl == self.config.lease_ttl),
        ];
        if let Some((field, _)) = fixed.iter().find(|(_, same)| !same) {
            return Err(Error::config(
                *field,
                "cannot change while the process runs (restart it)",
            ));
        }
        let bindings = config.bind()?;
        let notifier =
            Notifier::from_config(&config.webhooks).map_err(|e| Error::config("webhooks", e))?;
        // Reconciling writes the state: refused on a broken chain like every writer.
        self.audit_intact().await?;
        rotation_config::schedules::reconcile(&config, &*self.state, chrono::Utc::now())
            .await
            .map_err(|e| e.context("reconciling schedules"))?;
        Ok(Runtime {
            engine: self.engine.clone(),
            state: self.state.clone(),
            audit: self.audit.clone(),
            bindings: Arc::new(bindings),
            config: Arc::new(config),
            notifier: Arc::new(notifier),
        })
    }
}

/// Statistics over the configured secrets of `cfg` from `state` alone (views open no store and
/// no audit trail): persisted counts, active schedules, rotations running in any process.
pub async fn statistics(cfg: &Resolved, state: Arc<dyn StateStore>) -> Result<Statistics> {
    Engine::builder()
        .state(state)
        .build()
        .stored_statistics(&configured(cfg))
        .await
}

/// The ids of the configured secrets.
fn configured(cfg: &Resolved) -> HashSet<SecretId> {
    cfg.secrets.iter().map(|e| e.id.clone()).collect()
}
