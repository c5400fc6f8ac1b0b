//! The state store conformance suite against the in-memory `MemoryStateStore`.

rotation_conformance::state_conformance_tests!(std::sync::Arc::new(
    rotation_core::MemoryStateStore::new()
) as std::sync::Arc<dyn rotation_core::StateStore>);
