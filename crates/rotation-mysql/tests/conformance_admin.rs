//! The target conformance suite against the shared MariaDB, the target logging in as root.

mod common;

use common::harness::MariadbHarness;

rotation_conformance::target_conformance_tests!(MariadbHarness::new(true));
