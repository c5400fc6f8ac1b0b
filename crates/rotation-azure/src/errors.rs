//! Mapping Key Vault and SDK errors to the engine's kinds. Messages carry the operation, the
//! secret name, the service's error code and, for permissions, the permission it needs; never a
//! request or response body that could hold a value.

use azure_core::error::ErrorKind as AzureKind;
use azure_core::http::StatusCode;
use rotation_core::{Error, ErrorKind};

/// A Key Vault data-plane operation, for messages and permission names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Get a value (latest or by version).
    Get,
    /// Set a value (new version).
    Set,
    /// Update a version's properties (enable/disable, tags).
    Update,
    /// List the versions of a secret.
    List,
    /// Read a soft-deleted secret.
    GetDeleted,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get secret",
            Op::Set => "set secret",
            Op::Update => "update secret properties",
            Op::List => "list secret versions",
            Op::GetDeleted => "get deleted secret",
        }
    }

    /// (access-policy permission, RBAC data action)
    fn permission(self) -> (&'static str, &'static str) {
        match self {
            Op::Get => ("get", "Microsoft.KeyVault/vaults/secrets/getSecret/action"),
            Op::Set => ("set", "Microsoft.KeyVault/vaults/secrets/setSecret/action"),
            Op::Update => ("set", "Microsoft.KeyVault/vaults/secrets/update/action"),
            Op::List | Op::GetDeleted => (
                "list",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            ),
        }
    }
}

/// What an HTTP error response said, as far as the engine cares.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub status: u16,
    pub code: String,
    pub inner: String,
    /// The `Action: '...'` line of an RBAC denial (names no value).
    pub action: Option<String>,
    pub retry_after: Option<std::time::Duration>,
}

/// The parts of an SDK error we act on (`None` for errors without an HTTP response).
pub(crate) fn reply(err: &azure_core::Error) -> Option<Reply> {
    let AzureKind::HttpResponse {
        status,
        error_code,
        raw_response,
    } = err.kind()
    else {
        return None;
    };
    let mut out = Reply {
        status: u16::from(*status),
        code: error_code.clone().unwrap_or_default(),
        ..Reply::default()
    };
    if let Some(raw) = raw_response {
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(raw.body()) {
            let error = &doc["error"];
            if let Some(code) = error["code"].as_str() {
                out.code = code.to_owned();
            }
            out.inner = error["innererror"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            out.action = error["message"].as_str().and_then(|m| {
                let start = m.find("Action: '")? + "Action: '".len();
                let len = m[start..].find('\'')?;
                Some(m[start..start + len].to_owned())
            });
        }
        out.retry_after = raw
            .headers()
            .get_optional_str(&azure_core::http::headers::RETRY_AFTER)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
    }
    Some(out)
}

/// Whether the request never reached the service, so any operation may be retried.
pub(crate) fn not_sent(err: &azure_core::Error) -> bool {
    matches!(err.kind(), AzureKind::Connection)
}

/// Map an SDK error of `op` on secret `name`.
pub(crate) fn map(op: Op, name: &str, err: &azure_core::Error) -> Error {
    let on = format!("azure: {} {name}", op.name());
    let Some(r) = reply(err) else {
        return match err.kind() {
            AzureKind::Connection | AzureKind::Io => Error::new(
                ErrorKind::Temporary,
                format!(
                    "{on}: the request did not complete: {}{}",
                    causes(err),
                    hint(err)
                ),
            ),
            AzureKind::Credential if transient_cause(err) => Error::new(
                ErrorKind::Temporary,
                format!("{on}: the token endpoint did not answer: {}", causes(err)),
            ),
            AzureKind::Credential => Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "{on}: no credential could get a token: {}; log in with `az login`, or set \
                     AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a workload identity \
                     (AZURE_FEDERATED_TOKEN_FILE) or a managed identity (AZURE_CLIENT_ID for a \
                     user-assigned one)",
                    causes(err)
                ),
            ),
            _ => Error::internal(format!("{on}: {}", causes(err))),
        };
    };
    let status = StatusCode::from(r.status);
    let code = format!("{} {}", r.status, r.code);
    let (kind, message) = match (r.status, r.code.as_str(), r.inner.as_str()) {
        (403, _, "SecretDisabled") => (
            ErrorKind::InvalidValue,
            format!(
                "{on}: the version is disabled (403 SecretDisabled); enable it \
                 (az keyvault secret set-attributes --enabled true) or write a new version"
            ),
        ),
        (403, ..) => {
            let (policy, action) = op.permission();
            let action = r.action.unwrap_or_else(|| action.to_owned());
            (
                ErrorKind::PermissionDenied,
                format!(
                    "{on}: forbidden ({code}): the caller needs the secrets '{policy}' permission \
                     (access policy) or the data action {action} (RBAC)"
                ),
            )
        }
        (401, ..) => (
            ErrorKind::Unauthenticated,
            format!(
                "{on}: the token was refused ({code}): it expired or was issued for another \
                 tenant or resource; log in again (`az login`) or check AZURE_TENANT_ID"
            ),
        ),
        (404, ..) => (ErrorKind::NotFound, format!("{on}: not found ({code})")),
        (409, _, "ObjectIsDeletedButRecoverable") => (
            ErrorKind::InvalidValue,
            format!(
                "{on}: the secret is deleted but recoverable; recover it (az keyvault secret recover) \
                 or purge it (az keyvault secret purge) first"
            ),
        ),
        (409, _, "ObjectIsBeingDeleted") => (
            ErrorKind::Temporary,
            format!("{on}: the secret is being deleted ({code})"),
        ),
        (409, ..) => (ErrorKind::Conflict, format!("{on}: conflict ({code})")),
        (408 | 429, ..) => (
            ErrorKind::Temporary,
            format!("{on}: throttled by the service ({code})"),
        ),
        _ if status.is_server_error() => (
            ErrorKind::Temporary,
            format!("{on}: the service answered a server error ({code})"),
        ),
        _ => (ErrorKind::InvalidValue, format!("{on}: refused ({code})")),
    };
    Error::new(kind, message)
}

/// `err` and every cause under it, joined by `: ` (a cause already quoted by the message above
/// it is skipped): "failed to execute `reqwest` request: error sending request for url (...):
/// client error (Connect): dns error: failed to lookup address information: ...". Service
/// responses are not part of the chain (bodies stay out: they could hold a value).
pub(crate) fn causes(err: &azure_core::Error) -> String {
    rotation_core::error::causes_after(err.to_string(), err)
}

/// A next step for failures that have an obvious one.
fn hint(err: &azure_core::Error) -> &'static str {
    let text = causes(err).to_lowercase();
    if text.contains("certificate") || text.contains("unknownissuer") {
        "; the vault's TLS certificate is not trusted: set `ca_cert` on the store (a private CA) \
         or check the vault URL"
    } else if text.contains("dns error") || text.contains("lookup address") {
        "; the vault's host name does not resolve: check `vault_url`"
    } else if text.contains("connection refused") {
        "; nothing listens there: check `vault_url` and the network path"
    } else {
        ""
    }
}

/// Whether a credential failure was caused by the network or a busy token endpoint (worth a
/// retry), rather than by a credential that is missing or refused.
fn transient_cause(err: &azure_core::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(c) = cause {
        if let Some(inner) = c.downcast_ref::<azure_core::Error>() {
            let transient = match inner.kind() {
                AzureKind::Connection | AzureKind::Io => true,
                AzureKind::HttpResponse { status, .. } => {
                    let code = u16::from(*status);
                    code == 408 || code == 429 || code >= 500
                }
                _ => false,
            };
            if transient {
                return true;
            }
        }
        if let Some(r) = c.downcast_ref::<reqwest::Error>()
            && (r.is_connect() || r.is_timeout())
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Whether `err` says the addressed version is disabled.
pub(crate) fn is_disabled(err: &azure_core::Error) -> bool {
    reply(err).is_some_and(|r| r.status == 403 && r.inner == "SecretDisabled")
}

/// Whether `err` is a 404.
pub(crate) fn is_not_found(err: &azure_core::Error) -> bool {
    reply(err).is_some_and(|r| r.status == 404)
}
