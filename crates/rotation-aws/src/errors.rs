//! Mapping SDK errors to the engine's kinds. Messages carry AWS's error code and message and the
//! action, never a request (which would hold the value).

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use rotation_core::{Error, ErrorKind};

/// Map an SDK error of `action` on `secret`.
pub(crate) fn map<E: ProvideErrorMetadata, R>(
    action: &str,
    secret: &str,
    err: SdkError<E, R>,
) -> Error {
    let on = format!("aws: {action} on {secret}");
    let transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    if transient {
        return Error::new(
            ErrorKind::Temporary,
            format!("{on}: the request did not complete"),
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
