//! Local file-system backends for the rotation engine.
//!
//! - [`FileStore`]: a versioned [`SecretStore`](rotation_core::SecretStore) keeping one
//!   directory per secret, with the same rules as the in-memory store (both use
//!   [`VersionBook`](rotation_core::book::VersionBook)), crash-safe writes and cross-process
//!   locking. See [`store`] for the on-disk layout.
//! - [`JsonlAuditSink`]: a hash-chained JSON-lines [`AuditSink`](rotation_core::AuditSink)
//!   that several processes may append to at once. See [`audit`].
//!
//! All blocking I/O runs on tokio's blocking pool.
#![forbid(unsafe_code)]

pub mod audit;
pub mod builder;
mod dir;
mod encode;
mod fsutil;
pub mod store;

pub use audit::JsonlAuditSink;
pub use builder::FileStoreBuilder;
pub use store::{DEFAULT_MAX_VERSIONS, FileStore, MAX_PATH_BYTES, MAX_VALUE_BYTES};
