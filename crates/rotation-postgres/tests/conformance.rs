//! The target conformance suite over a private PostgreSQL server, admin mode.

mod common;

rotation_conformance::target_conformance_tests!(common::harness::PgHarness::new(false).await);
