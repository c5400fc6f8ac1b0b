//! The shared conformance suite (store contract, engine scenarios, crash injection) against the
//! in-process Key Vault test server.

mod common;

use std::sync::Arc;

use rotation_conformance::StoreFixture;
use rotation_core::SecretStore;

struct AzureFixture {
    store: Arc<dyn SecretStore>,
}

impl AzureFixture {
    fn new() -> Self {
        Self {
            store: common::store(rotation_azure_testserver::shared()),
        }
    }
}

impl StoreFixture for AzureFixture {
    fn store(&self) -> Arc<dyn SecretStore> {
        self.store.clone()
    }
}

rotation_conformance::conformance_tests!(AzureFixture::new());
