//! `POST /v1/emergency`: a compromise event rotates every affected secret at once with the
//! immediate strategy, ahead of scheduled work, and notifies. Events that are neither a
//! compromise nor above low severity are recorded, not acted on.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rotation_config::Role;
use rotation_core::{
    AuditAction, AuditEvent, RotateRequest, RotationId, RotationStrategy, SecretId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Body;
use crate::auth::{Caller, require};
use crate::error::{ApiError, ErrorBody};
use crate::state::{App, NotStarted};
use rotation_runtime::notify::{Event, EventKind};

/// What was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// A credential was found where it must not be (a repository, a paste, a log).
    LeakedCredential,
    /// An API key was exposed.
    ApiKeyExposed,
    /// Many failed authentications (a probe, not proof of compromise).
    FailedAuthSpike,
    /// Unusual access with a valid credential.
    SuspiciousAccess,
    /// An operator asks for it.
    Manual,
}

impl Indicator {
    fn as_str(self) -> &'static str {
        match self {
            Indicator::LeakedCredential => "leaked_credential",
            Indicator::ApiKeyExposed => "api_key_exposed",
            Indicator::FailedAuthSpike => "failed_auth_spike",
            Indicator::SuspiciousAccess => "suspicious_access",
            Indicator::Manual => "manual",
        }
    }
    /// Whether the credential must be considered known to someone else.
    fn is_compromise(self) -> bool {
        matches!(
            self,
            Indicator::LeakedCredential | Indicator::ApiKeyExposed | Indicator::Manual
        )
    }
}

/// How bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth recording.
    Low,
    /// Act.
    Medium,
    /// Act now.
    High,
    /// Act now.
    Critical,
}

/// A compromise event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    /// What was observed.
    pub indicator: Indicator,
    /// How bad.
    pub severity: Severity,
    /// Affected secret ids (at least one, all configured).
    pub secret_ids: Vec<String>,
    /// Free text for the audit trail (at most 1000 characters; never put a value here).
    pub description: Option<String>,
}

/// What happened to one affected secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyOutcome {
    /// The secret.
    pub secret: String,
    /// The rotation, if one ran.
    pub rotation_id: Option<String>,
    /// `success`, `failed`, `rolled_back`; `running` (not finished when the answer was sent:
    /// follow `rotation_id`), `busy` (another rotation of it did not finish in 10 minutes) or
    /// `not_started` (shutdown).
    pub status: String,
    /// Whether the new credential is current and verified.
    pub success: bool,
    /// Why not (never a value).
    pub error: Option<String>,
    /// Whether the old credential was revoked at the target (targets with a `revoke` command).
    pub revoked: bool,
    /// Why it was not (no target, the target cannot revoke, or the revoke failed).
    pub revoke_error: Option<String>,
}

/// The answer to an emergency.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyReport {
    /// Whether rotations were started (false: recorded only).
    pub acted: bool,
    /// Per secret.
    pub results: Vec<EmergencyOutcome>,
}

/// Report a compromise event (operator).
#[utoipa::path(post, path = "/v1/emergency", tag = "emergency", request_body = EmergencyRequest,
    responses((status = 200, body = EmergencyReport), (status = 202, body = EmergencyReport, description = "Recorded, not acted on"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The audit chain is broken (`audit_chain_broken`)"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn emergency(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<EmergencyRequest>,
) -> Result<(StatusCode, Json<EmergencyReport>), ApiError> {
    require(&caller, Role::Operator)?;
    super::writable(&app)?;
    if req.secret_ids.is_empty() {
        return Err(ApiError::bad_request(
            "secret_ids must name at least one secret",
        ));
    }
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(ApiError::bad_request(
            "description is longer than 1000 characters",
        ));
    }
    let ids: Vec<SecretId> = req.secret_ids.iter().map(SecretId::new).collect();
    if let Some(unknown) = ids.iter().find(|id| !app.current().knows(id)) {
        return Err(ApiError::not_found(format!("secret {unknown}")));
    }
    let acted = req.indicator.is_compromise() || req.severity > Severity::Low;
    let summary = format!(
        "emergency {} severity {:?} reported by {} for {}{}",
        req.indicator.as_str(),
        req.severity,
        caller.name,
        req.secret_ids.join(", "),
        if acted {
            ""
        } else {
            " (recorded, not acted on)"
        }
    );
    tracing::warn!(indicator = req.indicator.as_str(), acted, caller = %caller.name, "emergency reported");
    app.metrics().emergency(req.indicator.as_str());
    let mut audit = AuditEvent::new(chrono::Utc::now(), AuditAction::Emergency);
    audit.error = Some(summary.clone());
    if let Err(e) = app.audit().record(&audit).await {
        return Err(ApiError::internal(e));
    }
    app.current().notifier().notify(Event {
        kind: EventKind::Emergency,
        secret: None,
        rotation_id: None,
        status: None,
        error_kind: None,
        message: summary,
        at: chrono::Utc::now(),
    });
    if !acted {
        return Ok((
            StatusCode::ACCEPTED,
            Json(EmergencyReport {
                acted,
                results: Vec::new(),
            }),
        ));
    }
    // Scheduled passes do not start new work while this is pending; the guard lives in the
    // detached tasks, because the request timeout may drop this future before they end.
    let hold = Arc::new(app.emergency_pending());
    let mut seen = std::collections::HashSet::new();
    let mut tasks = Vec::new();
    for id in ids.into_iter().filter(|id| seen.insert(id.clone())) {
        let rid = RotationId::generate();
        let (app, hold) = (app.clone(), hold.clone());
        tasks.push((
            id.clone(),
            rid.clone(),
            tokio::spawn(async move {
                let _hold = hold;
                rotate_and_revoke(&app, id, rid).await
            }),
        ));
    }
    // Answer before the request timeout does; what is not done yet is reported as running.
    let deadline = tokio::time::Instant::now()
        + app
            .current()
            .settings()
            .request_timeout
            .saturating_sub(Duration::from_secs(1));
    let mut results = Vec::new();
    for (id, rid, task) in tasks {
        let outcome = match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "emergency rotation task failed");
                outcome(
                    &id,
                    Some(&rid),
                    "failed",
                    Some("the rotation task failed".into()),
                )
            }
            Err(_) => outcome(&id, Some(&rid), "running", None),
        };
        results.push(outcome);
    }
    Ok((StatusCode::OK, Json(EmergencyReport { acted, results })))
}

fn outcome(
    id: &SecretId,
    rid: Option<&RotationId>,
    status: &str,
    error: Option<String>,
) -> EmergencyOutcome {
    EmergencyOutcome {
        secret: id.to_string(),
        rotation_id: rid.map(ToString::to_string),
        status: status.to_owned(),
        success: false,
        error,
        revoked: false,
        revoke_error: None,
    }
}

/// Longest wait for a rotation of the secret that is already running.
const BUSY_WAIT: Duration = Duration::from_secs(600);

/// Rotate `id` with the immediate strategy (after any rotation of it already running), then
/// revoke the old credential at its target.
async fn rotate_and_revoke(app: &App, id: SecretId, rid: RotationId) -> EmergencyOutcome {
    let started = tokio::time::Instant::now();
    let claim = loop {
        match app.claim(&id, &rid) {
            Ok(claim) => break claim,
            Err(NotStarted::Running(_)) if started.elapsed() < BUSY_WAIT => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(NotStarted::Unknown) => {
                // A reload removed it meanwhile.
                return outcome(
                    &id,
                    None,
                    "not_started",
                    Some("the secret is no longer configured".into()),
                );
            }
            Err(NotStarted::Running(_)) => {
                return outcome(
                    &id,
                    None,
                    "busy",
                    Some("another rotation of this secret did not finish".into()),
                );
            }
        }
    };
    // Revocation is a journaled step of the rotation itself (after verification): a crash
    // between the rotation and the revocation is finished by recovery, exactly once.
    let target = claim.binding().target.clone();
    let cannot_revoke = match &target {
        None => Some("the secret has no target".to_owned()),
        Some(t) if !t.can_revoke() => Some(format!(
            "target {} cannot revoke (no revoke command)",
            t.name()
        )),
        Some(_) => None,
    };
    let request = RotateRequest {
        rotation_id: Some(rid.clone()),
        strategy: Some(RotationStrategy::Immediate),
        revoke_old: cannot_revoke.is_none(),
        ..Default::default()
    };
    let Some(r) = app.run(claim, request).await else {
        return outcome(
            &id,
            Some(&rid),
            "not_started",
            Some("the server is shutting down".into()),
        );
    };
    let revoke_error = if !r.success {
        Some("not revoked: the rotation did not succeed".into())
    } else if let Some(why) = cannot_revoke {
        Some(why)
    } else if r.revoked {
        tracing::warn!(secret = %r.secret, "old credential revoked after an emergency");
        None
    } else {
        Some(
            r.revoke_error
                .clone()
                .unwrap_or_else(|| "the revocation did not run".into()),
        )
    };
    EmergencyOutcome {
        secret: r.secret.to_string(),
        rotation_id: Some(r.rotation_id.to_string()),
        status: r.status.as_str().to_owned(),
        success: r.success,
        error: r.error.clone(),
        revoked: revoke_error.is_none(),
        revoke_error,
    }
}
