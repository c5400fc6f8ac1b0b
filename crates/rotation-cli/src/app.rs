//! What every command needs: the config path, the loaded config, the audit sink and the engine.

use std::path::PathBuf;
use std::sync::Arc;

use rotation_core::{AuditEvent, Engine};
use rotation_file::JsonlAuditSink;
use rotation_state_sqlite::SqliteStateStore;

use crate::fault::AbortingJournal;

use crate::cli::{Global, OutputFormat};
use crate::exit::CliError;
use rotation_config::{self as config, Resolved};

/// Per-invocation context.
#[derive(Debug)]
pub struct Context {
    /// Global flags.
    pub global: Global,
}

impl Context {
    /// Output format.
    pub fn output(&self) -> OutputFormat {
        self.global.output
    }

    /// `--config`, `ROTATION_CONFIG` or `./rotation.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.global
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
    }

    /// Load and validate the config (exit 2 on any problem).
    pub fn load(&self) -> Result<Resolved, CliError> {
        Ok(config::load(&self.config_path())?)
    }

    /// The audit sink of `cfg` (creates the log on first use).
    pub fn audit(&self, cfg: &Resolved) -> Result<Arc<JsonlAuditSink>, CliError> {
        let sink = JsonlAuditSink::open(&cfg.audit_path).map_err(|e| {
            CliError::failed(format!("audit log {}: {e}", cfg.audit_path.display()))
        })?;
        Ok(Arc::new(sink))
    }

    /// The state database of `cfg` (created on first use).
    pub fn state(&self, cfg: &Resolved) -> Result<Arc<SqliteStateStore>, CliError> {
        let state = SqliteStateStore::open(&cfg.state_path).map_err(|e| {
            CliError::failed(format!("state database {}: {e}", cfg.state_path.display()))
        })?;
        Ok(Arc::new(state))
    }

    /// The state database with schedules reconciled from the config (for views: no audit log).
    pub async fn reconciled_state(
        &self,
        cfg: &Resolved,
    ) -> Result<Arc<SqliteStateStore>, CliError> {
        let state = self.state(cfg)?;
        rotation_config::schedules::reconcile(cfg, &*state, chrono::Utc::now()).await?;
        Ok(state)
    }

    /// An engine writing to the config's audit log and state database, with schedules
    /// reconciled from the config.
    pub async fn engine(
        &self,
        cfg: &Resolved,
    ) -> Result<(Engine, Arc<SqliteStateStore>), CliError> {
        let state = self.reconciled_state(cfg).await?;
        let mut builder = Engine::builder()
            .audit(self.audit(cfg)?)
            .state(state.clone())
            .lease_ttl(cfg.lease_ttl);
        if let Some(aborting) = AbortingJournal::from_env(state.clone()) {
            builder = builder.journal(Arc::new(aborting));
        }
        Ok((builder.build(), state))
    }

    /// Verified audit events (empty when no log exists yet).
    pub fn audit_events(&self, cfg: &Resolved) -> Result<Vec<AuditEvent>, CliError> {
        if !cfg.audit_path.exists() {
            return Ok(Vec::new());
        }
        JsonlAuditSink::verify_path(&cfg.audit_path).map_err(|e| {
            CliError::failed(format!(
                "audit log {} failed verification: {e}",
                cfg.audit_path.display()
            ))
        })
    }

    /// The entries named by `ids` (all when empty); unknown ids are usage errors.
    pub fn select<'a>(
        &self,
        cfg: &'a Resolved,
        ids: &[String],
    ) -> Result<Vec<&'a config::SecretEntry>, CliError> {
        if ids.is_empty() {
            return Ok(cfg.secrets.iter().collect());
        }
        ids.iter()
            .map(|id| {
                cfg.secret(id).ok_or_else(|| {
                    CliError::usage(format!(
                        "unknown secret id {id:?} (not in {})",
                        self.config_path().display()
                    ))
                })
            })
            .collect()
    }
}
