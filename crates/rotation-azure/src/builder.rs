//! Configuration of an [`AzureStore`]: vault URL, credential, TLS trust, timeout, retries and
//! the optional expiry of new versions. `from_env` reads `AZURE_KEYVAULT_URL`; credentials come
//! from the standard chain ([`ChainCredential`]) unless one is given, never from our config.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use rotation_core::{Error, Result};

use crate::client::{Kv, Retry};
use crate::credential::ChainCredential;
use crate::store::AzureStore;

/// Builds an [`AzureStore`].
#[derive(Clone)]
pub struct AzureStoreBuilder {
    vault_url: Option<String>,
    credential: Option<Arc<dyn TokenCredential>>,
    ca_cert: Option<CaCert>,
    timeout: Duration,
    retry: Retry,
    verify_challenge_resource: bool,
    expires_after: Option<Duration>,
}

#[derive(Clone)]
enum CaCert {
    File(PathBuf),
    Pem(String),
}

impl fmt::Debug for AzureStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureStoreBuilder")
            .field("vault_url", &self.vault_url)
            .field(
                "credential",
                &self
                    .credential
                    .as_ref()
                    .map_or("standard chain", |_| "custom"),
            )
            .field("timeout", &self.timeout)
            .field("max_retries", &self.retry.max_retries)
            .field("expires_after", &self.expires_after)
            .finish_non_exhaustive()
    }
}

impl Default for AzureStoreBuilder {
    fn default() -> Self {
        Self {
            vault_url: None,
            credential: None,
            ca_cert: None,
            timeout: Duration::from_secs(30),
            retry: Retry {
                max_retries: 3,
                backoff: Duration::from_millis(500),
                max_wait: Duration::from_secs(60),
            },
            verify_challenge_resource: true,
            expires_after: None,
        }
    }
}

impl AzureStoreBuilder {
    /// Defaults: standard credential chain, 30 s timeout, 3 retries, Retry-After up to 60 s.
    pub fn new() -> Self {
        Self::default()
    }
    /// The vault URL from `AZURE_KEYVAULT_URL`, if set.
    pub fn from_env() -> Self {
        let mut b = Self::new();
        b.vault_url = std::env::var("AZURE_KEYVAULT_URL")
            .ok()
            .filter(|v| !v.is_empty());
        b
    }
    /// Vault URL, e.g. `https://my-vault.vault.azure.net`.
    pub fn vault_url(mut self, url: impl Into<String>) -> Self {
        self.vault_url = Some(url.into());
        self
    }
    /// A credential instead of the standard chain (tests, or a chain of your own).
    pub fn credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(credential);
        self
    }
    /// Trust this PEM CA file in addition to the system roots (private endpoints, test servers).
    pub fn ca_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(CaCert::File(path.into()));
        self
    }
    /// Trust this PEM CA certificate in addition to the system roots.
    pub fn ca_cert_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_cert = Some(CaCert::Pem(pem.into()));
        self
    }
    /// Per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Retries after throttling (429/503, honouring `Retry-After`) and unsent requests.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }
    /// First backoff when the service names no `Retry-After` (doubles per retry).
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry.backoff = backoff;
        self
    }
    /// Longest `Retry-After` waited for; a longer one fails the call as temporary.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.retry.max_wait = wait;
        self
    }
    /// Whether the 401 challenge's resource must be a Key Vault domain (default true; tests
    /// against 127.0.0.1 turn it off).
    pub fn verify_challenge_resource(mut self, verify: bool) -> Self {
        self.verify_challenge_resource = verify;
        self
    }
    /// Set `exp` on every version the engine writes to now + `after`, so Key Vault's own
    /// `SecretNearExpiry` events and expiry policies keep working.
    pub fn expires_after(mut self, after: Duration) -> Self {
        self.expires_after = Some(after);
        self
    }

    fn http(&self) -> Result<reqwest::Client> {
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)));
        if let Some(ca) = &self.ca_cert {
            let pem = match ca {
                CaCert::Pem(pem) => pem.clone().into_bytes(),
                CaCert::File(path) => std::fs::read(path)
                    .map_err(|e| Error::config("ca_cert", format!("{}: {e}", path.display())))?,
            };
            // `from_pem` accepts anything and fails later; the bundle parser checks now.
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| Error::config("ca_cert", "not a PEM certificate"))?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        http.build()
            .map_err(|e| Error::config("ca_cert", format!("cannot build the HTTP client: {e}")))
    }

    /// Validate and build; no request is made yet.
    pub fn build(self) -> Result<AzureStore> {
        let url = self
            .vault_url
            .clone()
            .ok_or_else(|| Error::config("vault_url", "missing (set it or AZURE_KEYVAULT_URL)"))?;
        let parsed = azure_core::http::Url::parse(&url)
            .map_err(|e| Error::config("vault_url", format!("{url:?} is not a URL: {e}")))?;
        if parsed.scheme() != "https" {
            return Err(Error::config(
                "vault_url",
                "must be an https:// URL (Key Vault refuses tokens over plain http)",
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be greater than zero"));
        }
        let credential = match self.credential.clone() {
            Some(c) => c,
            None => Arc::new(ChainCredential::from_env().map_err(|e| {
                Error::config(
                    "credential",
                    format!("cannot set up the credential chain: {e}"),
                )
            })?),
        };
        let client_options = ClientOptions {
            retry: RetryOptions::none(),
            transport: Some(Transport::new(Arc::new(self.http()?))),
            ..Default::default()
        };
        let options = SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(self.verify_challenge_resource),
            ..Default::default()
        };
        let client = SecretClient::new(&url, credential, Some(options))
            .map_err(|e| Error::config("vault_url", format!("{e}")))?;
        let kv = Kv {
            client,
            retry: self.retry,
        };
        Ok(AzureStore::new(kv, url, self.expires_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(b: AzureStoreBuilder) -> String {
        b.build().map(drop).unwrap_err().message().to_owned()
    }

    #[test]
    fn the_standard_chain_builds_without_any_azure_variable() {
        let store = AzureStoreBuilder::new()
            .vault_url("https://my-vault.vault.azure.net")
            .build()
            .expect("build");
        assert!(format!("{store:?}").contains("my-vault"));
    }

    #[test]
    fn bad_settings_name_their_field() {
        assert!(message(AzureStoreBuilder::new()).starts_with("vault_url: missing"));
        assert!(
            message(AzureStoreBuilder::new().vault_url("http://127.0.0.1:1"))
                .starts_with("vault_url: must be an https")
        );
        assert!(message(AzureStoreBuilder::new().vault_url("not a url")).starts_with("vault_url:"));
        let zero = AzureStoreBuilder::new()
            .vault_url("https://v.vault.azure.net")
            .timeout(Duration::ZERO);
        assert!(message(zero).starts_with("timeout:"));
        let pem = AzureStoreBuilder::new()
            .vault_url("https://v.vault.azure.net")
            .ca_cert_pem("not a certificate");
        assert!(message(pem).starts_with("ca_cert:"));
    }
}
