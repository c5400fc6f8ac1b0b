//! The [`SecretStore`] contract every backend implements.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;
use crate::secret::{RotationId, SecretPath, SecretValue, VersionId};

/// A value together with the store version that holds it.
#[derive(Debug, Clone)]
pub struct VersionedSecret {
    /// The store's own version id.
    pub version: VersionId,
    /// The value (redacted in `Debug`).
    pub value: SecretValue,
}

/// Role of a version in a store's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// What readers of the secret get.
    Current,
    /// What was current before the last switch.
    Previous,
    /// Staged by a rotation, invisible to readers.
    Pending,
    /// Older history.
    Deprecated,
}

/// Metadata of one version (no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The store's version id.
    pub version: VersionId,
    /// Its role.
    pub state: VersionState,
    /// When the store created it, if known.
    pub created_at: Option<DateTime<Utc>>,
    /// The rotation that wrote it, if any.
    pub rotation_id: Option<RotationId>,
}

/// What a store can do; the conformance suite and the engine consult it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Values may be arbitrary bytes (otherwise UTF-8 only).
    pub binary: bool,
    /// Largest value in bytes the store accepts.
    pub max_value_bytes: usize,
    /// Values must be JSON objects (e.g. a KV v2 data map); rotate a credential inside one by
    /// configuring the secret's `field`.
    pub json_objects: bool,
    /// Only one pending value per secret at a time (AWS's single `AWSPENDING` label): staging
    /// for a second rotation id is refused with `InProgress` until the first is promoted or
    /// discarded.
    pub single_pending: bool,
}

/// A versioned secret store.
///
/// # Contract
/// Paths are opaque to the engine. Every method is safe to call concurrently, also from several
/// processes, and never puts a value into an error message.
///
/// - **Reads.** `read_current` returns the value readers of the secret see, with its version, or
///   [`ErrorKind::NotFound`](crate::ErrorKind::NotFound). `read_previous` returns the version
///   that was current before the last switch (`None` if there is none). `read_version` returns a
///   specific version, including pending ones. `read_pending` finds the pending value staged by
///   a rotation id (`None` if there is none), so recovery needs nothing but the id.
/// - **Stage** is idempotent per rotation id: if `rotation_id` already has a pending version,
///   that version is returned unchanged (the first value wins; callers read it back with
///   `read_pending`). A pending value is never returned by `read_current`. Staging a secret that
///   does not exist is `NotFound`.
/// - **Promote** makes the pending value of `rotation_id` current if and only if the current
///   version is still `expected_current` (compare-and-swap), otherwise it fails with
///   [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) and changes nothing. The switch is
///   atomic: readers see the old or the new value, never neither. The old current becomes
///   previous. Promoting a rotation id whose value is already current returns that version
///   (idempotent). No pending value for the id: `NotFound`.
/// - **Discard** removes the pending value of `rotation_id`; discarding nothing is `Ok`.
/// - **Write current** (immediate strategy) writes `value` as a new current version if the
///   current version is `expected_current`; `None` means "the secret must not exist yet" (create).
///   A mismatch is `Conflict`, and nothing changes. Idempotent per rotation id: if the current
///   version was written by `rotation_id`, it is returned and nothing is written.
/// - **Restore** makes the value of `version` current again, byte-identical, if the current
///   version is `expected_current` (CAS, `Conflict` otherwise). It returns the version that is now
///   current: the same id for stores that move a pointer, a new id for append-only stores.
///   Idempotent: if `version`'s value is already current (by this restore), it returns `Ok`.
///   Restore is an undo: afterwards `read_previous` returns what was previous before `version`
///   became current (or `None` if the store cannot tell), never the version that was undone.
/// - **List versions** returns the known versions, newest first, with their state.
/// - Transient failures (timeouts, throttling, refused connections) are
///   [`ErrorKind::Temporary`](crate::ErrorKind::Temporary); nothing else is.
#[async_trait]
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// Store kind for messages and metrics (`"file"`, `"memory"`, `"vault"`, ...).
    fn kind(&self) -> &'static str;

    /// What the store supports.
    fn capabilities(&self) -> Capabilities;

    /// The current value and its version.
    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret>;

    /// The previous value, if any.
    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>>;

    /// A specific version.
    async fn read_version(&self, path: &SecretPath, version: &VersionId)
    -> Result<VersionedSecret>;

    /// The pending value staged by `rotation_id`, if any.
    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>>;

    /// Stage `value` as pending for `rotation_id` (idempotent per id).
    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId>;

    /// Make the pending value of `rotation_id` current, CAS against `expected_current`.
    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId>;

    /// Remove the pending value of `rotation_id` (idempotent).
    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()>;

    /// Write `value` as the new current version, CAS against `expected_current`.
    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId>;

    /// Make `version`'s value current again, CAS against `expected_current`.
    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId>;

    /// Known versions, newest first.
    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>>;

    /// Read-only warnings about the secret's setup that do not stop a rotation, such as another
    /// rotation system configured on it. Shown by `rotate --dry-run` (`config check` is offline).
    async fn advisories(&self, _path: &SecretPath) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
