//! The shared conformance suite against a `FileStore` in a temporary directory.

use std::sync::Arc;

use rotation_conformance::StoreFixture;
use rotation_core::SecretStore;
use rotation_file::FileStore;

struct FileFixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn SecretStore>,
}

impl FileFixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::builder(dir.path().join("store"))
            .build()
            .expect("file store");
        Self {
            _dir: dir,
            store: Arc::new(store),
        }
    }
}

impl StoreFixture for FileFixture {
    fn store(&self) -> Arc<dyn SecretStore> {
        self.store.clone()
    }
}

rotation_conformance::conformance_tests!(FileFixture::new());
