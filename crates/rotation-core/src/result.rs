//! The outcome of one rotation, as reported to users, JSON output and the audit trail.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::policy::{RotationStatus, RotationStrategy};
use crate::secret::{RotationId, SecretId, VersionId};

/// The outcome of one rotation. Serialises with snake_case keys; carries no secret value.
///
/// # Invariant
/// `success` is true only when `status` is [`RotationStatus::Success`], and that status is only
/// reached after the new value is current and (when the policy requires it) verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RotationResult {
    /// Id of this rotation (idempotency key of every step).
    pub rotation_id: RotationId,
    /// The configured secret id.
    pub secret: SecretId,
    /// Whether the new value is current and verified.
    pub success: bool,
    /// Final status.
    pub status: RotationStatus,
    /// Strategy used.
    pub strategy: RotationStrategy,
    /// Store version that was current when the rotation started (`None`: secret was created).
    pub old_version: Option<VersionId>,
    /// Store version holding the new value, if one was written.
    pub new_version: Option<VersionId>,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Wall-clock end (`finished_at` in JSON, the name every output uses: docs/output.md).
    #[serde(rename = "finished_at")]
    pub completed_at: DateTime<Utc>,
    /// Duration measured on a monotonic clock.
    pub duration_ms: f64,
    /// Whether every verifier passed against the new value.
    pub verification_passed: bool,
    /// Whether the previous value was restored (store and target).
    pub rollback_performed: bool,
    /// Which attempt this was: 1, or for a scheduled retry one more than the scheduled
    /// failures since the last success (so the attempt that quarantines a secret with
    /// `max_retries = 3` reports 4).
    pub attempts: u32,
    /// Why the rotation did not succeed (never contains a value).
    pub error: Option<String>,
    /// Machine-readable kind of `error`.
    pub error_kind: Option<crate::ErrorKind>,
    /// Whether the old credential was revoked at the target (rotations asked to revoke it).
    pub revoked: bool,
    /// Why revoking the old credential failed (the rotation itself succeeded).
    pub revoke_error: Option<String>,
}

impl RotationResult {
    /// A rotation refused before it started (nothing changed), failing with `error`.
    pub fn refused(
        rotation_id: RotationId,
        secret: SecretId,
        strategy: RotationStrategy,
        at: DateTime<Utc>,
        error: crate::Error,
    ) -> Self {
        Self {
            rotation_id,
            secret,
            success: false,
            status: RotationStatus::Failed,
            strategy,
            old_version: None,
            new_version: None,
            started_at: at,
            completed_at: at,
            duration_ms: 0.0,
            verification_passed: false,
            rollback_performed: false,
            attempts: 1,
            error_kind: Some(error.kind()),
            error: Some(error.to_string()),
            revoked: false,
            revoke_error: None,
        }
    }
}
