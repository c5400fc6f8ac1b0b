//! The conformance suite: plain async test cases over `&dyn SecretStore` ([`store_cases`]) and
//! engine scenarios over any store ([`engine_cases`]).
//!
//! A backend runs the whole suite with one macro call in an integration test:
//!
//! ```text
//! rotation_conformance::conformance_tests!(MyFixture::new());
//! ```
//!
//! where the expression yields a [`StoreFixture`] (it owns whatever keeps the store alive, such
//! as a temporary directory or a server handle). Every case uses its own secret paths, so one
//! store instance may serve all of them. Among the store cases, `errors_never_contain_the_value`
//! drives the store through every fault the suite can cause ([`store_faults`]) with values
//! carrying a random marker and checks each error with a [`leak::Probe`].
//!
//! A [`StateStore`] backend runs [`state_cases`] likewise with
//! `rotation_conformance::state_conformance_tests!(make)`, where `make` yields a [`StateFixture`].
//!
//! An [`AuditSink`](rotation_core::AuditSink) backend runs [`audit_cases`] (append and verify,
//! the chain across instances and concurrent appenders, detection of edited, deleted,
//! reordered and truncated records, interrupted appends) with
//! `rotation_conformance::audit_conformance_tests!(make)`, where `make` yields a fresh
//! [`AuditHarness`] (an empty trail, plus the means to tamper with it) for each case. The
//! expressions of all three macros are evaluated inside the async test, so they may `.await`.
//!
//! A built-in database target runs [`target_cases`] against its real server with
//! `rotation_conformance::target_conformance_tests!(make)`, where `make` yields a
//! [`TargetHarness`].
#![forbid(unsafe_code)]

pub mod audit_cases;
pub mod audit_harness;
pub mod crash_cases;
pub mod engine_cases;
pub mod leak;
pub mod schedule_race_cases;
pub mod state_cases;
pub mod store_cases;
pub mod store_faults;
pub mod support;
pub mod target_cases;

pub use audit_harness::{AuditHarness, Crash, Tamper};
pub use target_cases::TargetHarness;

use std::sync::Arc;

use rotation_core::{MemoryStore, SecretStore, StateStore};

/// Something that provides a store for one test case.
pub trait StoreFixture {
    /// The store under test.
    fn store(&self) -> Arc<dyn SecretStore>;
}

impl StoreFixture for Arc<dyn SecretStore> {
    fn store(&self) -> Arc<dyn SecretStore> {
        self.clone()
    }
}

/// Something that provides a state store for one test case (see [`state_conformance_tests!`]).
pub trait StateFixture {
    /// The state store under test.
    fn state(&self) -> Arc<dyn StateStore>;
}

impl StateFixture for Arc<dyn StateStore> {
    fn state(&self) -> Arc<dyn StateStore> {
        self.clone()
    }
}

/// Fixture for the in-memory store.
pub fn memory() -> Arc<dyn SecretStore> {
    Arc::new(MemoryStore::new())
}

/// Generate one `#[tokio::test]` per conformance case for the fixture expression `$make`.
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@store $make;
            round_trip, create_twice_conflicts, stale_write_conflicts_and_changes_nothing,
            stage_is_idempotent_and_invisible, promote_is_compare_and_swap, promote_is_idempotent,
            promote_without_pending_is_not_found, discard_is_idempotent, restore_is_cas_and_byte_identical,
            list_versions_reports_states, missing_secret_is_not_found, large_and_unicode_values,
            read_version_returns_pending_and_committed, write_current_is_idempotent_per_rotation_id,
            restore_is_an_undo, errors_never_contain_the_value);
        $crate::conformance_tests!(@engine $make;
            staged_success, immediate_success, custom_value, verification_failure_rolls_back,
            staged_failure_without_auto_rollback_is_failed, immediate_failure_without_auto_rollback_is_failed,
            target_is_reverted_on_failure, concurrent_rotation_is_rejected, competing_writer_loses_nothing,
            json_field_rotation, statistics_are_counted, durations_are_measured,
            schedules_due_not_due_and_disabled, missing_secret_fails_clearly, create_if_missing_creates);
        mod crash_conformance {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn staged_survives_a_crash_at_every_step() {
                let fixture = $make;
                let store = $crate::StoreFixture::store(&fixture);
                $crate::crash_cases::crash_at_every_step(store, rotation_core::RotationStrategy::Staged).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn immediate_survives_a_crash_at_every_step() {
                let fixture = $make;
                let store = $crate::StoreFixture::store(&fixture);
                $crate::crash_cases::crash_at_every_step(store, rotation_core::RotationStrategy::Immediate).await;
            }
        }
    };
    (@store $make:expr; $($case:ident),* $(,)?) => {
        mod store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = $make;
                    let store = $crate::StoreFixture::store(&fixture);
                    $crate::store_cases::$case(&*store).await;
                }
            )*
        }
    };
    (@engine $make:expr; $($case:ident),* $(,)?) => {
        mod engine_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = $make;
                    let store = $crate::StoreFixture::store(&fixture);
                    $crate::engine_cases::$case(store).await;
                }
            )*
        }
    };
}

/// Generate one `#[tokio::test]` per [`state_cases`] case for the [`StateFixture`] expression
/// `$make`. The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! state_conformance_tests {
    ($make:expr) => {
        $crate::state_conformance_tests!(@cases $make;
            journal_upsert_round_trip, unfinished_is_oldest_first_without_done,
            lease_is_exclusive_until_expiry, expired_lease_is_taken_over_with_higher_token,
            renew_with_stale_token_conflicts, release_with_stale_token_keeps_new_holder,
            token_increases_after_release, schedule_round_trip_and_list,
            due_schedules_filter_order_and_limit, delete_schedule_reports_existence,
            counts_add_and_reset, live_leases_are_the_unexpired_ones,
            update_schedule_is_one_change_and_none_without_schedule);
        $crate::state_conformance_tests!(@shared $make;
            pause_racing_finished_rotations_is_never_lost);
    };
    (@shared $make:expr; $($case:ident),* $(,)?) => {
        mod schedule_race_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = $make;
                    let state = $crate::StateFixture::state(&fixture);
                    $crate::schedule_race_cases::$case(state).await;
                }
            )*
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        mod state_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = $make;
                    let state = $crate::StateFixture::state(&fixture);
                    $crate::state_cases::$case(&*state).await;
                }
            )*
        }
    };
}

/// Generate one `#[tokio::test]` per [`audit_cases`] case for the [`AuditHarness`] expression
/// `$make` (evaluated once per case: each case needs an empty trail). The calling crate needs
/// `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! audit_conformance_tests {
    ($make:expr) => {
        $crate::audit_conformance_tests!(@cases $make;
            empty_trail_verifies_to_empty, appended_events_verify_in_order_and_unchanged,
            chain_survives_reopen, concurrent_appends_are_all_chained,
            every_edited_field_is_detected, deleted_record_is_detected,
            reordered_records_are_detected, truncated_tail_is_detected, emptied_trail_is_detected,
            interrupted_append_leaves_a_verifiable_trail);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        mod audit_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = $make;
                    $crate::audit_cases::$case(&harness).await;
                }
            )*
        }
    };
}

/// Generate one `#[tokio::test]` per [`target_cases`] case for the [`TargetHarness`]
/// expression `$make` (evaluated once per case, may `.await`). The calling crate needs `tokio`
/// (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! target_conformance_tests {
    ($make:expr) => {
        $crate::target_conformance_tests!(@cases $make;
            apply_changes_the_password, reapply_is_idempotent,
            rollback_restores_the_previous_password, revoke_leaves_only_the_current_password,
            wrong_admin_password_fails_clearly, missing_user_fails_clearly,
            unreachable_server_is_temporary);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        mod target_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = $make;
                    $crate::target_cases::$case(&harness).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn staged_survives_a_crash_at_every_step_with_the_target() {
                let harness = $make;
                $crate::target_cases::crash_with_the_target_at_every_step(
                    &harness, rotation_core::RotationStrategy::Staged).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn immediate_survives_a_crash_at_every_step_with_the_target() {
                let harness = $make;
                $crate::target_cases::crash_with_the_target_at_every_step(
                    &harness, rotation_core::RotationStrategy::Immediate).await;
            }
        }
    };
}
