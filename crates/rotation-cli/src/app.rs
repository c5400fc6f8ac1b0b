//! What every command needs: the config path, the loaded config and the runtime
//! ([`rotation_runtime::Runtime`]: engine, state, audit, bindings).

use std::path::{Path, PathBuf};
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

    /// The config file: `--config`, else the nearest `rotation.toml` in the current directory
    /// or a parent, else `ROTATION_CONFIG`; none of them is a usage error saying where it
    /// looked and to run `rotation init`.
    pub fn config_path(&self) -> Result<PathBuf, CliError> {
        if let Some(path) = &self.global.config {
            return Ok(path.clone());
        }
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::usage(format!("cannot read the current directory: {e}")))?;
        let env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
        discover(&cwd, env.map(PathBuf::from))
    }

    /// Load and validate the config (exit 2 on any problem).
    pub fn load(&self) -> Result<Resolved, CliError> {
        Ok(config::load(&self.config_path()?)?)
    }

    /// The audit sink of `cfg` for writing (creates the log on first use; refused while its
    /// chain is broken).
    pub async fn audit(&self, cfg: &Resolved) -> Result<Arc<dyn AuditSink>, CliError> {
        Ok(rotation_runtime::writable_audit(cfg).await?)
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

    /// The events of the intact audit records (empty when no log exists yet); a broken chain
    /// is said on stderr, and the view goes on.
    pub async fn audit_events(&self, cfg: &Resolved) -> Result<Vec<AuditEvent>, CliError> {
        let (events, broken) = rotation_runtime::readable_audit(cfg).await?;
        if let Some(why) = broken {
            crate::output::stderr_line(&format!("warning: {why}"));
        }
        Ok(events)
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
                    let file = self
                        .config_path()
                        .map_or_else(|_| "the config".to_owned(), |p| p.display().to_string());
                    CliError::usage(format!("unknown secret id {id:?} (not in {file})"))
                })
            })
            .collect()
    }
}

/// The environment variable naming the config when none is found by walking up.
pub const CONFIG_ENV: &str = "ROTATION_CONFIG";

/// The nearest `rotation.toml` in `cwd` or its parents, else `env` (`ROTATION_CONFIG`).
fn discover(cwd: &Path, env: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(found) = cwd
        .ancestors()
        .map(|dir| dir.join(config::DEFAULT_PATH))
        .find(|candidate| candidate.is_file())
    {
        return Ok(found);
    }
    env.ok_or_else(|| {
        CliError::usage(format!(
            "no config found: looked for {} in {} and every parent directory, and {CONFIG_ENV} \
             is not set; run `rotation init` to create one (or pass --config FILE)",
            config::DEFAULT_PATH,
            cwd.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::discover;

    #[test]
    fn the_nearest_config_wins_then_the_environment() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let deep = tmp.path().join("a/b");
        std::fs::create_dir_all(&deep).expect("dirs");
        let env = Some(PathBuf::from("/etc/rotation/env.toml"));
        if tmp
            .path()
            .ancestors()
            .any(|d| d.join("rotation.toml").is_file())
        {
            return; // a config above the temporary directory would be found first
        }
        assert_eq!(
            discover(&deep, env.clone()).expect("env"),
            env.clone().unwrap()
        );
        let err = discover(&deep, None).expect_err("nothing found");
        assert_eq!(err.code, crate::exit::USAGE);
        assert!(err.message.contains("rotation init"), "{}", err.message);
        assert!(
            err.message.contains(&deep.display().to_string()),
            "{}",
            err.message
        );

        std::fs::write(tmp.path().join("rotation.toml"), "").expect("outer");
        assert_eq!(
            discover(&deep, env.clone()).expect("outer"),
            tmp.path().join("rotation.toml")
        );
        std::fs::write(deep.join("rotation.toml"), "").expect("inner");
        assert_eq!(
            discover(&deep, env).expect("inner"),
            deep.join("rotation.toml")
        );
    }
}
