//! Redis as a rotation target and verifier: [`RedisTarget`] changes the passwords of an ACL
//! user (Redis 6+), [`RedisVerifier`] checks that a password logs in.
//!
//! Connections follow [`rotation_core::DbCredential`]: AWS's database secret keys (`host`,
//! `port` (default 6379), `username`, `password`, `dbname` = the logical database number,
//! `sslmode`...), the config's [`ConnectionSpec`] winning. TLS (`rediss`) per
//! [`rotation_core::TlsMode`] (see [`tls`] for what each mode checks).
//!
//! The wire protocol is a small RESP2 client of this crate ([`resp`]) rather than the `redis`
//! crate: the target and verifier send a handful of commands on one short-lived connection
//! (no pool, pipelining, pub/sub or cluster), and owning the client keeps three things in hand
//! that the `redis` crate does not offer: a rustls verifier per mode (`verify-ca` checks the
//! chain but not the host name; the `redis` crate has only "verify all" or "insecure"), the
//! `AUTH` reply checked by the caller (no automatic login that keeps the password in a
//! connection-info `String`), and command buffers wiped after sending.
#![forbid(unsafe_code)]

mod acl;
mod client;
pub mod resp;
mod target;
pub mod tls;
mod verifier;

use std::future::Future;
use std::time::Duration;

use rotation_core::{ConnectionSpec, Error, ErrorKind, Result, TlsMode};

pub use acl::password_hash;
pub use target::{RedisTarget, RedisTargetBuilder};
pub use verifier::{RedisVerifier, RedisVerifierBuilder};

/// Redis's port.
pub const DEFAULT_PORT: u16 = 6379;
/// Default limit of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Static checks of the builders' settings.
fn check_spec(what: &str, spec: &ConnectionSpec, timeout: Duration) -> Result<()> {
    if timeout.is_zero() {
        return Err(Error::config(
            "timeout",
            format!("{what}: must be more than 0"),
        ));
    }
    if spec.tls_mode == Some(TlsMode::Prefer) {
        return Err(Error::config(
            "tls",
            format!(
                "{what}: Redis serves TLS on its own port and cannot fall back: use disable, \
                 require, verify-ca or verify-full"
            ),
        ));
    }
    if let Some(db) = &spec.dbname
        && db.parse::<u32>().is_err()
    {
        return Err(Error::config(
            "dbname",
            format!("{what}: {db:?} is not a logical database number"),
        ));
    }
    if spec.client_cert.is_some() != spec.client_key.is_some() {
        return Err(Error::config(
            "client_key",
            format!("{what}: client_cert and client_key go together"),
        ));
    }
    if spec.host.as_deref() == Some("") {
        return Err(Error::config("host", format!("{what}: empty host")));
    }
    Ok(())
}

/// `check()`: the configured TLS files exist.
fn check_files(what: &str, spec: &ConnectionSpec) -> Result<()> {
    for (field, path) in [
        ("ca", &spec.ca),
        ("client_cert", &spec.client_cert),
        ("client_key", &spec.client_key),
    ] {
        if let Some(path) = path
            && !path.is_file()
        {
            return Err(Error::config(
                field,
                format!("{what}: {} is not a readable file", path.display()),
            ));
        }
    }
    Ok(())
}

/// `fut` within `timeout` (a timeout is temporary).
async fn within<T>(
    what: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Temporary,
                format!("{what}: no answer within {timeout:?}"),
            ))
        })
}
