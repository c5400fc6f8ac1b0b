//! The [`Journal`] hook: where the engine writes each step's intent before performing it.
//!
//! This crate ships only [`NoJournal`]; a durable implementation (SQLite, PostgreSQL) plugs in
//! here so that a crash at any step can be resumed or rolled back from the last record.

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::machine::RotationState;

/// Persists rotation states.
///
/// # Contract
/// - `record` is called with the state whose `step` is about to run, before it runs, and once
///   more with the final state. It returns only when the record is durable.
/// - An error stops the rotation before the step (the engine never acts without a record).
/// - States carry ids and versions only; a journal never sees a secret value.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Journal: Send + Sync + fmt::Debug {
    /// Persist `state`.
    async fn record(&self, state: &RotationState) -> Result<()>;
}

/// A journal that keeps nothing (in-memory engines, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

#[async_trait]
impl Journal for NoJournal {
    async fn record(&self, _state: &RotationState) -> Result<()> {
        Ok(())
    }
}
