//! Unauthenticated operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use std::collections::HashSet;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use rotation_core::{ErrorKind, SecretStore};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::state::App;

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// What is not reachable (names only).
    pub problems: Vec<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        problems: Vec::new(),
    })
}

/// The state database and every store are reachable.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let mut problems = Vec::new();
    let probe = Duration::from_secs(5);
    let generation = app.current();
    match tokio::time::timeout(probe, app.state().counts()).await {
        Ok(Ok(_)) => {}
        _ => problems.push("state database".to_owned()),
    }
    // One secret per store: reachable means the store answered, whatever the secret's state.
    let mut seen = HashSet::new();
    for id in generation.order() {
        let Some(s) = generation.secret(id) else {
            continue;
        };
        if !seen.insert(s.store.clone()) {
            continue;
        }
        let store: &dyn SecretStore = &*s.binding.store;
        let ok = match tokio::time::timeout(probe, store.read_current(&s.binding.path)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => matches!(
                e.kind(),
                ErrorKind::NotFound | ErrorKind::InvalidValue | ErrorKind::InvalidConfig
            ),
            Err(_) => false,
        };
        if !ok {
            problems.push(format!("store {}", s.store));
        }
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if problems.is_empty() {
        "ok"
    } else {
        "unavailable"
    };
    (
        status,
        Json(Health {
            status: word.into(),
            problems,
        }),
    )
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "OpenMetrics text",
    body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    // Read from the engine's claims at scrape time: scheduled, API and emergency rotations all
    // claim there, so the gauge cannot drift from what runs.
    app.metrics()
        .set_in_progress(app.engine().running_count() as i64);
    (
        [(header::CONTENT_TYPE, crate::metrics::Metrics::CONTENT_TYPE)],
        app.metrics().render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::ApiDoc::openapi())
}
