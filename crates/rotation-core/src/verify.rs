//! Contracts for the systems that check ([`Verifier`]) and accept ([`Target`]) a credential.

use std::fmt;

use async_trait::async_trait;

use crate::database::Session;
use crate::error::Result;
use crate::secret::{RotationId, SecretId, SecretValue};

/// What a verifier or target knows about the rotation besides the value.
#[derive(Debug, Clone)]
pub struct VerifyContext {
    /// The configured secret id.
    pub secret: SecretId,
    /// The rotation in progress (`None` for `rotation verify` of the current value).
    pub rotation_id: Option<RotationId>,
    /// The rotation's credentials the engine knows (new and old), whichever value a call is
    /// given: an implementation that reports outside text (a program's stderr) removes these
    /// from it as well as the given value. Never sent anywhere, except as a login to the
    /// target itself by a target that logs in as the secret's own user (single-user mode:
    /// the user's current password is one of these, whichever step the rotation is at).
    pub related_values: Vec<SecretValue>,
    /// For structured secrets (`field` set): the whole document the given value belongs to,
    /// with the given value in its field (a database secret's `username`, `host`, `port`...).
    /// Never logged, never sent anywhere.
    pub document: Option<SecretValue>,
}

impl VerifyContext {
    /// A context with no related values.
    pub fn new(secret: SecretId, rotation_id: Option<RotationId>) -> Self {
        Self {
            secret,
            rotation_id,
            related_values: Vec::new(),
            document: None,
        }
    }

    /// The same context for a call about `document` (see [`VerifyContext::document`]).
    pub fn with_document(&self, document: Option<SecretValue>) -> Self {
        Self {
            document,
            ..self.clone()
        }
    }

    /// Add related values (empty ones are skipped: there is nothing to remove).
    pub fn with_related_values(mut self, values: impl IntoIterator<Item = SecretValue>) -> Self {
        self.related_values
            .extend(values.into_iter().filter(|v| !v.is_empty()));
        self
    }
}

/// Checks that a credential works.
///
/// # Contract
/// - `Ok(())` means the credential was positively checked; anything else is a failure (fail
///   closed: a verifier that cannot run, times out or is misconfigured returns an error).
/// - Failures are [`ErrorKind::Verification`](crate::ErrorKind::Verification) (the credential
///   was rejected) or [`ErrorKind::Temporary`](crate::ErrorKind::Temporary) (could not tell).
/// - The value, and the context's related values, must not reach argv, logs or the error
///   message.
/// - Must be side-effect free: the engine may run it more than once.
/// - [`Verifier::check`] makes only static checks with no side effect (e.g. the program exists
///   and is executable); `config check` and `rotate --dry-run` run it. Its failures are
///   [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) errors naming the field.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Verifier: Send + Sync + fmt::Debug {
    /// The configured name (for results and audit).
    fn name(&self) -> &str;
    /// What it is, for people (`rotate --dry-run`): kind and where it connects, never a value.
    fn describe(&self) -> String {
        self.name().to_owned()
    }
    /// Static checks of the configuration, without side effects (the default passes).
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// Check `value`.
    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()>;
}

/// The system that must accept a new credential (a database user, an API key registry, ...).
///
/// # Contract
/// - `apply` is idempotent: applying the same value twice is the same as once, so a resumed
///   rotation can re-apply. Rollback re-applies the old value through the same call.
/// - Failures are [`ErrorKind::Target`](crate::ErrorKind::Target) or
///   [`ErrorKind::Temporary`](crate::ErrorKind::Temporary); the value and the context's related
///   values never reach argv, logs or the error message.
/// - [`Target::check`]: static checks with no side effect, as [`Verifier::check`] (covering the
///   revoke program too).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Target: Send + Sync + fmt::Debug {
    /// The configured name.
    fn name(&self) -> &str;
    /// What it is, for people (`rotate --dry-run`): kind and where it connects, never a value.
    fn describe(&self) -> String {
        self.name().to_owned()
    }
    /// Static checks of the configuration, without side effects (the default passes).
    fn check(&self) -> Result<()> {
        Ok(())
    }
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

    /// Whether the target can hold two valid passwords for one user at once (Redis ACL users,
    /// MySQL 8 dual passwords): what a `dual_write` strategy needs. Default false.
    fn holds_two_credentials(&self) -> bool {
        false
    }

    /// The sessions open at the target as the user of `ctx`'s document (for a drain: who still
    /// uses an old credential); `None` when the target cannot tell. Read-only.
    async fn sessions(&self, _ctx: &VerifyContext) -> Result<Option<Vec<Session>>> {
        Ok(None)
    }
}
