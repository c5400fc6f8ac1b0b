//! Reloading the config file (`SIGHUP`, `POST /v1/reload`): the new file is read, checked and
//! opened completely before it replaces the running generation; anything wrong refuses the
//! reload and the running config stays. Rotations in flight keep the binding they were claimed
//! with, and the engine (its claim registry) is the same across generations, so a secret that
//! rotates under the old config is not rotated a second time under the new one.

use rotation_config::{ConfigError, Resolved, ServerConfig};
use rotation_core::SecretId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{AppInner, Generation};

/// Why a reload was refused (the running config is kept).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReloadError {
    /// The file does not load: unreadable, malformed, or a bad value.
    #[error("{0}")]
    Config(ConfigError),
    /// A field that only a restart changes was changed.
    #[error("{0}: changes only on a restart (listener, TLS, limits and permits are set up once)")]
    RestartOnly(&'static str),
    /// The webhooks, the stores or the schedules refused the new config.
    #[error("{}", .0)]
    Open(rotation_core::Error),
    /// The audit chain is broken (writers are held until `rotation audit repair`).
    #[error("{0}")]
    AuditBroken(String),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Stopping,
}

impl ReloadError {
    /// The config field at fault, when there is one.
    pub(crate) fn field(&self) -> Option<String> {
        match self {
            ReloadError::Config(e) => e.field.clone(),
            ReloadError::RestartOnly(f) => Some((*f).to_owned()),
            ReloadError::Open(e) => e.field().map(str::to_owned),
            ReloadError::Stopping | ReloadError::AuditBroken(_) => None,
        }
    }
    /// The message for an API client: the file's path stays in the server log.
    pub(crate) fn client_message(&self) -> String {
        match self {
            ReloadError::Config(e) => {
                let mut out = e.line.map_or_else(String::new, |l| format!("line {l}: "));
                if let Some(field) = &e.field {
                    out += &format!("{field}: ");
                }
                out + &e.message
            }
            other => other.to_string(),
        }
    }
}

/// What a reload changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadReport {
    /// Secrets configured now.
    pub secrets: usize,
    /// Ids configured now and not before.
    pub added: Vec<String>,
    /// Ids configured before and not now (no longer scheduled or served; a rotation of one
    /// that is running finishes).
    pub removed: Vec<String>,
    /// Tokens accepted now.
    pub tokens: usize,
    /// Webhooks now.
    pub webhooks: usize,
}

/// The first `[server]` field that differs in a way only a restart applies.
fn restart_only(running: &ServerConfig, next: &ServerConfig) -> Option<&'static str> {
    let same = [
        ("server.listen", running.listen == next.listen),
        ("server.tls_cert", running.tls == next.tls),
        (
            "server.allow_insecure_listen",
            running.allow_insecure_listen == next.allow_insecure_listen,
        ),
        (
            "server.concurrency",
            running.concurrency == next.concurrency,
        ),
        (
            "server.request_timeout",
            running.request_timeout == next.request_timeout,
        ),
        ("server.body_limit", running.body_limit == next.body_limit),
    ];
    same.iter().find(|(_, same)| !same).map(|(field, _)| *field)
}

impl AppInner {
    /// Read the config file again and serve it, or refuse and keep the running one. One reload
    /// at a time; the error is logged here as well.
    pub(crate) async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let _one = self.reloading().lock().await;
        let outcome = self.reload_locked().await;
        match &outcome {
            Ok(r) => tracing::info!(
                secrets = r.secrets,
                added = ?r.added,
                removed = ?r.removed,
                tokens = r.tokens,
                "config reloaded"
            ),
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; the running config is kept")
            }
        }
        outcome
    }

    async fn reload_locked(&self) -> Result<ReloadReport, ReloadError> {
        if self.is_stopping() {
            return Err(ReloadError::Stopping);
        }
        // A reload is also how an operator says "I repaired the chain": checked first.
        self.check_audit().await;
        if let Some(why) = self.audit_refusal() {
            return Err(ReloadError::AuditBroken(why));
        }
        let path = self.config_path().to_owned();
        let cfg: Resolved = tokio::task::spawn_blocking(move || rotation_config::load(&path))
            .await
            .map_err(|e| ReloadError::Open(rotation_core::Error::internal(e.to_string())))?
            .map_err(ReloadError::Config)?;
        let running = self.current();
        if let Some(field) = restart_only(running.settings(), &cfg.server) {
            return Err(ReloadError::RestartOnly(field));
        }
        let settings = cfg.server.clone();
        let runtime = running
            .runtime()
            .rebind(cfg)
            .await
            .map_err(ReloadError::Open)?;
        let next = Generation::new(runtime, settings);
        let before: Vec<SecretId> = running.order().to_vec();
        let added: Vec<String> = next
            .order()
            .iter()
            .filter(|id| !running.knows(id))
            .map(ToString::to_string)
            .collect();
        let removed: Vec<SecretId> = before.into_iter().filter(|id| !next.knows(id)).collect();
        let report = ReloadReport {
            secrets: next.order().len(),
            added,
            removed: removed.iter().map(ToString::to_string).collect(),
            tokens: next.tokens().len(),
            webhooks: next.runtime().config().webhooks.len(),
        };
        let state = next.runtime().state().clone();
        let known: std::collections::HashSet<SecretId> = next.order().iter().cloned().collect();
        self.swap(next);
        for id in &removed {
            self.forget(id);
        }
        // The gauges of new and changed schedules (reconciled by `rebind`).
        match state.schedules().await {
            Ok(all) => {
                for s in all.iter().filter(|s| known.contains(&s.secret)) {
                    self.note_schedule(s);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the schedules after a reload"),
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn only_listener_tls_and_limits_need_a_restart() {
        let running = rotation_config::server::resolve(None, Path::new(".")).expect("defaults");
        let mut next = running.clone();
        next.tokens.clear();
        next.tick = std::time::Duration::from_secs(60);
        next.shutdown_timeout = std::time::Duration::from_secs(1);
        assert_eq!(restart_only(&running, &next), None);
        next.listen = "127.0.0.1:9999".parse().expect("addr");
        assert_eq!(restart_only(&running, &next), Some("server.listen"));
        let mut next = running.clone();
        next.concurrency += 1;
        assert_eq!(restart_only(&running, &next), Some("server.concurrency"));
        let mut next = running.clone();
        next.body_limit += 1;
        assert_eq!(restart_only(&running, &next), Some("server.body_limit"));
    }
}
