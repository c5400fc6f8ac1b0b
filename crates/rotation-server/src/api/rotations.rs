//! `/v1/rotations/{id}` and `/v1/stats`.

use axum::Json;
use axum::extract::{Path, State};
use rotation_core::RotationId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::App;

/// State and step of one rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotationView {
    /// Its id.
    pub rotation_id: String,
    /// The secret.
    pub secret: String,
    /// `pending`, `in_progress`, `verifying`, `success`, `failed` or `rolled_back`.
    pub status: String,
    /// The step it is at (from the journal), `done` when finished.
    pub step: String,
    /// Whether it has finished.
    pub finished: bool,
    /// The full result once finished in this server process.
    #[schema(value_type = Option<Object>)]
    pub result: Option<rotation_core::RotationResult>,
}

/// One rotation, from this process's results or the journal.
#[utoipa::path(get, path = "/v1/rotations/{id}", tag = "rotations",
    params(("id" = String, Path, description = "Rotation id (UUID)")),
    responses((status = 200, body = RotationView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<RotationView>, ApiError> {
    let rid = RotationId::parse(&id).map_err(|_| ApiError::not_found(format!("rotation {id}")))?;
    if let Some(r) = app.result(&rid) {
        return Ok(Json(RotationView {
            rotation_id: id,
            secret: r.secret.to_string(),
            status: r.status.as_str().to_owned(),
            step: "done".into(),
            finished: true,
            result: Some(r),
        }));
    }
    let Some(state) = app.state().rotation(&rid).await? else {
        // Accepted, still waiting for a permit or its lease: not journaled yet.
        let secret = app
            .is_running(&rid)
            .ok_or_else(|| ApiError::not_found(format!("rotation {id}")))?;
        return Ok(Json(RotationView {
            rotation_id: id,
            secret: secret.to_string(),
            status: "pending".into(),
            step: "queued".into(),
            finished: false,
            result: None,
        }));
    };
    let step = serde_json::to_value(state.step)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let status = state.status();
    Ok(Json(RotationView {
        rotation_id: id,
        secret: state.secret.to_string(),
        status: status.as_str().to_owned(),
        finished: status.is_terminal(),
        step,
        result: None,
    }))
}

/// The seed's statistics keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// Finished rotations.
    pub total_rotations: u64,
    /// Succeeded.
    pub successful_rotations: u64,
    /// Failed (rolled back included).
    pub failed_rotations: u64,
    /// Rolled back.
    pub rollbacks: u64,
    /// successful / total; `null` when nothing ran.
    pub success_rate: Option<f64>,
    /// Schedules that rotate automatically.
    pub active_schedules: u64,
    /// Configured secrets.
    pub total_schedules: u64,
    /// Rotations running now in any process sharing the state database (live leases).
    pub active_rotations: u64,
}

/// Rotation statistics (persisted counts).
#[utoipa::path(get, path = "/v1/stats", tag = "rotations",
    responses((status = 200, body = StatsView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stats(State(app): State<App>) -> Result<Json<StatsView>, ApiError> {
    let s = app.current().runtime().statistics().await?;
    Ok(Json(StatsView {
        total_rotations: s.total_rotations,
        successful_rotations: s.successful_rotations,
        failed_rotations: s.failed_rotations,
        rollbacks: s.rollbacks,
        success_rate: s.success_rate,
        active_schedules: s.active_schedules,
        total_schedules: s.total_schedules,
        active_rotations: s.active_rotations,
    }))
}
