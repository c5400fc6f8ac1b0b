//! Contracts for the systems that check ([`Verifier`]) and accept ([`Target`]) a credential.

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::secret::{RotationId, SecretId, SecretValue};

/// What a verifier or target knows about the rotation besides the value.
#[derive(Debug, Clone)]
pub struct VerifyContext {
    /// The configured secret id.
    pub secret: SecretId,
    /// The rotation in progress (`None` for `rotation verify` of the current value).
    pub rotation_id: Option<RotationId>,
}

/// Checks that a credential works.
///
/// # Contract
/// - `Ok(())` means the credential was positively checked; anything else is a failure (fail
///   closed: a verifier that cannot run, times out or is misconfigured returns an error).
/// - Failures are [`ErrorKind::Verification`](crate::ErrorKind::Verification) (the credential
///   was rejected) or [`ErrorKind::Temporary`](crate::ErrorKind::Temporary) (could not tell).
/// - The value must not reach argv, logs or the error message.
/// - Must be side-effect free: the engine may run it more than once.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Verifier: Send + Sync + fmt::Debug {
    /// The configured name (for results and audit).
    fn name(&self) -> &str;
    /// Check `value`.
    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()>;
}

/// The system that must accept a new credential (a database user, an API key registry, ...).
///
/// # Contract
/// - `apply` is idempotent: applying the same value twice is the same as once, so a resumed
///   rotation can re-apply. Rollback re-applies the old value through the same call.
/// - Failures are [`ErrorKind::Target`](crate::ErrorKind::Target) or
///   [`ErrorKind::Temporary`](crate::ErrorKind::Temporary); the value never reaches argv, logs or
///   the error message.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Target: Send + Sync + fmt::Debug {
    /// The configured name.
    fn name(&self) -> &str;
    /// Make the target accept `value`.
    async fn apply(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()>;

    /// Whether [`Target::revoke`] can do anything.
    fn can_revoke(&self) -> bool {
        false
    }

    /// Revoke the credential `old` (after a compromise, once the new one is current). Same
    /// rules as `apply`: idempotent, value never in argv, logs or errors.
    async fn revoke(&self, _ctx: &VerifyContext, _old: &SecretValue) -> Result<()> {
        Err(crate::Error::new(
            crate::ErrorKind::NotSupported,
            format!("target {} cannot revoke credentials", self.name()),
        ))
    }
}
