//! Shared set-up: a store pointed at an in-process Key Vault test server.

use std::sync::Arc;
use std::time::Duration;

use rotation_azure::{AzureStore, AzureStoreBuilder, StaticTokenCredential};
use rotation_azure_testserver::KeyVaultServer;

/// A builder for `server` as the tests use it: the test CA, a fixed token, the challenge's
/// resource not checked (127.0.0.1 is not a Key Vault domain), fast retries.
pub fn builder(server: &KeyVaultServer) -> AzureStoreBuilder {
    AzureStore::builder()
        .vault_url(server.url())
        .ca_cert_pem(server.ca_pem())
        .credential(Arc::new(StaticTokenCredential::new(
            "test-token",
            Duration::from_secs(3600),
        )))
        .verify_challenge_resource(false)
        .timeout(Duration::from_secs(10))
        .retry_backoff(Duration::from_millis(50))
}

/// A store on `server`.
#[allow(
    dead_code,
    reason = "each test file compiles this module; not all use it"
)]
pub fn store(server: &KeyVaultServer) -> Arc<AzureStore> {
    Arc::new(builder(server).build().expect("store"))
}
