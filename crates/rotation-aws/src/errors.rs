//! Mapping SDK errors to the engine's kinds. A message names the store, the action and the
//! secret, carries the SDK's whole cause chain (the credential provider that failed, the
//! connection error, the TLS verdict) or AWS's error code and message, and ends with the next
//! step where one exists (the login to run, the permission to grant, the setting to check).
//! Never a request (it would hold the value); error responses of Secrets Manager hold no value.

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use rotation_core::{Error, ErrorKind};

/// Where an operation went: what the messages say about the store.
#[derive(Debug, Clone, Default)]
pub(crate) struct Where {
    /// The store's config name (`stores.<name>`), if it came from a config.
    pub name: Option<String>,
    /// The endpoint the client sends to (`endpoint_url`, or the regional default).
    pub endpoint: String,
}

impl Where {
    /// `stores.<name>.<field>` for a config name, else just `field`.
    fn field(&self, field: &str) -> String {
        match &self.name {
            Some(n) => format!("`stores.{n}.{field}`"),
            None => format!("`{field}`"),
        }
    }

    fn prefix(&self) -> String {
        match &self.name {
            Some(n) => format!("aws store {n:?}"),
            None => "aws".to_owned(),
        }
    }
}

/// How the standard credential chain looks for credentials (the next step for "none found").
const CHAIN: &str = "credentials come from the standard AWS chain: AWS_ACCESS_KEY_ID and \
    AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary ones), then the profile \
    AWS_PROFILE (default `default`) in ~/.aws/config and ~/.aws/credentials (`aws configure`; \
    `aws sso login --profile <name>` for an SSO profile; credential_process; role_arn with \
    source_profile), then web identity (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN), the \
    ECS container endpoint and EC2 instance metadata";

/// Map an SDK error of `action` on `secret`.
pub(crate) fn map<E: ProvideErrorMetadata + std::error::Error + 'static>(
    at: &Where,
    action: &str,
    secret: &str,
    err: SdkError<E, HttpResponse>,
) -> Error {
    let on = format!("{}: {action} on {secret}", at.prefix());
    let chain = causes(&err);
    match &err {
        SdkError::TimeoutError(_) => {
            return Error::new(
                ErrorKind::Temporary,
                format!(
                    "{on}: the request to {} timed out: {chain}; check the network path, or raise {}",
                    at.endpoint,
                    at.field("timeout")
                ),
            );
        }
        SdkError::ResponseError(_) => {
            return Error::new(
                ErrorKind::Temporary,
                format!(
                    "{on}: the response from {} could not be read: {chain}",
                    at.endpoint
                ),
            );
        }
        SdkError::DispatchFailure(_) => return dispatch(at, &on, &chain),
        SdkError::ConstructionFailure(_) => {
            let hint = if chain.to_lowercase().contains("region") {
                format!(
                    "; set {} on the store, or AWS_REGION, or `region` in the profile",
                    at.field("region")
                )
            } else {
                String::new()
            };
            return Error::new(
                ErrorKind::InvalidConfig,
                format!("{on}: the request could not be built: {chain}{hint}"),
            );
        }
        _ => {}
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (code, message) = code_and_message(&err);
    if status.is_some_and(|s| s >= 500) {
        return Error::new(
            ErrorKind::Temporary,
            format!(
                "{on}: the service answered a server error ({}{code}: {message})",
                status.map(|s| format!("HTTP {s} ")).unwrap_or_default()
            ),
        );
    }
    service(at, &on, action, secret, &code, &message)
}

/// An error response: the engine's kind by AWS's error code, and the next step.
fn service(at: &Where, on: &str, action: &str, secret: &str, code: &str, message: &str) -> Error {
    let said = if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    };
    let kind = match code {
        "ResourceNotFoundException" => ErrorKind::NotFound,
        "AccessDeniedException" | "AccessDenied" => {
            return Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{on}: access denied ({said}); grant the caller the IAM permission \
                     secretsmanager:{action} on the secret {secret} (its ARN, or a resource pattern \
                     that matches it)"
                ),
            );
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "MissingAuthenticationTokenException" => {
            return Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "{on}: the credentials were refused, the security token is invalid ({said}): \
                     the access key is unknown to the account at {} or the secret key is wrong; \
                     check which credentials the chain picks (AWS_ACCESS_KEY_ID, then the profile \
                     AWS_PROFILE: `aws configure`, `aws sso login --profile <name>`) and {}",
                    at.endpoint,
                    at.field("endpoint_url")
                ),
            );
        }
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" | "TokenRefreshRequired" => {
            return Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "{on}: the credentials expired ({said}); log in again (`aws sso login --profile \
                     {}` for an SSO profile) or refresh the temporary credentials",
                    profile()
                ),
            );
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
        | "Throttling"
        | "TooManyRequestsException"
        | "InternalServiceError"
        | "ServiceUnavailable"
        | "RequestTimeout" => ErrorKind::Temporary,
        _ => ErrorKind::InvalidValue,
    };
    Error::new(kind, format!("{on}: {said}"))
}

/// A request that was never answered: no credentials, no connection, an untrusted certificate.
fn dispatch(at: &Where, on: &str, chain: &str) -> Error {
    let text = chain.to_lowercase();
    let (kind, what, hint) =
        if text.contains("credential") || text.contains("profile") || text.contains("sso") {
            return credentials(on, chain, &text);
        } else if text.contains("certificate") || text.contains("unknownissuer") {
            (
                ErrorKind::InvalidConfig,
                format!("the TLS certificate of {} is not trusted", at.endpoint),
                format!(
                    "check {}; for a private CA, trust it with {} (a PEM file) or AWS_CA_BUNDLE",
                    at.field("endpoint_url"),
                    at.field("ca_bundle")
                ),
            )
        } else if text.contains("dns error") || text.contains("lookup address") {
            (
                ErrorKind::Temporary,
                format!("the host of {} does not resolve", at.endpoint),
                format!(
                    "check {} and {} (and the DNS of this host)",
                    at.field("endpoint_url"),
                    at.field("region")
                ),
            )
        } else if text.contains("connection refused") {
            (
                ErrorKind::Temporary,
                format!("connection refused by {}", at.endpoint),
                format!(
                    "nothing listens there: check {} and {}",
                    at.field("endpoint_url"),
                    at.field("region")
                ),
            )
        } else if text.starts_with("dispatch failure: io error")
            || text.starts_with("dispatch failure: timeout")
        {
            (
                ErrorKind::Temporary,
                format!("the request to {} did not complete", at.endpoint),
                "check the network path".to_owned(),
            )
        } else {
            (
                ErrorKind::InvalidConfig,
                format!("the request to {} could not be sent", at.endpoint),
                format!("check {}", at.field("endpoint_url")),
            )
        };
    Error::new(kind, format!("{on}: {what}: {chain}; {hint}"))
}

/// The credential chain failed before any request was sent.
fn credentials(on: &str, chain: &str, text: &str) -> Error {
    let profile = profile();
    let sso = ["sso token", "sso/cache", "sso session"];
    if sso.iter().any(|s| text.contains(s)) {
        return Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "{on}: the SSO session of profile {profile} is missing or expired (no valid cached \
                 SSO token): {chain}; log in with `aws sso login --profile {profile}`"
            ),
        );
    }
    if text.contains("expired") {
        return Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "{on}: the credentials expired: {chain}; log in again (`aws sso login --profile \
                 {profile}` for an SSO profile) or refresh them"
            ),
        );
    }
    if text.contains("timed out") {
        return Error::new(
            ErrorKind::Temporary,
            format!("{on}: the credential provider did not answer in time: {chain}"),
        );
    }
    Error::new(
        ErrorKind::InvalidConfig,
        format!("{on}: no usable credentials: {chain}; {CHAIN}"),
    )
}

/// The profile the SDK uses (for `aws sso login --profile <name>`).
fn profile() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// AWS's error code and message. Secrets Manager speaks JSON, but an endpoint (moto, a proxy)
/// can answer an authentication failure in the XML of the query protocol, which the SDK
/// reports without a code: then `<Code>` and `<Message>` come from the body.
fn code_and_message<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> (String, String) {
    let code = err.code().filter(|c| !c.is_empty() && *c != "Unknown");
    if let Some(code) = code {
        return (code.to_owned(), err.message().unwrap_or("").to_owned());
    }
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    match xml_tag(&body, "Code") {
        Some(code) => (code, xml_tag(&body, "Message").unwrap_or_default()),
        None => ("Unknown".to_owned(), err.message().unwrap_or("").to_owned()),
    }
}

/// The text of the first `<tag>...</tag>`, with the five XML entities decoded.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{tag}>"))?;
    let text = body[start..start + len].trim();
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// `err` and every cause under it, joined by `: ` (a cause the message above it already quotes
/// is skipped): "dispatch failure: io error: client error (Connect): tcp connect error:
/// Connection refused (os error 111)". `Debug` is never used: it would print the response
/// (see [`rotation_core::error::causes_after`], which also walks aws-config's SSO errors).
fn causes(err: &dyn std::error::Error) -> String {
    rotation_core::error::causes_after(err.to_string(), err)
}

#[cfg(test)]
mod tests {
    use super::xml_tag;

    #[test]
    fn xml_code_and_message_are_read() {
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>\
            <Message>The security token included in the request is invalid.</Message></Error>\
            </ErrorResponse>";
        assert_eq!(
            xml_tag(body, "Code").as_deref(),
            Some("InvalidClientTokenId")
        );
        assert_eq!(
            xml_tag(body, "Message").as_deref(),
            Some("The security token included in the request is invalid.")
        );
        assert_eq!(xml_tag("{\"__type\":\"x\"}", "Code"), None);
        assert_eq!(
            xml_tag("<Message>a &amp; b</Message>", "Message").as_deref(),
            Some("a & b")
        );
    }
}
