//! The MariaDB/MySQL target and verifier.
//!
//! - [`MysqlTarget`] changes a user's password, with an admin login (its admin secret) or as
//!   the user itself (single-user mode), for MariaDB 10.2+ and MySQL 5.7+/8. The plaintext
//!   never reaches the server: the client computes the `mysql_native_password` hash and sends
//!   `ALTER USER ... IDENTIFIED BY PASSWORD '*hash'` (MariaDB) or `... IDENTIFIED WITH
//!   mysql_native_password AS '*hash'` (MySQL), so neither the general log nor the binary log
//!   holds it (see [`sql`]). Revoke ends the user's sessions (a changed password does not).
//!   Only the MariaDB path is tested (MariaDB 10.11); MySQL 8 cannot be installed here.
//! - A server-side password policy: MariaDB with a password validation plugin and
//!   `strict_password_validation=ON` (its default) refuses every hashed password, since the
//!   plugin can check only plaintext. The target then fails with the server's text and the fix
//!   (`strict_password_validation=OFF`, and a generator that meets the policy itself); it
//!   never falls back to sending the plaintext. See [`refusal`] for the server's answers.
//! - [`MysqlVerifier`] logs in on a fresh connection with the candidate and checks one query's
//!   answer.
//!
//! Client: `mysql_async` (pure Rust, rustls over aws-lc-rs, one connection per call, no pool).
//! TLS follows [`rotation_core::TlsMode`]: `disable`; `prefer` (TLS when the server offers it,
//! certificate not checked); `require` (TLS, not checked); `verify-ca` (the configured CA, else
//! the built-in Mozilla roots; host name not checked); `verify-full` (and the host name).
//! A limitation: the driver keeps the login password in a plain `String` while it connects.
#![forbid(unsafe_code)]

mod connect;
mod login;
pub mod refusal;
pub mod sql;
mod statement;
mod target;
mod verifier;

use std::time::Duration;

pub use target::{MysqlTarget, MysqlTargetBuilder};
pub use verifier::{MysqlVerifier, MysqlVerifierBuilder};

/// MariaDB's and MySQL's port.
pub const DEFAULT_PORT: u16 = 3306;
/// Time limit of a connection and of each statement.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
