//! Mocks of the public traits (feature `mock`), for crates that embed the engine and want to
//! assert the exact calls it makes: [`MockSecretStore`], [`MockVerifier`], [`MockTarget`],
//! [`MockAuditSink`], [`MockJournal`] and [`MockStateStore`]. Combine them with
//! `mockall::Sequence` to pin the order of calls across collaborators
//! (`crates/rotation-core/tests/interactions.rs` shows how).
//!
//! The plain traits are mocked where they are declared (`automock`). Two are declared here:
//! [`MockStateStore`] ([`state`]), which must implement its supertrait
//! [`Journal`](crate::Journal) too, and [`MockSecretStore`] ([`store`]), whose
//! `write_current` takes an `Option<&VersionId>` that mockall cannot mock. Mocks test the
//! engine's call sequences only: every store is tested against its real service.

pub mod state;
pub mod store;

pub use crate::audit::MockAuditSink;
pub use crate::journal::MockJournal;
pub use crate::verify::{MockTarget, MockVerifier};
pub use state::MockStateStore;
pub use store::{MockSecretStore, StoreCalls};
