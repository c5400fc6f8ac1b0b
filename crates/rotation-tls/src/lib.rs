//! Client TLS settings (rustls over aws-lc-rs) for a [`Tls`] in one of the five `sslmode`s,
//! shared by the database targets and verifiers that speak TLS themselves.
//!
//! - `disable`: no TLS ([`client_config`] gives `None`).
//! - `prefer`, `require`: any certificate (as libpq does without a root certificate), but the
//!   handshake's signatures are still checked: encryption against passive eavesdropping only.
//!   Whether `prefer` may fall back to plain text is the caller's protocol's business.
//! - `verify-ca`: the chain must lead to the CA (or the system roots), host name not checked.
//! - `verify-full`: chain and host name (an IP address host is checked against the
//!   certificate's IP names).
//!
//! The files are read on each call, because a secret's `sslrootcert` / `sslcert` / `sslkey`
//! are only known when connecting. Errors are [`ErrorKind::InvalidConfig`] and name the
//! caller (`what`), the field and the file, never a key's contents.

#![forbid(unsafe_code)]

mod files;
mod verifiers;

use std::sync::Arc;

use rotation_core::{Error, ErrorKind, Result, Tls, TlsMode};
use rustls::ClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;

use verifiers::{Check, Lenient};

/// The rustls settings for `tls`, `None` for `disable`.
pub fn client_config(what: &str, tls: &Tls) -> Result<Option<Arc<ClientConfig>>> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match tls.mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Prefer | TlsMode::Require => Arc::new(Lenient {
            check: Check::Nothing,
            provider: provider.clone(),
        }),
        TlsMode::VerifyCa => Arc::new(Lenient {
            check: Check::ChainOnly(webpki(what, tls, provider.clone())?),
            provider: provider.clone(),
        }),
        TlsMode::VerifyFull => webpki(what, tls, provider.clone())?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("{what}: TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match files::client_auth(what, tls)? {
        None => builder.with_no_client_auth(),
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{what}: the client certificate and key do not go together: {e}"),
            )
        })?,
    };
    Ok(Some(Arc::new(config)))
}

/// Static check of the configured TLS files (they parse), without connecting.
pub fn check_files(what: &str, tls: &Tls) -> Result<()> {
    if let Some(ca) = &tls.ca {
        files::roots_from(what, ca)?;
    }
    files::client_auth(what, tls).map(|_| ())
}

fn provider() -> Arc<CryptoProvider> {
    // Explicit, so the process-wide default (absent, or ambiguous when several providers are
    // compiled in) does not matter.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// webpki's full check (chain and name) against the CA file, else the system roots.
fn webpki(
    what: &str,
    tls: &Tls,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let roots = match &tls.ca {
        Some(ca) => files::roots_from(what, ca)?,
        None => files::system_roots(what)?,
    };
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{what}: TLS certificate check: {e}"),
            )
        })
}
