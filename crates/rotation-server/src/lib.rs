//! `rotation-server`: the rotation daemon. It reads the same config file as the `rotation` CLI
//! (plus `[server]`), runs recovery, then the scheduler loop, and serves an authenticated HTTP
//! API (OpenAPI at `/openapi.json`), Prometheus metrics and webhook notifications.
//!
//! [`launch`] is the library entry point: tests bind `127.0.0.1:0` and pass a shutdown future;
//! [`launch_with_reload`] also takes reload requests (the binary sends one per `SIGHUP`).
#![forbid(unsafe_code)]

mod api;
mod auth;
mod error;
mod metrics;
mod reload;
mod scheduler;
mod state;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rotation_config::Resolved;
use rotation_runtime::Runtime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::state::{App, AppInner, Generation};

/// What [`launch`] needs: the loaded config (with its `[server]` section).
#[derive(Debug)]
pub struct Settings {
    /// The resolved config.
    pub config: Resolved,
    /// Where it was read from: messages, and what a reload reads again.
    pub config_path: PathBuf,
}

/// Open everything through the runtime, recover, and build the shared state.
async fn open(settings: Settings) -> Result<App> {
    let cfg = settings.config;
    let server = cfg.server.clone();
    let runtime = Runtime::builder(cfg)
        .holder(format!("rotation-server-{}", std::process::id()))
        .open()
        .await
        .context("opening the state, the audit log and the stores")?;
    let app: App = Arc::new(AppInner::new(
        Generation::new(runtime, server),
        settings.config_path,
        Arc::new(Metrics::new()),
    ));
    let current = app.current();
    let reports = app
        .engine()
        .recover(current.runtime().bindings())
        .await
        .context("recovery")?;
    let recovered = reports.iter().filter(|r| r.action.is_recovery()).count();
    app.metrics().add_recoveries(recovered as u64);
    for r in &reports {
        tracing::info!(secret = %r.secret, action = ?r.action, detail = r.detail.as_deref().unwrap_or(""), "recovery");
    }
    for s in app.state().schedules().await? {
        if current.knows(&s.secret) {
            app.note_schedule(&s);
        }
    }
    Ok(app)
}

/// How long the drain waits for TLS connections before it drops them; plain HTTP waits for
/// every connection. (The bounds of `axum-server` and `axum::serve`, which served before.)
const TLS_DRAIN: Duration = Duration::from_secs(5);
/// Longest TLS handshake, if `request_timeout` is longer.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// Serve `router` over HTTP/1.1 (TLS when `tls` is set) until `done` turns true, then stop
/// accepting and drain: idle connections close, requests in flight finish.
///
/// A client has `request_timeout` for each request's headers (from the moment the connection
/// is accepted, or the previous answer was sent on a keep-alive connection) and for the TLS
/// handshake: a connection that sends nothing, or its headers too slowly, is closed. HTTP/2 is
/// not offered (neither h2c nor by ALPN): hyper has no header timeout for it. The header limits
/// set here only bound memory; they are far above the API's own ([`api::MAX_HEADER_BYTES`]),
/// which answer with the JSON error where hyper's would answer a bodiless `431`.
async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
    request_timeout: Duration,
    done: watch::Receiver<bool>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(request_timeout)
        .max_headers(api::MAX_HEADERS * 5)
        .max_buf_size(api::MAX_HEADER_BYTES * 8);
    let drain = tls.as_ref().map(|_| TLS_DRAIN);
    let tls = tls.map(|config| {
        let mut http11 = (*config.get_inner()).clone();
        http11.alpn_protocols = vec![b"http/1.1".to_vec()];
        RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(http11)))
            .handshake_timeout(request_timeout.min(TLS_HANDSHAKE))
    });
    let mut connections = JoinSet::new();
    let mut signal = done.clone();
    let stopped = async move {
        let _ = signal.wait_for(|d| *d).await;
    };
    tokio::pin!(stopped);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        while connections.try_join_next().is_some() {}
        let (http, router, stop, tls) = (http.clone(), router.clone(), done.clone(), tls.clone());
        connections.spawn(async move {
            match tls {
                None => connection(&http, stream, router, stop).await,
                Some(acceptor) => match acceptor.accept(stream, ()).await {
                    Ok((stream, ())) => connection(&http, stream, router, stop).await,
                    Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                },
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(drain.unwrap_or(Duration::MAX), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "shutdown: dropping connections still open"
        );
        connections.shutdown().await;
    }
}

/// One connection until it closes; on `stop`, the request in flight finishes and it closes.
async fn connection<I>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    router: Router,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    tokio::pin!(conn);
    let stopped = async move {
        let _ = stop.wait_for(|d| *d).await;
    };
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        // Header timeouts, oversized heads, clients gone mid-request.
        tracing::debug!(error = %e, "connection closed");
    }
}

/// Run the daemon on `listener` until `shutdown` resolves: recovery first, then the scheduler
/// and the API. On shutdown it stops accepting, stops scheduling, and waits for in-flight
/// rotations up to `[server] shutdown_timeout` (a rotation cut off later is finished or rolled
/// back by the next start's recovery).
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Never sends: reloads only through `POST /v1/reload`.
    let (_keep, reloads) = mpsc::channel(1);
    launch_with_reload(settings, listener, shutdown, reloads).await
}

/// [`launch`], and each message on `reloads` (the binary sends one per `SIGHUP`) reloads the
/// config file like `POST /v1/reload`: a config that does not load, open or check is refused
/// and logged, and the running one kept.
pub async fn launch_with_reload(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut reloads: mpsc::Receiver<()>,
) -> Result<()> {
    // TLS files are read first: a bad certificate must fail before anything rotates.
    let tls = match settings.config.server.tls.clone() {
        Some((cert, key)) => Some(
            RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| {
                    format!("TLS certificate {} / key {}", cert.display(), key.display())
                })?,
        ),
        None => None,
    };
    let addr = listener.local_addr()?;
    if settings.config.server.check_listen(&addr)? {
        tracing::warn!(%addr, "serving plain HTTP on a non-loopback address (server.allow_insecure_listen = true): bearer tokens cross the network in clear text unless a TLS-terminating proxy is in front");
    }
    let app = open(settings).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn(scheduler::run(app.clone(), stop_rx));
    let router = api::router(app.clone());
    let reloader = {
        let app = app.clone();
        tokio::spawn(async move {
            while reloads.recv().await.is_some() {
                // The outcome is logged by `reload`.
                let _ = app.reload().await;
            }
        })
    };
    tracing::info!(%addr, tls = tls.is_some(), secrets = app.current().order().len(), "rotation-server listening");
    let (done_tx, done_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = done_tx.send(true);
    });
    serve(
        listener,
        router,
        tls,
        app.current().settings().request_timeout,
        done_rx,
    )
    .await;
    // Serving ended: stop scheduling, start nothing new, drain.
    app.stop();
    reloader.abort();
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    let bound = app.current().settings().shutdown_timeout;
    if !app.drain(bound).await {
        tracing::warn!(
            ?bound,
            "shutdown: rotations still running; the next start recovers them"
        );
    }
    app.flush_notifications(std::time::Duration::from_secs(5))
        .await;
    tracing::info!("rotation-server stopped");
    Ok(())
}
