//! The target conformance suite against a private Redis, the target logging in as the user
//! itself (single-user mode: no admin secret).

mod common;

rotation_conformance::target_conformance_tests!(common::Harness::new(true));
