//! `/v1/secrets`: list, one secret (with its versions), rotate, paged history, schedule changes.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rotation_config::Role;
use rotation_core::{
    RotateRequest, RotationId, ScheduleChange, ScheduleRecord, SecretId, VersionInfo, VersionState,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Params;
use crate::auth::{Caller, require};
use crate::error::{ApiError, ErrorBody};
use crate::state::{App, Generation, NotStarted};

/// A configured secret and its schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// Configured id (`secret`, as in every answer and the CLI: docs/output.md).
    #[serde(rename = "secret")]
    pub id: String,
    /// Configured store name.
    pub store: String,
    /// Store kind (`file`, `vault`, `aws`, `azure`).
    pub store_kind: String,
    /// Path in the store.
    pub path: String,
    /// Policy name.
    pub policy: String,
    /// Strategy of the policy.
    pub strategy: String,
    /// Whether a rotation runs now in this server.
    pub running: bool,
    /// The persisted schedule (absent until the first reconcile).
    pub schedule: Option<ScheduleView>,
    /// The store's versions, newest first (`GET /v1/secrets/{id}` only; never a value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionView>>,
    /// Why the versions could not be listed (`GET /v1/secrets/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions_error: Option<String>,
}

/// One version in the store (metadata only).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// The store's own version id.
    pub version: String,
    /// `current`, `previous`, `pending` or `deprecated`.
    pub state: String,
    /// Whether readers of the secret get this version.
    pub current: bool,
    /// When the store created it (RFC 3339), if the store tells.
    pub created_at: Option<String>,
    /// The rotation that wrote it, if any.
    pub rotation_id: Option<String>,
}

fn version_view(v: &VersionInfo) -> VersionView {
    let state = serde_json::to_value(v.state)
        .ok()
        .and_then(|s| s.as_str().map(str::to_owned))
        .unwrap_or_default();
    VersionView {
        version: v.version.to_string(),
        current: v.state == VersionState::Current,
        state,
        created_at: v.created_at.map(|t| t.to_rfc3339()),
        rotation_id: v.rotation_id.as_ref().map(ToString::to_string),
    }
}

/// A persisted schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    /// `active`, `manual`, `paused`, `quarantined` or `disabled`.
    pub state: String,
    /// Enabled.
    pub enabled: bool,
    /// Paused by an operator.
    pub paused: bool,
    /// Quarantined after too many failures.
    pub quarantined: bool,
    /// Next due time (RFC 3339), none for manual-only.
    pub next_rotation: Option<String>,
    /// Last attempt (RFC 3339).
    pub last_rotation: Option<String>,
    /// Status of the last attempt.
    pub last_status: Option<String>,
    /// Last success (RFC 3339).
    pub last_success: Option<String>,
    /// Successful rotations.
    pub rotation_count: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

/// RFC 3339 in UTC (`Z`) as chrono's serde writes it, so times look the same in every answer
/// (rotation results, history) and in the CLI's JSON.
fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn schedule_view(r: &ScheduleRecord) -> ScheduleView {
    ScheduleView {
        state: r.state_word().to_owned(),
        enabled: r.enabled,
        paused: r.paused,
        quarantined: r.quarantined,
        next_rotation: r.next_rotation.map(rfc3339),
        last_rotation: r.last_rotation.map(rfc3339),
        last_status: r.last_status.map(|s| s.as_str().to_owned()),
        last_success: r.last_success.map(rfc3339),
        rotation_count: r.rotation_count,
        consecutive_failures: r.consecutive_failures,
    }
}

async fn view(app: &App, generation: &Generation, id: &SecretId) -> Result<SecretView, ApiError> {
    let s = generation
        .secret(id)
        .ok_or_else(|| ApiError::not_found(format!("secret {id}")))?;
    let schedule = generation.runtime().state().schedule(id).await?;
    Ok(SecretView {
        id: id.to_string(),
        store: s.store.clone(),
        store_kind: s.binding.store.kind().to_owned(),
        path: s.binding.path.to_string(),
        policy: s.binding.policy.name().to_owned(),
        strategy: s.binding.policy.strategy().as_str().to_owned(),
        running: app.running(id).is_some(),
        schedule: schedule.as_ref().map(schedule_view),
        versions: None,
        versions_error: None,
    })
}

fn secret_id(raw: &str) -> SecretId {
    SecretId::new(raw)
}

/// Every configured secret.
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets",
    responses((status = 200, body = [SecretView]), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(app): State<App>) -> Result<Json<Vec<SecretView>>, ApiError> {
    let generation = app.current();
    let mut out = Vec::with_capacity(generation.order().len());
    for id in generation.order() {
        out.push(view(&app, &generation, id).await?);
    }
    Ok(Json(out))
}

/// One secret, with the store's versions (ids, roles, creation times; never a value).
#[utoipa::path(get, path = "/v1/secrets/{id}", tag = "secrets",
    params(("id" = String, Path, description = "Configured secret id")),
    responses((status = 200, body = SecretView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<SecretView>, ApiError> {
    let generation = app.current();
    let secret = secret_id(&id);
    let mut out = view(&app, &generation, &secret).await?;
    let s = generation.secret(&secret).expect("viewed above");
    match s.binding.store.list_versions(&s.binding.path).await {
        Ok(versions) => out.versions = Some(versions.iter().map(version_view).collect()),
        Err(e) => {
            // The schedule is still worth answering; the cause is logged (store addresses).
            tracing::warn!(secret = %secret, error = %e, "cannot list versions");
            out.versions_error = Some(format!(
                "store {} could not list the versions ({}; see the server log)",
                s.store,
                e.kind().as_str()
            ));
        }
    }
    Ok(Json(out))
}

/// `?wait=true`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RotateQuery {
    /// Answer with the result instead of 202 (bounded by the request timeout).
    #[serde(default)]
    pub wait: bool,
}

/// A started rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Its id.
    pub rotation_id: String,
    /// The secret.
    pub secret: String,
    /// Where to follow it.
    pub status_url: String,
}

/// Start a rotation now (operator).
#[utoipa::path(post, path = "/v1/secrets/{id}/rotate", tag = "secrets",
    params(("id" = String, Path, description = "Configured secret id"), RotateQuery),
    responses(
        (status = 202, body = Accepted, description = "Started"),
        (status = 200, description = "Finished (`wait=true`): the rotation result", body = Object),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "A rotation of this secret is running, or the audit chain is broken (`audit_chain_broken`)")),
    security(("bearer" = [])))]
pub async fn rotate(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Params(q): Params<RotateQuery>,
) -> Result<Response, ApiError> {
    require(&caller, Role::Operator)?;
    super::writable(&app)?;
    let secret = secret_id(&id);
    let rid = RotationId::generate();
    let claim = app.claim(&secret, &rid).map_err(|e| match e {
        NotStarted::Unknown => ApiError::not_found(format!("secret {id}")),
        NotStarted::Running(running) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a rotation of {id} is running (rotation {running})"),
        ),
    })?;
    tracing::info!(secret = %secret, rotation = %rid, caller = %caller.name, "rotation requested");
    let request = RotateRequest {
        rotation_id: Some(rid.clone()),
        ..Default::default()
    };
    let task = {
        let app = app.clone();
        // Detached: a client that goes away does not abort a rotation mid-step.
        tokio::spawn(async move { app.run(claim, request).await })
    };
    if q.wait {
        // Answer before the request timeout does: a 408 would lose the rotation id.
        let bound = app
            .current()
            .settings()
            .request_timeout
            .saturating_sub(std::time::Duration::from_secs(1));
        if let Ok(joined) = tokio::time::timeout(bound, task).await {
            let result = joined
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
            return Ok((StatusCode::OK, Json(result)).into_response());
        }
    }
    let accepted = Accepted {
        status_url: format!("/v1/rotations/{rid}"),
        rotation_id: rid.to_string(),
        secret: id,
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// Events per history page unless `limit` says otherwise.
pub const HISTORY_DEFAULT_LIMIT: usize = 100;
/// Most events per history page.
pub const HISTORY_MAX_LIMIT: usize = 1000;

/// Paging of `/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Events per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page: continue with the events before it.
    pub cursor: Option<String>,
}

/// One page of a secret's audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The events (newest first).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<rotation_core::AuditEvent>,
    /// Pass as `cursor` for the next, older page; null on the last page. Cursors stay valid
    /// while events are appended.
    pub next_cursor: Option<String>,
    /// When the audit chain has a break no repair acknowledged: the first one (events of edited
    /// records are left out). Null when the chain is intact.
    pub chain_error: Option<String>,
}

/// The page of `events` (the whole trail, oldest first) for `secret` that ends before the
/// record at `before` (the cursor: a position in the trail, so appends do not move it).
fn page(
    events: Vec<rotation_core::AuditEvent>,
    secret: &SecretId,
    before: usize,
    limit: usize,
) -> HistoryPage {
    let mut picked: Vec<(usize, rotation_core::AuditEvent)> = Vec::with_capacity(limit);
    let mut next_cursor = None;
    for (position, event) in events.into_iter().enumerate().take(before).rev() {
        if event.secret.as_ref() != Some(secret) {
            continue;
        }
        if picked.len() == limit {
            // One more exists: the next page starts after the last one taken.
            next_cursor = picked.last().map(|(p, _)| p.to_string());
            break;
        }
        picked.push((position, event));
    }
    HistoryPage {
        events: picked.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
        chain_error: None,
    }
}

/// Audit events of one secret, newest first, a page at a time (`limit`, `cursor`).
#[utoipa::path(get, path = "/v1/secrets/{id}/history", tag = "secrets",
    params(("id" = String, Path, description = "Configured secret id"), HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn history(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let secret = secret_id(&id);
    if !app.current().knows(&secret) {
        return Err(ApiError::not_found(format!("secret {id}")));
    }
    let limit = q.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {HISTORY_MAX_LIMIT}"
        )));
    }
    let before = match q.cursor.as_deref() {
        None => usize::MAX,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("cursor: not a next_cursor given by this API"))?,
    };
    // A broken chain still shows what is intact (writers are the ones held).
    let report = app.audit().inspect().await?;
    let mut page = page(report.events, &secret, before, limit);
    page.chain_error = report.broken.first().map(|b| b.describe());
    Ok(Json(page))
}

/// A schedule change.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleAction {
    /// Rotate on schedule again.
    Enable,
    /// Never rotate on schedule.
    Disable,
    /// Skip scheduled rotations until resumed.
    Pause,
    /// Undo pause and quarantine.
    Resume,
}

/// Change a schedule (operator): `enable`, `disable`, `pause`, `resume` (also clears quarantine).
#[utoipa::path(post, path = "/v1/secrets/{id}/schedule/{action}", tag = "secrets",
    params(("id" = String, Path, description = "Configured secret id"),
           ("action" = ScheduleAction, Path, description = "What to change")),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The audit chain is broken (`audit_chain_broken`)")),
    security(("bearer" = [])))]
pub async fn schedule(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    require(&caller, Role::Operator)?;
    super::writable(&app)?;
    let change = ScheduleChange::parse(&action)
        .ok_or_else(|| ApiError::bad_request("action must be enable, disable, pause or resume"))?;
    let secret = secret_id(&id);
    if !app.current().knows(&secret) {
        return Err(ApiError::not_found(format!("secret {id}")));
    }
    // One atomic update: a rotation finishing meanwhile cannot undo it.
    let record = app
        .state()
        .update_schedule(&secret, &change)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("schedule of {id}")))?;
    tracing::info!(secret = %secret, action, caller = %caller.name, "schedule changed");
    app.note_schedule(&record);
    Ok(Json(schedule_view(&record)))
}
