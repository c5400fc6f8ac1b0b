//! The two ways a target logs in: as the admin of its admin secret, or as the secret's own user
//! with one of the rotation's known passwords (single-user mode). Errors name the target, the
//! server, the login and the server's text.

use std::time::Duration;

use mysql_async::Conn;
use rotation_core::{
    ConnectionSpec, CredentialSource, DbCredential, Error, ErrorKind, Result, SecretValue,
    VerifyContext,
};

use crate::connect::{Failure, Login, open};

/// An open admin connection and who it is logged in as.
pub struct Admin {
    /// The connection.
    pub conn: Conn,
    /// The admin's user name (for grant hints).
    pub user: String,
    /// The server (host:port).
    pub server: String,
}

/// Logs in as the admin of `source`: where the target's config says, else where the admin
/// document says (host, port, TLS), never where only the user's secret points.
pub async fn admin(
    what: &str,
    source: &dyn CredentialSource,
    spec: &ConnectionSpec,
    timeout: Duration,
) -> Result<Admin> {
    let doc = source.read().await.map_err(|e| e.context(what))?;
    let secret = source.secret();
    let about = format!("{what}: admin secret {secret}");
    // Never completed by the user's secret: its writer must not choose where, or how
    // safely, the admin's password is sent.
    let cred = DbCredential::resolve_admin(&about, &doc, spec, None, 3306)?;
    let server = cred.connection.to_string();
    let login = Login {
        connection: &cred.connection,
        user: &cred.username,
        password: &cred.password,
        dbname: None,
    };
    match open(&login, timeout).await {
        Ok(conn) => Ok(Admin {
            conn,
            user: cred.username.clone(),
            server,
        }),
        Err(Failure::Refused(text)) => Err(Error::new(
            ErrorKind::Target,
            format!(
                "{what}: {server} refused the admin login as '{}' ({text}): check the username \
                 and password in the admin secret {secret}",
                cred.username
            ),
        )),
        Err(failure) => Err(connect_error(what, &server, &failure)),
    }
}

/// The error for a failed connection other than a refused login: unreachable is temporary,
/// TLS problems are the target's.
pub fn connect_error(what: &str, server: &str, failure: &Failure) -> Error {
    let kind = match failure {
        Failure::Unreachable(_) => ErrorKind::Temporary,
        _ => ErrorKind::Target,
    };
    Error::new(kind, format!("{what}: {server}: {}", failure.describe()))
}

/// A login as the user itself, and which password made it.
pub struct Own {
    /// The connection.
    pub conn: Conn,
    /// Whether the password that logged in is `first` (so nothing needs changing).
    pub first_worked: bool,
}

/// Logs in as `user` with `first` (when given), else with each of the context's related
/// values in turn: single-user mode, where the user's current password is one of them.
pub async fn own(
    what: &str,
    ctx: &VerifyContext,
    user: &DbCredential,
    first: Option<&SecretValue>,
    timeout: Duration,
) -> Result<Own> {
    let server = user.connection.to_string();
    let candidates = first
        .into_iter()
        .chain(ctx.related_values.iter().filter(|v| Some(*v) != first));
    let mut last = None;
    for (i, password) in candidates.enumerate() {
        let login = Login {
            connection: &user.connection,
            user: &user.username,
            password,
            dbname: None,
        };
        match open(&login, timeout).await {
            Ok(conn) => {
                return Ok(Own {
                    conn,
                    first_worked: first.is_some() && i == 0,
                });
            }
            Err(Failure::Refused(text)) => last = Some(text),
            Err(failure) => return Err(connect_error(what, &server, &failure)),
        }
    }
    let answer = last.map_or_else(
        || "the rotation knows no password to try".to_owned(),
        |text| format!("last answer: {text}"),
    );
    Err(Error::new(
        ErrorKind::Target,
        format!(
            "{what}: none of the rotation's passwords logs in as '{}' at {server} ({answer}): \
             the user may not exist, or its password was changed outside the rotation; \
             configure an admin secret to set it regardless",
            user.username
        ),
    ))
}
