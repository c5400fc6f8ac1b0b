//! The state store conformance suite against a `SqliteStateStore` file in a temporary directory,
//! and against an in-memory database.

use std::sync::Arc;

use rotation_conformance::StateFixture;
use rotation_core::StateStore;
use rotation_state_sqlite::SqliteStateStore;

struct SqliteFixture {
    _dir: tempfile::TempDir,
    state: Arc<dyn StateStore>,
}

impl SqliteFixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = SqliteStateStore::open(dir.path().join("state/state.db")).expect("open");
        Self {
            _dir: dir,
            state: Arc::new(state),
        }
    }
}

impl StateFixture for SqliteFixture {
    fn state(&self) -> Arc<dyn StateStore> {
        self.state.clone()
    }
}

rotation_conformance::state_conformance_tests!(SqliteFixture::new());

mod in_memory {
    use super::*;

    rotation_conformance::state_conformance_tests!(Arc::new(
        SqliteStateStore::open_in_memory().expect("open in memory")
    ) as Arc<dyn StateStore>);
}
