//! The target conformance suite against a private Redis, the target logging in as an admin.

mod common;

rotation_conformance::target_conformance_tests!(common::Harness::new(false));
