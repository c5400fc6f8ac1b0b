//! The shared conformance suite (store contract, engine scenarios, crash injection) against a
//! real OpenBao dev server started by `cargo xtask ci`, one fresh KV v2 mount per test.

use std::sync::Arc;

use rotation_conformance::StoreFixture;
use rotation_core::{SecretStore, SecretValue};
use rotation_testkit::{Bao, unique};
use rotation_vault::{Auth, VaultStore};

struct VaultFixture {
    store: Arc<dyn SecretStore>,
}

impl VaultFixture {
    fn new() -> Self {
        let bao = Bao::from_env();
        let mount = unique("kv");
        bao.enable_kv2(&mount);
        let store = VaultStore::builder()
            .address(&bao.addr)
            .auth(Auth::Token(SecretValue::from(bao.token.as_str())))
            .mount(&mount)
            .build()
            .expect("vault store");
        Self {
            store: Arc::new(store),
        }
    }
}

impl StoreFixture for VaultFixture {
    fn store(&self) -> Arc<dyn SecretStore> {
        self.store.clone()
    }
}

rotation_conformance::conformance_tests!(VaultFixture::new());
