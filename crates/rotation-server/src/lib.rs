//! `rotation-server`: the rotation daemon. It reads the same config file as the `rotation` CLI
//! (plus `[server]`), runs recovery, then the scheduler loop, and serves an authenticated HTTP
//! API (OpenAPI at `/openapi.json`), Prometheus metrics and webhook notifications.
//!
//! [`launch`] is the library entry point: tests bind `127.0.0.1:0` and pass a shutdown future.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod error;
pub mod metrics;
pub mod notify;
pub mod scheduler;
pub mod state;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use anyhow::{Context, Result};
use rotation_config::Resolved;
use rotation_core::{AuditSink, Engine, RecoveryAction, StateStore};
use tokio::sync::{Notify, Semaphore, watch};

use crate::metrics::Metrics;
use crate::notify::{EventKind, Notifier, Webhook, WebhookFormat};
use crate::state::{App, AppInner, Secret};

/// What [`launch`] needs: the loaded config (with its `[server]` section).
#[derive(Debug)]
pub struct Settings {
    /// The resolved config.
    pub config: Resolved,
    /// Where it was read from (for messages).
    pub config_path: PathBuf,
}

fn webhooks(cfg: &Resolved) -> Result<Vec<Webhook>> {
    cfg.server
        .webhooks
        .iter()
        .map(|w| {
            let events = w
                .events
                .iter()
                .map(|e| serde_json::from_value::<EventKind>(serde_json::Value::String(e.clone())))
                .collect::<Result<Vec<_>, _>>()
                .context("webhook events")?;
            Ok(Webhook {
                url: w.url.clone(),
                format: if w.format == "slack" {
                    WebhookFormat::Slack
                } else {
                    WebhookFormat::Json
                },
                events,
                timeout: w.timeout,
                max_attempts: w.max_attempts,
            })
        })
        .collect()
}

/// Open everything, recover, and build the shared state.
async fn open(settings: Settings) -> Result<App> {
    let cfg = settings.config;
    let state = Arc::new(
        rotation_state_sqlite::SqliteStateStore::open(&cfg.state_path)
            .with_context(|| format!("state database {}", cfg.state_path.display()))?,
    );
    let audit: Arc<dyn AuditSink> = Arc::new(
        rotation_file::JsonlAuditSink::open(&cfg.audit_path)
            .with_context(|| format!("audit log {}", cfg.audit_path.display()))?,
    );
    rotation_config::schedules::reconcile(&cfg, &*state, chrono::Utc::now())
        .await
        .context("reconciling schedules")?;
    let engine = Engine::builder()
        .audit(audit.clone())
        .state(state.clone())
        .lease_ttl(cfg.lease_ttl)
        .holder(format!("rotation-server-{}", std::process::id()))
        .build();
    let bindings = cfg.bind().context("opening the stores")?;
    let mut secrets = HashMap::new();
    let mut order = Vec::new();
    for entry in &cfg.secrets {
        let binding = bindings[&entry.id].clone();
        order.push(entry.id.clone());
        secrets.insert(
            entry.id.clone(),
            Secret {
                binding,
                timing: entry.timing.clone(),
                store: entry.store.clone(),
            },
        );
    }
    let notifier = Notifier::new(webhooks(&cfg)?).map_err(anyhow::Error::msg)?;
    let metrics = Arc::new(Metrics::new());
    let app: App = Arc::new(AppInner {
        engine,
        audit,
        state: state.clone() as Arc<dyn StateStore>,
        secrets,
        order,
        audit_path: cfg.audit_path.clone(),
        tokens: cfg.server.tokens.clone(),
        settings: cfg.server.clone(),
        metrics,
        notifier: Arc::new(notifier),
        running: Default::default(),
        results: Default::default(),
        permits: Arc::new(Semaphore::new(cfg.server.concurrency)),
        emergencies: AtomicUsize::new(0),
        stopping: std::sync::atomic::AtomicBool::new(false),
        quarantined: Default::default(),
        in_flight: AtomicUsize::new(0),
        idle: Notify::new(),
    });
    let reports = app.engine.recover(&bindings).await.context("recovery")?;
    let recovered = reports
        .iter()
        .filter(|r| r.action != RecoveryAction::Failed)
        .count();
    app.metrics.add_recoveries(recovered as u64);
    for r in &reports {
        tracing::info!(secret = %r.secret, action = ?r.action, detail = r.detail.as_deref().unwrap_or(""), "recovery");
    }
    for s in app.state.schedules().await? {
        if app.secrets.contains_key(&s.secret) {
            app.note_schedule(&s);
        }
    }
    Ok(app)
}

/// Run the daemon on `listener` until `shutdown` resolves: recovery first, then the scheduler
/// and the API. On shutdown it stops accepting, stops scheduling, and waits for in-flight
/// rotations up to `[server] shutdown_timeout` (a rotation cut off later is finished or rolled
/// back by the next start's recovery).
pub async fn launch(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // TLS files are read first: a bad certificate must fail before anything rotates.
    let tls = match settings.config.server.tls.clone() {
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| {
                    format!("TLS certificate {} / key {}", cert.display(), key.display())
                })?,
        ),
        None => None,
    };
    let app = open(settings).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn(scheduler::run(app.clone(), stop_rx));
    let router = api::router(app.clone());
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = tls.is_some(), secrets = app.secrets.len(), "rotation-server listening");
    let (done_tx, done_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = done_tx.send(true);
    });
    let served = match tls {
        None => {
            let mut done = done_rx.clone();
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = done.wait_for(|d| *d).await;
                })
                .await
                .map_err(anyhow::Error::from)
        }
        Some(config) => {
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            let mut done = done_rx.clone();
            tokio::spawn(async move {
                let _ = done.wait_for(|d| *d).await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            match listener.into_std() {
                Ok(std_listener) => axum_server::from_tcp_rustls(std_listener, config)
                    .handle(handle)
                    .serve(router.into_make_service())
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            }
        }
    };
    // Whatever ended serving: stop scheduling, start nothing new, drain.
    app.stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    let bound = app.settings.shutdown_timeout;
    if !app.drain(bound).await {
        tracing::warn!(
            ?bound,
            "shutdown: rotations still running; the next start recovers them"
        );
    }
    app.notifier.flush(std::time::Duration::from_secs(5)).await;
    tracing::info!("rotation-server stopped");
    served
}
