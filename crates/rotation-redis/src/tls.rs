//! Opening a connection to a Redis server: TCP, then TLS (`rediss`) per the [`TlsMode`].
//!
//! Redis serves TLS on its own port (no in-protocol upgrade), so `prefer` cannot be honoured
//! (there is nothing to fall back from): it is refused rather than silently downgraded. The
//! other modes: `disable` plain TCP; `require` TLS with any certificate (the handshake's
//! signatures are still checked); `verify-ca` the chain must lead to the CA (or the system
//! roots), any host name; `verify-full` chain and host name (IP addresses match IP SANs).

use std::sync::Arc;
use std::time::Duration;

use rotation_core::{Connection, Error, ErrorKind, Result, Tls, TlsMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
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
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
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

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS settings for `tls`, `None` for plain TCP.
fn client_config(what: &str, tls: &Tls) -> Result<Option<ClientConfig>> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match tls.mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Prefer => {
            return Err(Error::config(
                format!("{what}.tls_mode"),
                "Redis serves TLS on its own port and cannot fall back: use disable, require, \
                 verify-ca or verify-full (sslmode prefer)",
            ));
        }
        TlsMode::Require => Arc::new(AnyCertificate(provider.clone())),
        TlsMode::VerifyCa => Arc::new(ChainOnly {
            roots: Arc::new(roots(what, tls)?),
            provider: provider.clone(),
        }),
        TlsMode::VerifyFull => rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(what, tls)?),
            provider.clone(),
        )
        .build()
        .map_err(|e| Error::config(format!("{what}.ca"), format!("unusable CA: {e}")))?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("{what}: TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.client_cert, &tls.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::config(
                        format!("{what}.client_cert"),
                        format!("cannot read {}: {e}", cert.display()),
                    )
                })?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::config(
                    format!("{what}.client_key"),
                    format!("cannot read {}: {e}", key.display()),
                )
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                Error::config(
                    format!("{what}.client_cert"),
                    format!("the client certificate and key do not fit: {e}"),
                )
            })?
        }
        (Some(_), None) => {
            return Err(Error::config(
                format!("{what}.client_key"),
                "a client certificate needs its key",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                format!("{what}.client_cert"),
                "a client key needs its certificate",
            ));
        }
    };
    Ok(Some(config))
}

/// The CA file's certificates, else the system's roots.
fn roots(what: &str, tls: &Tls) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &tls.ca {
        Some(ca) => {
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::config(
                        format!("{what}.ca"),
                        format!("cannot read {}: {e}", ca.display()),
                    )
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::config(
                    format!("{what}.ca"),
                    format!("{} holds no usable certificate", ca.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(Error::config(
                    format!("{what}.ca"),
                    "no CA given and no system root certificates found",
                ));
            }
        }
    }
    Ok(roots)
}

/// `require`: any certificate, but a real handshake.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        verify_tls12_signature(
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
        verify_tls13_signature(
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

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
