//! TLS for tokio-postgres over rustls, in the five `sslmode`s of [`TlsMode`].
//!
//! - `disable`: no TLS (tokio-postgres never asks the connector).
//! - `prefer`, `require`: TLS (`prefer`: if the server offers it), certificate not checked (as
//!   libpq does without a root certificate): encryption against passive eavesdropping only.
//! - `verify-ca`: the chain must lead to the CA (or the system roots), host name not checked.
//! - `verify-full`: chain and host name (an IP address host is checked against the
//!   certificate's IP names).
//!
//! The rustls settings (CA bundle or system roots, client certificate, the certificate
//! checks) are `rotation_tls`'s, built when connecting because a secret's `sslrootcert` /
//! `sslcert` / `sslkey` are only known then. Channel binding (`SCRAM-SHA-256-PLUS`) is not
//! offered: SCRAM without it still never sends the password.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rotation_core::{Result, Tls, TlsMode};
pub(crate) use rotation_tls::check_files;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// The connector handed to tokio-postgres, and the `sslmode` that goes with it.
pub(crate) fn connector(what: &str, tls: &Tls) -> Result<(MakeRustls, SslMode)> {
    let ssl_mode = match tls.mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        // The check itself is the client config's; to tokio-postgres TLS is simply required.
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    };
    let config = rotation_tls::client_config(what, tls)?;
    Ok((MakeRustls { config }, ssl_mode))
}

/// tokio-postgres' [`MakeTlsConnect`] over rustls (`None`: TLS disabled).
pub(crate) struct MakeRustls {
    config: Option<Arc<ClientConfig>>,
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    /// Called for every connection, TLS or not (tokio-postgres prepares it before asking the
    /// server), so the checks wait for [`RustlsConnect::connect`].
    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        Ok(RustlsConnect {
            config: self.config.clone(),
            domain: domain.to_owned(),
        })
    }
}

/// One TLS handshake.
pub(crate) struct RustlsConnect {
    config: Option<Arc<ClientConfig>>,
    domain: String,
}

type Handshake = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Handshake;

    fn connect(self, stream: Socket) -> Handshake {
        Box::pin(async move {
            let config = self
                .config
                .ok_or_else(|| io::Error::other("TLS is disabled (tls mode disable)"))?;
            let name = ServerName::try_from(self.domain.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("host {:?}: {e}", self.domain),
                )
            })?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(stream))
        })
    }
}

/// An established TLS stream.
pub(crate) struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
