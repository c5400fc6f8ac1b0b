//! Configuration of an [`AwsStore`]: region, endpoint, extra trusted CA, retries and timeouts.
//! Credentials come from the standard AWS chain (environment, profile, SSO, web identity, IMDS),
//! never from our config.

use std::path::PathBuf;
use std::time::Duration;

use rotation_core::{Error, ErrorKind, Result};

use crate::store::AwsStore;

/// Builds an [`AwsStore`]. The SDK configuration is loaded on first use (it is async).
#[derive(Debug, Clone, Default)]
pub struct AwsStoreBuilder {
    pub(crate) name: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) ca_bundle: Option<PathBuf>,
    /// The PEM of `ca_bundle` (or `AWS_CA_BUNDLE`), read and checked by `build`.
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) timeout: Option<Duration>,
}

impl AwsStoreBuilder {
    /// Defaults: region and credentials from the standard chain.
    pub fn new() -> Self {
        Self::default()
    }
    /// The store's config name (`stores.<name>`): errors name the store and its fields by it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Region, e.g. `eu-west-1` (default: `AWS_REGION` / profile).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// Endpoint override (a test server, a VPC endpoint).
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }
    /// A PEM file of CA certificates to trust besides the system's (a private endpoint, a TLS
    /// proxy). Default: `AWS_CA_BUNDLE` if set (the AWS CLI's variable; the Rust SDK itself
    /// ignores it).
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }
    /// SDK retry attempts for throttling and transient errors (default: the SDK's, 3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
    /// Timeout of one operation, retries included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Validate (and read the CA bundle); no request is made yet.
    pub fn build(mut self) -> Result<AwsStore> {
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::config(
                "endpoint_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.max_attempts == Some(0) {
            return Err(Error::config("max_attempts", "must be at least 1"));
        }
        self.ca_pem = match (&self.ca_bundle, std::env::var_os("AWS_CA_BUNDLE")) {
            (Some(path), _) => Some(read_pem(path).map_err(|e| Error::config("ca_bundle", e))?),
            (None, Some(env)) if !env.is_empty() => {
                Some(read_pem(&PathBuf::from(env)).map_err(|e| {
                    Error::new(ErrorKind::InvalidConfig, format!("AWS_CA_BUNDLE: {e}"))
                })?)
            }
            _ => None,
        };
        Ok(AwsStore::new(self))
    }
}

/// The file's certificates, checked the way the SDK's TLS client will add them (it panics on a
/// certificate it cannot parse, so nothing unparsable may reach it).
fn read_pem(path: &std::path::Path) -> std::result::Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
    }
    Ok(pem)
}
