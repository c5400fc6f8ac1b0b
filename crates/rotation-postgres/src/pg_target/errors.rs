//! How the target words a failure: which login, which server, the server's own text, and
//! the next step (the privilege to grant).

use tokio_postgres::error::SqlState;

use super::PostgresTarget;
use crate::connect::{self, ConnectError, ServerText, quote_ident};
use rotation_core::{Connection, Error, ErrorKind, SecretValue};

/// The next step when the server refuses a role acting on itself.
pub(super) const SINGLE_USER_HINT: &str = "single-user mode: the role acts on itself, which needs no \
                                privilege; configure an admin secret if this server forbids it";

/// What to grant when the admin may not change `role`'s password.
pub(super) fn privilege_needed(role: &str, admin: &str, superuser: bool) -> String {
    if superuser {
        format!(
            "role \"{role}\" is a superuser: only a superuser may change its password \
             (ALTER ROLE {} SUPERUSER, or use a superuser admin)",
            quote_ident(admin)
        )
    } else {
        format!(
            "grant the admin CREATEROLE (ALTER ROLE {a} CREATEROLE; on PostgreSQL 16 and \
             later also GRANT {r} TO {a} WITH ADMIN OPTION)",
            a = quote_ident(admin),
            r = quote_ident(role)
        )
    }
}

/// Adds a next step to an error's message.
pub(super) trait NextStep {
    fn context_after(self, step: &str) -> Self;
}

impl NextStep for Error {
    fn context_after(self, step: &str) -> Error {
        Error::new(self.kind(), format!("{}; {step}", self.message()))
    }
}

impl PostgresTarget {
    /// The error for a connection that failed; `who` says which login (`the admin login
    /// "admin" (admin secret pg-admin)`, `user "app"`).
    pub(super) fn connect_error(&self, err: ConnectError, server: &Connection, who: &str) -> Error {
        let what = &self.what;
        match err {
            ConnectError::Server(t) if t.is_refused_login() => Error::new(
                ErrorKind::Target,
                format!("{what}: {server} refused {who}: {}", t.text),
            ),
            ConnectError::Server(t) if t.is_temporary() => Error::new(
                ErrorKind::Temporary,
                format!("{what}: {server} did not accept {who} now: {}", t.text),
            ),
            ConnectError::Server(t) => Error::new(
                ErrorKind::Target,
                format!("{what}: {server} refused {who}: {}", t.text),
            ),
            ConnectError::Unreachable(text) => Error::new(
                ErrorKind::Temporary,
                format!("{what}: cannot connect to {server}: {text}"),
            ),
            ConnectError::Tls(text) => Error::new(
                ErrorKind::Target,
                format!(
                    "{what}: TLS with {server} failed (tls mode {}): {text}",
                    server.tls.mode.as_str()
                ),
            ),
            ConnectError::Config(e) => e,
        }
    }

    /// A failed statement: privilege, policy or temporary trouble.
    pub(super) fn statement_error(
        &self,
        err: &tokio_postgres::Error,
        values: &[&SecretValue],
        doing: &str,
        server: &Connection,
        privilege: impl FnOnce() -> String,
    ) -> Error {
        let what = &self.what;
        match connect::server_text(err, values) {
            Some(t) if t.code == SqlState::INSUFFICIENT_PRIVILEGE => Error::new(
                ErrorKind::Target,
                format!("{what}: {doing} on {server}: {}; {}", t.text, privilege()),
            ),
            Some(t) if t.is_temporary() => Error::new(
                ErrorKind::Temporary,
                format!("{what}: {doing} on {server}: {}", t.text),
            ),
            Some(ServerText { text, .. }) => Error::new(
                ErrorKind::Target,
                format!("{what}: {doing} on {server}: the server refused: {text}"),
            ),
            None => Error::new(
                ErrorKind::Temporary,
                format!(
                    "{what}: {doing} on {server}: {}",
                    connect::describe(err, values)
                ),
            ),
        }
    }
}
