//! Wall-clock time behind a trait so schedules and results can be tested with a fixed clock.

use std::fmt;

use chrono::{DateTime, Utc};

/// A source of wall-clock time. Durations are measured with `std::time::Instant`, not with this.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
