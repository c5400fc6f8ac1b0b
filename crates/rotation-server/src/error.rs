//! API errors: a status and a JSON body `{"error": {"code", "message"}}`. Internal errors are
//! logged and answered with a generic message, so no internal text reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`unauthorized`, `forbidden`, `not_found`, `conflict`, ...).
    pub code: String,
    /// Human-readable message (never a value, never internal error text).
    pub message: String,
    /// The config field at fault (`POST /v1/reload` refusing a config), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, a stable `code` and a message for the client.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    /// Name the config field at fault.
    pub fn with_field(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }
    /// 404 for an unknown secret or rotation.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 500: logs `err`, answers a generic message.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (see the server log)",
        )
    }
    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

/// Seconds a client should wait before retrying a temporary failure.
const RETRY_AFTER_SECS: u64 = 5;

/// Core errors by kind: what the client can act on gets its status and the (value-free) core
/// message; local and unexpected failures stay internal.
impl From<rotation_core::Error> for ApiError {
    fn from(err: rotation_core::Error) -> Self {
        use rotation_core::ErrorKind as K;
        let (status, code) = match err.kind() {
            K::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            K::AlreadyExists | K::Conflict | K::InProgress => (StatusCode::CONFLICT, "conflict"),
            K::Temporary => {
                // The detail (a database path, a store address) stays in the log.
                tracing::warn!(error = %err, "temporary failure");
                let mut e = ApiError::unavailable(
                    "temporarily unavailable (see the server log); retry after the delay given",
                );
                e.retry_after = Some(RETRY_AFTER_SECS);
                return e;
            }
            K::InvalidValue => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
            K::NotSupported => (StatusCode::NOT_IMPLEMENTED, "not_supported"),
            K::PermissionDenied | K::Unauthenticated | K::Verification | K::Target => {
                (StatusCode::BAD_GATEWAY, "upstream")
            }
            _ => return ApiError::internal(err),
        };
        ApiError::new(status, code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotation_core::{Error, ErrorKind};

    fn status_of(kind: ErrorKind) -> (StatusCode, Option<String>) {
        let response = ApiError::from(Error::new(kind, "why")).into_response();
        let retry = response
            .headers()
            .get(axum::http::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        (response.status(), retry)
    }

    #[test]
    fn core_error_kinds_map_to_statuses_a_client_can_act_on() {
        use ErrorKind as K;
        for (kind, status) in [
            (K::NotFound, StatusCode::NOT_FOUND),
            (K::Conflict, StatusCode::CONFLICT),
            (K::InProgress, StatusCode::CONFLICT),
            (K::AlreadyExists, StatusCode::CONFLICT),
            (K::InvalidValue, StatusCode::UNPROCESSABLE_ENTITY),
            (K::NotSupported, StatusCode::NOT_IMPLEMENTED),
            (K::PermissionDenied, StatusCode::BAD_GATEWAY),
            (K::Target, StatusCode::BAD_GATEWAY),
            (K::Io, StatusCode::INTERNAL_SERVER_ERROR),
            (K::Internal, StatusCode::INTERNAL_SERVER_ERROR),
            (K::InvalidConfig, StatusCode::INTERNAL_SERVER_ERROR),
        ] {
            assert_eq!(status_of(kind), (status, None), "{kind:?}");
        }
        assert_eq!(
            status_of(K::Temporary),
            (StatusCode::SERVICE_UNAVAILABLE, Some("5".to_owned()))
        );
    }

    #[test]
    fn internal_and_temporary_errors_carry_no_internal_text() {
        for kind in [ErrorKind::Io, ErrorKind::Temporary, ErrorKind::Internal] {
            let e = ApiError::from(Error::new(
                kind,
                "state database /var/lib/rotation/state.db: database is locked",
            ));
            assert!(!e.message.contains("/var/lib"), "{kind:?}: {}", e.message);
        }
    }
}
