//! Pure domain of the rotation engine.
//!
//! This crate holds the vocabulary (policies, statuses, results), the contracts every backend
//! implements ([`SecretStore`], [`Verifier`], [`Target`], [`AuditSink`], [`Journal`], [`Clock`]),
//! the rotation state machine ([`machine`]) and its async driver ([`Engine`]). It performs no
//! network or file I/O of its own: everything that touches the outside world sits behind a trait.
//!
//! Feature `mock`: the `mock` module holds mockall mocks of those traits for crates that
//! embed the engine and assert its exact calls; stores are still tested against real services.
#![forbid(unsafe_code)]

pub mod audit;
pub mod book;
pub mod clock;
pub mod database;
pub mod engine;
pub mod error;
pub mod field;
pub mod generator;
pub mod journal;
pub mod machine;
pub mod memory;
pub mod memory_state;
#[cfg(feature = "mock")]
pub mod mock;
pub mod policy;
pub mod result;
pub mod schedule;
pub mod scheduler;
pub mod secret;
pub mod state;
pub mod stats;
pub mod store;
pub mod timing;
pub mod verify;

pub use audit::{
    AuditAction, AuditEvent, AuditSink, BreakKind, ChainBreak, ChainReport, NoAudit, Repair,
};
pub use clock::{Clock, SystemClock};
pub use database::{
    Connection, ConnectionSpec, CredentialSource, DbCredential, Session, StoreCredential, Tls,
    TlsMode,
};
pub use engine::{
    Claim, Engine, EngineBuilder, RecoveryAction, RecoveryReport, RotateRequest, SecretBinding,
};
pub use error::{Error, ErrorKind, Result};
pub use generator::{CharClasses, GeneratorSpec, SecretGenerator};
pub use journal::{Journal, NoJournal};
pub use memory::MemoryStore;
pub use memory_state::MemoryStateStore;
pub use policy::{
    NotifyFlags, RotationPolicy, RotationPolicyBuilder, RotationStatus, RotationStrategy,
};
pub use result::RotationResult;
pub use schedule::{AttemptOutcome, Reminder, ScheduleChange, ScheduleRecord};
pub use scheduler::{Bindings, NoObserver, Pass, PassObserver, Scheduler, SchedulerBuilder};
pub use secret::{RotationId, SecretId, SecretPath, SecretValue, VersionId};
pub use state::{Lease, StateStore, StoredCounts};
pub use stats::{Statistics, StatsCounter};
pub use store::{Capabilities, SecretStore, VersionInfo, VersionState, VersionedSecret};
pub use timing::{Cadence, CronSchedule, Timing, TimingSpec, Window};
pub use verify::{Target, Verifier, VerifyContext};
