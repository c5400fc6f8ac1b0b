//! Statements on an open connection, each within the call's time limit, their failures sorted
//! as [`Failure`]s with the given secrets scrubbed from the server's text.

use std::time::Duration;

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Params};

use crate::connect::{Failure, humantime_secs};
use crate::sql::{Flavor, scrub};

/// Runs `sql` (text protocol), discarding any result. The server's text is scrubbed of
/// `secrets` (a syntax error quotes the statement).
pub async fn run(
    conn: &mut Conn,
    sql: &str,
    secrets: &[&str],
    timeout: Duration,
) -> Result<(), Failure> {
    within(timeout, conn.query_drop(sql), secrets).await
}

/// Runs the prepared `sql` with `params` and returns its rows.
pub async fn rows<T: FromRow + Send + 'static>(
    conn: &mut Conn,
    sql: &str,
    params: impl Into<Params> + Send,
    timeout: Duration,
) -> Result<Vec<T>, Failure> {
    within(timeout, conn.exec(sql, params), &[]).await
}

/// The error-level entries (code, message) the last statement left in the diagnostics (`SHOW
/// WARNINGS`, text protocol: preparing a statement could reset them), scrubbed of `secrets`;
/// empty when they cannot be read (the caller then reports the error alone).
pub async fn causes(conn: &mut Conn, secrets: &[&str], timeout: Duration) -> Vec<(u16, String)> {
    let rows: Vec<(String, u32, String)> =
        match within(timeout, conn.query("SHOW WARNINGS"), &[]).await {
            Ok(rows) => rows,
            Err(_) => return Vec::new(),
        };
    rows.into_iter()
        .filter(|(level, _, _)| level.eq_ignore_ascii_case("error"))
        .map(|(_, code, message)| {
            (
                u16::try_from(code).unwrap_or(u16::MAX),
                scrub(&message, secrets),
            )
        })
        .collect()
}

/// The server's flavor (`SELECT VERSION()`).
pub async fn flavor(conn: &mut Conn, timeout: Duration) -> Result<Flavor, Failure> {
    let version: Option<String> =
        within(timeout, conn.query_first("SELECT VERSION()"), &[]).await?;
    Ok(Flavor::of_version(&version.unwrap_or_default()))
}

async fn within<T>(
    timeout: Duration,
    fut: impl Future<Output = mysql_async::Result<T>>,
    secrets: &[&str],
) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(match Failure::of(&err) {
            Failure::Server { code, text } => Failure::Server {
                code,
                text: scrub(&text, secrets),
            },
            Failure::Refused(text) => Failure::Refused(scrub(&text, secrets)),
            other => other,
        }),
        Err(_) => Err(Failure::Unreachable(format!(
            "the server did not answer within {}",
            humantime_secs(timeout)
        ))),
    }
}
