//! Bearer-token authentication: tokens are configured by their SHA-256 and compared in constant
//! time; every `/v1` route names the role it needs.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rotation_config::{ApiToken, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::App;

/// The authenticated caller, put into the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's configured name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The token whose hash matches `presented`. Every configured hash is compared, so the time
/// taken does not tell which (or whether one) matched.
pub fn find(tokens: &[ApiToken], presented: &str) -> Option<Caller> {
    let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for t in tokens {
        if bool::from(t.sha256.ct_eq(&hash)) {
            found = Some(Caller {
                name: t.name.clone(),
                role: t.role,
            });
        }
    }
    found
}

/// Why a request is not authenticated. The answers say only whether a token was presented,
/// never anything about the configured tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unauthenticated {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token that matches no configured one.
    Invalid,
}

fn unauthorized(why: Unauthenticated) -> Response {
    let (message, challenge) = match why {
        Unauthenticated::Missing => (
            "a bearer token is required (Authorization: Bearer <token>)",
            "Bearer realm=\"rotation\"",
        ),
        // RFC 6750 section 3.1: a token that was presented and refused is `invalid_token`.
        Unauthenticated::Invalid => (
            "the bearer token is not valid",
            "Bearer realm=\"rotation\", error=\"invalid_token\"",
        ),
    };
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(challenge),
    );
    r
}

/// Middleware for `/v1`: 401 without a known token.
pub async fn authenticate(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 7235).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(presented) = presented else {
        return unauthorized(Unauthenticated::Missing);
    };
    match find(app.current().tokens(), presented) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => unauthorized(Unauthenticated::Invalid),
    }
}

/// Route layer of operator routes: 403 for a reader, before the body is read.
pub async fn operator_only(req: Request, next: Next) -> Response {
    let allowed = req
        .extensions()
        .get::<Caller>()
        .is_some_and(|c| require(c, Role::Operator).is_ok());
    if !allowed {
        return require(
            &Caller {
                name: String::new(),
                role: Role::Reader,
            },
            Role::Operator,
        )
        .map_or_else(IntoResponse::into_response, |()| {
            unauthorized(Unauthenticated::Missing)
        });
    }
    next.run(req).await
}

/// 403 unless the caller has `role` (operators may do what readers may).
pub fn require(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if caller.role >= role {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this token's role may not do that (operator needed)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_by_hash_and_roles_are_ordered() {
        let tokens = vec![ApiToken {
            name: "ops".into(),
            role: Role::Operator,
            sha256: Sha256::digest(b"right-token-123456").into(),
        }];
        assert_eq!(
            find(&tokens, "right-token-123456").map(|c| c.role),
            Some(Role::Operator)
        );
        assert!(find(&tokens, "wrong").is_none());
        let reader = Caller {
            name: "r".into(),
            role: Role::Reader,
        };
        assert!(require(&reader, Role::Reader).is_ok());
        assert!(require(&reader, Role::Operator).is_err());
    }
}
