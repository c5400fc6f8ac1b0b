//! Mapping SDK errors to the engine's kinds. Messages carry AWS's error code and message and the
//! action, never a request (which would hold the value).

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use rotation_core::{Error, ErrorKind};

/// Map an SDK error of `action` on `secret`.
pub(crate) fn map<E: ProvideErrorMetadata + std::error::Error + 'static>(
    action: &str,
    secret: &str,
    err: SdkError<E, HttpResponse>,
) -> Error {
    let on = format!("aws: {action} on {secret}");
    match &err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            return Error::new(
                ErrorKind::Temporary,
                format!("{on}: the request did not complete"),
            );
        }
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
            return Error::new(
                ErrorKind::Temporary,
                format!("{on}: the request did not complete (connection)"),
            );
        }
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            // Credentials, TLS or endpoint set-up: permanent, and the cause is worth showing
            // (it names a provider or a host, never a value).
            let cause = std::error::Error::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_default();
            return Error::new(
                ErrorKind::InvalidConfig,
                format!("{on}: the request could not be sent: {cause}"),
            );
        }
        _ => {}
    }
    if err
        .raw_response()
        .is_some_and(|r| r.status().is_server_error())
    {
        return Error::new(
            ErrorKind::Temporary,
            format!("{on}: the service answered a server error"),
        );
    }
    let code = err.code().unwrap_or("Unknown").to_owned();
    let message = err.message().unwrap_or("").to_owned();
    let kind = match code.as_str() {
        "ResourceNotFoundException" => ErrorKind::NotFound,
        "AccessDeniedException" | "AccessDenied" => {
            return Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{on}: access denied (the caller needs secretsmanager:{action}): {message}"
                ),
            );
        }
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
            ErrorKind::Unauthenticated
        }
        "InvalidRequestException"
            if message.contains("deleted") || message.contains("deletion") =>
        {
            return Error::invalid_value(format!(
                "{on}: the secret is scheduled for deletion; restore it (aws secretsmanager restore-secret) first"
            ));
        }
        "ResourceExistsException" => ErrorKind::Conflict,
        "ThrottlingException"
        | "TooManyRequestsException"
        | "InternalServiceError"
        | "ServiceUnavailable"
        | "RequestTimeout" => ErrorKind::Temporary,
        _ => ErrorKind::InvalidValue,
    };
    Error::new(kind, format!("{on}: {code}: {message}"))
}
