//! Key Vault error responses: `{"error":{"code","message","innererror"?:{"code"}}}`.
//!
//! Messages are the service's own where a recording or the README shows them; the others
//! are written in the same style.

use serde_json::{Value, json};

/// An error answer: status, `error.code`, message and optional `innererror.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub inner: Option<&'static str>,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
    /// Whether to send the `WWW-Authenticate` bearer challenge (401 only).
    pub challenge: bool,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            inner: None,
            retry_after: None,
            challenge: false,
        }
    }

    fn inner(mut self, code: &'static str) -> Self {
        self.inner = Some(code);
        self
    }

    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(inner) = self.inner {
            error["innererror"] = json!({ "code": inner });
        }
        json!({ "error": error })
    }
}

const RECOVER_HINT: &str = "If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

pub(crate) fn secret_not_found(name: &str) -> ApiError {
    let message =
        format!("A secret with (name/id) {name} was not found in this key vault. {RECOVER_HINT}");
    ApiError::new(404, "SecretNotFound", message)
}

pub(crate) fn version_not_found(name: &str, version: &str) -> ApiError {
    secret_not_found(&format!("{name}/{version}"))
}

/// The 404 for a get or update: the message names the version when one was addressed.
pub(crate) fn not_found(name: &str, version: Option<&str>) -> ApiError {
    version.map_or_else(|| secret_not_found(name), |v| version_not_found(name, v))
}

pub(crate) fn deleted_not_found(name: &str) -> ApiError {
    ApiError::new(
        404,
        "SecretNotFound",
        format!("Deleted Secret not found: {name}"),
    )
}

pub(crate) fn disabled() -> ApiError {
    ApiError::new(
        403,
        "Forbidden",
        "Operation get is not allowed on a disabled secret.",
    )
    .inner("SecretDisabled")
}

pub(crate) fn bad_parameter(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadParameter", message)
}

pub(crate) fn invalid_name(name: &str) -> ApiError {
    bad_parameter(format!("The request URI contains an invalid name: {name}"))
}

pub(crate) fn method_not_allowed(method: &str) -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        format!("HTTP {method} not allowed"),
    )
}

pub(crate) fn unknown_route(path: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("The requested resource '{path}' was not found."),
    )
}

pub(crate) fn deleted_but_recoverable(name: &str) -> ApiError {
    let message = format!(
        "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
    );
    ApiError::new(409, "Conflict", message).inner("ObjectIsDeletedButRecoverable")
}

pub(crate) fn restore_conflict(id: &str) -> ApiError {
    let message = format!(
        "There was a conflict restoring the secret '{id}'. This can happen if either: a second secret with the same name was created after the first secret was deleted; thus trying to restore a secret whose name is already in use. To fix this, rename the second secret to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the secret. To avoid this error, perform operations against a secret in a sequential manner."
    );
    ApiError::new(409, "Conflict", message)
}

pub(crate) fn malformed_backup() -> ApiError {
    ApiError::new(400, "Malformed backup blob", "Backup blob is corrupt.")
}

pub(crate) fn throttled(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        429,
        "Throttled",
        "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
    );
    e.retry_after = Some(retry_after);
    e
}

/// The 401 for a request without a bearer token. The wording changed in 2026; the newer
/// text is used for the 2026 api-versions, as in the recordings.
pub(crate) fn missing_token(api_version: Option<&str>) -> ApiError {
    let message = if api_version.is_some_and(|v| v.starts_with("2026")) {
        "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."
    } else {
        "AKV10000: Request is missing a Bearer or PoP token."
    };
    let mut e = ApiError::new(401, "Unauthorized", message);
    e.challenge = true;
    e
}

/// The 401 for a bearer token other than the configured one.
pub(crate) fn invalid_token(tenant: &str) -> ApiError {
    let message = format!(
        "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, https://login.microsoftonline.com/{tenant}/v2.0, found https://sts.windows.net/00000000-0000-0000-0000-000000000000/."
    );
    let mut e = ApiError::new(401, "Unauthorized", message);
    e.challenge = true;
    e
}

/// The RBAC denial, with the data action and resource the service names.
pub(crate) fn forbidden_by_rbac(
    action: &str,
    resource: &str,
    vault: &str,
    region: &str,
) -> ApiError {
    let message = format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=04b07795-8ddb-461a-bbee-02f9e1bf7b46;oid=6a1f1c3e-9f7a-4c38-9d55-3f1d2c5b7e10;iss=https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/\r\nAction: '{action}'\r\nResource: '{resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {vault};location={region}\r\n"
    );
    ApiError::new(403, "Forbidden", message).inner("ForbiddenByRbac")
}
