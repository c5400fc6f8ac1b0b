//! Operator actions beside rotations, the CLI's `rollback`, `verify` and `audit verify` over
//! HTTP through the same engine calls, and `POST /v1/reload`.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rotation_config::Role;
use rotation_core::{ErrorKind, RotationId, SecretBinding, SecretId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Caller, require};
use crate::error::{ApiError, ErrorBody};
use crate::reload::ReloadReport;
use crate::state::{App, NotStarted};

/// A finished rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackView {
    /// The secret.
    pub secret: String,
    /// The journaled id of the rollback (`GET /v1/rotations/{id}`).
    pub rotation_id: String,
    /// The version that was current.
    pub old_version: String,
    /// The version that is current now (the previous one).
    pub new_version: String,
    /// Whether the target was given the restored value.
    pub target_reapplied: bool,
}

/// A rollback still running when the answer was due.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackAccepted {
    /// The secret.
    pub secret: String,
    /// Its journaled id; null while it still waits for a rotation permit.
    pub rotation_id: Option<String>,
    /// Where to follow it: the rotation, or the secret's history until it has an id.
    pub status_url: String,
}

/// The result of `verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    /// The secret.
    pub secret: String,
    /// The version checked, when it passed.
    pub version: Option<String>,
    /// Whether every verifier accepted the current value.
    pub passed: bool,
    /// Why not (never a value).
    pub error: Option<String>,
}

/// The result of `audit verify`, in the CLI's field names (`rotation audit verify -o json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditCheckView {
    /// The log checked.
    pub path: String,
    /// Whether the whole hash chain is intact (every break, if any, acknowledged by a repair).
    pub valid: bool,
    /// Complete records read, also when the chain is broken; null when the log could not be
    /// read.
    pub records: Option<usize>,
    /// Sequence number of the first record (1), null for an empty log.
    pub first_seq: Option<u64>,
    /// Sequence number of the last record.
    pub last_seq: Option<u64>,
    /// Time of the first intact record (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Time of the last intact record (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Hash of the last record (the chain head), when valid and not empty.
    pub head_hash: Option<String>,
    /// The first unacknowledged break, or why the log could not be read.
    pub error: Option<String>,
    /// Every break not yet acknowledged (line, kind, expected and found sequence numbers and
    /// hashes).
    #[schema(value_type = Vec<Object>)]
    pub breaks: Vec<rotation_core::ChainBreak>,
    /// Earlier repairs (`at`, `line`) and the breaks each acknowledged.
    #[schema(value_type = Vec<Object>)]
    pub repairs: Vec<rotation_core::Repair>,
}

impl From<rotation_runtime::AuditCheck> for AuditCheckView {
    fn from(c: rotation_runtime::AuditCheck) -> Self {
        Self {
            path: c.path,
            valid: c.valid,
            records: c.records,
            first_seq: c.first_seq,
            last_seq: c.last_seq,
            first_at: c.first_at,
            last_at: c.last_at,
            head_hash: c.head_hash,
            error: c.error,
            breaks: c.breaks,
            repairs: c.repairs,
        }
    }
}

/// How long a handler waits for work it started before answering (the request timeout would
/// otherwise answer first, without the result).
fn answer_within(app: &App) -> Duration {
    app.current()
        .settings()
        .request_timeout
        .saturating_sub(Duration::from_secs(1))
}

fn binding_of(app: &App, id: &str) -> Result<SecretBinding, ApiError> {
    app.current()
        .secret(&SecretId::new(id))
        .map(|s| s.binding.clone())
        .ok_or_else(|| ApiError::not_found(format!("secret {id}")))
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

/// Make the previous version current again and give the target the value (operator), like
/// `rotation rollback`.
#[utoipa::path(post, path = "/v1/secrets/{id}/rollback", tag = "secrets",
    params(("id" = String, Path, description = "Configured secret id")),
    responses(
        (status = 200, body = RollbackView, description = "Rolled back"),
        (status = 202, body = RollbackAccepted, description = "Still running when the answer was due: follow `status_url`"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A rotation of this secret is running, there is no previous version, or the audit chain is broken (`audit_chain_broken`)"),
        (status = 502, body = ErrorBody, description = "The store or the target refused"),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&caller, Role::Operator)?;
    super::writable(&app)?;
    let binding = binding_of(&app, &id)?;
    if let Some(running) = app.running(&binding.id) {
        return Err(conflict(format!(
            "a rotation of {id} is running (rotation {running})"
        )));
    }
    tracing::info!(secret = %binding.id, caller = %caller.name, "rollback requested");
    let secret = binding.id.clone();
    // Detached: a client that goes away does not cut a rollback off between its steps.
    let mut task = {
        let app = app.clone();
        tokio::spawn(async move { app.rollback(&binding).await })
    };
    let Ok(joined) = tokio::time::timeout(answer_within(&app), &mut task).await else {
        // Journaled under this id once it holds the claim; before that it waits for a permit.
        let rotation_id = app.running(&secret).map(|r| r.to_string());
        let status_url = rotation_id.as_ref().map_or_else(
            || format!("/v1/secrets/{id}/history"),
            |r| format!("/v1/rotations/{r}"),
        );
        let accepted = RollbackAccepted {
            secret: id,
            rotation_id,
            status_url,
        };
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    };
    let outcome = joined
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
    match outcome {
        Ok(o) => Ok(Json(RollbackView {
            secret: o.secret.to_string(),
            rotation_id: o.rotation_id.to_string(),
            old_version: o.from_version.to_string(),
            new_version: o.to_version.to_string(),
            target_reapplied: o.target_reapplied,
        })
        .into_response()),
        // "no previous version to roll back to": the secret exists, its state does not allow it.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InProgress) => {
            Err(conflict(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Run the secret's verifiers against its current value (operator), like `rotation verify`;
/// audited. `passed: false` when a verifier refuses the value.
#[utoipa::path(post, path = "/v1/secrets/{id}/verify", tag = "secrets",
    params(("id" = String, Path, description = "Configured secret id")),
    responses(
        (status = 200, body = VerifyView, description = "Checked: `passed` says how it went"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A rotation of this secret is running, or the audit chain is broken (`audit_chain_broken`)"),
        (status = 422, body = ErrorBody, description = "The secret has no verifier configured"),
        (status = 502, body = ErrorBody, description = "The store refused"),
        (status = 503, body = ErrorBody),
        (status = 504, body = ErrorBody, description = "Still running when the answer was due; its result goes to the audit trail")),
    security(("bearer" = [])))]
pub async fn verify(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<VerifyView>, ApiError> {
    require(&caller, Role::Operator)?;
    super::writable(&app)?;
    let secret = SecretId::new(&id);
    // Claimed like a rotation, so none starts here while the value is being checked.
    let claimed = app
        .claim(&secret, &RotationId::generate())
        .map_err(|e| match e {
            NotStarted::Unknown => ApiError::not_found(format!("secret {id}")),
            NotStarted::Running(running) => conflict(format!(
                "a rotation of {id} is running (rotation {running})"
            )),
        })?;
    tracing::info!(secret = %secret, caller = %caller.name, "verification requested");
    let task = {
        let engine = app.engine();
        tokio::spawn(async move {
            let checked = engine.verify_current(claimed.binding()).await;
            drop(claimed);
            checked
        })
    };
    let checked = tokio::time::timeout(answer_within(&app), task)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the verifiers are still running; the result goes to the audit trail",
            )
        })?
        .map_err(ApiError::internal)?;
    let (version, error) = match checked {
        Ok(v) => (Some(v.to_string()), None),
        Err(e) if e.kind() == ErrorKind::Verification => (None, Some(e.to_string())),
        Err(e) if e.kind() == ErrorKind::InvalidConfig => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_verifier",
                e.to_string(),
            )
            .with_field(e.field().map(str::to_owned)));
        }
        Err(e) if e.kind() == ErrorKind::InProgress => return Err(conflict(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(VerifyView {
        secret: id,
        passed: error.is_none(),
        version,
        error,
    }))
}

/// Check the audit log's hash chain, like `rotation audit verify` (any token).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditCheckView, description = "Checked: `valid` says how it went"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_verify(State(app): State<App>) -> Result<Json<AuditCheckView>, ApiError> {
    let check = app.current().runtime().audit_check().await;
    // The check is also the periodic one: writers are held or released by what it found.
    app.note_audit(&check);
    Ok(Json(check.into()))
}

/// Read the config file again (operator), like `SIGHUP`: new secrets and tokens take effect,
/// removed ones stop; a config that does not load is refused and the running one kept.
#[utoipa::path(post, path = "/v1/reload", tag = "ops",
    responses((status = 200, body = ReloadReport, description = "Reloaded"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Refused: the audit chain is broken (code `audit_chain_broken`)"),
              (status = 422, body = ErrorBody, description = "Refused, naming the field; the running config is kept"),
              (status = 503, body = ErrorBody, description = "Shutting down")),
    security(("bearer" = [])))]
pub async fn reload(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ReloadReport>, ApiError> {
    require(&caller, Role::Operator)?;
    tracing::info!(caller = %caller.name, "reload requested");
    // Detached: a reload half-done when the client leaves would still swap, or not, whole.
    let task = {
        let app = app.clone();
        tokio::spawn(async move { app.reload().await })
    };
    match task.await.map_err(ApiError::internal)? {
        Ok(report) => Ok(Json(report)),
        Err(crate::reload::ReloadError::Stopping) => {
            Err(ApiError::unavailable("the server is shutting down"))
        }
        Err(crate::reload::ReloadError::AuditBroken(why)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "audit_chain_broken",
            format!("reload refused, the running config is kept: {why}"),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!(
                "reload refused, the running config is kept: {}",
                e.client_message()
            ),
        )
        .with_field(e.field())),
    }
}
