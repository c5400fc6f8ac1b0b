//! The one error type of the engine, with a kind that tells retry from rollback from abort.

use std::fmt;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms the engine can act on.
///
/// The kind, not the message, decides what happens next: [`ErrorKind::is_temporary`] errors are
/// retried, everything else aborts the step and (for a rotation) triggers rollback.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The secret, version or pending value does not exist.
    NotFound,
    /// Something that must not exist already does.
    AlreadyExists,
    /// A compare-and-swap lost: the current version is not the one the caller expected.
    Conflict,
    /// The credentials are valid but lack a permission.
    PermissionDenied,
    /// No or invalid credentials.
    Unauthenticated,
    /// The store or strategy does not support the operation.
    NotSupported,
    /// Configuration is invalid (names the field).
    InvalidConfig,
    /// A secret value is malformed (e.g. not a JSON object when a field is configured).
    InvalidValue,
    /// A verifier rejected the credential.
    Verification,
    /// The target refused the credential.
    Target,
    /// Another rotation of the same secret is running.
    InProgress,
    /// A transient failure (timeout, throttling, connection refused): safe to retry.
    Temporary,
    /// A local I/O failure.
    Io,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorKind {
    /// Whether retrying the same operation may succeed.
    pub fn is_temporary(self) -> bool {
        matches!(self, ErrorKind::Temporary)
    }

    /// Snake-case name, as used in JSON output and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::NotSupported => "not_supported",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidValue => "invalid_value",
            ErrorKind::Verification => "verification",
            ErrorKind::Target => "target",
            ErrorKind::InProgress => "in_progress",
            ErrorKind::Temporary => "temporary",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().replace('_', " ").as_str())
    }
}

/// An error with a kind and a message.
///
/// # Invariant
/// The message never contains a secret value: constructors take context (secret id, store,
/// operation, version), and backends must not forward server text that could echo a value.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The dotted field of an [`Error::config`] error, kept so callers need not parse it back.
    field: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            field: None,
            source: None,
        }
    }

    /// Attach an underlying cause (must not carry a secret value in its `Display`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefix the message with context such as `"secret db-password"`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The dotted field an [`Error::config`] error names (its message starts with it).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Shorthand for [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Shorthand for [`ErrorKind::InvalidConfig`]: `field` is the dotted path of the bad field.
    pub fn config(field: impl fmt::Display, message: impl fmt::Display) -> Self {
        let field = field.to_string();
        let mut error = Self::new(ErrorKind::InvalidConfig, format!("{field}: {message}"));
        error.field = Some(field);
        error
    }

    /// Shorthand for [`ErrorKind::InvalidValue`].
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidValue, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Whether retrying may succeed.
    pub fn is_temporary(&self) -> bool {
        self.kind.is_temporary()
    }
}

/// `top` followed by the text of every error under `err`, joined by `: `, a cause the text
/// before it already quotes skipped: "error sending request: client error (Connect): tcp
/// connect error: Connection refused (os error 111)". The stores use it to say why a request
/// failed; `Display` only, never `Debug` (which could print a response). Walks `cause()`
/// rather than `source()`: some errors (aws-config's SSO token errors) implement only the
/// older method, which defaults to `source()` everywhere else.
#[allow(deprecated, reason = "see above")]
pub fn causes_after(top: String, err: &dyn std::error::Error) -> String {
    let mut parts = vec![top];
    let mut cause = err.cause();
    while let Some(c) = cause {
        let text = one_line(&c.to_string());
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.cause();
    }
    parts.join(": ")
}

/// Longest cause kept by [`causes_after`], in characters.
const CAUSE_CHARS: usize = 300;

/// `text` on one line (line breaks and runs of blanks become one space), cut to
/// [`CAUSE_CHARS`] characters: a cause such as a credential program's stderr can be long.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(CAUSE_CHARS) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::causes_after;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_is_one_short_line() {
        let long = format!("line one\n  line two\n{}", "x".repeat(500));
        let err = Outer(std::io::Error::other(long));
        let text = causes_after("outer".into(), &err);
        assert!(text.starts_with("outer: line one line two xxx"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(text.chars().count(), "outer: ".len() + 300 + 1, "{text}");
    }

    #[test]
    fn the_chain_is_joined_and_repeats_are_skipped() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Outer(io);
        assert_eq!(causes_after(err.to_string(), &err), "outer: refused");
        assert_eq!(
            causes_after("outer: refused".into(), &err),
            "outer: refused"
        );
    }
}
