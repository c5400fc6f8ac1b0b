//! The HTTP side: the server thread, and the one handler every request goes through.
//!
//! A single fallback handler (rather than axum routes) keeps the service's order of checks:
//! the bearer challenge comes before anything else, even before route and method checks
//! (`PUT /secrets/` is a 401 without a token and a 405 with one).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum_server::tls_rustls::RustlsConfig;

use crate::RequestRecord;
use crate::errors::{self, ApiError, ApiResult, bad_parameter};
use crate::model::{self, NewVersion};
use crate::ops::{self, Query, Reply, Request};
use crate::rbac;
use crate::routes::Route;
use crate::state::{Config, Shared, State as VaultState};

/// Serves until `handle` is shut down; reports start-up success or failure on `ready`.
pub(crate) fn run(
    listener: TcpListener,
    cert_pem: String,
    key_pem: String,
    shared: Arc<Shared>,
    handle: axum_server::Handle,
    ready: Sender<Result<(), String>>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("keyvault-testserver-worker")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("tokio runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        let tls = match RustlsConfig::from_pem(cert_pem.into_bytes(), key_pem.into_bytes()).await {
            Ok(tls) => tls,
            Err(e) => {
                let _ = ready.send(Err(format!("TLS configuration: {e}")));
                return;
            }
        };
        if let Err(e) = listener.set_nonblocking(true) {
            let _ = ready.send(Err(format!("listener: {e}")));
            return;
        }
        let app = Router::new().fallback(handle_request).with_state(shared);
        let server = axum_server::from_tcp_rustls(listener, tls).handle(handle);
        let _ = ready.send(Ok(()));
        if let Err(e) = server.serve(app.into_make_service()).await {
            eprintln!("Key Vault test server stopped: {e}");
        }
    });
}

async fn handle_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let query = Query(
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map(|q| q.0)
            .unwrap_or_default(),
    );
    let cfg = &shared.cfg;
    let auth = authenticate(cfg, &headers, query.get("api-version"));
    let authorized = auth.is_ok();
    let result = shared.with_state(|st| {
        let result =
            auth.and_then(|()| process(st, cfg, method.as_str(), uri.path(), &query, &body));
        st.records.push(RequestRecord {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            status: status_of(&result),
            authorized,
            at,
        });
        result
    });
    render(
        cfg,
        &result,
        authorized,
        headers.get("x-ms-client-request-id"),
    )
}

fn authenticate(cfg: &Config, headers: &HeaderMap, api_version: Option<&str>) -> ApiResult<()> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    match (token, &cfg.token) {
        (None, _) => Err(errors::missing_token(api_version)),
        (Some(got), Some(expected)) if got != expected => Err(errors::invalid_token(&cfg.tenant)),
        _ => Ok(()),
    }
}

/// An authenticated request: throttling, api-version, route, RBAC, then the operation.
fn process(
    st: &mut VaultState,
    cfg: &Config,
    method: &str,
    path: &str,
    query: &Query,
    body: &[u8],
) -> ApiResult<Reply> {
    if let Some((left, secs)) = st.throttle {
        st.throttle = (left > 1).then_some((left - 1, secs));
        return Err(errors::throttled(secs));
    }
    let api_version = check_api_version(query.get("api-version"))?;
    let route = Route::parse(method, path)?;
    if st.denied.contains(&route.op()) {
        return Err(route.op().denied(route.name()));
    }
    let req = Request {
        path,
        api_version,
        query,
        body,
    };
    let result = ops::handle(&mut st.vault, cfg, route, &req);
    if let Route::Get(name, None) = route {
        let armed = st
            .race
            .as_ref()
            .is_some_and(|(n, _, _)| *n == model::key(name));
        if let Some((_, value, tags)) = armed.then(|| st.race.take()).flatten() {
            let new = NewVersion {
                value,
                tags: (!tags.is_empty()).then_some(tags),
                ..NewVersion::default()
            };
            // A soft-deleted name refuses the write, as it would refuse the racing client.
            let _ = st.vault.add_version(name, new);
        }
    }
    result
}

/// Accepts any version-shaped value: `7.6`, `7.6-preview.2`, `2025-07-01`, `2026-03-01-preview`.
fn check_api_version(raw: Option<&str>) -> ApiResult<&str> {
    let Some(v) = raw else {
        return Err(bad_parameter(
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let (base, preview) = match v.split_once("-preview") {
        Some((base, rest)) => (base, Some(rest)),
        None => (v, None),
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date = matches!(base.split('-').collect::<Vec<_>>().as_slice(),
        [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2));
    let dotted = matches!(base.split('.').collect::<Vec<_>>().as_slice(),
        [major, minor] if number(major) && number(minor));
    let preview_ok =
        preview.is_none_or(|p| p.is_empty() || p.strip_prefix('.').is_some_and(number));
    if (date || dotted) && preview_ok {
        Ok(v)
    } else {
        Err(bad_parameter(format!(
            "The specified version ({v}) is not recognized. Consider using the latest supported version (2025-07-01)."
        )))
    }
}

fn status_of(result: &ApiResult<Reply>) -> u16 {
    match result {
        Ok(Reply::Json(_)) => 200,
        Ok(Reply::NoContent) => 204,
        Err(e) => e.status,
    }
}

/// The response with the service's common headers; no ETag, no Location.
fn render(
    cfg: &Config,
    result: &ApiResult<Reply>,
    authorized: bool,
    client_id: Option<&HeaderValue>,
) -> Response {
    let status =
        StatusCode::from_u16(status_of(result)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match result {
        Ok(Reply::Json(v)) => Some(v.clone()),
        Ok(Reply::NoContent) => None,
        Err(e) => Some(e.body()),
    };
    let mut b = Response::builder()
        .status(status)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::PRAGMA, "no-cache")
        .header(header::EXPIRES, "-1")
        .header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000;includeSubDomains",
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header("x-ms-keyvault-region", rbac::region())
        .header("x-ms-keyvault-service-version", "1.9.3449.1")
        .header(
            "x-ms-keyvault-network-info",
            "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;",
        )
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string());
    if let Some(id) = client_id {
        b = b.header("x-ms-client-request-id", id);
    }
    if let Err(ApiError {
        challenge: true, ..
    }) = result
    {
        let challenge = format!(
            "Bearer authorization=\"https://login.microsoftonline.com/{}\", resource=\"https://vault.azure.net\"",
            cfg.tenant
        );
        b = b.header(header::WWW_AUTHENTICATE, challenge);
    }
    if let Err(ApiError {
        retry_after: Some(secs),
        ..
    }) = result
    {
        b = b.header(header::RETRY_AFTER, secs.to_string());
    }
    let reached_vault = match result {
        Err(e) => e.status != 429 && e.inner != Some("ForbiddenByRbac"),
        Ok(_) => true,
    };
    if authorized && reached_vault {
        // Sent by RBAC vaults on every authorized call; the id is fixed, as one assignment.
        b = b.header(
            "x-ms-keyvault-rbac-assignment-id",
            "8f2c1b7e4d5a49c0b3e6a1d2c4f5e6a7",
        );
    }
    let response = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    };
    response.expect("static response headers are valid")
}
