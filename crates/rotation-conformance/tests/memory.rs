//! The conformance suite against the in-memory store.

rotation_conformance::conformance_tests!(rotation_conformance::memory());
