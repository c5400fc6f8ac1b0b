//! TLS for tokio-postgres over rustls, in the five `sslmode`s of [`TlsMode`].
//!
//! - `disable`: no TLS (tokio-postgres never asks the connector).
//! - `prefer`, `require`: TLS (`prefer`: if the server offers it), certificate not checked (as
//!   libpq does without a root certificate): encryption against passive eavesdropping only.
//! - `verify-ca`: the chain must lead to the CA (or the system roots), host name not checked.
//! - `verify-full`: chain and host name (an IP address host is checked against the
//!   certificate's IP names).
//!
//! The CA bundle and the client certificate are read here, when connecting, because a
//! secret's `sslrootcert` / `sslcert` / `sslkey` are only known then. Channel binding
//! (`SCRAM-SHA-256-PLUS`) is not offered: SCRAM without it still never sends the password.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rotation_core::{Error, ErrorKind, Result, Tls, TlsMode};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// The connector handed to tokio-postgres, and the `sslmode` that goes with it.
pub(crate) fn connector(what: &str, tls: &Tls) -> Result<(MakeRustls, SslMode)> {
    let (ssl_mode, verify) = match tls.mode {
        TlsMode::Disable => return Ok((MakeRustls { config: None }, SslMode::Disable)),
        TlsMode::Prefer => (SslMode::Prefer, Verify::Nothing),
        TlsMode::Require => (SslMode::Require, Verify::Nothing),
        TlsMode::VerifyCa => (SslMode::Require, Verify::Chain),
        TlsMode::VerifyFull => (SslMode::Require, Verify::ChainAndName),
    };
    let config = client_config(what, tls, verify)?;
    Ok((
        MakeRustls {
            config: Some(Arc::new(config)),
        },
        ssl_mode,
    ))
}

/// Static check of the configured TLS files (they parse), without connecting.
pub(crate) fn check_files(what: &str, tls: &Tls) -> Result<()> {
    if let Some(ca) = &tls.ca {
        roots_from(what, ca)?;
    }
    client_auth(what, tls).map(|_| ())
}

#[derive(Clone, Copy)]
enum Verify {
    Nothing,
    Chain,
    ChainAndName,
}

fn provider() -> Arc<CryptoProvider> {
    // Explicit, so the process-wide default (absent, or ambiguous when several providers are
    // compiled in) does not matter.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client_config(what: &str, tls: &Tls, verify: Verify) -> Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("{what}: TLS setup: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(AnyCertificate(provider.clone())),
        Verify::Chain | Verify::ChainAndName => {
            let roots = match &tls.ca {
                Some(ca) => roots_from(what, ca)?,
                None => system_roots(what)?,
            };
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidConfig,
                        format!("{what}: TLS certificate check: {e}"),
                    )
                })?;
            match verify {
                Verify::Chain => Arc::new(ChainOnly(webpki)),
                _ => webpki,
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client_auth(what, tls)? {
        None => Ok(builder.with_no_client_auth()),
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{what}: the client certificate and key do not go together: {e}"),
            )
        }),
    }
}

fn bad_file(what: &str, key: &str, path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!("{what}: {key} {}: {why}", path.display()),
    )
}

fn roots_from(what: &str, path: &Path) -> Result<RootCertStore> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| bad_file(what, "ca", path, format!("not a readable PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(bad_file(what, "ca", path, "holds no certificate"));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            bad_file(
                what,
                "ca",
                path,
                format!("not a usable CA certificate: {e}"),
            )
        })?;
    }
    Ok(roots)
}

fn system_roots(what: &str) -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{what}: no CA to check the server's certificate: the system has no root \
                 certificates; set ca (or the secret's sslrootcert)"
            ),
        ));
    }
    Ok(roots)
}

type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_auth(what: &str, tls: &Tls) -> Result<Option<ClientAuth>> {
    let (cert, key) = match (&tls.client_cert, &tls.client_key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("{what}: client_cert and client_key go together: set both or neither"),
            ));
        }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            bad_file(
                what,
                "client_cert",
                cert,
                format!("not a readable PEM file: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(bad_file(what, "client_cert", cert, "holds no certificate"));
    }
    // The key file's contents never reach a message: only the path and the parser's kind of
    // failure.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        bad_file(
            what,
            "client_key",
            key,
            format!("not a readable PEM private key: {e}"),
        )
    })?;
    Ok(Some((certs, key)))
}

/// `prefer` / `require`: any certificate, but the handshake signatures are still checked
/// (the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: webpki's check with a name mismatch forgiven. webpki checks the chain before
/// the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
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
