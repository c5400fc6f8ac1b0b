//! The shared conformance suite (store contract, engine scenarios, crash injection) against
//! moto's Secrets Manager, started by `cargo xtask ci`.

use std::sync::Arc;

use rotation_aws::AwsStore;
use rotation_conformance::StoreFixture;
use rotation_core::SecretStore;
use rotation_testkit::Moto;

struct AwsFixture {
    store: Arc<dyn SecretStore>,
}

impl AwsFixture {
    fn new() -> Self {
        let moto = Moto::from_env();
        let store = AwsStore::builder()
            .endpoint_url(&moto.endpoint)
            .region("us-east-1")
            .build()
            .expect("store");
        Self {
            store: Arc::new(store),
        }
    }
}

impl StoreFixture for AwsFixture {
    fn store(&self) -> Arc<dyn SecretStore> {
        self.store.clone()
    }
}

rotation_conformance::conformance_tests!(AwsFixture::new());
