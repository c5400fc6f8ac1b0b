//! Opening a connection to a Redis server: TCP, then TLS (`rediss`) per the [`TlsMode`].
//!
//! Redis serves TLS on its own port (no in-protocol upgrade), so `prefer` cannot be honoured
//! (there is nothing to fall back from): it is refused rather than silently downgraded. The
//! other modes: `disable` plain TCP; `require` TLS with any certificate (the handshake's
//! signatures are still checked); `verify-ca` the chain must lead to the CA (or the system
//! roots), any host name; `verify-full` chain and host name (IP addresses match IP SANs).
//! The rustls settings themselves are `rotation_tls`'s.

use std::sync::Arc;
use std::time::Duration;

use rotation_core::{Connection, Error, ErrorKind, Result, Tls, TlsMode};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::resp::{Io, RespConn};

/// Connect to `conn` within `timeout`; errors name `what` and the address.
pub async fn connect(what: &str, conn: &Connection, timeout: Duration) -> Result<RespConn> {
    // Settings first: a bad CA path is a configuration problem, not an outage.
    let config = client_config(what, &conn.tls)?;
    let addr = (conn.host.as_str(), conn.port);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::Temporary,
                format!("{what}: cannot connect to {conn}: timed out after {timeout:?}"),
            )
        })?
        .map_err(|e| {
            Error::new(
                ErrorKind::Temporary,
                rotation_core::error::causes_after(
                    format!("{what}: cannot connect to {conn}: {e}"),
                    &e,
                ),
            )
        })?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = config else {
        return Ok(RespConn::new(Box::new(tcp)));
    };
    let name = ServerName::try_from(conn.host.clone()).map_err(|_| {
        Error::config(
            format!("{what}.host"),
            format!("{:?} is not a host name or IP address", conn.host),
        )
    })?;
    let tls = tokio::time::timeout(
        timeout,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| {
        Error::new(
            ErrorKind::Temporary,
            format!("{what}: TLS handshake with {conn} timed out after {timeout:?}"),
        )
    })?
    .map_err(|e| handshake_error(what, conn, &e))?;
    let io: Box<dyn Io> = Box::new(tls);
    Ok(RespConn::new(io))
}

/// A refused certificate is the operator's to fix (a target error); a reset is temporary.
fn handshake_error(what: &str, conn: &Connection, e: &std::io::Error) -> Error {
    let text = rotation_core::error::causes_after(
        format!(
            "{what}: TLS handshake with {conn} (sslmode {}) failed: {e}",
            conn.tls.mode.as_str()
        ),
        e,
    );
    let refused = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::AlertReceived(_)
            )
        });
    Error::new(
        if refused {
            ErrorKind::Target
        } else {
            ErrorKind::Temporary
        },
        text,
    )
}

/// The TLS settings for `tls`, `None` for plain TCP.
fn client_config(what: &str, tls: &Tls) -> Result<Option<Arc<ClientConfig>>> {
    if tls.mode == TlsMode::Prefer {
        // Only a secret's sslmode gets here (the config's `tls = "prefer"` is refused when
        // the target is built).
        return Err(Error::invalid_value(format!(
            "{what}: the secret's sslmode prefer cannot be honoured: Redis serves TLS on its own \
             port and cannot fall back; use disable, require, verify-ca or verify-full"
        )));
    }
    rotation_tls::client_config(what, tls)
}
