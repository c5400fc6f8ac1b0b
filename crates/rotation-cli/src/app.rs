//! What every command needs: the config path, the loaded config and the runtime
//! ([`rotation_runtime::Runtime`]: engine, state, audit, bindings).

use std::path::PathBuf;
use std::sync::Arc;

use rotation_core::{AuditEvent, AuditSink, Journal, SecretBinding, StateStore};
use rotation_runtime::{Bind, Runtime};

use crate::fault::AbortingJournal;

use crate::cli::{Global, OutputFormat};
use crate::exit::CliError;
use rotation_config::{self as config, Access, Resolved};

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
    pub fn audit(&self, cfg: &Resolved) -> Result<Arc<dyn AuditSink>, CliError> {
        Ok(rotation_runtime::open_audit(cfg)?)
    }

    /// The state database with schedules reconciled from the config (for views: no audit log).
    pub async fn reconciled_state(&self, cfg: &Resolved) -> Result<Arc<dyn StateStore>, CliError> {
        Ok(rotation_runtime::open_state(cfg).await?)
    }

    /// The runtime of `cfg`: engine, state (schedules reconciled), audit and the bindings of
    /// `bind`. The crash-injection hook wraps the journal when its variables are set.
    pub async fn runtime(&self, cfg: Resolved, bind: Bind) -> Result<Runtime, CliError> {
        let mut builder = Runtime::builder(cfg).bind(bind);
        if AbortingJournal::configured() {
            builder = builder.wrap_journal(|state| {
                let journal: Arc<dyn Journal> = state;
                match AbortingJournal::from_env(journal.clone()) {
                    Some(aborting) => Arc::new(aborting),
                    None => journal,
                }
            });
        }
        Ok(builder.open().await?)
    }

    /// A runtime for one secret (`access`: what its store is opened for).
    pub async fn runtime_for(
        &self,
        cfg: Resolved,
        id: &str,
        access: Access,
    ) -> Result<(Runtime, SecretBinding), CliError> {
        let entry = self.select(&cfg, &[id.to_owned()])?[0].id.clone();
        let rt = self
            .runtime(cfg, Bind::Only(vec![entry.clone()], access))
            .await?;
        let binding = rt
            .binding(&entry)
            .cloned()
            .ok_or_else(|| CliError::failed(format!("{entry} was not opened")))?;
        Ok((rt, binding))
    }

    /// Verified audit events (empty when no log exists yet).
    pub async fn audit_events(&self, cfg: &Resolved) -> Result<Vec<AuditEvent>, CliError> {
        Ok(rotation_runtime::verified_audit(cfg).await?)
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
