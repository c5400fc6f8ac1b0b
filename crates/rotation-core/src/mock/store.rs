//! [`MockSecretStore`]: a mock of [`SecretStore`], recorded through [`StoreCalls`].

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::secret::{RotationId, SecretPath, SecretValue, VersionId};
use crate::store::{Capabilities, SecretStore, VersionInfo, VersionedSecret};

// `SecretStore` is mocked through `StoreCalls`, a synchronous copy of it: mockall cannot mock
// `write_current`'s `Option<&VersionId>` (its generic-lifetime mode ties every argument to one
// lifetime, which the trait's signature does not allow), so the copy takes it owned and the real
// trait forwards to it. A method added to `SecretStore` is added to all three lists below.

/// [`SecretStore`]'s calls as [`MockSecretStore`] records them: the same methods, synchronous,
/// with `write_current`'s expected version owned.
pub trait StoreCalls {
    /// [`SecretStore::kind`].
    fn kind(&self) -> &'static str;
    /// [`SecretStore::capabilities`].
    fn capabilities(&self) -> Capabilities;
    /// [`SecretStore::read_current`].
    fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret>;
    /// [`SecretStore::read_previous`].
    fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>>;
    /// [`SecretStore::read_version`].
    fn read_version(&self, path: &SecretPath, version: &VersionId) -> Result<VersionedSecret>;
    /// [`SecretStore::read_pending`].
    fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>>;
    /// [`SecretStore::stage`].
    fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId>;
    /// [`SecretStore::promote`].
    fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId>;
    /// [`SecretStore::discard_pending`].
    fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()>;
    /// [`SecretStore::write_current`], `expected_current` owned.
    fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<VersionId>,
    ) -> Result<VersionId>;
    /// [`SecretStore::restore`].
    fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId>;
    /// [`SecretStore::list_versions`].
    fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>>;
    /// [`SecretStore::advisories`].
    fn advisories(&self, path: &SecretPath) -> Result<Vec<String>>;
}

mockall::mock! {
    /// A mock [`SecretStore`]; its expectations are those of [`StoreCalls`].
    pub SecretStore {}

    impl StoreCalls for SecretStore {
        fn kind(&self) -> &'static str;
        fn capabilities(&self) -> Capabilities;
        fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret>;
        fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>>;
        fn read_version(&self, path: &SecretPath, version: &VersionId) -> Result<VersionedSecret>;
        fn read_pending(
            &self,
            path: &SecretPath,
            rotation_id: &RotationId,
        ) -> Result<Option<VersionedSecret>>;
        fn stage(
            &self,
            path: &SecretPath,
            rotation_id: &RotationId,
            value: &SecretValue,
        ) -> Result<VersionId>;
        fn promote(
            &self,
            path: &SecretPath,
            rotation_id: &RotationId,
            expected_current: &VersionId,
        ) -> Result<VersionId>;
        fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()>;
        fn write_current(
            &self,
            path: &SecretPath,
            rotation_id: &RotationId,
            value: &SecretValue,
            expected_current: Option<VersionId>,
        ) -> Result<VersionId>;
        fn restore(
            &self,
            path: &SecretPath,
            version: &VersionId,
            expected_current: &VersionId,
        ) -> Result<VersionId>;
        fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>>;
        fn advisories(&self, path: &SecretPath) -> Result<Vec<String>>;
    }
}

#[async_trait]
impl SecretStore for MockSecretStore {
    fn kind(&self) -> &'static str {
        StoreCalls::kind(self)
    }
    fn capabilities(&self) -> Capabilities {
        StoreCalls::capabilities(self)
    }
    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        StoreCalls::read_current(self, path)
    }
    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        StoreCalls::read_previous(self, path)
    }
    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        StoreCalls::read_version(self, path, version)
    }
    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        StoreCalls::read_pending(self, path, rotation_id)
    }
    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        StoreCalls::stage(self, path, rotation_id, value)
    }
    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        StoreCalls::promote(self, path, rotation_id, expected_current)
    }
    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        StoreCalls::discard_pending(self, path, rotation_id)
    }
    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        StoreCalls::write_current(self, path, rotation_id, value, expected_current.cloned())
    }
    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        StoreCalls::restore(self, path, version, expected_current)
    }
    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        StoreCalls::list_versions(self, path)
    }
    async fn advisories(&self, path: &SecretPath) -> Result<Vec<String>> {
        StoreCalls::advisories(self, path)
    }
}

// `SecretStore` requires `Debug`; `mock!` does not derive it.
impl fmt::Debug for MockSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockSecretStore").finish_non_exhaustive()
    }
}
