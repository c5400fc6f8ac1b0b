//! Configuration of an [`AwsStore`]: region, endpoint, retries and timeouts. Credentials come
//! from the standard AWS chain (environment, profile, web identity, IMDS), never from our config.

use std::time::Duration;

use rotation_core::{Error, Result};

use crate::store::AwsStore;

/// Builds an [`AwsStore`]. The SDK configuration is loaded on first use (it is async).
#[derive(Debug, Clone, Default)]
pub struct AwsStoreBuilder {
    pub(crate) name: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
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
    /// Validate; no request is made yet.
    pub fn build(self) -> Result<AwsStore> {
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
        Ok(AwsStore::new(self))
    }
}
