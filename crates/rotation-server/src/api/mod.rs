//! The HTTP API: routes, the OpenAPI document generated from the handlers, and the layers
//! (request size limits, authentication on `/v1`, body limit, timeout).

pub mod emergency;
pub mod extract;
pub mod maintain;
pub mod ops;
pub mod rotations;
pub mod secrets;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;
use crate::state::App;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "rotation-server", description = "Credential rotation daemon: schedules, rotations, emergencies."),
    paths(
        secrets::list, secrets::one, secrets::rotate, secrets::history, secrets::schedule,
        maintain::rollback, maintain::verify, maintain::audit_verify, maintain::reload,
        rotations::one, rotations::stats, emergency::emergency,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    components(schemas(secrets::ScheduleAction)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Refuses a writing request (409, code `audit_chain_broken`) while the audit chain has a break
/// no repair acknowledged: every write would append to, and bury, the break.
pub(crate) fn writable(app: &App) -> Result<(), ApiError> {
    match app.audit_refusal() {
        Some(why) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "audit_chain_broken",
            why,
        )),
        None => Ok(()),
    }
}

/// Most request headers the API reads (values, a repeated name counts once per value).
pub const MAX_HEADERS: usize = 100;
/// Largest header section the API reads: names and values plus 4 bytes each (`: `, CRLF).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Longest request target (path and query) the API reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Refuses oversized requests with a JSON `431` (headers) or `414` (URI), before
/// authentication. The HTTP layer's own limits, whose answers have no body, are set far above
/// these (see `serve` in the crate root), so only pathological requests ever meet them.
async fn size_limits(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "request headers are limited to {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes"
            ),
        )
        .into_response();
    }
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is limited to {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Every error answer is JSON: extractor rejections (malformed JSON, wrong content type, bad
/// path or query, oversized body), 405 and timeouts come from axum and tower-http as plain text.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request is malformed"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the body does not match the schema"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the body is too large"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this route")
        }
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "the request headers are too large")
        }
        StatusCode::URI_TOO_LONG => ("uri_too_long", "the request target is too long"),
        _ => ("error", "the request failed"),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    if let Some(allow) = response.headers().get(axum::http::header::ALLOW) {
        out.headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    out
}

async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// The whole router.
pub fn router(app: App) -> Router {
    // Both are restart-only: a reload refuses to change them.
    let settings = app.current().settings().clone();
    // Operator routes check the role before their body is read (a reader gets 403, not 415).
    let operator = Router::new()
        .route("/secrets/{id}/rotate", post(secrets::rotate))
        .route("/secrets/{id}/schedule/{action}", post(secrets::schedule))
        .route("/secrets/{id}/rollback", post(maintain::rollback))
        .route("/secrets/{id}/verify", post(maintain::verify))
        .route("/emergency", post(emergency::emergency))
        .route("/reload", post(maintain::reload))
        .route_layer(middleware::from_fn(crate::auth::operator_only));
    let v1 = Router::new()
        .route("/secrets", get(secrets::list))
        .route("/secrets/{id}", get(secrets::one))
        .route("/secrets/{id}/history", get(secrets::history))
        .route("/rotations/{id}", get(rotations::one))
        .route("/stats", get(rotations::stats))
        .route("/audit/verify", get(maintain::audit_verify))
        .merge(operator)
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::auth::authenticate,
        ));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        // Outside the timeout, so that its empty 408 is turned into JSON too.
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn(size_limits))
        .with_state(app)
}
