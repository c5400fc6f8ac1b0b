//! One fresh connection for one login, and what went wrong when there is none.
//!
//! The caller (target or verifier) turns a [`ConnectError`] into its own error kind: a login
//! the server refuses is the target's or the verifier's business, a server that cannot be
//! reached is [`ErrorKind::Temporary`](rotation_core::ErrorKind::Temporary) for both.

use std::future::Future;
use std::time::Duration;

use rotation_core::error::causes_after;
use rotation_core::{DbCredential, Error, ErrorKind, Result, SecretValue};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::tls;

/// The database a login uses when neither the config nor the secret names one: it exists on
/// every cluster, and `ALTER ROLE` / `pg_stat_activity` are cluster-wide, so any database will
/// do (libpq's default, the user's own name, usually does not exist).
pub const DEFAULT_DBNAME: &str = "postgres";

/// Sessions we open say so in `pg_stat_activity`.
const APPLICATION_NAME: &str = "rotation";

/// Why there is no connection.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The server answered the login with an error (`28P01` wrong password, `28000` no such
    /// role or no `pg_hba.conf` entry, `3D000` no such database, ...).
    Server(ServerText),
    /// The server could not be reached, or not in time.
    Unreachable(String),
    /// The TLS handshake failed (certificate not trusted, server without TLS, ...).
    Tls(String),
    /// The connection settings are unusable (a CA file that does not parse, ...).
    Config(Error),
}

impl ConnectError {
    /// Whether the server refused the credential itself (wrong password, unknown role).
    pub(crate) fn is_refused_login(&self) -> bool {
        matches!(self, ConnectError::Server(t) if t.is_refused_login())
    }
}

/// A server error's message and SQLSTATE, ready to quote.
#[derive(Debug, Clone)]
pub(crate) struct ServerText {
    /// SQLSTATE.
    pub(crate) code: SqlState,
    /// `message (SQLSTATE xxxxx)`, plus the server's hint, on one line.
    pub(crate) text: String,
}

impl ServerText {
    /// A refused login: wrong password (`28P01`) or an authorization failure (`28000`: no such
    /// role, or no `pg_hba.conf` line lets it in).
    pub(crate) fn is_refused_login(&self) -> bool {
        self.code == SqlState::INVALID_PASSWORD
            || self.code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    }

    /// A state that passes by itself: too many connections, the server starting or
    /// shutting down, a serialization or deadlock failure.
    pub(crate) fn is_temporary(&self) -> bool {
        [
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::QUERY_CANCELED,
        ]
        .contains(&self.code)
    }
}

/// The server's text of `err` with every related value removed (a server message could quote
/// a statement or a value; ours never carry a password, but a custom query's data might).
pub(crate) fn describe(err: &tokio_postgres::Error, values: &[&SecretValue]) -> String {
    let text = match err.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(hint) = db.hint() {
                text.push_str("; hint: ");
                text.push_str(hint);
            }
            text
        }
        None => causes_after(err.to_string(), err),
    };
    redact(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        values,
    )
}

/// `text` with every non-empty value of `values` replaced by `[redacted]`.
pub(crate) fn redact(text: &str, values: &[&SecretValue]) -> String {
    let mut out = text.to_owned();
    for value in values {
        let raw = String::from_utf8_lossy(value.expose());
        if !raw.is_empty() && out.contains(&*raw) {
            out = out.replace(&*raw, "[redacted]");
        }
    }
    out
}

/// The server error of a failed query, classified.
pub(crate) fn server_text(
    err: &tokio_postgres::Error,
    values: &[&SecretValue],
) -> Option<ServerText> {
    err.as_db_error().map(|db| ServerText {
        code: db.code().clone(),
        text: describe(err, values),
    })
}

/// A fresh connection logged in as `login`, within `timeout`. The connection's task runs
/// until the returned client is dropped.
pub(crate) async fn connect(
    what: &str,
    login: &DbCredential,
    timeout: Duration,
) -> std::result::Result<Client, ConnectError> {
    let (make_tls, ssl_mode) =
        tls::connector(what, &login.connection.tls).map_err(ConnectError::Config)?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&login.connection.host)
        .port(login.connection.port)
        .user(&login.username)
        .password(login.password.expose())
        .dbname(login.connection.dbname.as_deref().unwrap_or(DEFAULT_DBNAME))
        .application_name(APPLICATION_NAME)
        .ssl_mode(ssl_mode)
        .connect_timeout(timeout);
    let values = [&login.password];
    let connected = tokio::time::timeout(timeout, config.connect(make_tls))
        .await
        .map_err(|_| ConnectError::Unreachable(format!("no answer within {timeout:?}")))?;
    drop(config);
    let (client, connection) = connected.map_err(|e| {
        if let Some(text) = server_text(&e, &values) {
            ConnectError::Server(text)
        } else if e.to_string() == "error performing TLS handshake" {
            ConnectError::Tls(describe(&e, &values))
        } else {
            ConnectError::Unreachable(describe(&e, &values))
        }
    })?;
    tokio::spawn(async move {
        // Its errors (the server going away) reach the client's calls too: nothing to add.
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// `fut` (one query) within `timeout`; a timeout is [`ErrorKind::Temporary`].
pub(crate) async fn within<T>(
    what: &str,
    server: &str,
    timeout: Duration,
    fut: impl Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(timeout, fut).await.map_err(|_| {
        Error::new(
            ErrorKind::Temporary,
            format!("{what}: {server} did not answer within {timeout:?}"),
        )
    })
}

/// Double-quoted SQL identifier (inner double quotes doubled), so any role name is safe.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Single-quoted SQL string literal (inner quotes doubled). With
/// `standard_conforming_strings` on (the default since 9.1, and what the `E''` form avoids
/// depending on), backslashes are literal; the SCRAM verifiers quoted here hold only base64
/// and `$:` anyway.
pub(crate) fn quote_literal(text: &str) -> String {
    if text.contains('\\') {
        format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("a\"b; DROP"), "\"a\"\"b; DROP\"");
        assert_eq!(quote_literal("x'y"), "'x''y'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }

    #[test]
    fn values_are_redacted() {
        let v = SecretValue::from("hunter2");
        let empty = SecretValue::from("");
        assert_eq!(
            redact("got hunter2 twice: hunter2", &[&v, &empty]),
            "got [redacted] twice: [redacted]"
        );
    }
}
