//! Test hook for the crash-injection suite: abort the process at a chosen journal record.
//!
//! `ROTATION_TEST_ABORT_BEFORE_RECORD=k` aborts just before the k-th journal record is written
//! (the previous step ran, its outcome is not journaled); `ROTATION_TEST_ABORT_AFTER_RECORD=k`
//! aborts right after it is durable (the step has not run). `std::process::abort` ends the
//! process as abruptly as `kill -9`: no destructor, no lease release, no cleanup. Unset in
//! normal use; it lets the end-to-end tests crash the real binary at every step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use rotation_core::machine::RotationState;
use rotation_core::{Journal, Result};

/// Wraps the real journal and aborts at the configured record.
#[derive(Debug)]
pub struct AbortingJournal {
    inner: Arc<dyn Journal>,
    before: Option<usize>,
    after: Option<usize>,
    seen: AtomicUsize,
}

const BEFORE: &str = "ROTATION_TEST_ABORT_BEFORE_RECORD";
const AFTER: &str = "ROTATION_TEST_ABORT_AFTER_RECORD";

impl AbortingJournal {
    /// Whether one of the variables is set.
    pub fn configured() -> bool {
        std::env::var_os(BEFORE).is_some() || std::env::var_os(AFTER).is_some()
    }

    /// `Some` when one of the variables is set.
    pub fn from_env(inner: Arc<dyn Journal>) -> Option<Self> {
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        let (before, after) = (read(BEFORE), read(AFTER));
        (before.is_some() || after.is_some()).then(|| Self {
            inner,
            before,
            after,
            seen: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Journal for AbortingJournal {
    async fn record(&self, state: &RotationState) -> Result<()> {
        let k = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.before == Some(k) {
            std::process::abort();
        }
        self.inner.record(state).await?;
        if self.after == Some(k) {
            std::process::abort();
        }
        Ok(())
    }
}
