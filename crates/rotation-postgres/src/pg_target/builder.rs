//! [`PostgresTargetBuilder`]: the target's settings, checked.

use std::sync::Arc;
use std::time::Duration;

use rotation_core::{ConnectionSpec, CredentialSource, Result};

use super::PostgresTarget;
use crate::DEFAULT_TIMEOUT;

/// Builds a [`PostgresTarget`].
#[derive(Debug)]
pub struct PostgresTargetBuilder {
    name: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    timeout: Duration,
}

impl PostgresTarget {
    /// A builder for the target configured as `name`.
    pub fn builder(name: impl Into<String>) -> PostgresTargetBuilder {
        PostgresTargetBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            admin: None,
            username: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl PostgresTargetBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }

    /// The admin login's secret; `None`: single-user mode (log in as the secret's own user
    /// with one of the rotation's known passwords).
    pub fn admin(mut self, admin: Option<Arc<dyn CredentialSource>>) -> Self {
        self.admin = admin;
        self
    }

    /// The role whose password changes, instead of the secret's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }

    /// Bound on connecting and on each statement (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The target, or an [`InvalidConfig`](rotation_core::ErrorKind::InvalidConfig) error naming the field.
    pub fn build(self) -> Result<PostgresTarget> {
        crate::check_common(
            &self.name,
            &self.spec,
            self.username.as_deref(),
            self.timeout,
        )?;
        Ok(PostgresTarget {
            what: format!("target {}", self.name),
            name: self.name,
            spec: self.spec,
            admin: self.admin,
            username: self.username,
            timeout: self.timeout,
        })
    }
}
