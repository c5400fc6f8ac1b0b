//! An in-memory [`SecretStore`] for tests and benchmarks, following the same rules as the file
//! store through [`VersionBook`].

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use crate::book::{Staged, VersionBook, version_id};
use crate::error::{Error, Result};
use crate::secret::{RotationId, SecretPath, SecretValue, VersionId};
use crate::store::{Capabilities, SecretStore, VersionInfo, VersionedSecret};

#[derive(Default)]
struct Entry {
    book: VersionBook,
    values: HashMap<u64, SecretValue>,
}

impl Entry {
    fn value(&self, n: u64) -> Result<VersionedSecret> {
        let value = self
            .values
            .get(&n)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("version {n} does not exist")))?;
        Ok(VersionedSecret {
            version: version_id(n),
            value,
        })
    }

    fn prune(&mut self, pruned: &[u64]) {
        for n in pruned {
            self.values.remove(n);
        }
    }
}

/// Secrets in a `Mutex<HashMap>`; every operation is atomic under the lock.
pub struct MemoryStore {
    secrets: Mutex<HashMap<SecretPath, Entry>>,
    max_versions: usize,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_versions", &self.max_versions)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store keeping 10 versions per secret.
    pub fn new() -> Self {
        Self::with_max_versions(10)
    }

    /// An empty store keeping `max_versions` versions per secret (at least 2).
    pub fn with_max_versions(max_versions: usize) -> Self {
        Self {
            secrets: Mutex::default(),
            max_versions: max_versions.max(2),
        }
    }

    fn with<T>(&self, path: &SecretPath, f: impl FnOnce(&mut Entry) -> Result<T>) -> Result<T> {
        let mut secrets = self
            .secrets
            .lock()
            .map_err(|_| Error::internal("memory store lock poisoned"))?;
        let entry = secrets.entry(path.clone()).or_default();
        let out = f(entry);
        if entry.book.versions.is_empty() {
            secrets.remove(path);
        }
        out
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: true,
            max_value_bytes: 1 << 20,
            json_objects: false,
            single_pending: false,
        }
    }

    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        self.with(path, |e| e.value(e.book.current()?))
    }

    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        self.with(path, |e| {
            e.book.current()?;
            e.book.previous.map(|n| e.value(n)).transpose()
        })
    }

    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        self.with(path, |e| e.value(e.book.lookup(version)?))
    }

    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        self.with(path, |e| {
            e.book
                .pending
                .get(rotation_id)
                .map(|n| e.value(*n))
                .transpose()
        })
    }

    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        self.with(path, |e| match e.book.stage(rotation_id, Utc::now())? {
            Staged::Existing(n) => Ok(version_id(n)),
            Staged::New(n) => {
                e.values.insert(n, value.clone());
                Ok(version_id(n))
            }
        })
    }

    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let max = self.max_versions;
        self.with(path, |e| {
            let switch = e.book.promote(rotation_id, expected_current, max)?;
            e.prune(&switch.pruned);
            Ok(version_id(switch.version))
        })
    }

    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        self.with(path, |e| {
            if let Some(n) = e.book.discard(rotation_id) {
                e.values.remove(&n);
            }
            Ok(())
        })
    }

    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        let max = self.max_versions;
        self.with(path, |e| {
            let switch = e
                .book
                .write_current(rotation_id, expected_current, Utc::now(), max)?;
            e.values.insert(switch.version, value.clone());
            e.prune(&switch.pruned);
            Ok(version_id(switch.version))
        })
    }

    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let max = self.max_versions;
        self.with(path, |e| {
            let switch = e.book.restore(version, expected_current, max)?;
            e.prune(&switch.pruned);
            Ok(version_id(switch.version))
        })
    }

    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        self.with(path, |e| {
            e.book.current()?;
            Ok(e.book.list())
        })
    }
}
