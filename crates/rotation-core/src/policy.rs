//! Rotation policies, strategies and statuses, validated when built.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a rotation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationStatus {
    /// Accepted, no external step taken yet.
    Pending,
    /// Staging, writing, promoting or applying to the target.
    InProgress,
    /// Running the verifiers against the new credential.
    Verifying,
    /// The new credential is current and verified (or verification was explicitly not required).
    Success,
    /// The rotation failed and nothing was rolled back (or the rollback itself failed).
    Failed,
    /// The rotation failed and the previous value is current again.
    RolledBack,
}

impl RotationStatus {
    /// Whether the rotation has finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::RolledBack)
    }

    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Success => "success",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
        }
    }
}

impl fmt::Display for RotationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a new value reaches the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationStrategy {
    /// Write the new value as current (CAS), apply, verify, restore on failure.
    Immediate,
    /// Stage a pending value, apply, verify, then promote with CAS.
    #[default]
    Staged,
    /// Old and new credential both valid for a while (needs a dual-credential target).
    DualWrite,
    /// Switch between two complete credential sets (needs a blue/green target).
    BlueGreen,
}

impl RotationStrategy {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Staged => "staged",
            Self::DualWrite => "dual_write",
            Self::BlueGreen => "blue_green",
        }
    }

    /// Whether this build of the engine can execute the strategy.
    pub fn is_supported(self) -> bool {
        matches!(self, Self::Immediate | Self::Staged)
    }
}

impl fmt::Display for RotationStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which outcomes a notifier should report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyFlags {
    /// Report successful rotations.
    pub on_success: bool,
    /// Report failed rotations.
    pub on_failure: bool,
    /// Report rollbacks.
    pub on_rollback: bool,
}

impl Default for NotifyFlags {
    fn default() -> Self {
        Self {
            on_success: false,
            on_failure: true,
            on_rollback: true,
        }
    }
}

/// The highest `max_retries` a policy may ask for.
pub const MAX_RETRIES_LIMIT: u8 = 10;

/// How and how often a secret is rotated. Built with [`RotationPolicy::builder`], which rejects
/// invalid combinations and names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationPolicy {
    name: String,
    strategy: RotationStrategy,
    require_verification: bool,
    verifiers: Vec<String>,
    auto_rollback: bool,
    max_retries: u8,
    notify: NotifyFlags,
    remind_before: Option<std::time::Duration>,
}

impl RotationPolicy {
    /// Start a policy named `name` with the defaults: staged, verification required, auto
    /// rollback, 3 retries. (When it rotates is the secret's [`Timing`](crate::Timing).)
    pub fn builder(name: impl Into<String>) -> RotationPolicyBuilder {
        RotationPolicyBuilder {
            max_retries: 3,
            policy: RotationPolicy {
                name: name.into(),
                strategy: RotationStrategy::Staged,
                require_verification: true,
                verifiers: Vec::new(),
                auto_rollback: true,
                max_retries: 3,
                notify: NotifyFlags::default(),
                remind_before: None,
            },
        }
    }

    /// Policy name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The strategy.
    pub fn strategy(&self) -> RotationStrategy {
        self.strategy
    }
    /// Whether at least one verifier must pass before success.
    pub fn require_verification(&self) -> bool {
        self.require_verification
    }
    /// Names of the verifiers to run, in order.
    pub fn verifiers(&self) -> &[String] {
        &self.verifiers
    }
    /// Whether failures restore the previous value.
    pub fn auto_rollback(&self) -> bool {
        self.auto_rollback
    }
    /// Retries after a failed attempt (used by the scheduler).
    pub fn max_retries(&self) -> u8 {
        self.max_retries
    }
    /// Notification flags.
    pub fn notify(&self) -> NotifyFlags {
        self.notify
    }
    /// How long before the due time a secret is reported as due soon (`None`: only overdue
    /// secrets are reported).
    pub fn remind_before(&self) -> Option<std::time::Duration> {
        self.remind_before
    }
}

/// Builder for [`RotationPolicy`]; [`RotationPolicyBuilder::build`] is the only fallible step.
#[derive(Debug, Clone)]
pub struct RotationPolicyBuilder {
    policy: RotationPolicy,
    // Wide so that an out-of-range config value is reported rather than truncated.
    max_retries: i64,
}

impl RotationPolicyBuilder {
    /// Strategy.
    pub fn strategy(mut self, strategy: RotationStrategy) -> Self {
        self.policy.strategy = strategy;
        self
    }
    /// Whether verification is required.
    pub fn require_verification(mut self, required: bool) -> Self {
        self.policy.require_verification = required;
        self
    }
    /// Verifier names.
    pub fn verifiers(mut self, verifiers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.policy.verifiers = verifiers.into_iter().map(Into::into).collect();
        self
    }
    /// Whether to roll back automatically.
    pub fn auto_rollback(mut self, auto_rollback: bool) -> Self {
        self.policy.auto_rollback = auto_rollback;
        self
    }
    /// Retries after a failed attempt (0..=10).
    pub fn max_retries(mut self, max_retries: i64) -> Self {
        self.max_retries = max_retries;
        self
    }
    /// Notification flags.
    pub fn notify(mut self, notify: NotifyFlags) -> Self {
        self.policy.notify = notify;
        self
    }
    /// The warning period before the due time (see [`RotationPolicy::remind_before`]).
    pub fn remind_before(mut self, remind_before: Option<std::time::Duration>) -> Self {
        self.policy.remind_before = remind_before;
        self
    }

    /// Validate and build. Errors are [`crate::ErrorKind::InvalidConfig`] naming the field.
    pub fn build(self) -> Result<RotationPolicy> {
        let mut p = self.policy;
        let name = p.name.clone();
        let field = |f: &str| format!("policies.{name}.{f}");
        if p.name.trim().is_empty() {
            return Err(Error::config(
                "policies.<name>",
                "policy name must not be empty",
            ));
        }
        p.max_retries = u8::try_from(self.max_retries)
            .ok()
            .filter(|n| *n <= MAX_RETRIES_LIMIT)
            .ok_or_else(|| {
                Error::config(
                    field("max_retries"),
                    format!(
                        "must be between 0 and {MAX_RETRIES_LIMIT}, got {}",
                        self.max_retries
                    ),
                )
            })?;
        if !p.strategy.is_supported() {
            return Err(Error::config(
                field("strategy"),
                format!(
                    "strategy {} needs a dual-credential target, which this version does not \
                     provide; use staged or immediate",
                    p.strategy
                ),
            ));
        }
        if p.require_verification && p.verifiers.is_empty() {
            return Err(Error::config(
                field("verifiers"),
                "require_verification is true but no verifier is named (fail closed: name at \
                 least one, or set require_verification = false explicitly)",
            ));
        }
        if let Some(dup) = first_duplicate(&p.verifiers) {
            return Err(Error::config(
                field("verifiers"),
                format!("verifier {dup:?} listed twice"),
            ));
        }
        Ok(p)
    }
}

fn first_duplicate(names: &[String]) -> Option<&str> {
    names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
        .map(|(_, n)| n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seed() {
        let p = RotationPolicy::builder("p")
            .verifiers(["v"])
            .build()
            .unwrap();
        assert_eq!(p.strategy(), RotationStrategy::Staged);
        assert!(p.auto_rollback());
        assert_eq!(p.max_retries(), 3);
    }

    #[test]
    fn invalid_values_name_the_field() {
        let err = RotationPolicy::builder("p")
            .verifiers(["v"])
            .max_retries(11)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("policies.p.max_retries"), "{err}");
        let err = RotationPolicy::builder("p")
            .verifiers(["v"])
            .max_retries(-1)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("max_retries"), "{err}");
        let err = RotationPolicy::builder("p").build().unwrap_err();
        assert!(err.to_string().contains("policies.p.verifiers"), "{err}");
        let err = RotationPolicy::builder("p")
            .require_verification(false)
            .strategy(RotationStrategy::BlueGreen)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("policies.p.strategy"), "{err}");
    }
}
