//! The target conformance suite against the shared MariaDB, the target logging in as the user
//! itself (no admin secret) with one of the rotation's passwords.

mod common;

use common::harness::MariadbHarness;

rotation_conformance::target_conformance_tests!(MariadbHarness::new(false));
