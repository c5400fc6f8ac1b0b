//! The PostgreSQL target and verifier.
//!
//! - [`PostgresTarget`] changes a role's password with `ALTER ROLE ... PASSWORD` and a
//!   SCRAM-SHA-256 verifier computed on the client, so the plaintext never reaches the server
//!   (its logs, `pg_stat_statements`); it logs in as an admin read from the store at rotation
//!   time, or as the role itself (single-user mode). Revoke ends the role's open sessions,
//!   which a changed password leaves open.
//! - [`PostgresVerifier`] logs in as the secret's user with the candidate on a fresh
//!   connection and checks the answer to a query.
//!
//! Both read the database secret in AWS's format ([`DbCredential`](rotation_core::DbCredential)):
//! the config's [`ConnectionSpec`] wins over its keys. The client is tokio-postgres over
//! rustls ([`TlsMode`](rotation_core::TlsMode): `disable` to `verify-full`). Without a
//! database in the config or the secret, logins use `postgres`
//! ([`DEFAULT_DBNAME`]). Errors name the target or verifier, the server, the user and the
//! server's own message with its SQLSTATE, never a value.
#![forbid(unsafe_code)]

mod admin;
mod connect;
mod pg_target;
mod tls;
mod verifier;

use std::time::Duration;

use rotation_core::{ConnectionSpec, Error, Result};

pub use connect::DEFAULT_DBNAME;
pub use pg_target::{PostgresTarget, PostgresTargetBuilder};
pub use verifier::{DEFAULT_EXPECT, DEFAULT_QUERY, PostgresVerifier, PostgresVerifierBuilder};

/// PostgreSQL's port when neither the config nor the secret gives one.
pub const DEFAULT_PORT: u16 = 5432;
/// Bound on connecting and on each statement when the config sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The builders' shared checks.
fn check_common(
    name: &str,
    spec: &ConnectionSpec,
    username: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::config("name", "must not be empty"));
    }
    if timeout.is_zero() {
        return Err(Error::config("timeout", "must be more than zero"));
    }
    if spec.port == Some(0) {
        return Err(Error::config("port", "must be 1 to 65535"));
    }
    if spec.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
        return Err(Error::config("host", "must not be empty"));
    }
    if username.is_some_and(|u| u.is_empty()) {
        return Err(Error::config("username", "must not be empty"));
    }
    if spec.client_cert.is_some() != spec.client_key.is_some() {
        let missing = if spec.client_cert.is_some() {
            "client_key"
        } else {
            "client_cert"
        };
        return Err(Error::config(
            missing,
            "client_cert and client_key go together: set both or neither",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rotation_core::ErrorKind;

    use super::*;

    #[test]
    fn builders_name_the_bad_field() {
        let field = |r: Result<PostgresTarget>| {
            let err = r.expect_err("invalid");
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
            err.field().map(str::to_owned)
        };
        let t = || PostgresTarget::builder("pg");
        assert_eq!(
            field(t().timeout(Duration::ZERO).build()).as_deref(),
            Some("timeout")
        );
        assert_eq!(
            field(PostgresTarget::builder(" ").build()).as_deref(),
            Some("name")
        );
        assert_eq!(
            field(t().username(Some(String::new())).build()).as_deref(),
            Some("username")
        );
        let spec = ConnectionSpec {
            client_cert: Some(PathBuf::from("c.pem")),
            ..ConnectionSpec::default()
        };
        assert_eq!(
            field(t().connection(spec).build()).as_deref(),
            Some("client_key")
        );
        let spec = ConnectionSpec {
            port: Some(0),
            ..ConnectionSpec::default()
        };
        assert_eq!(field(t().connection(spec).build()).as_deref(), Some("port"));
        let err = PostgresVerifier::builder("v")
            .query(Some("  ".into()))
            .build()
            .expect_err("empty query");
        assert_eq!(err.field(), Some("query"));
        assert!(PostgresVerifier::builder("v").build().is_ok());
    }
}
