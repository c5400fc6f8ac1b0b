//! The target conformance suite over a private PostgreSQL server, single-user mode: the role
//! logs in with its current password and changes its own.

mod common;

rotation_conformance::target_conformance_tests!(common::harness::PgHarness::new(true).await);
