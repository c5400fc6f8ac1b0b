//! One logged-in (or logging-in) connection with the context its errors need: who asks
//! (`target x` / `verifier x`), which server, which values to keep out of server text.

use std::time::Duration;

use rotation_core::{Connection, Error, ErrorKind, Result, SecretValue};

use crate::acl::redact;
use crate::resp::{Reply, RespConn, RespError};

/// A connection to one server on behalf of one target or verifier.
pub struct Client {
    conn: RespConn,
    /// `target x` / `verifier x`.
    pub what: String,
    /// The server (host:port).
    pub server: String,
    /// Values (and so their hashes) never shown in an error.
    secrets: Vec<SecretValue>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("what", &self.what)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// How a login went.
#[derive(Debug, PartialEq, Eq)]
pub enum Auth {
    /// `+OK`.
    Accepted,
    /// Refused: the server's text (`WRONGPASS invalid username-password pair ...`).
    Refused(String),
}

impl Client {
    /// Connect to `conn` (the TCP connect and TLS handshake within `timeout`).
    pub async fn connect(
        what: &str,
        conn: &Connection,
        timeout: Duration,
        secrets: Vec<SecretValue>,
    ) -> Result<Client> {
        Ok(Client {
            conn: crate::tls::connect(what, conn, timeout).await?,
            what: what.to_owned(),
            server: conn.to_string(),
            secrets,
        })
    }

    /// Send a command; a closed or broken connection is temporary. Server errors come back
    /// as [`Reply::Error`].
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        self.conn.call(args).await.map_err(|e| {
            let name = String::from_utf8_lossy(args.first().copied().unwrap_or_default());
            // With TLS 1.3 the server checks the client certificate after the handshake: its
            // refusal arrives as an alert on the first read. Retrying would not help.
            let alert = match &e {
                RespError::Io(io) => io
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_))),
                RespError::Protocol(_) => false,
            };
            let (kind, hint) = if alert {
                (
                    ErrorKind::Target,
                    " (the server ended the TLS session: does it want a client certificate?)",
                )
            } else {
                (ErrorKind::Temporary, "")
            };
            Error::new(
                kind,
                rotation_core::error::causes_after(
                    format!("{}: {name} on {} failed: {e}{hint}", self.what, self.server),
                    &e,
                ),
            )
        })
    }

    /// `AUTH user password`, the reply checked: only `+OK` logs in (a client that ignores a
    /// refusal carries on as the `default` user).
    pub async fn auth(&mut self, user: &str, password: &SecretValue) -> Result<Auth> {
        match self
            .call(&[b"AUTH", user.as_bytes(), password.expose()])
            .await?
        {
            Reply::Status(s) if s == "OK" => Ok(Auth::Accepted),
            Reply::Error(text) if text.starts_with("WRONGPASS") => {
                Ok(Auth::Refused(self.clean(&text)))
            }
            Reply::Error(text) => Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{}: AUTH as {user} on {}: {}",
                    self.what,
                    self.server,
                    self.clean(&text)
                ),
            )),
            other => Err(self.unexpected("AUTH", &other)),
        }
    }

    /// Server text without any value or hash this client knows.
    pub fn clean(&self, text: &str) -> String {
        let refs: Vec<&SecretValue> = self.secrets.iter().collect();
        redact(text, &refs)
    }

    /// A reply of the wrong shape.
    pub fn unexpected(&self, command: &str, reply: &Reply) -> Error {
        let shape = match reply {
            Reply::Status(_) => "a status",
            Reply::Error(_) => "an error",
            Reply::Int(_) => "an integer",
            Reply::Bulk(_) => "a string",
            Reply::Array(_) => "an array",
        };
        Error::new(
            ErrorKind::Target,
            format!(
                "{}: {command} on {} answered {shape}, which Redis does not",
                self.what, self.server
            ),
        )
    }
}
