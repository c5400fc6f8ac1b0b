//! Reading the PEM files a [`Tls`] names: the CA bundle (or the system's roots) and the
//! client certificate and key.

use std::path::Path;

use rotation_core::{Error, ErrorKind, Result, Tls};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A client certificate chain and its key.
pub(crate) type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn bad_file(what: &str, key: &str, path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!("{what}: {key} {}: {why}", path.display()),
    )
}

fn certificates(what: &str, key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| bad_file(what, key, path, format!("not a readable PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(bad_file(what, key, path, "holds no certificate"));
    }
    Ok(certs)
}

/// The CA bundle at `path`: every certificate in it must be usable (a bad one is a mistake to
/// report, not to skip).
pub(crate) fn roots_from(what: &str, path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(what, "ca", path)? {
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

/// The system's root certificates (those that parse; a system store holds odd ones).
pub(crate) fn system_roots(what: &str) -> Result<RootCertStore> {
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

/// The client certificate and key, `None` when neither is set.
pub(crate) fn client_auth(what: &str, tls: &Tls) -> Result<Option<ClientAuth>> {
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
    let certs = certificates(what, "client_cert", cert)?;
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
